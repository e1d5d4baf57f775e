"""Real ffmpeg (found as the bot finds it) and small clips it makes, once per session."""

from __future__ import annotations

import pytest

from bot.compress import Ffmpeg, find_ffmpeg


@pytest.fixture(scope="session")
def ffmpeg() -> Ffmpeg:
    found = find_ffmpeg()
    if found is None:
        pytest.fail("no ffmpeg: `pip install .[dev]` brings imageio-ffmpeg", pytrace=False)
    return found
