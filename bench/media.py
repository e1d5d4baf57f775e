"""Big media through the bot, side by side with plain httpx (figures for the README; not a
timed test: this machine is shared and noisy).

    python bench/media.py --mb 500

One run, the real Application in local Bot API mode against the built-in fakes on 127.0.0.1:

1. a plain httpx streaming upload of the file to the fake backend (the baseline);
2. the same file sent to the bot as a video: from the update to the acknowledgement (so it
   includes getFile, the backend's answer and the reply), while other chats send /start;
3. a render of the same size downloaded by the bot and sent back to the chat.

Memory is the process's peak RSS during each phase above its RSS just before (Linux
``VmHWM``, reset through ``/proc/self/clear_refs``). The fakes run in the same process and
count too, so the bot's own share is at most the figure shown.
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

import httpx

from bot.sandbox.backend import make_draft
from bot.sandbox.harness import Harness

MB = 1024 * 1024
CHAT = 1
OTHERS = 100


def status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


@contextlib.contextmanager
def peak_rss() -> Iterator[dict[str, float]]:
    """Peak RSS growth over the block, in MB."""
    out: dict[str, float] = {}
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    before = status_kb("VmRSS")
    try:
        yield out
    finally:
        out["idle"] = before / 1024
        out["peak_above_idle"] = (status_kb("VmHWM") - before) / 1024


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

    def __init__(self, h: Harness, every: float = 0.2) -> None:
        self.h = h
        self.every = every
        self.samples: list[float] = []
        self._next = OTHERS

    async def one(self) -> float:
        chat = self._next
        self._next += 1
        start = time.perf_counter()
        await self.h.tg.send_text(chat, "/start")
        await until(lambda: bool(self.h.tg.messages(chat)))
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


class LoopLag:
    """The longest the event loop was kept from running a 10 ms timer on time."""

    def __init__(self) -> None:
        self.worst = 0.0

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[LoopLag]:
        async def loop() -> None:
            while True:
                start = time.perf_counter()
                await asyncio.sleep(0.01)
                self.worst = max(self.worst, time.perf_counter() - start - 0.01)

        task = asyncio.create_task(loop())
        try:
            yield self
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


async def baseline(h: Harness, path: Path, size: int) -> float:
    """Plain httpx: the file as a streamed multipart upload to the same endpoint."""
    token = h.backend.issue_token().token
    session = h.backend.create_session(token)
    url = f"{h.backend.url}/api/upload-video/nemo_agent/me/{session.session_id}"
    async with httpx.AsyncClient(timeout=600) as client:
        with path.open("rb") as handle:
            start = time.perf_counter()
            response = await client.post(
                url, files={"files": ("big.mp4", handle, "video/mp4")},
                headers={"Authorization": f"Bearer {token}"},
            )
            took = time.perf_counter() - start
    response.raise_for_status()
    assert h.backend.requests_to("upload")[-1].files[0].size == size
    return took


async def through_bot(h: Harness, path: Path, size: int, n: int) -> float:
    before = len([m for m in h.tg.messages(CHAT) if "Received" in (m.text or "")])
    start = time.perf_counter()
    await h.tg.send_video(CHAT, b"", file_name=f"big{n}.mp4", source_path=path)
    await until(
        lambda: len([m for m in h.tg.messages(CHAT) if "Received" in (m.text or "")]) > before
    )
    took = time.perf_counter() - start
    assert h.backend.requests_to("upload")[-1].files[0].size == size
    return took


async def run(mb: int, rounds: int) -> None:
    size = mb * MB
    with tempfile.TemporaryDirectory(prefix="bench-media-") as tmp:
        work = Path(tmp)
        path = work / "big.mp4"
        digest = make_file(path, size)
        async with Harness(
            work, telegram_local_mode=True, tg_options={"local_mode": True},
            temp_dir=work / "tmp", still_working_seconds=600,
        ) as h:
            # Warm up: the chat has its backend token and session; other chats answer.
            await h.tg.send_video(CHAT, os.urandom(1000), file_name="warm.mp4")
            await h.tg.wait_for_message(CHAT, contains="Received")
            await h.idle()
            latency = Latency(h)
            idle_start = [await latency.one() for _ in range(10)]
            await h.idle()

            plain: list[float] = []
            bot: list[float] = []
            during: list[float] = []
            lag = LoopLag()
            upload_rss: dict[str, float] = {}
            for n in range(rounds):
                plain.append(await baseline(h, path, size))
                await h.idle()
                with peak_rss() as rss:
                    async with latency.running() as samples, lag.running():
                        bot.append(await through_bot(h, path, size, n))
                    during += samples
                await h.idle()
                upload_rss = max(upload_rss, rss, key=lambda r: r.get("peak_above_idle", 0))
            received = h.backend.requests_to("upload")[-1].files[0]
            assert received.sha256 == digest, "the backend received other bytes"

            # Export of the same size: downloaded by the bot, sent back by path.
            session = next(iter(h.backend.sessions.values()))
            h.backend.set_draft(session.session_id, make_draft())
            h.backend.render_size = size
            export_lag = LoopLag()
            with peak_rss() as export_rss:
                async with latency.running() as samples, export_lag.running():
                    start = time.perf_counter()
                    await h.tg.send_text(CHAT, "/export")
                    await h.tg.wait_for_message(CHAT, kind="video", timeout=600)
                    export_took = time.perf_counter() - start
                export_during = list(samples)
            await h.idle()

        best_plain, best_bot = min(plain), min(bot)
        print(f"file: {mb} MB ({size} bytes), sha256 checked at the backend")
        print(f"plain httpx upload: best {best_plain:.2f} s = {mb / best_plain:.0f} MB/s "
              f"(runs: {', '.join(f'{t:.2f}' for t in plain)})")
        print(f"through the bot (update → acknowledgement): best {best_bot:.2f} s = "
              f"{mb / best_bot:.0f} MB/s (runs: {', '.join(f'{t:.2f}' for t in bot)}); "
              f"{best_plain / best_bot:.2f}× plain httpx")
        print(f"upload peak RSS: {upload_rss['peak_above_idle']:.1f} MB above idle "
              f"({upload_rss['idle']:.0f} MB)")
        print(f"/start in other chats, idle: {fmt(idle_start)}")
        print(f"/start in other chats, during the uploads: {fmt(during)}")
        print(f"longest event-loop stall during the uploads: {lag.worst * 1000:.0f} ms")
        print(f"export of {mb} MB (/export → video in the chat, render polls included): "
              f"{export_took:.2f} s; peak RSS {export_rss['peak_above_idle']:.1f} MB above idle; "
              f"/start meanwhile: {fmt(export_during)}; "
              f"longest loop stall {export_lag.worst * 1000:.0f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(run(args.mb, args.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
