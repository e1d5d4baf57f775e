"""Benchmarks with figures for the README (not timed tests: this machine is noisy).

    python bench/load.py chats --chats 300      # many chats at once, each turn ~2 s long

It runs the real Application against the built-in fakes on 127.0.0.1. Big files (a 500 MB
upload and export, memory, other chats' latency meanwhile): bench/media.py.
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


def main() -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="what", required=True)
    c = sub.add_parser("chats")
    c.add_argument("--chats", type=int, default=300)
    c.add_argument("--turn-seconds", type=float, default=2.0)
    args = parser.parse_args()
    asyncio.run(chats(args.chats, args.turn_seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
