"""The conversation's promises on PostgreSQL: the same end-to-end tests, through the real
Application against the fakes, with ``DATABASE_URL=postgresql://…`` on a real server.

The tests themselves are the SQLite suite's, imported, so both engines answer to one text.
"""

from __future__ import annotations

import importlib.util
import signal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from bot.sandbox.backend import FakeBackend
from bot.sandbox.harness import Harness
from bot.sandbox.process import BotProcess
from bot.sandbox.telegram import FakeTelegram
from bot.store.postgres import PostgresStore

ALICE = 8101
PG_TOKEN = "556:PGINBOX"


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
_settings = _load("test_journey_settings.py")
test_settings_survive_a_restart = _settings.test_settings_survive_a_restart
test_a_forum_topics_default_does_not_leak_into_another_topic = (
    _settings.test_a_forum_topics_default_does_not_leak_into_another_topic
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


async def test_a_burst_from_one_chat_reaches_the_agent_in_order(h: Harness) -> None:
    """The polling inbox claims each update in the store; the claims must not let one chat's
    updates overtake each other (on a pool of connections they return in any order)."""
    words = [f"step {n}" for n in range(12)]
    for word in words:
        await h.tg.send_text(ALICE, word)
    await h.tg.wait_for(lambda: sum(
        len(s.messages) for s in h.backend.sessions.values()) == len(words), timeout=30)
    await h.idle(timeout=30)
    (session,) = h.backend.sessions.values()
    assert session.messages == words


async def test_confirmed_updates_survive_a_kill_on_postgresql(
    tmp_path: Path, pg_url: str
) -> None:
    """The inbox is on for a polling bot on PostgreSQL too: updates Telegram no longer holds
    (a /credits waiting on a hung backend) are answered after a SIGKILL, once."""
    async with FakeTelegram(PG_TOKEN) as tg, FakeBackend() as backend:
        bot = BotProcess(tmp_path, {"TELEGRAM_BOT_TOKEN": PG_TOKEN, "TELEGRAM_API_URL": tg.url,
                                    "NEMO_API_URL": backend.url, "DATABASE_URL": pg_url})
        await bot.start()
        try:
            await bot.wait_ready()
            await tg.send_text(ALICE, "hello")
            await tg.wait_for_message(ALICE, contains="hello", timeout=30)
            backend.slow["credits"] = 60
            await tg.send_text(ALICE, "/credits")
            await tg.wait_for(lambda: backend.requests_to("credits") or None, timeout=30)
            await tg.wait_for(lambda: not tg.pending_updates() or None, timeout=30)
            assert await bot.stop(signal.SIGKILL) == -signal.SIGKILL
            backend.slow.clear()
            await bot.start()
            await tg.wait_for_message(ALICE, contains="Credits", timeout=30)
            await tg.send_text(ALICE, "and the colours")
            await tg.wait_for_message(ALICE, contains="colours", timeout=30)
        finally:
            await bot.stop()
        answers = [m.text or "" for m in tg.messages(ALICE)]
        assert sum("Credits" in a for a in answers) == 1, answers
        assert "Traceback" not in bot.log_text()
        assert not (tmp_path / "bot.db").exists()
