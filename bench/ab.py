"""A/B the bot's start and relay overhead across source trees, runs interleaved.

    python bench/ab.py /tmp/ab-old /work/wt/x --rounds 3 --holds 0

Each tree's ``bot`` package is run as the child (PYTHONPATH=tree) against this checkout's
fakes (bench/suite.py), so old commits are measured with the same load. On a shared machine
compare the trees' ratios within a round, not absolutes across rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
from pathlib import Path

from suite import PROBE_CHATS, Run, compiled, pct


async def one(tree: str, args: argparse.Namespace) -> tuple[float, float, float, float]:
    """Start seconds, CPU ms per probe, overhead p50 and p99 (ms) for one tree."""
    os.environ["PYTHONPATH"] = tree
    with tempfile.TemporaryDirectory() as tmp:
        async with Run("bot", args, Path(tmp)) as run:
            start = await run.spawn()
            if args.start_only:
                return start, run.cpu_seconds() * 1000, 0.0, 0.0  # CPU ms to first poll
            await asyncio.gather(*(run.turn(c, f"cpu warm {c}") for c in
                                   range(1, PROBE_CHATS + 1)))
            if args.cpu_turns:
                await run.cpu_per_turn()
            if args.holds:
                await run.open_holds(range(args.holds))
            await asyncio.sleep(0.5)
            cpu0 = run.cpu_seconds()
            over = await run.probes(args.probe_seconds, "ab", None)
            cpu = (run.cpu_seconds() - cpu0) / len(over) * 1000
            if args.calls:
                from collections import Counter
                print("  Bot API calls:", Counter(c.method for c in run.tg.calls).most_common(8))
    return start, cpu, pct(over, 0.5) * 1000, pct(over, 0.99) * 1000


async def amain(args: argparse.Namespace) -> None:
    results: dict[str, list[tuple[float, float, float, float]]] = {t: [] for t in args.trees}
    for tree in args.trees:
        compiled(Path(tree))
    for r in range(args.rounds):
        for tree in args.trees:
            res = await one(tree, args)
            results[tree].append(res)
            print(f"round {r} {tree}: start {res[0]:.2f} s, cpu/probe {res[1]:.1f} ms, "
                  f"overhead p50/p99 {res[2]:.1f}/{res[3]:.1f} ms, load {os.getloadavg()[0]:.1f}",
                  flush=True)
    print("medians over rounds:")
    for tree, rows in results.items():
        med = [statistics.median(col) for col in zip(*rows, strict=True)]
        print(f"  {tree}: start {med[0]:.2f} s, cpu/probe {med[1]:.1f} ms, "
              f"overhead p50/p99 {med[2]:.1f}/{med[3]:.1f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trees", nargs="+")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--holds", type=int, default=0, help="long turns open during probes")
    parser.add_argument("--probe-seconds", type=float, default=6.0)
    parser.add_argument("--cpu-turns", type=int, default=0, help="the suite's CPU phase first")
    parser.add_argument("--calls", action="store_true", help="print Bot API calls by method")
    parser.add_argument("--start-only", action="store_true", help="measure the start only")
    parser.add_argument("--still-working", type=float, default=20.0)
    parser.add_argument("--chats", type=int, default=100)
    asyncio.run(amain(parser.parse_args()))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
