"""The soak in CI size (issue 10): the bot as its own process (``python -m bot``) against
both fakes injecting a seeded 5 % of failures, 20 group chats sending texts, edits that
auto-export, videos, albums, /export, /status, Export button presses and /cancel; SIGTERM a
third of the way in, SIGKILL two thirds in, each followed by a start on the same database.

Per chat: every update answered (or covered by a later, answered /cancel), none answered
twice, no video delivered twice, no instruction reaching the backend twice, queued work
answered in the order it was sent; no error escaped. bench/soak.py has the definitions and
the full-size run (README). The traffic is seeded; where the stops fall among the bot's
requests is not, which is the point: the bot must be right wherever they fall.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.soak import soak


@pytest.mark.timeout(300)
async def test_soak_nothing_lost_nothing_doubled_in_order_nothing_escaped(
    tmp_path: Path,
) -> None:
    result = await soak(tmp_path, chats=20, updates=200, fault_rate=0.05, seed=10,
                        duration=24, settle=120)
    report = "\n".join([result.line(), *result.details, f"log: {tmp_path / 'bot.log'}"])
    assert result.sent == 200, report
    assert result.faults > 40, report  # the faults really happened
    assert result.exit_codes[:2] == [0, -9], report  # SIGTERM drained, SIGKILL killed
    assert result.answered > 140, report
    assert result.lost == 0, report
    assert result.answered_twice == 0, report
    assert result.exports_twice == 0, report
    assert result.edits_twice == 0, report
    assert result.out_of_order == 0, report
    assert result.escaped == 0, report
