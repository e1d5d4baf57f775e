"""The conversation's promises on PostgreSQL: the same end-to-end tests, through the real
Application against the fakes, with ``DATABASE_URL=postgresql://…`` on a real server.

The tests themselves are the SQLite suite's, imported, so both engines answer to one text.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from bot.sandbox.harness import Harness
from bot.store.postgres import PostgresStore

ALICE = 8101


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"pg_{name}", Path(__file__).parent / name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def harness_options(pg_url: str) -> dict[str, Any]:
    return {"database_url": pg_url}


_conversation = _load("test_conversation.py")
_foundation = _load("test_foundation.py")

test_video_then_instruction_delivers_the_finished_video = (
    _conversation.test_video_then_instruction_delivers_the_finished_video
)
test_album_is_one_upload_and_one_turn = _conversation.test_album_is_one_upload_and_one_turn
test_render_in_flight_resumes_after_restart = (
    _conversation.test_render_in_flight_resumes_after_restart
)
test_messages_in_one_chat_are_queued_in_order = (
    _conversation.test_messages_in_one_chat_are_queued_in_order
)
test_cancel_stops_the_running_turn = _conversation.test_cancel_stops_the_running_turn
test_repeated_update_is_handled_once = _conversation.test_repeated_update_is_handled_once
test_queued_work_survives_a_restart = _conversation.test_queued_work_survives_a_restart
test_two_chats_get_two_tokens_and_sessions_reused_after_restart = (
    _foundation.test_two_chats_get_two_tokens_and_sessions_reused_after_restart
)


async def test_the_bot_really_runs_on_postgresql(h: Harness) -> None:
    """Guard for the imports above: the harness is on PostgreSQL, not a SQLite file."""
    assert isinstance(h.runtime.svc.store, PostgresStore)
    await h.tg.send_text(1, "hello")
    await h.tg.wait_for_message(1)
    await h.idle()
    chat = await h.runtime.svc.store.get_chat(1)
    assert chat is not None and chat.token is not None
    assert not (h.workdir / "bot.db").exists()


async def test_many_new_chats_at_once_do_not_exhaust_the_pool(h: Harness) -> None:
    """More new chats at once than the pool has connections (20): each fetches its backend
    token under a per-chat database lock; the lock must not hold a pooled connection that
    the token's own reads and writes then wait for (which hung the bot)."""
    chats = range(7001, 7061)
    for chat in chats:
        await h.tg.send_text(chat, f"hello from {chat}")

    def answered() -> int:
        return sum(1 for c in chats for m in h.tg.messages(c)
                   if f'"hello from {c}"' in (m.text or ""))

    await h.tg.wait_for(lambda: answered() == len(chats), timeout=30)


async def test_a_valid_token_is_used_without_waiting_for_the_chat_lock(
    h: Harness, pg_url: str
) -> None:
    """The per-chat database lock is for issuing a token. Another replica holding it (say,
    while it renews the token) must not stall this chat's turns while the stored token is
    still good: a turn reads the token first and only locks to issue one."""
    import asyncpg

    from bot.store.postgres import _IDENTITY_LOCKS

    await h.tg.send_text(ALICE, "first")
    await h.tg.wait_for_message(ALICE, contains='"first"')
    other = await asyncpg.connect(pg_url)  # the other replica, holding this chat's lock
    try:
        await other.execute(
            "SELECT pg_advisory_lock($1, hashtext($2))", _IDENTITY_LOCKS, str(ALICE)
        )
        before = len(h.tg.messages(ALICE))
        await h.tg.send_text(ALICE, "second")
        await h.tg.wait_for_message(ALICE, after=before, contains='"second"', timeout=5)
    finally:
        await other.close()
    assert len(h.backend.requests_to("anonymous_token")) == 1  # the token was reused
