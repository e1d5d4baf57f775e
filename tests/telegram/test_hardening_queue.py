"""Hardening of the chat queue (issue 23): faults the soak does not throw. Through the real
Application against the fakes, with the store failing at a real boundary (a second SQLite
connection holding the write lock)."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from typing import Any

import pytest

from bot.sandbox.harness import Harness

ALICE = 3101


def texts(h: Harness, chat: int = ALICE) -> list[str]:
    return [m.text or "" for m in h.tg.messages(chat) if not m.deleted]


class Records(logging.Handler):
    """Collects the bot's log records, to wait for the one that says a fault was met."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


# -- item 6: a store error in a chat's worker loop does not end the chat's worker -----------


async def test_a_chat_answers_again_once_its_locked_database_is_back(h: Harness) -> None:
    queue = h.runtime.queue
    translator_for = queue.translator_for
    locker: sqlite3.Connection | None = None
    records = Records()
    logging.getLogger("bot.conversation.queue").addHandler(records)

    # The worker reads the job; then another connection takes the database's write lock
    # (a real lock, as a backup tool or a second process would hold it), so the worker's
    # next write fails with "database is locked" after the busy timeout. The hook only
    # chooses the moment.
    async def locked_after_read(chat_id: int, language: str | None) -> Any:
        nonlocal locker
        result = await translator_for(chat_id, language)
        task = asyncio.current_task()
        if locker is None and task is not None and task.get_name().startswith("chat-"):
            locker = sqlite3.connect(h.workdir / "bot.db", isolation_level=None)
            locker.execute("BEGIN EXCLUSIVE")
        return result

    queue.translator_for = locked_after_read  # type: ignore[method-assign]
    try:
        await h.tg.send_text(ALICE, "hello there")

        def failed() -> bool:
            return any("locked" in str(r.exc_info and r.exc_info[1]) for r in records.records)

        await h.tg.wait_for(failed, timeout=30)
        assert locker is not None
        locker.rollback()
        locker.close()
        # Nothing else is sent: the same worker must come back to the job by itself.
        await h.tg.wait_for(
            lambda: any("hello there" in t for t in texts(h)), timeout=30
        )
        await h.idle()
        assert len([t for t in texts(h) if "hello there" in t]) == 1
    finally:
        logging.getLogger("bot.conversation.queue").removeHandler(records)
        if locker is not None:
            locker.close()


pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


# -- item 10c: a wall-clock jump does not make the render give up ---------------------------

VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(20_000)
COMPRESS = "compress this video to a smaller file size without losing quality"


class JumpedClock:
    """The ``time`` module as the render poller sees it, with the wall clock moved forward
    (an NTP step, a suspended VM resumed). No real boundary moves a test's clock, so the
    poller's module reference is swapped; monotonic time is left as it is."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


async def test_a_wall_clock_jump_mid_render_does_not_give_the_render_up(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = JumpedClock()
    monkeypatch.setattr("bot.conversation.export.time", clock)
    h.backend.render_polls = 30
    await h.tg.send_video(ALICE, VIDEO, file_name="clip.mp4", caption=COMPRESS)
    await h.tg.wait_for(lambda: len(h.backend.requests_to("render_status")) >= 2, timeout=20)
    clock.offset = 3 * 3600.0  # far past the 30 min give-up, in wall time only
    video = await h.tg.wait_for_message(ALICE, kind="video", timeout=30)
    assert "Here is your video" in (video.text or "")
    assert not any("far longer" in t for t in texts(h))


# -- item 10b: an unparseable row in the inbox is set aside, not a crash loop ----------------


async def test_an_unparseable_kept_update_is_set_aside_and_the_others_are_handled(
    h: Harness,
) -> None:
    await h.tg.send_text(ALICE, "first")
    await h.tg.wait_for(lambda: any('"first"' in t for t in texts(h)), timeout=20)
    await h.idle()
    await h.stop_bot()
    kept = {
        "update_id": 900_002,
        "message": {
            "message_id": 9002, "date": int(time.time()), "text": "kept one",
            "chat": {"id": ALICE, "type": "private", "first_name": "Alice"},
            "from": {"id": ALICE, "is_bot": False, "first_name": "Alice"},
        },
    }
    db = sqlite3.connect(h.workdir / "bot.db", isolation_level=None)
    try:
        db.executemany(
            "INSERT INTO inbox (update_id, body, state, updated_at) VALUES (?, ?, 'new', ?)",
            [(900_001, '{"update_id": 900001, "message": {truncated', time.time()),
             (900_002, json.dumps(kept), time.time())],
        )
    finally:
        db.close()
    await h.start_bot()  # raised before: every start failed on the same row
    await h.tg.wait_for(lambda: any('"kept one"' in t for t in texts(h)), timeout=20)
    await h.idle()
    db = sqlite3.connect(h.workdir / "bot.db")
    try:
        state = db.execute("SELECT state FROM inbox WHERE update_id = 900001").fetchone()[0]
    finally:
        db.close()
    assert state == "dead"
