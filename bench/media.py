"""Big media through the bot, side by side with plain httpx (figures for the README; not a
timed test: this machine is shared and noisy).

    python bench/media.py --mb 500

One run, against the built-in fakes on 127.0.0.1 (in this process), with the bot as its own
OS process (``python -m bot`` in local Bot API mode, as an operator runs it):

1. a plain httpx streaming upload of the file to the fake backend, from its own process
   (the baseline);
2. the same file sent to the bot as a video: from the update to the acknowledgement (so it
   includes getFile, the backend's answer and the reply), while other chats send /start;
3. a render of the same size downloaded by the bot and sent back to the chat.

Memory is the bot process's peak RSS during each phase above its RSS just before (Linux
``VmHWM``, reset through ``/proc/<pid>/clear_refs``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

from bot.sandbox.backend import FakeBackend, make_draft
from bot.sandbox.harness import TOKEN
from bot.sandbox.process import BotProcess
from bot.sandbox.telegram import FakeTelegram

MB = 1024 * 1024
CHAT = 1
OTHERS = 100

PLAIN_UPLOAD = """
import sys, time, httpx
url, token, path = sys.argv[1:]
with httpx.Client(timeout=600) as client, open(path, "rb") as handle:
    start = time.perf_counter()
    response = client.post(url, files={"files": ("big.mp4", handle, "video/mp4")},
                           headers={"Authorization": f"Bearer {token}"})
    took = time.perf_counter() - start
response.raise_for_status()
print(took)
"""


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


@contextlib.contextmanager
def peak_rss(pid: int) -> Iterator[dict[str, float]]:
    """The process's peak RSS growth over the block, in MB."""
    out: dict[str, float] = {}
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    before = status_kb(pid, "VmRSS")
    try:
        yield out
    finally:
        out["idle"] = before / 1024
        out["peak_above_idle"] = (status_kb(pid, "VmHWM") - before) / 1024


def make_file(path: Path, size: int) -> str:
    """A file of non-repeating-looking bytes (a 1 MB random block, repeated)."""
    block = os.urandom(MB)
    digest = hashlib.sha256()
    with path.open("wb") as out:
        left = size
        while left:
            piece = block[: min(left, MB)]
            out.write(piece)
            digest.update(piece)
            left -= len(piece)
    return digest.hexdigest()


async def until(done: Callable[[], bool]) -> None:
    """Poll every millisecond (the fake's own wait_for polls every 20 ms: too coarse here)."""
    while True:
        if done():
            return
        await asyncio.sleep(0.001)


class Latency:
    """Other chats' /start, one every ``every`` seconds, timed to the bot's answer."""

    def __init__(self, tg: FakeTelegram, every: float = 0.2) -> None:
        self.tg = tg
        self.every = every
        self.samples: list[float] = []
        self._next = OTHERS

    async def one(self) -> float:
        chat = self._next
        self._next += 1
        start = time.perf_counter()
        await self.tg.send_text(chat, "/start")
        await until(lambda: bool(self.tg.messages(chat)))
        return time.perf_counter() - start

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[list[float]]:
        async def loop() -> None:
            while True:
                self.samples.append(await self.one())
                await asyncio.sleep(self.every)

        self.samples = []
        task = asyncio.create_task(loop())
        try:
            yield self.samples
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def fmt(samples: list[float]) -> str:
    if not samples:
        return "no samples"
    ms = sorted(s * 1000 for s in samples)
    return (f"n={len(ms)} median={statistics.median(ms):.0f} ms "
            f"p95={ms[max(0, int(len(ms) * 0.95) - 1)]:.0f} ms max={ms[-1]:.0f} ms")


async def baseline(backend: FakeBackend, path: Path, size: int) -> float:
    """Plain httpx, in its own process: the file as a streamed multipart upload."""
    token = backend.issue_token().token
    session = backend.create_session(token)
    url = f"{backend.url}/api/upload-video/nemo_agent/me/{session.session_id}"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", PLAIN_UPLOAD, url, token, str(path),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0, "the plain upload failed"
    assert backend.requests_to("upload")[-1].files[0].size == size
    return float(out)


def acks(tg: FakeTelegram) -> int:
    return sum("Received" in (m.text or "") for m in tg.messages(CHAT))


async def through_bot(tg: FakeTelegram, backend: FakeBackend, path: Path, size: int,
                      n: int) -> float:
    before = acks(tg)
    start = time.perf_counter()
    await tg.send_video(CHAT, b"", file_name=f"big{n}.mp4", source_path=path)
    await until(lambda: acks(tg) > before)
    took = time.perf_counter() - start
    assert backend.requests_to("upload")[-1].files[0].size == size
    return took


async def run(mb: int, rounds: int) -> None:
    size = mb * MB
    with tempfile.TemporaryDirectory(prefix="bench-media-") as tmp:
        work = Path(tmp)
        path = work / "big.mp4"
        digest = make_file(path, size)
        async with FakeTelegram(TOKEN, local_mode=True) as tg, FakeBackend() as backend:
            bot = BotProcess(work, {
                "TELEGRAM_BOT_TOKEN": TOKEN,
                "TELEGRAM_API_URL": tg.url,
                "TELEGRAM_LOCAL_MODE": "1",
                "NEMO_API_URL": backend.url,
                "TEMP_DIR": str(work / "tmp"),
                "RENDER_POLL_SECONDS": "0.2",
                "STILL_WORKING_SECONDS": "600",
            })
            await bot.start()
            try:
                await bot.wait_ready()
                pid = bot.pid
                # Warm up: the chat has its backend token and session; other chats answer.
                await tg.send_video(CHAT, os.urandom(1000), file_name="warm.mp4")
                await tg.wait_for_message(CHAT, contains="Received")
                latency = Latency(tg)
                idle_start = [await latency.one() for _ in range(10)]

                plain: list[float] = []
                bot_times: list[float] = []
                during: list[float] = []
                upload_rss: dict[str, float] = {}
                for n in range(rounds):
                    plain.append(await baseline(backend, path, size))
                    with peak_rss(pid) as rss:
                        async with latency.running() as samples:
                            bot_times.append(await through_bot(tg, backend, path, size, n))
                        during += samples
                    upload_rss = max(upload_rss, rss,
                                     key=lambda r: r.get("peak_above_idle", 0))
                received = backend.requests_to("upload")[-1].files[0]
                assert received.sha256 == digest, "the backend received other bytes"

                # Export of the same size: downloaded by the bot, sent back by path.
                session = next(iter(backend.sessions.values()))
                backend.set_draft(session.session_id, make_draft())
                backend.render_size = size
                with peak_rss(pid) as export_rss:
                    async with latency.running() as samples:
                        start = time.perf_counter()
                        await tg.send_text(CHAT, "/export")
                        await tg.wait_for_message(CHAT, kind="video", timeout=600)
                        export_took = time.perf_counter() - start
                    export_during = list(samples)
                def left_behind() -> list[Path]:
                    return [p for p in (work / "tmp").rglob("*")
                            if p.is_file() and p.name != ".lock"]

                with contextlib.suppress(TimeoutError):  # removed just after the send returns
                    async with asyncio.timeout(10):
                        await until(lambda: not left_behind())
                left = left_behind()
                load = os.getloadavg()[0]
            finally:
                await bot.stop()

        best_plain, best_bot = min(plain), min(bot_times)
        print(f"file: {mb} MB ({size} bytes), sha256 checked at the backend; "
              f"load average {load:.1f} on {os.cpu_count()} cores")
        print(f"plain httpx upload: best {best_plain:.2f} s = {mb / best_plain:.0f} MB/s "
              f"(runs: {', '.join(f'{t:.2f}' for t in plain)})")
        print(f"through the bot (update → acknowledgement): best {best_bot:.2f} s = "
              f"{mb / best_bot:.0f} MB/s (runs: {', '.join(f'{t:.2f}' for t in bot_times)}); "
              f"{best_plain / best_bot:.2f}× plain httpx")
        print(f"bot's peak RSS during the upload: {upload_rss['peak_above_idle']:.1f} MB above "
              f"idle ({upload_rss['idle']:.0f} MB)")
        print(f"/start in other chats, idle: {fmt(idle_start)}")
        print(f"/start in other chats, during the uploads: {fmt(during)}")
        print(f"export of {mb} MB (/export → video in the chat, render polls included): "
              f"{export_took:.2f} s; bot's peak RSS {export_rss['peak_above_idle']:.1f} MB above "
              f"idle; /start meanwhile: {fmt(export_during)}; temporary files left: {len(left)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(run(args.mb, args.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
