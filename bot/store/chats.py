"""A chat's identity (token, language) and its topics (backend session, render, line)."""


from __future__ import annotations

import time
import uuid
from typing import Any

from bot.store.base import (
    CHAT_COLUMNS,
    TOPIC_COLUMNS,
    StoreBase,
    marks,
)
from bot.store.records import (
    ChatRecord,
    TopicRecord,
)


class ChatQueries(StoreBase):
    """Chats and their topics."""

    # -- chats --------------------------------------------------------------------------------

    async def get_chat(self, chat_id: int) -> ChatRecord | None:
        row = await self._row(f"SELECT {CHAT_COLUMNS} FROM chats WHERE chat_id = $1", chat_id)
        return ChatRecord(**row) if row else None

    async def ensure_chat(self, chat_id: int) -> ChatRecord:
        """The chat's record, created on first sight. Read first: this runs on every
        backend call, and the insert is needed once per chat."""
        existing = await self.get_chat(chat_id)
        if existing is not None:
            return existing
        await self._run(
            "INSERT INTO chats (chat_id, client_id, created_at, updated_at)"
            " VALUES ($1, $2, $3, $3) ON CONFLICT (chat_id) DO NOTHING",
            chat_id, str(uuid.uuid4()), time.time(),
        )
        record = await self.get_chat(chat_id)  # ours, or the one another replica made first
        assert record is not None
        return record

    async def save_token(
        self, chat_id: int, *, client_id: str, token: str, expires_at: float | None,
        anon_user_id: str | None,
    ) -> None:
        await self._run(
            "UPDATE chats SET client_id = $1, token = $2, token_expires_at = $3,"
            " anon_user_id = $4, updated_at = $5 WHERE chat_id = $6",
            client_id, token, expires_at, anon_user_id, time.time(), chat_id,
        )

    async def set_language(self, chat_id: int, language: str | None) -> None:
        """The chat's language; a language chosen before the chat was seen creates it."""
        await self._run(
            "INSERT INTO chats (chat_id, client_id, language, created_at, updated_at)"
            " VALUES ($1, $2, $3, $4, $4)"
            " ON CONFLICT (chat_id) DO UPDATE SET language = $3, updated_at = $4",
            chat_id, str(uuid.uuid4()), language, time.time(),
        )

    async def claim_quality_hint(self, chat_id: int) -> bool:
        """``True`` exactly once per chat: the first caller gets to show the quality hint."""
        await self.ensure_chat(chat_id)
        changed = await self._run(
            "UPDATE chats SET quality_hint_at = $1 WHERE chat_id = $2 AND quality_hint_at IS NULL",
            time.time(), chat_id,
        )
        return changed == 1

    # -- topics (sessions) --------------------------------------------------------------------

    async def get_topic(self, chat_id: int, thread_id: int = 0) -> TopicRecord | None:
        row = await self._row(
            f"SELECT {TOPIC_COLUMNS} FROM topics WHERE chat_id = $1 AND thread_id = $2",
            chat_id, thread_id,
        )
        return TopicRecord(**row) if row else None

    async def _upsert_topic(self, chat_id: int, thread_id: int, **fields: Any) -> None:
        names = list(fields)
        sets = ", ".join(f"{name} = EXCLUDED.{name}" for name in names)
        await self._run(
            f"INSERT INTO topics (chat_id, thread_id, created_at, updated_at, {', '.join(names)})"
            f" VALUES ($1, $2, $3, $3, {marks(4, len(names))}) ON CONFLICT (chat_id, thread_id)"
            f" DO UPDATE SET {sets}, updated_at = EXCLUDED.updated_at",
            chat_id, thread_id, time.time(), *fields.values(),
        )

    async def save_session(
        self, chat_id: int, thread_id: int, session_id: str | None, language: str | None
    ) -> None:
        """A new session, which forgets the old one's draft fingerprint."""
        await self._upsert_topic(
            chat_id, thread_id, session_id=session_id, session_language=language, draft_hash=None
        )

    async def set_session_language(self, chat_id: int, thread_id: int, language: str) -> None:
        """The agent was told to answer in ``language`` (its session stays)."""
        await self._upsert_topic(chat_id, thread_id, session_language=language)

    async def set_line(self, chat_id: int, thread_id: int, message_id: int | None) -> None:
        """The chat's line notice (``conversation/line.py``), or ``None`` once it is gone."""
        await self._upsert_topic(chat_id, thread_id, line_message_id=message_id)

    async def set_draft_hash(self, chat_id: int, thread_id: int, draft_hash: str | None) -> None:
        await self._upsert_topic(chat_id, thread_id, draft_hash=draft_hash)
