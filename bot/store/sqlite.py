"""The chat store on SQLite: one aiosqlite connection per process, WAL, migrations at open.

Everything a chat needs to survive a restart lives here: its backend identity, its session,
the render it is waiting for, and the queue of work it has not finished yet. The queries
themselves are ``ChatStore``'s (bot/store/interface.py); this is how SQLite runs them.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import itertools
import json
import logging
import os
import re
import stat
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, cast

import aiosqlite

from bot.store.base import Run
from bot.store.claims import FENCE, Fence, LeaseLost
from bot.store.interface import ChatStore
from bot.store.migrations import MIGRATIONS
from bot.store.records import ChatRecord, Row, TopicRecord

log = logging.getLogger(__name__)


@functools.cache
def _sql(query: str) -> str:
    """PostgreSQL's ``$1`` parameters as SQLite's ``?1`` (same numbers, same meaning)."""
    return re.sub(r"\$(\d+)", r"?\1", query)


class SqliteStore(ChatStore):
    _media_group = "json_extract(payload, '$.media_group_id')"

    def __init__(self, db: aiosqlite.Connection, path: Path | None = None) -> None:
        self._db = db
        self._path = path
        self._lock_fd: int | None = None
        # Chat and topic records are read several times per job (language, token, session)
        # and rarely change. One process works a SQLite file (hold_polling), so every write
        # passes through the methods below, which drop the record they change; a read that
        # overlapped any such write is not kept.
        self._chats: dict[int, ChatRecord] = {}
        self._topics: dict[tuple[int, int], TopicRecord] = {}
        self._writes = 0
        # Held by each write and by a whole transaction, so no other coroutine's write lands
        # inside a transaction (and is rolled back with it, or committed half-way).
        self._write_lock = asyncio.Lock()
        # Claims of chats by this process's workers (bot/store/claims.py): in memory, as
        # one process works the file.
        self._claims: dict[tuple[int, int], Fence] = {}
        self._epochs = itertools.count(1)

    @classmethod
    async def open(cls, path: Path) -> SqliteStore:
        _create_private(path)
        # Autocommit: a write is one trip to aiosqlite's thread, not two (execute, commit);
        # statements that must land together get an explicit transaction (_atomic).
        db = await aiosqlite.connect(path, isolation_level=None)
        db.row_factory = aiosqlite.Row
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=NORMAL")
        await db.execute("PRAGMA busy_timeout=5000")
        store = cls(db, path)
        await store._migrate()
        return store

    async def close(self) -> None:
        await self._db.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor drops the flock
            self._lock_fd = None

    async def _migrate(self) -> None:
        await self._db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER)")
        current = await self.schema_version()
        for number, script in enumerate(MIGRATIONS, start=1):
            if number <= current:
                continue
            await self._db.executescript(
                f"BEGIN; {script}; INSERT INTO schema_version VALUES ({number}); COMMIT;"
            )

    # -- replicas: a SQLite file serves one process, which holds every chat -----------------

    @property
    def shared(self) -> bool:
        return False

    async def claim(self, chat_id: int, thread_id: int, owner: str, ttl: float) -> Fence | None:
        """Always granted (one process); a new claim supersedes the chat's earlier one, so
        a worker of this process that outlived its turn cannot act any more."""
        fence = Fence(chat_id, thread_id, owner, next(self._epochs))
        self._claims[(chat_id, thread_id)] = fence
        return fence

    async def holds(self, fence: Fence) -> bool:
        return self._claims.get((fence.chat_id, fence.thread_id)) == fence

    async def _run_fenced(self, fence: Fence, sql: str, *args: Any) -> int:
        async with self._write_lock:  # checked and written with no other write between
            if self._claims.get((fence.chat_id, fence.thread_id)) != fence:
                raise LeaseLost(f"chat {fence.chat_id}: claim {fence.epoch} is gone")
            cur = await self._db.execute(_sql(sql.replace(FENCE, "1 = 1")), args)
        return cur.rowcount

    def _topic_changed(self, chat_id: int, thread_id: int) -> None:
        self._changed(chat_id, thread_id)

    async def renew_claims(self, owner: str, ttl: float) -> set[tuple[int, int]]:
        return set()

    async def release_chat(
        self, chat_id: int, thread_id: int, owner: str, fence: Fence | None = None
    ) -> None:
        key = (chat_id, thread_id)
        if fence is None or self._claims.get(key) == fence:
            self._claims.pop(key, None)

    async def unclaimed_work(self) -> list[tuple[int, int]]:
        return await self.chats_with_work()

    async def hold_polling(self) -> bool:
        """Become the one process working this file, polling or webhook: two would resume
        the same jobs (a rolling deploy on a shared volume). An exclusive ``flock`` on
        ``<file>.lock`` beside it, held until ``close()``; the kernel drops it when the
        process dies, so a SIGKILL leaves nothing to clean up. ``python -m bot check``
        never asks for it, so the health check reads the file while the bot runs."""
        if self._lock_fd is not None or self._path is None:
            return True
        fd = os.open(self._path.with_name(self._path.name + ".lock"), os.O_RDWR | os.O_CREAT,
                     0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._lock_fd = fd
        return True

    # -- chat and topic records, kept in memory ---------------------------------------------------

    async def get_chat(self, chat_id: int) -> ChatRecord | None:
        if (kept := self._chats.get(chat_id)) is not None:
            return kept
        writes = self._writes
        record = await super().get_chat(chat_id)
        if record is not None and writes == self._writes:
            _keep(self._chats, chat_id, record)
        return record

    async def get_topic(self, chat_id: int, thread_id: int = 0) -> TopicRecord | None:
        if (kept := self._topics.get((chat_id, thread_id))) is not None:
            return kept
        writes = self._writes
        record = await super().get_topic(chat_id, thread_id)
        if record is not None and writes == self._writes:
            _keep(self._topics, (chat_id, thread_id), record)
        return record

    def _changed(self, chat_id: int, thread_id: int | None = None) -> None:
        self._writes += 1
        if thread_id is None:
            self._chats.pop(chat_id, None)
        else:
            self._topics.pop((chat_id, thread_id), None)

    async def ensure_chat(self, chat_id: int) -> ChatRecord:
        if (existing := await self.get_chat(chat_id)) is not None:
            return existing
        try:  # created now
            return await super().ensure_chat(chat_id)
        finally:
            self._changed(chat_id)

    async def save_token(
        self, chat_id: int, *, client_id: str, token: str, expires_at: float | None,
        anon_user_id: str | None,
    ) -> None:
        try:
            await super().save_token(chat_id, client_id=client_id, token=token,
                                     expires_at=expires_at, anon_user_id=anon_user_id)
        finally:
            self._changed(chat_id)

    async def set_language(self, chat_id: int, language: str | None) -> None:
        try:
            await super().set_language(chat_id, language)
        finally:
            self._changed(chat_id)

    async def claim_quality_hint(self, chat_id: int) -> bool:
        try:
            return await super().claim_quality_hint(chat_id)
        finally:
            self._changed(chat_id)

    async def _upsert_topic(self, chat_id: int, thread_id: int, **fields: Any) -> None:
        try:
            await super()._upsert_topic(chat_id, thread_id, **fields)
        finally:
            self._changed(chat_id, thread_id)

    # -- how SQLite runs a statement ------------------------------------------------------------
    # A read is one trip to aiosqlite's thread (execute_fetchall), not three (execute,
    # fetch, close): each trip is a thread hop and an event-loop wake-up.

    async def _rows(self, sql: str, *args: Any) -> list[Row]:
        return cast(list[Row], list(await self._db.execute_fetchall(_sql(sql), args)))

    async def _row(self, sql: str, *args: Any) -> Row | None:
        rows = await self._db.execute_fetchall(_sql(sql), args)
        return cast(Row, next(iter(rows))) if rows else None

    async def _value(self, sql: str, *args: Any) -> Any:
        rows = list(await self._db.execute_fetchall(_sql(sql), args))
        return rows[0][0] if rows else None

    async def _run(self, sql: str, *args: Any) -> int:
        async with self._write_lock:
            cur = await self._db.execute(_sql(sql), args)
        return cur.rowcount

    async def _run_many(self, sql: str, args: list[tuple[Any, ...]]) -> None:
        async with self._transaction():
            await self._db.executemany(_sql(sql), args)

    async def _insert_id(self, sql: str, *args: Any) -> int | None:
        async with self._write_lock:
            cur = await self._db.execute(_sql(sql), args)
        return cur.lastrowid if cur.rowcount else None

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[None]:
        async with self._write_lock:
            # BEGIN inside the try: a cancel that lands on it (stopping the bot cancels the
            # polling task mid-``keep_updates``) must still end the transaction, or every
            # later autocommit write joins it and is rolled back at close. aiosqlite runs
            # statements in order on its thread (a cancelled await still runs), so the
            # rollback follows the BEGIN.
            try:
                await self._db.execute("BEGIN")
                yield
            except BaseException:
                await self._db.rollback()
                raise
            await self._db.commit()

    @contextlib.asynccontextmanager
    async def _atomic(self) -> AsyncIterator[Run]:
        async def run(sql: str, *args: Any) -> int:
            cur = await self._db.execute(_sql(sql), args)
            return cur.rowcount

        async with self._transaction():
            yield run

    def _json(self, value: dict[str, Any]) -> Any:
        return json.dumps(value)

    def identity_lock(self, chat_id: int) -> AbstractAsyncContextManager[None]:
        """One process per SQLite file: the caller's in-process lock is enough."""
        return contextlib.nullcontext()


_KEPT = 50_000
"""Records kept per kind at most; past it the oldest half is dropped."""


def _keep(kept: dict[Any, Any], key: Any, record: Any) -> None:
    if len(kept) >= _KEPT:
        for old in list(kept)[: _KEPT // 2]:
            del kept[old]
    kept[key] = record


SIDE_FILES = ("-wal", "-shm", "-journal")
"""SQLite's files beside the database: they hold recent writes (tokens too). SQLite creates
them with the database's mode, but ones left by an earlier run keep the mode they had."""


def _create_private(path: Path) -> None:
    """Create the file 0600 before SQLite writes a byte: it holds backend tokens. A file
    that already exists (a restored backup, an older version) is tightened to 0600 too, and
    so are its -wal, -shm and -journal files left from before."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    for file in (path, *(path.with_name(path.name + side) for side in SIDE_FILES)):
        try:
            mode = stat.S_IMODE(file.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            log.warning("database file %s was readable by others (mode %o): set to 0600",
                        file, mode)
            file.chmod(0o600)
