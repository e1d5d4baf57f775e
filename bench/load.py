"""Benchmarks with figures for the README (not timed tests: this machine is noisy).

    python bench/load.py chats --chats 300      # many chats at once, each turn ~2 s long
    python bench/load.py upload --mb 300        # one big upload: peak memory stays flat

Both run the real Application against the built-in fakes on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from pathlib import Path

from bot.sandbox.backend import adk_call, adk_text, sleep_frame
from bot.sandbox.harness import Harness


def rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def chats(n: int, turn_seconds: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with Harness(Path(tmp), still_working_seconds=60) as h:
            for _ in range(n):
                h.backend.queue_turn(
                    [adk_call("work", {}), sleep_frame(turn_seconds), adk_text("done")]
                )
            users = [10_000 + i for i in range(n)]
            start = time.perf_counter()
            for user in users:
                await h.tg.send_text(user, f"hello from {user}")
            answered: dict[int, float] = {}
            while len(answered) < n:
                for user in users:
                    if user not in answered and any(
                        (m.text or "") == "done" for m in h.tg.messages(user)
                    ):
                        answered[user] = time.perf_counter() - start
                if time.perf_counter() - start > 600:
                    break
                await asyncio.sleep(0.05)
            took = time.perf_counter() - start
            latencies = sorted(answered.values())
            p50 = latencies[len(latencies) // 2]
            p95 = latencies[int(len(latencies) * 0.95) - 1]
            print(f"chats={n} turn={turn_seconds:.1f}s answered={len(answered)} "
                  f"wall={took:.1f}s p50={p50:.1f}s p95={p95:.1f}s "
                  f"serial-would-be={n * turn_seconds:.0f}s peak_rss={rss_mb():.0f}MB")


async def upload(mb: int) -> None:
    content = bytes(mb * 1024 * 1024)
    with tempfile.TemporaryDirectory() as tmp:
        async with Harness(Path(tmp), telegram_local_mode=True,
                           tg_options={"local_mode": True}) as h:
            await h.tg.send_text(1, "hello")
            await h.tg.wait_for_message(1)
            await h.idle()
            before = rss_mb()
            start = time.perf_counter()
            await h.tg.send_video(1, content, file_name="big.mp4")
            await h.tg.wait_for_message(1, contains="Received", timeout=600)
            took = time.perf_counter() - start
            received = h.backend.requests_to("upload")[-1].files[0].size
            print(f"upload={mb}MB received={received / 1024 / 1024:.0f}MB took={took:.1f}s "
                  f"peak_rss_before={before:.0f}MB peak_rss_after={rss_mb():.0f}MB "
                  f"(the {mb} MB test file itself is held by the fake Telegram)")


def main() -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="what", required=True)
    c = sub.add_parser("chats")
    c.add_argument("--chats", type=int, default=300)
    c.add_argument("--turn-seconds", type=float, default=2.0)
    u = sub.add_parser("upload")
    u.add_argument("--mb", type=int, default=300)
    args = parser.parse_args()
    if args.what == "chats":
        asyncio.run(chats(args.chats, args.turn_seconds))
    else:
        asyncio.run(upload(args.mb))
    return 0


if __name__ == "__main__":
    sys.exit(main())
