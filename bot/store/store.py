"""The chat store: one aiosqlite connection per process, WAL, migrations at open.

Everything a chat needs to survive a restart lives here: its backend identity, its session,
the render it is waiting for, and the queue of work it has not finished yet.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import stat
import time
import uuid
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

from bot.store.migrations import MIGRATIONS

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ChatRecord:
    chat_id: int
    client_id: str
    token: str | None
    token_expires_at: float | None
    anon_user_id: str | None
    language: str | None
    created_at: float
    updated_at: float
    quality_hint_at: float | None = None


@dataclass(frozen=True, slots=True)
class TopicRecord:
    chat_id: int
    thread_id: int
    session_id: str | None
    session_language: str | None
    render_id: str | None
    render_message_id: int | None
    render_started_at: float | None
    draft_hash: str | None = None


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """What is known of one video: the original (before) or an export (after)."""

    size: int | None = None
    width: int | None = None
    height: int | None = None
    duration: float | None = None


@dataclass(frozen=True, slots=True)
class Source:
    """The original video of a chat's project, and who sent it."""

    user_id: int | None
    name: str | None
    video: VideoInfo


@dataclass(frozen=True, slots=True)
class ExportRecord:
    id: int
    file_id: str
    as_document: bool
    video: VideoInfo
    created_at: float


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    chat_id: int
    thread_id: int
    kind: str
    payload: dict[str, Any]
    state: str
    uploaded: dict[str, Any] | None = None
    turn_sent: bool = False


@dataclass(frozen=True, slots=True)
class SendRecord:
    """One message a job set out to send: ``sent`` once Telegram confirmed it (with its id);
    not ``sent`` means the process stopped while Telegram had it, so it may have arrived."""

    sent: bool
    message_id: int | None = None


class Store:
    def __init__(self, db: aiosqlite.Connection, path: Path | None = None) -> None:
        self._db = db
        self._path = path
        self._lock_fd: int | None = None

    @classmethod
    async def open(cls, path: Path) -> Store:
        _create_private(path)
        db = await aiosqlite.connect(path)
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
        async with self._db.execute("SELECT MAX(version) FROM schema_version") as cur:
            row = await cur.fetchone()
        current = int(row[0]) if row and row[0] is not None else 0
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

    async def claim_chat(self, chat_id: int, thread_id: int, owner: str, ttl: float) -> bool:
        return True

    async def renew_claims(self, owner: str, ttl: float) -> set[tuple[int, int]]:
        return set()

    async def release_chat(self, chat_id: int, thread_id: int, owner: str) -> None:
        return None

    async def unclaimed_work(self) -> list[tuple[int, int]]:
        return await self.chats_with_work()

    async def cancelled_among(self, job_ids: list[int]) -> set[int]:
        if not job_ids:
            return set()
        marks = ", ".join("?" for _ in job_ids)
        async with self._db.execute(
            f"SELECT id FROM jobs WHERE state = 'cancelled' AND id IN ({marks})", job_ids
        ) as cur:
            rows = await cur.fetchall()
        return {int(row[0]) for row in rows}

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

    async def schema_version(self) -> int:
        async with self._db.execute("SELECT MAX(version) FROM schema_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    # -- chats --------------------------------------------------------------------------

    async def get_chat(self, chat_id: int) -> ChatRecord | None:
        async with self._db.execute("SELECT * FROM chats WHERE chat_id = ?", (chat_id,)) as cur:
            row = await cur.fetchone()
        return ChatRecord(**dict(row)) if row else None

    async def ensure_chat(self, chat_id: int) -> ChatRecord:
        """The chat's record, created on first sight. Read first: this runs on every
        backend call, and the insert (and its commit) is needed once per chat."""
        existing = await self.get_chat(chat_id)
        if existing is not None:
            return existing
        now = time.time()
        await self._db.execute(
            "INSERT OR IGNORE INTO chats (chat_id, client_id, created_at, updated_at)"
            " VALUES (?, ?, ?, ?)",
            (chat_id, str(uuid.uuid4()), now, now),
        )
        await self._db.commit()
        record = await self.get_chat(chat_id)
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
        await self._db.execute(
            "UPDATE chats SET client_id = ?, token = ?, token_expires_at = ?, anon_user_id = ?,"
            " updated_at = ? WHERE chat_id = ?",
            (client_id, token, expires_at, anon_user_id, time.time(), chat_id),
        )
        await self._db.commit()

    def identity_lock(self, chat_id: int) -> AbstractAsyncContextManager[None]:
        """One process per SQLite file: the caller's in-process lock is enough."""
        return contextlib.nullcontext()

    async def set_language(self, chat_id: int, language: str | None) -> None:
        await self.ensure_chat(chat_id)
        await self._db.execute(
            "UPDATE chats SET language = ?, updated_at = ? WHERE chat_id = ?",
            (language, time.time(), chat_id),
        )
        await self._db.commit()

    async def claim_quality_hint(self, chat_id: int) -> bool:
        """``True`` exactly once per chat: the first caller gets to show the hint."""
        await self.ensure_chat(chat_id)
        cur = await self._db.execute(
            "UPDATE chats SET quality_hint_at = ? WHERE chat_id = ? AND quality_hint_at IS NULL",
            (time.time(), chat_id),
        )
        await self._db.commit()
        return cur.rowcount == 1

    # -- topics (sessions) ------------------------------------------------------------------

    async def get_topic(self, chat_id: int, thread_id: int = 0) -> TopicRecord | None:
        async with self._db.execute(
            "SELECT chat_id, thread_id, session_id, session_language, render_id,"
            " render_message_id, render_started_at, draft_hash FROM topics"
            " WHERE chat_id = ? AND thread_id = ?",
            (chat_id, thread_id),
        ) as cur:
            row = await cur.fetchone()
        return TopicRecord(**dict(row)) if row else None

    async def _upsert_topic(self, chat_id: int, thread_id: int, **fields: Any) -> None:
        now = time.time()
        await self._db.execute(
            "INSERT OR IGNORE INTO topics (chat_id, thread_id, created_at, updated_at)"
            " VALUES (?, ?, ?, ?)",
            (chat_id, thread_id, now, now),
        )
        sets = ", ".join(f"{name} = ?" for name in fields)
        await self._db.execute(
            f"UPDATE topics SET {sets}, updated_at = ? WHERE chat_id = ? AND thread_id = ?",
            (*fields.values(), now, chat_id, thread_id),
        )
        await self._db.commit()

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
        async with self._db.execute(
            "SELECT chat_id, thread_id, session_id, session_language, render_id,"
            " render_message_id, render_started_at, draft_hash FROM topics"
            " WHERE render_id IS NOT NULL"
        ) as cur:
            rows = await cur.fetchall()
        return [TopicRecord(**dict(row)) for row in rows]

    # -- before → after, /history -----------------------------------------------------------

    async def save_source(
        self, chat_id: int, thread_id: int, user_id: int | None, name: str | None,
        video: VideoInfo,
    ) -> None:
        await self._db.execute(
            "INSERT OR REPLACE INTO sources (chat_id, thread_id, user_id, name, size, width,"
            " height, duration, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (chat_id, thread_id, user_id, name, video.size, video.width, video.height,
             video.duration, time.time()),
        )
        await self._db.commit()

    async def get_source(self, chat_id: int, thread_id: int) -> Source | None:
        async with self._db.execute(
            "SELECT * FROM sources WHERE chat_id = ? AND thread_id = ?", (chat_id, thread_id)
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        return Source(row["user_id"], row["name"], _video(row))

    async def add_export(
        self, chat_id: int, thread_id: int, file_id: str, as_document: bool, video: VideoInfo
    ) -> int:
        cur = await self._db.execute(
            "INSERT INTO exports (chat_id, thread_id, file_id, as_document, size, width, height,"
            " duration, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (chat_id, thread_id, file_id, int(as_document), video.size, video.width,
             video.height, video.duration, time.time()),
        )
        await self._db.commit()
        assert cur.lastrowid is not None
        return cur.lastrowid

    async def exports(self, chat_id: int, thread_id: int, limit: int = 5) -> list[ExportRecord]:
        """The chat's latest deliveries, newest first."""
        async with self._db.execute(
            "SELECT * FROM exports WHERE chat_id = ? AND thread_id = ? ORDER BY id DESC LIMIT ?",
            (chat_id, thread_id, limit),
        ) as cur:
            rows = await cur.fetchall()
        return [_export(row) for row in rows]

    async def get_export(self, chat_id: int, export_id: int) -> ExportRecord | None:
        async with self._db.execute(
            "SELECT * FROM exports WHERE chat_id = ? AND id = ?", (chat_id, export_id)
        ) as cur:
            row = await cur.fetchone()
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
        cur = await self._db.execute(
            "INSERT OR IGNORE INTO jobs (chat_id, thread_id, kind, payload, dedupe_key,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (chat_id, thread_id, kind, json.dumps(payload), dedupe_key, now, now),
        )
        await self._db.commit()
        return cur.lastrowid if cur.rowcount else None

    async def next_job(self, chat_id: int, thread_id: int) -> Job | None:
        async with self._db.execute(
            "SELECT * FROM jobs WHERE chat_id = ? AND thread_id = ?"
            " AND state IN ('pending', 'running') ORDER BY id LIMIT 1",
            (chat_id, thread_id),
        ) as cur:
            row = await cur.fetchone()
        return _job(row) if row else None

    async def take_album(
        self, chat_id: int, thread_id: int, media_group_id: str, first_id: int
    ) -> list[Job]:
        """Claim the album's other items for job ``first_id`` (in one statement) and return
        every item it holds, including ones claimed before a restart. Claimed items are not
        done: they finish with ``first_id`` (:meth:`finish_job`), so a crash loses none."""
        await self._db.execute(
            "UPDATE jobs SET state = 'claimed', batch_of = ?, updated_at = ?"
            " WHERE chat_id = ? AND thread_id = ? AND state = 'pending' AND kind = 'media'"
            " AND id != ? AND json_extract(payload, '$.media_group_id') = ?",
            (first_id, time.time(), chat_id, thread_id, first_id, media_group_id),
        )
        await self._db.commit()
        async with self._db.execute(
            "SELECT * FROM jobs WHERE batch_of = ? AND state = 'claimed' ORDER BY id",
            (first_id,),
        ) as cur:
            rows = await cur.fetchall()
        return [_job(row) for row in rows]

    async def count_waiting(self, chat_id: int, thread_id: int) -> int:
        async with self._db.execute(
            "SELECT COUNT(*) FROM jobs WHERE chat_id = ? AND thread_id = ?"
            " AND state IN ('pending', 'running')",
            (chat_id, thread_id),
        ) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def set_job_state(self, job_id: int, state: str, *, expect: tuple[str, ...]) -> bool:
        """Move a job on only from one of the ``expect``ed states; ``False`` when it had
        moved elsewhere (a job cancelled meanwhile stays cancelled)."""
        marks = ", ".join("?" for _ in expect)
        cur = await self._db.execute(
            f"UPDATE jobs SET state = ?, updated_at = ? WHERE id = ? AND state IN ({marks})",
            (state, time.time(), job_id, *expect),
        )
        await self._db.commit()
        return cur.rowcount == 1

    async def start_job(self, job_id: int) -> bool:
        """pending → running; ``False`` when the job is no longer pending (cancelled)."""
        return await self.set_job_state(job_id, "running", expect=("pending",))

    async def finish_job(self, job_id: int) -> None:
        """running → done, with the album items it claimed."""
        await self._db.execute(
            "UPDATE jobs SET state = 'done', updated_at = ? WHERE (id = ? AND state = 'running')"
            " OR (batch_of = ? AND state = 'claimed')",
            (time.time(), job_id, job_id),
        )
        await self._db.commit()

    async def mark_uploaded(self, job_id: int, result: dict[str, Any]) -> None:
        """The job's files reached the backend: a restart must not upload them again."""
        await self._db.execute(
            "UPDATE jobs SET uploaded = ?, updated_at = ? WHERE id = ?",
            (json.dumps(result), time.time(), job_id),
        )
        await self._db.commit()

    async def mark_turn_sent(self, job_id: int) -> None:
        """The job's instruction is about to reach the agent: a restart must not send it
        again (the edit could be applied twice)."""
        await self._db.execute(
            "UPDATE jobs SET turn_sent = 1, updated_at = ? WHERE id = ?", (time.time(), job_id)
        )
        await self._db.commit()

    async def cancel_jobs(self, chat_id: int, thread_id: int) -> int:
        """Cancel what runs and waits (album items too); returns how many requests ended."""
        now = time.time()
        cur = await self._db.execute(
            "UPDATE jobs SET state = 'cancelled', updated_at = ? WHERE chat_id = ?"
            " AND thread_id = ? AND state IN ('pending', 'running')",
            (now, chat_id, thread_id),
        )
        count = cur.rowcount
        await self._db.execute(
            "UPDATE jobs SET state = 'cancelled', updated_at = ? WHERE chat_id = ?"
            " AND thread_id = ? AND state = 'claimed'",
            (now, chat_id, thread_id),
        )
        await self._db.commit()
        return count

    async def chats_with_work(self) -> list[tuple[int, int]]:
        async with self._db.execute(
            "SELECT DISTINCT chat_id, thread_id FROM jobs WHERE state IN ('pending', 'running')"
        ) as cur:
            rows = await cur.fetchall()
        return [(int(r[0]), int(r[1])) for r in rows]

    async def count_unfinished(self) -> int:
        """Jobs waiting or running in all chats; raises when the database cannot be read
        (the health check relies on that)."""
        async with self._db.execute(
            "SELECT COUNT(*) FROM jobs WHERE state IN ('pending', 'running')"
        ) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def prune_jobs(self, older_than_seconds: float = 7 * 86400) -> None:
        """Finished jobs are only kept to recognise repeated updates; a week is plenty."""
        await self._db.execute(
            "DELETE FROM jobs WHERE state NOT IN ('pending', 'running', 'claimed')"
            " AND updated_at < ?",
            (time.time() - older_than_seconds,),
        )
        await self._db.execute(
            "DELETE FROM inbox WHERE state = 'done' AND updated_at < ?",
            (time.time() - older_than_seconds,),
        )
        await self._db.execute(
            "DELETE FROM sends WHERE updated_at < ?", (time.time() - older_than_seconds,)
        )
        await self._db.commit()

    # -- sends: the messages a job (an update's handler) set out to send, and which arrived

    async def sends(self, owner: str) -> dict[str, SendRecord]:
        """What ``owner`` (``job:<id>``) sent before a restart, by step."""
        async with self._db.execute(
            "SELECT step, sent, message_id FROM sends WHERE owner = ?", (owner,)
        ) as cur:
            rows = await cur.fetchall()
        return {str(r[0]): SendRecord(bool(r[1]), r[2]) for r in rows}

    async def begin_send(self, owner: str, step: str) -> None:
        """A message is about to reach Telegram (kept as is if recorded before)."""
        await self._db.execute(
            "INSERT OR IGNORE INTO sends (owner, step, sent, updated_at) VALUES (?, ?, 0, ?)",
            (owner, step, time.time()),
        )
        await self._db.commit()

    async def end_send(self, owner: str, step: str, message_id: int | None) -> None:
        """Telegram confirmed the message: a restart must not send it again."""
        await self._db.execute(
            "INSERT INTO sends (owner, step, sent, message_id, updated_at) VALUES (?, ?, 1, ?, ?)"
            " ON CONFLICT (owner, step) DO UPDATE SET sent = 1, message_id = excluded.message_id,"
            " updated_at = excluded.updated_at",
            (owner, step, message_id, time.time()),
        )
        await self._db.commit()

    # -- inbox: polled updates, kept until handled

    async def keep_updates(self, updates: list[tuple[int, str]]) -> None:
        """Write a polled batch (``(update_id, raw JSON)``) in one commit; one seen before
        (Telegram repeats what was not confirmed) keeps its row and state."""
        now = time.time()
        await self._db.executemany(
            "INSERT OR IGNORE INTO inbox (update_id, body, state, updated_at) "
            "VALUES (?, ?, 'new', ?)",
            [(update_id, body, now) for update_id, body in updates],
        )
        await self._db.commit()

    async def claim_update(self, update_id: int) -> bool:
        """Whether to handle this update now: ``False`` when it is already being handled or
        was handled (a repeat), ``True`` when it is new or was never kept (webhook mode)."""
        cur = await self._db.execute(
            "UPDATE inbox SET state = 'handling', updated_at = ? "
            "WHERE update_id = ? AND state = 'new'",
            (time.time(), update_id),
        )
        claimed = cur.rowcount > 0
        await self._db.commit()
        if claimed:
            return True
        async with self._db.execute(
            "SELECT 1 FROM inbox WHERE update_id = ?", (update_id,)
        ) as cursor:
            return await cursor.fetchone() is None

    async def finish_update(self, update_id: int) -> None:
        await self._db.execute(
            "UPDATE inbox SET state = 'done', updated_at = ? WHERE update_id = ?",
            (time.time(), update_id),
        )
        await self._db.commit()

    async def unhandled_updates(self) -> list[str]:
        """Updates kept but not handled when the last process stopped, oldest first; they are
        marked new again, to be handled once more."""
        await self._db.execute("UPDATE inbox SET state = 'new' WHERE state = 'handling'")
        await self._db.commit()
        async with self._db.execute(
            "SELECT body FROM inbox WHERE state = 'new' ORDER BY update_id"
        ) as cur:
            rows = await cur.fetchall()
        return [str(r[0]) for r in rows]


def _create_private(path: Path) -> None:
    """Create the file 0600 before SQLite writes a byte: it holds backend tokens. A file
    that already exists (a restored backup, an older version) is tightened to 0600 too."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("database %s was readable by others (mode %o): set to 0600", path, mode)
        path.chmod(0o600)


def _job(row: aiosqlite.Row) -> Job:
    return Job(
        id=int(row["id"]),
        chat_id=int(row["chat_id"]),
        thread_id=int(row["thread_id"]),
        kind=str(row["kind"]),
        payload=json.loads(row["payload"]),
        state=str(row["state"]),
        uploaded=json.loads(row["uploaded"]) if row["uploaded"] else None,
        turn_sent=bool(row["turn_sent"]),
    )


def _video(row: aiosqlite.Row) -> VideoInfo:
    return VideoInfo(row["size"], row["width"], row["height"], row["duration"])


def _export(row: aiosqlite.Row) -> ExportRecord:
    return ExportRecord(
        id=int(row["id"]),
        file_id=str(row["file_id"]),
        as_document=bool(row["as_document"]),
        video=_video(row),
        created_at=float(row["created_at"]),
    )
