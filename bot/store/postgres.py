"""The chat store on PostgreSQL (asyncpg), for several replicas sharing one database.

asyncpg over psycopg 3: it is asyncio-native, has its own pool, and is the faster of the
two; the store needs nothing psycopg adds (no sync API, no ORM). Timestamps are epoch
seconds as in SQLite, so both engines return the same records.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from bot.store.pg_migrations import PG_MIGRATIONS
from bot.store.store import (
    ChatRecord,
    ExportRecord,
    Job,
    SendRecord,
    Source,
    TopicRecord,
    VideoInfo,
)

# Advisory lock keys: constants no other code uses.
_MIGRATION_LOCK = 0x7274_6B00
_POLLING_LOCK = 0x7274_6B01
_IDENTITY_LOCKS = 0x7274_6B02  # the first half of a two-part key; the chat is the second

_NOW = "EXTRACT(EPOCH FROM clock_timestamp())::DOUBLE PRECISION"

_CHAT_COLUMNS = (
    "chat_id, client_id, token, token_expires_at, anon_user_id, language,"
    " created_at, updated_at"
)
_TOPIC_COLUMNS = (
    "chat_id, thread_id, session_id, session_language, render_id, render_message_id,"
    " render_started_at, draft_hash"
)
_JOB_COLUMNS = "id, chat_id, thread_id, kind, payload, state, uploaded, turn_sent"
_EXPORT_COLUMNS = "id, file_id, as_document, size, width, height, duration, created_at"


async def _init_connection(con: asyncpg.Connection) -> None:
    """JSONB in and out as Python objects, like SQLite's JSON text."""
    await con.set_type_codec(
        "jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
    )


class PostgresStore:
    def __init__(self, pool: asyncpg.Pool, url: str, locks: asyncpg.Pool) -> None:
        self._pool = pool
        self._url = url
        # identity_lock's connections come from a pool of their own: a block holding one
        # reads and writes through the main pool, so sharing one pool would let as many
        # blocks as it has connections each hold one and wait for another, forever.
        self._locks = locks
        self._polling: asyncpg.Connection | None = None

    @classmethod
    async def open(
        cls, url: str, *, max_connections: int = 20, lock_connections: int = 4
    ) -> PostgresStore:
        pool = await asyncpg.create_pool(
            url, min_size=1, max_size=max_connections, init=_init_connection
        )
        try:
            locks = await asyncpg.create_pool(url, min_size=0, max_size=lock_connections)
        except BaseException:
            await pool.close()
            raise
        store = cls(pool, url, locks)
        try:
            await store._migrate()
        except BaseException:
            await pool.close()
            await locks.close()
            raise
        return store

    async def close(self) -> None:
        if self._polling is not None:
            await self._polling.close()
            self._polling = None
        await self._pool.close()
        await self._locks.close()

    async def hold_polling(self) -> bool:
        """A session advisory lock on a connection of its own: held while this process
        lives, released by the server the moment the process (or its connection) dies."""
        if self._polling is None:
            con = await asyncpg.connect(self._url)
            if not await con.fetchval("SELECT pg_try_advisory_lock($1)", _POLLING_LOCK):
                await con.close()
                return False
            self._polling = con
        return True

    async def _migrate(self) -> None:
        async with self._pool.acquire() as con, con.transaction():
            await con.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            await con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER)")
            current = await con.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version")
            for number, script in enumerate(PG_MIGRATIONS, start=1):
                if number <= current:
                    continue
                await con.execute(script)
                await con.execute("INSERT INTO schema_version VALUES ($1)", number)

    async def schema_version(self) -> int:
        value = await self._pool.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version")
        return int(value)

    # -- chats --------------------------------------------------------------------------

    async def get_chat(self, chat_id: int) -> ChatRecord | None:
        row = await self._pool.fetchrow(
            f"SELECT {_CHAT_COLUMNS} FROM chats WHERE chat_id = $1", chat_id
        )
        return ChatRecord(**dict(row)) if row else None

    async def ensure_chat(self, chat_id: int) -> ChatRecord:
        """Read first: this runs on every backend call, the insert once per chat."""
        existing = await self.get_chat(chat_id)
        if existing is not None:
            return existing
        now = time.time()
        await self._pool.execute(
            "INSERT INTO chats (chat_id, client_id, created_at, updated_at)"
            " VALUES ($1, $2, $3, $3) ON CONFLICT (chat_id) DO NOTHING",
            chat_id,
            str(uuid.uuid4()),
            now,
        )
        record = await self.get_chat(chat_id)  # ours, or the one another replica made first
        assert record is not None
        return record

    async def save_token(
        self,
        chat_id: int,
        *,
        client_id: str,
        token: str,
        expires_at: float | None,
        anon_user_id: str | None,
    ) -> None:
        await self._pool.execute(
            "UPDATE chats SET client_id = $1, token = $2, token_expires_at = $3,"
            " anon_user_id = $4, updated_at = $5 WHERE chat_id = $6",
            client_id,
            token,
            expires_at,
            anon_user_id,
            time.time(),
            chat_id,
        )

    @contextlib.asynccontextmanager
    async def identity_lock(self, chat_id: int) -> AsyncIterator[None]:
        """A per-chat advisory lock in a transaction held for the block. Not the row's
        own lock (FOR UPDATE): the block saves the token through another pooled connection,
        which that lock would make wait for the block itself."""
        async with self._locks.acquire() as con, con.transaction():
            await con.execute(
                "SELECT pg_advisory_xact_lock($1, hashtext($2))", _IDENTITY_LOCKS, str(chat_id)
            )
            yield

    async def set_language(self, chat_id: int, language: str | None) -> None:
        now = time.time()
        await self._pool.execute(
            "INSERT INTO chats (chat_id, client_id, language, created_at, updated_at)"
            " VALUES ($1, $2, $3, $4, $4)"
            " ON CONFLICT (chat_id) DO UPDATE SET language = $3, updated_at = $4",
            chat_id,
            str(uuid.uuid4()),
            language,
            now,
        )

    async def claim_quality_hint(self, chat_id: int) -> bool:
        await self.ensure_chat(chat_id)
        status = await self._pool.execute(
            "UPDATE chats SET quality_hint_at = $1 WHERE chat_id = $2 AND quality_hint_at IS NULL",
            time.time(),
            chat_id,
        )
        return _rowcount(status) == 1

    # -- topics (sessions) ------------------------------------------------------------------

    async def get_topic(self, chat_id: int, thread_id: int = 0) -> TopicRecord | None:
        row = await self._pool.fetchrow(
            f"SELECT {_TOPIC_COLUMNS} FROM topics WHERE chat_id = $1 AND thread_id = $2",
            chat_id,
            thread_id,
        )
        return TopicRecord(**dict(row)) if row else None

    async def _upsert_topic(self, chat_id: int, thread_id: int, **fields: Any) -> None:
        names = list(fields)
        columns = ", ".join(names)
        params = ", ".join(f"${i}" for i in range(4, 4 + len(names)))
        sets = ", ".join(f"{name} = EXCLUDED.{name}" for name in names)
        await self._pool.execute(
            f"INSERT INTO topics (chat_id, thread_id, created_at, updated_at, {columns})"
            f" VALUES ($1, $2, $3, $3, {params}) ON CONFLICT (chat_id, thread_id)"
            f" DO UPDATE SET {sets}, updated_at = EXCLUDED.updated_at",
            chat_id,
            thread_id,
            time.time(),
            *fields.values(),
        )

    async def save_session(
        self, chat_id: int, thread_id: int, session_id: str | None, language: str | None
    ) -> None:
        await self._upsert_topic(
            chat_id, thread_id, session_id=session_id, session_language=language, draft_hash=None
        )

    async def set_session_language(self, chat_id: int, thread_id: int, language: str) -> None:
        """The agent was told to answer in ``language`` (its session stays)."""
        await self._upsert_topic(chat_id, thread_id, session_language=language)

    async def set_render(
        self, chat_id: int, thread_id: int, render_id: str | None, message_id: int | None = None
    ) -> None:
        await self._upsert_topic(
            chat_id,
            thread_id,
            render_id=render_id,
            render_message_id=message_id,
            render_started_at=time.time() if render_id else None,
        )

    async def set_draft_hash(self, chat_id: int, thread_id: int, draft_hash: str | None) -> None:
        await self._upsert_topic(chat_id, thread_id, draft_hash=draft_hash)

    async def renders_in_flight(self) -> list[TopicRecord]:
        rows = await self._pool.fetch(
            f"SELECT {_TOPIC_COLUMNS} FROM topics WHERE render_id IS NOT NULL"
        )
        return [TopicRecord(**dict(row)) for row in rows]

    # -- before → after, /history -----------------------------------------------------------

    async def save_source(
        self, chat_id: int, thread_id: int, user_id: int | None, name: str | None,
        video: VideoInfo,
    ) -> None:
        await self._pool.execute(
            "INSERT INTO sources (chat_id, thread_id, user_id, name, size, width, height,"
            " duration, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            " ON CONFLICT (chat_id, thread_id) DO UPDATE SET user_id = $3, name = $4,"
            " size = $5, width = $6, height = $7, duration = $8, created_at = $9",
            chat_id, thread_id, user_id, name, video.size, video.width, video.height,
            video.duration, time.time(),
        )

    async def get_source(self, chat_id: int, thread_id: int) -> Source | None:
        row = await self._pool.fetchrow(
            "SELECT user_id, name, size, width, height, duration FROM sources"
            " WHERE chat_id = $1 AND thread_id = $2",
            chat_id, thread_id,
        )
        if row is None:
            return None
        return Source(row["user_id"], row["name"], _video(row))

    async def add_export(
        self, chat_id: int, thread_id: int, file_id: str, as_document: bool, video: VideoInfo
    ) -> int:
        value = await self._pool.fetchval(
            "INSERT INTO exports (chat_id, thread_id, file_id, as_document, size, width, height,"
            " duration, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            chat_id, thread_id, file_id, as_document, video.size, video.width, video.height,
            video.duration, time.time(),
        )
        return int(value)

    async def exports(self, chat_id: int, thread_id: int, limit: int = 5) -> list[ExportRecord]:
        rows = await self._pool.fetch(
            f"SELECT {_EXPORT_COLUMNS} FROM exports WHERE chat_id = $1 AND thread_id = $2"
            " ORDER BY id DESC LIMIT $3",
            chat_id, thread_id, limit,
        )
        return [_export(row) for row in rows]

    async def get_export(self, chat_id: int, export_id: int) -> ExportRecord | None:
        row = await self._pool.fetchrow(
            f"SELECT {_EXPORT_COLUMNS} FROM exports WHERE chat_id = $1 AND id = $2",
            chat_id, export_id,
        )
        return _export(row) if row else None

    # -- jobs --------------------------------------------------------------------------------

    async def add_job(
        self,
        chat_id: int,
        thread_id: int,
        kind: str,
        payload: dict[str, Any],
        dedupe_key: str | None = None,
    ) -> int | None:
        """Queue work; ``None`` when ``dedupe_key`` was seen before (a repeated update)."""
        now = time.time()
        job_id = await self._pool.fetchval(
            "INSERT INTO jobs (chat_id, thread_id, kind, payload, dedupe_key, created_at,"
            " updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)"
            " ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
            chat_id,
            thread_id,
            kind,
            payload,
            dedupe_key,
            now,
        )
        return int(job_id) if job_id is not None else None

    async def next_job(self, chat_id: int, thread_id: int) -> Job | None:
        row = await self._pool.fetchrow(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE chat_id = $1 AND thread_id = $2"
            " AND state IN ('pending', 'running') ORDER BY id LIMIT 1",
            chat_id,
            thread_id,
        )
        return _job(row) if row else None

    async def take_album(
        self, chat_id: int, thread_id: int, media_group_id: str, first_id: int
    ) -> list[Job]:
        """Claim the album's other items for job ``first_id`` in one statement (no other
        worker can claim them too) and return all it holds, including ones claimed before a
        restart. They finish with ``first_id``, so a crash loses none."""
        await self._pool.execute(
            "UPDATE jobs SET state = 'claimed', batch_of = $4, updated_at = $1"
            " WHERE chat_id = $2 AND thread_id = $3 AND state = 'pending' AND kind = 'media'"
            " AND id != $4 AND payload->>'media_group_id' = $5",
            time.time(),
            chat_id,
            thread_id,
            first_id,
            media_group_id,
        )
        rows = await self._pool.fetch(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE batch_of = $1 AND state = 'claimed'"
            " ORDER BY id",
            first_id,
        )
        return [_job(row) for row in rows]

    async def count_waiting(self, chat_id: int, thread_id: int) -> int:
        value = await self._pool.fetchval(
            "SELECT COUNT(*) FROM jobs WHERE chat_id = $1 AND thread_id = $2"
            " AND state IN ('pending', 'running')",
            chat_id,
            thread_id,
        )
        return int(value)

    async def set_job_state(self, job_id: int, state: str, *, expect: tuple[str, ...]) -> bool:
        """Move a job on only from one of the ``expect``ed states; ``False`` when it had
        moved elsewhere (a job cancelled meanwhile stays cancelled)."""
        status = await self._pool.execute(
            "UPDATE jobs SET state = $1, updated_at = $2 WHERE id = $3 AND state = ANY($4)",
            state,
            time.time(),
            job_id,
            list(expect),
        )
        return _rowcount(status) == 1

    async def start_job(self, job_id: int) -> bool:
        """pending → running; ``False`` when the job is no longer pending (cancelled)."""
        return await self.set_job_state(job_id, "running", expect=("pending",))

    async def finish_job(self, job_id: int) -> None:
        """running → done, with the album items it claimed."""
        await self._pool.execute(
            "UPDATE jobs SET state = 'done', updated_at = $1 WHERE (id = $2 AND state = 'running')"
            " OR (batch_of = $2 AND state = 'claimed')",
            time.time(),
            job_id,
        )

    async def mark_uploaded(self, job_id: int, result: dict[str, Any]) -> None:
        """The job's files reached the backend: a restart must not upload them again."""
        await self._pool.execute(
            "UPDATE jobs SET uploaded = $1, updated_at = $2 WHERE id = $3",
            result,
            time.time(),
            job_id,
        )

    async def mark_turn_sent(self, job_id: int) -> None:
        """The job's instruction is about to reach the agent: never send it again."""
        await self._pool.execute(
            "UPDATE jobs SET turn_sent = TRUE, updated_at = $1 WHERE id = $2", time.time(), job_id
        )

    async def cancel_jobs(self, chat_id: int, thread_id: int) -> int:
        """Cancel what runs and waits (album items too); returns how many requests ended."""
        async with self._pool.acquire() as con, con.transaction():
            now = time.time()
            status = await con.execute(
                "UPDATE jobs SET state = 'cancelled', updated_at = $1 WHERE chat_id = $2"
                " AND thread_id = $3 AND state IN ('pending', 'running')",
                now,
                chat_id,
                thread_id,
            )
            await con.execute(
                "UPDATE jobs SET state = 'cancelled', updated_at = $1 WHERE chat_id = $2"
                " AND thread_id = $3 AND state = 'claimed'",
                now,
                chat_id,
                thread_id,
            )
        return _rowcount(status)

    async def chats_with_work(self) -> list[tuple[int, int]]:
        rows = await self._pool.fetch(
            "SELECT DISTINCT chat_id, thread_id FROM jobs WHERE state IN ('pending', 'running')"
        )
        return [(int(r["chat_id"]), int(r["thread_id"])) for r in rows]

    async def count_unfinished(self) -> int:
        """Jobs waiting or running in all chats; raises when the database cannot be read
        (the health check relies on that)."""
        value = await self._pool.fetchval(
            "SELECT COUNT(*) FROM jobs WHERE state IN ('pending', 'running')"
        )
        return int(value)

    # -- replicas: who works a chat now -------------------------------------------------------
    # The database's clock, not the replicas': their clocks may disagree.

    @property
    def shared(self) -> bool:
        return True

    async def claim_chat(self, chat_id: int, thread_id: int, owner: str, ttl: float) -> bool:
        row = await self._pool.fetchval(
            "INSERT INTO chat_leases (chat_id, thread_id, owner, expires_at)"
            f" VALUES ($1, $2, $3, {_NOW} + $4) ON CONFLICT (chat_id, thread_id) DO UPDATE"
            " SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at"
            f" WHERE chat_leases.owner = EXCLUDED.owner OR chat_leases.expires_at < {_NOW}"
            " RETURNING 1",
            chat_id,
            thread_id,
            owner,
            ttl,
        )
        return row is not None

    async def renew_claims(self, owner: str, ttl: float) -> set[tuple[int, int]]:
        rows = await self._pool.fetch(
            f"UPDATE chat_leases SET expires_at = {_NOW} + $2 WHERE owner = $1"
            " RETURNING chat_id, thread_id",
            owner,
            ttl,
        )
        return {(int(r["chat_id"]), int(r["thread_id"])) for r in rows}

    async def release_chat(self, chat_id: int, thread_id: int, owner: str) -> None:
        await self._pool.execute(
            "DELETE FROM chat_leases WHERE chat_id = $1 AND thread_id = $2 AND owner = $3",
            chat_id,
            thread_id,
            owner,
        )

    async def unclaimed_work(self) -> list[tuple[int, int]]:
        rows = await self._pool.fetch(
            "SELECT DISTINCT j.chat_id, j.thread_id FROM jobs j LEFT JOIN chat_leases l"
            " ON l.chat_id = j.chat_id AND l.thread_id = j.thread_id"
            " WHERE j.state IN ('pending', 'running')"
            f" AND (l.owner IS NULL OR l.expires_at < {_NOW})"
        )
        return [(int(r["chat_id"]), int(r["thread_id"])) for r in rows]

    async def cancelled_among(self, job_ids: list[int]) -> set[int]:
        if not job_ids:
            return set()
        rows = await self._pool.fetch(
            "SELECT id FROM jobs WHERE state = 'cancelled' AND id = ANY($1::BIGINT[])", job_ids
        )
        return {int(r["id"]) for r in rows}

    async def prune_jobs(self, older_than_seconds: float = 7 * 86400) -> None:
        """Finished jobs are only kept to recognise repeated updates; a week is plenty."""
        await self._pool.execute(
            "DELETE FROM jobs WHERE state NOT IN ('pending', 'running', 'claimed')"
            " AND updated_at < $1",
            time.time() - older_than_seconds,
        )
        await self._pool.execute(
            "DELETE FROM inbox WHERE state = 'done' AND updated_at < $1",
            time.time() - older_than_seconds,
        )
        await self._pool.execute(
            "DELETE FROM sends WHERE updated_at < $1", time.time() - older_than_seconds
        )

    async def sends(self, owner: str) -> dict[str, SendRecord]:
        """What ``owner`` (``job:<id>``) sent before a restart, by step."""
        rows = await self._pool.fetch(
            "SELECT step, sent, message_id FROM sends WHERE owner = $1", owner
        )
        return {str(r["step"]): SendRecord(bool(r["sent"]), r["message_id"]) for r in rows}

    async def begin_send(self, owner: str, step: str) -> None:
        """A message is about to reach Telegram (kept as is if recorded before)."""
        await self._pool.execute(
            "INSERT INTO sends (owner, step, sent, updated_at) VALUES ($1, $2, FALSE, $3)"
            " ON CONFLICT (owner, step) DO NOTHING",
            owner, step, time.time(),
        )

    async def end_send(self, owner: str, step: str, message_id: int | None) -> None:
        """Telegram confirmed the message: a restart must not send it again."""
        await self._pool.execute(
            "INSERT INTO sends (owner, step, sent, message_id, updated_at)"
            " VALUES ($1, $2, TRUE, $3, $4) ON CONFLICT (owner, step) DO UPDATE"
            " SET sent = TRUE, message_id = EXCLUDED.message_id, updated_at = EXCLUDED.updated_at",
            owner, step, message_id, time.time(),
        )

    async def keep_updates(self, updates: list[tuple[int, str]]) -> None:
        now = time.time()
        await self._pool.executemany(
            "INSERT INTO inbox (update_id, body, state, updated_at) VALUES ($1, $2, 'new', $3)"
            " ON CONFLICT (update_id) DO NOTHING",
            [(update_id, body, now) for update_id, body in updates],
        )

    async def claim_update(self, update_id: int) -> bool:
        status = await self._pool.execute(
            "UPDATE inbox SET state = 'handling', updated_at = $1"
            " WHERE update_id = $2 AND state = 'new'",
            time.time(), update_id,
        )
        if _rowcount(status):
            return True
        known = await self._pool.fetchval("SELECT 1 FROM inbox WHERE update_id = $1", update_id)
        return known is None

    async def finish_update(self, update_id: int) -> None:
        await self._pool.execute(
            "UPDATE inbox SET state = 'done', updated_at = $1 WHERE update_id = $2",
            time.time(), update_id,
        )

    async def unhandled_updates(self) -> list[str]:
        await self._pool.execute("UPDATE inbox SET state = 'new' WHERE state = 'handling'")
        rows = await self._pool.fetch(
            "SELECT body FROM inbox WHERE state = 'new' ORDER BY update_id"
        )
        return [str(r["body"]) for r in rows]


def _rowcount(status: str) -> int:
    """asyncpg returns the command tag ("UPDATE 3"); its last word is the row count."""
    return int(status.rsplit(" ", 1)[-1])


def _job(row: asyncpg.Record) -> Job:
    return Job(
        id=int(row["id"]),
        chat_id=int(row["chat_id"]),
        thread_id=int(row["thread_id"]),
        kind=str(row["kind"]),
        payload=dict(row["payload"]),
        state=str(row["state"]),
        uploaded=dict(row["uploaded"]) if row["uploaded"] is not None else None,
        turn_sent=bool(row["turn_sent"]),
    )


def _video(row: asyncpg.Record) -> VideoInfo:
    return VideoInfo(row["size"], row["width"], row["height"], row["duration"])


def _export(row: asyncpg.Record) -> ExportRecord:
    return ExportRecord(
        id=int(row["id"]),
        file_id=str(row["file_id"]),
        as_document=bool(row["as_document"]),
        video=_video(row),
        created_at=float(row["created_at"]),
    )
