"""Replicas: messages per second for 1, 2 and 3 webhook replicas on one PostgreSQL, and the
recovery time after one of three is SIGKILLed.

    python bench/replicas.py --chats 200 --messages 10 --lease 5

Each run starts a fresh database on a throwaway PostgreSQL (bot/sandbox/pgserver.py), the
fake Telegram and fake backend, a round-robin proxy and N ``python -m bot`` processes
(bot/sandbox/replicas.py). The fake Telegram delivers the webhook as Telegram does: up to 40
updates at once, each chat's one at a time and in order. *msg/s* is chats × messages divided
by the time from the first text sent to the last one answered. *Recovery* is the time from
SIGKILL to the first answer in a chat the killed replica held (at most about one lease,
REPLICA_LEASE_SECONDS). The kill run also checks the promises: every message answered once,
per-chat order, the killed replica's render delivered by another.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

from bot.sandbox.pgserver import PostgresServer
from bot.sandbox.replicas import Outcome, run_replicas


def _line(label: str, out: Outcome) -> str:
    text = (f"{label}: {out.messages} messages in {out.seconds:.1f} s = {out.rate:.0f} msg/s; "
            f"answered {out.answered}, unanswered {len(out.unanswered)}, "
            f"answered twice {len(out.answered_twice)}, sent twice {len(out.sent_twice)}, "
            f"out of order {len(out.out_of_order)}")
    if out.timed_out:
        text += "; TIMED OUT (see unanswered)"
    if out.killed_pid is not None:
        recovery = f"{out.recovery_seconds:.2f} s" if out.recovery_seconds is not None else "-"
        text += (f"; killed a replica holding {out.killed_chats} chats, recovery {recovery}, "
                 f"{out.interrupted} turns interrupted "
                 f"({len(out.answer_then_notice)} after their answer was shown), "
                 "render delivered "
                 f"{out.render_delivered}× ({out.render_requests} render request)")
    return text


async def main(chats: int, messages: int, lease: float, counts: list[int]) -> int:
    server = PostgresServer()
    server.start()
    ok = True
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for n in counts:
                out = await run_replicas(Path(tmp) / f"n{n}", server.create_database(),
                                         replicas=n, chats=chats, per_chat=messages,
                                         kill=False, lease_seconds=lease, timeout=1800)
                print(_line(f"{n} replica{'s' if n > 1 else ''}", out), flush=True)
            out = await run_replicas(Path(tmp) / "kill", server.create_database(),
                                     replicas=3, chats=chats, per_chat=messages,
                                     kill=True, lease_seconds=lease, timeout=1800)
            print(_line("3 replicas, one SIGKILLed", out), flush=True)
            ok = not (out.timed_out or out.unanswered or out.answered_twice or out.sent_twice
                      or out.out_of_order) and out.render_delivered == 1
    finally:
        server.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=200)
    parser.add_argument("--messages", type=int, default=10)
    parser.add_argument("--lease", type=float, default=5.0,
                        help="REPLICA_LEASE_SECONDS (recovery waits about one lease)")
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.chats, args.messages, args.lease, args.replicas)))
