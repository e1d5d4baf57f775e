"""Where the bot's CPU goes in a text turn: py-spy on the bot process, summarised by package.

    python bench/profile.py                 # 300 turns of 31 SSE frames, 40 chats
    python bench/profile.py --raw out.txt   # keep py-spy's collapsed stacks too

Same fakes and turns as bench/suite.py; the chats' first contact is left out. Shares are of
busy samples (py-spy skips idle ones), so read them as shares, not absolutes.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import signal
import sys
import tempfile
from collections import Counter
from pathlib import Path

from suite import PROBE_CHATS, RATE, Run

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>.*?)(?::\d+)?\)$")


def package(path: str) -> str:
    """A frame's file as a short name: py-spy prints paths relative to sys.path, so the first
    folder is the package (``httpcore``, ``telegram``, ``bot``); a bare file is its stem."""
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    path = path.lstrip("/")
    head, _, rest = path.partition("/")
    if head == "bot" and rest:
        return "bot/" + rest.split("/", 1)[0].removesuffix(".py")
    return head if rest else Path(path).stem


def summarise(raw: str, top: int) -> str:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        threads[frames[0] if frames[0].startswith(("thread", "process")) else "?"] += count
        parsed = [m for f in frames if (m := FRAME.match(f))]
        if not parsed:
            continue
        leaf = parsed[-1]
        own[package(leaf["file"])] += count
        seen = {f"{m['func']} ({package(m['file'])})" for m in parsed}
        for name in seen:
            inclusive[name] += count
    lines = [f"{total} busy samples", "", "own time by package of the innermost frame:"]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in own.most_common(top)]
    lines += ["", "inclusive time by function (a stack counts once per function):"]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in inclusive.most_common(3 * top)]
    return "\n".join(lines)


async def record(args: argparse.Namespace, raw_path: Path) -> None:
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
    suite_args = argparse.Namespace(chats=PROBE_CHATS, still_working=600.0)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        async with Run("bot", suite_args, workdir) as run:
            await run.spawn()
            chats = list(range(1, PROBE_CHATS + 1))
            await asyncio.gather(*(run.turn(c, f"cpu warm {c}") for c in chats))
            assert run.proc is not None
            proc = await asyncio.create_subprocess_exec(
                spy, "record", "--pid", str(run.proc.pid), "--rate", str(args.rate),
                "--format", "raw", "--threads", "--output", str(raw_path),
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            )
            await asyncio.sleep(1.0)  # py-spy attaches
            await run.paced(args.turns, RATE, lambda i: run.turn(chats[i % len(chats)],
                                                                   f"cpu {i}"))
            await asyncio.sleep(0.5)
            proc.send_signal(signal.SIGINT)
            await proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--raw", type=Path, help="also keep py-spy's collapsed stacks here")
    parser.add_argument("--workdir", type=Path, help="keep the bot's database and log here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        raw_path = args.raw or Path(tmp) / "raw.txt"
        asyncio.run(record(args, raw_path))
        print(summarise(raw_path.read_text(), args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
