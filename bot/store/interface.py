"""What flows and the queue need from durable storage, and every query both engines run alike.

SQLite (one process, the default: ``bot.store.store``) and PostgreSQL (several replicas:
``bot.store.postgres``) both subclass ``ChatStore``. The queries they share are written here
once, in PostgreSQL's numbered parameters (``$1``), which SQLite takes as ``?1``; an engine
supplies how to run a statement and only the SQL that differs (connections, migrations,
locks, leases). Code outside ``bot/store`` depends on ``ChatStore`` only, so a test of one
contract covers both engines (tests/store/).
"""

from __future__ import annotations

import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from bot.store.chat_settings import SettingsQueries
from bot.store.claims import ExclusiveSteps, Fence
from bot.store.moves import ChatMoves
from bot.store.records import (
    ChatRecord,
    ExportRecord,
    Job,
    Row,
    SendRecord,
    Source,
    SourceFile,
    TopicRecord,
    VideoInfo,
)

Run = Callable[..., Awaitable[int]]
"""Runs one statement inside :meth:`ChatStore._atomic`; returns the rows it changed."""

_CHAT_COLUMNS = (
    "chat_id, client_id, token, token_expires_at, anon_user_id, language,"
    " created_at, updated_at, quality_hint_at"
)
_TOPIC_COLUMNS = (
    "chat_id, thread_id, session_id, session_language, render_id, render_message_id,"
    " render_started_at, draft_hash, line_message_id"
)
_JOB_COLUMNS = "id, chat_id, thread_id, kind, payload, state, uploaded, turn_sent"
_EXPORT_COLUMNS = "id, file_id, as_document, size, width, height, duration, created_at"
_UNFINISHED = "state IN ('pending', 'running')"


def _marks(first: int, count: int) -> str:
    """``$first, …`` for an ``IN (…)`` list of ``count`` values."""
    return ", ".join(f"${i}" for i in range(first, first + count))


class ChatStore(SettingsQueries, ChatMoves, ExclusiveSteps, ABC):
    """A chat's identity, its sessions and renders, its durable queue of work, and its
    /settings (``chat_settings.py``); a chat whose id changed moves (``moves.py``); the
    steps that must not run twice are fenced by the chat's lease (``claims.py``)."""

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

    # -- chats --------------------------------------------------------------------------------

    async def get_chat(self, chat_id: int) -> ChatRecord | None:
        row = await self._row(f"SELECT {_CHAT_COLUMNS} FROM chats WHERE chat_id = $1", chat_id)
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
            f"SELECT {_TOPIC_COLUMNS} FROM topics WHERE chat_id = $1 AND thread_id = $2",
            chat_id, thread_id,
        )
        return TopicRecord(**row) if row else None

    async def _upsert_topic(self, chat_id: int, thread_id: int, **fields: Any) -> None:
        names = list(fields)
        sets = ", ".join(f"{name} = EXCLUDED.{name}" for name in names)
        await self._run(
            f"INSERT INTO topics (chat_id, thread_id, created_at, updated_at, {', '.join(names)})"
            f" VALUES ($1, $2, $3, $3, {_marks(4, len(names))}) ON CONFLICT (chat_id, thread_id)"
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

    # -- before → after, /history -------------------------------------------------------------

    async def save_source(
        self, chat_id: int, thread_id: int, user_id: int | None, name: str | None,
        video: VideoInfo, *, file: SourceFile | None = None,
    ) -> None:
        """The project's original video (replaces the previous one), and how to fetch it again."""
        await self._run(
            "INSERT INTO sources (chat_id, thread_id, user_id, name, size, width, height,"
            " duration, created_at, file_id, file_name, mime_type, kind)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
            " ON CONFLICT (chat_id, thread_id) DO UPDATE SET user_id = $3, name = $4,"
            " size = $5, width = $6, height = $7, duration = $8, created_at = $9,"
            " file_id = $10, file_name = $11, mime_type = $12, kind = $13",
            chat_id, thread_id, user_id, name, video.size, video.width, video.height,
            video.duration, time.time(), file.file_id if file else None,
            file.file_name if file else None, file.mime_type if file else None,
            file.kind if file else None,
        )

    async def get_source(self, chat_id: int, thread_id: int) -> Source | None:
        row = await self._row(
            "SELECT user_id, name, size, width, height, duration, file_id, file_name, mime_type,"
            " kind FROM sources WHERE chat_id = $1 AND thread_id = $2",
            chat_id, thread_id,
        )
        if not row:
            return None
        file = (SourceFile(row["file_id"], row["file_name"], row["mime_type"],
                           row["kind"] or "video") if row["file_id"] else None)
        return Source(row["user_id"], row["name"], VideoInfo.from_row(row), file)

    async def forget_source(self, chat_id: int, thread_id: int) -> None:
        """No original any more (a fresh start): its buttons and requests have nothing to use."""
        await self._run("DELETE FROM sources WHERE chat_id = $1 AND thread_id = $2",
                        chat_id, thread_id)

    async def add_export(
        self, chat_id: int, thread_id: int, file_id: str, as_document: bool, video: VideoInfo
    ) -> int:
        export_id = await self._insert_id(
            "INSERT INTO exports (chat_id, thread_id, file_id, as_document, size, width, height,"
            " duration, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            chat_id, thread_id, file_id, as_document, video.size, video.width, video.height,
            video.duration, time.time(),
        )
        assert export_id is not None
        return export_id

    async def exports(self, chat_id: int, thread_id: int, limit: int = 5) -> list[ExportRecord]:
        """The latest deliveries, newest first."""
        rows = await self._rows(
            f"SELECT {_EXPORT_COLUMNS} FROM exports WHERE chat_id = $1 AND thread_id = $2"
            " ORDER BY id DESC LIMIT $3",
            chat_id, thread_id, limit,
        )
        return [ExportRecord.from_row(row) for row in rows]

    async def get_export(self, chat_id: int, export_id: int) -> ExportRecord | None:
        row = await self._row(
            f"SELECT {_EXPORT_COLUMNS} FROM exports WHERE chat_id = $1 AND id = $2",
            chat_id, export_id,
        )
        return ExportRecord.from_row(row) if row else None

    # -- jobs ---------------------------------------------------------------------------------

    async def add_job(
        self, chat_id: int, thread_id: int, kind: str, payload: dict[str, Any],
        dedupe_key: str | None = None,
    ) -> int | None:
        """Queue work; ``None`` when ``dedupe_key`` was seen before (a repeated update)."""
        return await self._insert_id(
            "INSERT INTO jobs (chat_id, thread_id, kind, payload, dedupe_key, created_at,"
            " updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (dedupe_key) DO NOTHING",
            chat_id, thread_id, kind, self._json(payload), dedupe_key, time.time(),
        )

    async def next_job(self, chat_id: int, thread_id: int) -> Job | None:
        row = await self._row(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE chat_id = $1 AND thread_id = $2"
            f" AND {_UNFINISHED} ORDER BY id LIMIT 1",
            chat_id, thread_id,
        )
        return Job.from_row(row) if row else None

    async def take_album(
        self, chat_id: int, thread_id: int, media_group_id: str, first_id: int
    ) -> list[Job]:
        """Claim the album's other items for job ``first_id`` in one statement (no other
        worker can claim them too) and return all it holds, including ones claimed before a
        restart. Claimed items are not done: they finish with ``first_id``
        (:meth:`finish_job`), so a crash loses none."""
        await self._run(
            "UPDATE jobs SET state = 'claimed', batch_of = $4, updated_at = $1"
            " WHERE chat_id = $2 AND thread_id = $3 AND state = 'pending' AND kind = 'media'"
            f" AND id != $4 AND {self._media_group} = $5",
            time.time(), chat_id, thread_id, first_id, media_group_id,
        )
        rows = await self._rows(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE batch_of = $1 AND state = 'claimed'"
            " ORDER BY id",
            first_id,
        )
        return [Job.from_row(row) for row in rows]

    async def album_started(self, chat_id: int, thread_id: int, media_group_id: str) -> bool:
        """Whether an item of this album was queued here (by any replica or process)."""
        found = await self._value(
            "SELECT 1 FROM jobs WHERE chat_id = $1 AND thread_id = $2 AND kind = 'media'"
            f" AND {self._media_group} = $3 LIMIT 1",
            chat_id, thread_id, media_group_id,
        )
        return found is not None

    async def get_job(self, chat_id: int, thread_id: int, job_id: int) -> Job | None:
        """One of this chat's jobs (a 🔁 button names it), ``None`` if not this chat's."""
        row = await self._row(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = $1 AND chat_id = $2 AND thread_id = $3",
            job_id, chat_id, thread_id,
        )
        return Job.from_row(row) if row else None

    async def waiting_jobs(self, chat_id: int, thread_id: int) -> list[Job]:
        """The chat's jobs not started yet, in the order they will run (its line)."""
        rows = await self._rows(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE chat_id = $1 AND thread_id = $2"
            " AND state = 'pending' ORDER BY id LIMIT 50",
            chat_id, thread_id,
        )
        return [Job.from_row(row) for row in rows]

    async def count_waiting(self, chat_id: int, thread_id: int) -> int:
        return int(await self._value(
            f"SELECT COUNT(*) FROM jobs WHERE chat_id = $1 AND thread_id = $2 AND {_UNFINISHED}",
            chat_id, thread_id,
        ))

    async def set_job_state(self, job_id: int, state: str, *, expect: tuple[str, ...]) -> bool:
        """Move a job on only from one of the ``expect``ed states; ``False`` when it had
        moved elsewhere (a job cancelled meanwhile stays cancelled)."""
        changed = await self._run(
            "UPDATE jobs SET state = $1, updated_at = $2 WHERE id = $3"
            f" AND state IN ({_marks(4, len(expect))})",
            state, time.time(), job_id, *expect,
        )
        return changed == 1

    async def start_job(self, job_id: int) -> bool:
        """pending → running; ``False`` when the job is no longer pending (cancelled)."""
        return await self.set_job_state(job_id, "running", expect=("pending",))

    async def cancel_jobs(self, chat_id: int, thread_id: int) -> int:
        """Cancel what runs and waits (album items too); returns how many requests ended."""
        now = time.time()
        where = "WHERE chat_id = $2 AND thread_id = $3"
        async with self._atomic() as run:
            count = await run(
                f"UPDATE jobs SET state = 'cancelled', updated_at = $1 {where} AND {_UNFINISHED}",
                now, chat_id, thread_id,
            )
            await run(
                f"UPDATE jobs SET state = 'cancelled', updated_at = $1 {where}"
                " AND state = 'claimed'",
                now, chat_id, thread_id,
            )
        return count

    async def cancel_job(self, chat_id: int, thread_id: int, job_id: int) -> bool:
        """Cancel one unfinished job of this chat (a status's ❌ button); ``False`` when it
        had ended, or is not this chat's."""
        changed = await self._run(
            f"UPDATE jobs SET state = 'cancelled', updated_at = $1 WHERE id = $2"
            f" AND chat_id = $3 AND thread_id = $4 AND {_UNFINISHED}",
            time.time(), job_id, chat_id, thread_id,
        )
        return changed == 1

    async def cancelled_among(self, job_ids: list[int]) -> set[int]:
        """Which of these jobs were cancelled (a /cancel another replica received shows
        here; the replica running the job checks)."""
        if not job_ids:
            return set()
        rows = await self._rows(
            f"SELECT id FROM jobs WHERE state = 'cancelled' AND id IN ({_marks(1, len(job_ids))})",
            *job_ids,
        )
        return {int(row["id"]) for row in rows}

    async def chats_with_work(self) -> list[tuple[int, int]]:
        rows = await self._rows(f"SELECT DISTINCT chat_id, thread_id FROM jobs WHERE {_UNFINISHED}")
        return [(int(row["chat_id"]), int(row["thread_id"])) for row in rows]

    async def count_unfinished(self) -> int:
        """Jobs waiting or running in all chats; raises when the database cannot be read
        (the health check relies on that)."""
        return int(await self._value(f"SELECT COUNT(*) FROM jobs WHERE {_UNFINISHED}"))

    # -- sends: the messages a job set out to send, and which Telegram confirmed
    # (bot.conversation.outbox)

    async def sends(self, owner: str) -> dict[str, SendRecord]:
        """What ``owner`` (``job:<id>``) set out to send before a restart, by step."""
        rows = await self._rows(
            "SELECT step, sent, message_id FROM sends WHERE owner = $1", owner
        )
        return {str(r["step"]): SendRecord(bool(r["sent"]), r["message_id"]) for r in rows}

    async def end_send(self, owner: str, step: str, message_id: int | None) -> None:
        """Telegram confirmed the message: a restart must not send it again."""
        await self._run(
            "INSERT INTO sends (owner, step, sent, message_id, updated_at)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (owner, step) DO UPDATE"
            " SET sent = excluded.sent, message_id = excluded.message_id,"
            " updated_at = excluded.updated_at",
            owner, step, True, message_id, time.time(),
        )

    # -- the inbox of polled updates (bot.telegram.inbox): kept before Telegram considers them
    # delivered, claimed and marked handled around their handlers

    async def keep_updates(self, updates: list[tuple[int, str]]) -> None:
        """Write a polled batch (``(update_id, raw JSON)``) at once; one seen before
        (Telegram repeats what was not confirmed) keeps its row and state."""
        now = time.time()
        await self._run_many(
            "INSERT INTO inbox (update_id, body, state, updated_at) VALUES ($1, $2, 'new', $3)"
            " ON CONFLICT (update_id) DO NOTHING",
            [(update_id, body, now) for update_id, body in updates],
        )

    async def claim_update(self, update_id: int) -> bool:
        """Whether to handle this update now: ``False`` when it is already being handled or
        was handled (a repeat), ``True`` when it is new or was never kept (webhook mode)."""
        if await self._run(
            "UPDATE inbox SET state = 'handling', updated_at = $1"
            " WHERE update_id = $2 AND state = 'new'",
            time.time(), update_id,
        ):
            return True
        return await self._value("SELECT 1 FROM inbox WHERE update_id = $1", update_id) is None

    async def finish_update(self, update_id: int) -> None:
        await self._run(
            "UPDATE inbox SET state = 'done', updated_at = $1 WHERE update_id = $2",
            time.time(), update_id,
        )

    async def unhandled_updates(self) -> list[tuple[int, str]]:
        """Updates (``(update_id, raw JSON)``) kept but not handled when the last process
        stopped, oldest first; they are marked new again, to be handled once more."""
        await self._run("UPDATE inbox SET state = 'new' WHERE state = 'handling'")
        rows = await self._rows(
            "SELECT update_id, body FROM inbox WHERE state = 'new' ORDER BY update_id"
        )
        return [(int(row["update_id"]), str(row["body"])) for row in rows]

    async def set_update_aside(self, update_id: int) -> None:
        """A kept update that cannot be read back ('dead'): never replayed again, kept for a
        look by hand until pruned, so one bad row cannot stop every start."""
        await self._run(
            "UPDATE inbox SET state = 'dead', updated_at = $1 WHERE update_id = $2",
            time.time(), update_id,
        )
