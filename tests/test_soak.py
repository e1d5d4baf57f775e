"""The soak in CI size (issue 10): group chats, hundreds of updates, 5 % injected faults on
both fakes, the bot SIGTERMed and SIGKILLed mid-run. Nothing lost, nothing doubled, nothing
escaped. bench/soak.py has the definitions and the full-size run (README)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.soak import soak


@pytest.mark.timeout(240)
async def test_soak_nothing_lost_nothing_doubled_nothing_escaped(tmp_path: Path) -> None:
    result = await soak(tmp_path, chats=20, updates=300, fault_rate=0.05, seed=10,
                        duration=30)
    report = "\n".join([result.line(), *result.details])
    assert result.sent == 300, report
    assert result.faults > 20, report  # the faults really happened
    assert result.exit_codes[:2] == [0, -9], report  # SIGTERM drained, SIGKILL killed
    assert result.answered > 200, report
    assert result.lost == 0, report
    assert result.answered_twice == 0, report
    assert result.edits_twice == 0, report
    assert result.exports_twice == 0, report
    assert result.escaped == 0, report
