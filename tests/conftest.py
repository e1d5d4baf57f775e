"""Shared fixtures: the real Application against both fakes, over HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.sandbox.harness import Harness


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests configure the bot explicitly; an operator's environment must not leak in."""
    import os

    for name in list(os.environ):
        if name.startswith(("TELEGRAM_", "NEMO_")) or name in {
            "DATABASE_URL", "ALLOWED_CHAT_IDS", "AUTO_EXPORT", "LOG_LEVEL",
        }:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(Path(__file__).parent.parent)


@pytest.fixture
def harness_options() -> dict[str, Any]:
    """Override in a test module (or parametrize) to change the bot's settings."""
    return {}


@pytest.fixture
async def h(tmp_path: Path, harness_options: dict[str, Any]) -> AsyncIterator[Harness]:
    harness = Harness(tmp_path, **harness_options)
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()
