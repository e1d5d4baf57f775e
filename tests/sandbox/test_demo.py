"""The demo (``python -m bot demo``) plays the real bot against the fakes: it must show the
presets under the upload and the before → after of the delivery (issue 13)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.sandbox import demo


async def test_demo_shows_the_presets_and_what_was_gained(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await demo.play(tmp_path)
    out = capsys.readouterr().out
    assert "[Smaller file, same quality | Make it 720p]" in out
    assert "[taps “Smaller file, same quality”]" in out
    assert "2.4 MB → 200.0 kB (-92%), 1080p, 45 sec" in out
    assert "the preset asked the agent" in out and "2.4 MB" in out
