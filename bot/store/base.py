"""What an engine supplies (how to run a statement, its locks and leases), and the
constants and helpers the query families share.
"""


from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from bot.store.claims import Fence
from bot.store.records import (
    Row,
)

Run = Callable[..., Awaitable[int]]
"""Runs one statement inside :meth:`ChatStore._atomic`; returns the rows it changed."""

CHAT_COLUMNS = (
    "chat_id, client_id, token, token_expires_at, anon_user_id, language,"
    " created_at, updated_at, quality_hint_at"
)
TOPIC_COLUMNS = (
    "chat_id, thread_id, session_id, session_language, render_id, render_message_id,"
    " render_started_at, draft_hash, line_message_id"
)
JOB_COLUMNS = "id, chat_id, thread_id, kind, payload, state, uploaded, turn_sent"
EXPORT_COLUMNS = "id, file_id, as_document, size, width, height, duration, created_at"
UNFINISHED = "state IN ('pending', 'running')"


def marks(first: int, count: int) -> str:
    """``$first, …`` for an ``IN (…)`` list of ``count`` values."""
    return ", ".join(f"${i}" for i in range(first, first + count))


class StoreBase(ABC):
    """A store's engine: how it runs a statement, and what only it can do."""

    # -- what an engine supplies -------------------------------------------------------------

    _media_group: str
    """The SQL that reads a job payload's ``media_group_id`` (JSON differs per engine)."""

    @abstractmethod
    async def _rows(self, sql: str, *args: Any) -> list[Row]: ...

    @abstractmethod
    async def _row(self, sql: str, *args: Any) -> Row | None: ...

    @abstractmethod
    async def _value(self, sql: str, *args: Any) -> Any:
        """The first column of the first row, ``None`` without a row."""

    @abstractmethod
    async def _run(self, sql: str, *args: Any) -> int:
        """Run and commit one statement; the rows it changed."""

    @abstractmethod
    async def _run_many(self, sql: str, args: list[tuple[Any, ...]]) -> None: ...

    @abstractmethod
    async def _insert_id(self, sql: str, *args: Any) -> int | None:
        """Run an ``INSERT`` of one row; its id, ``None`` when ``ON CONFLICT`` skipped it."""

    @abstractmethod
    def _atomic(self) -> AbstractAsyncContextManager[Run]:
        """Statements committed together."""

    @abstractmethod
    def _json(self, value: dict[str, Any]) -> Any:
        """A JSON column's parameter (SQLite: text; asyncpg's codec: the object)."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def hold_polling(self) -> bool:
        """Become the one process that long-polls with this database, until ``close()``;
        ``False`` when another process already is."""

    @abstractmethod
    def identity_lock(self, chat_id: int) -> AbstractAsyncContextManager[None]:
        """Held while the chat's backend token is read and renewed, so replicas never burn
        two anonymous tokens (client ids) for one chat."""

    # -- replicas: who works a chat now

    @property
    @abstractmethod
    def shared(self) -> bool:
        """True when other processes may use the same database (PostgreSQL): the queue
        then claims chats before working them and sweeps for work nobody holds."""

    @abstractmethod
    async def renew_claims(self, owner: str, ttl: float) -> set[tuple[int, int]]:
        """Extend every lease ``owner`` holds; returns the chats it still holds."""

    @abstractmethod
    async def release_chat(
        self, chat_id: int, thread_id: int, owner: str, fence: Fence | None = None
    ) -> None:
        """Let go of the chat (only ``fence``'s claim of it, when given)."""

    @abstractmethod
    async def unclaimed_work(self) -> list[tuple[int, int]]:
        """Chats with unfinished jobs that no live lease holds (a replica died, or a job
        arrived just as its holder let go)."""

    # -- the schema

    async def schema_version(self) -> int:
        return int(await self._value("SELECT COALESCE(MAX(version), 0) FROM schema_version"))
