"""Shared fixtures: the real Application against both fakes, over HTTP on 127.0.0.1."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.compress import Ffmpeg, find_ffmpeg
from bot.sandbox.harness import Harness
from bot.sandbox.pgserver import PostgresServer, find_bin


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests configure the bot explicitly; an operator's environment must not leak in."""
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


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session (Debian's ``postgresql`` package).

    Without its binaries the PostgreSQL tests skip on a developer machine, and fail in CI
    (CI=true), where ``.ci/run`` installs them: the contract must be proven on both engines.
    """
    if find_bin() is None:
        reason = "PostgreSQL binaries not found (apt-get install postgresql, or set PG_BIN)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}: CI must run the PostgreSQL tests", pytrace=False)
        pytest.skip(reason)
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> str:
    """A fresh, empty database on the session's server."""
    return pg_server.create_database()


@pytest.fixture(scope="session")
def ffmpeg() -> Ffmpeg:
    """The ffmpeg the bot would use; the dev install brings one (imageio-ffmpeg)."""
    found = find_ffmpeg()
    if found is None:
        pytest.fail("no ffmpeg: `pip install .[dev]` brings imageio-ffmpeg", pytrace=False)
    return found
