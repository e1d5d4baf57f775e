"""The steps that cannot be undone, done only by the worker that holds the chat now.

Why: with replicas, a replica whose lease lapsed (its database connection stalled, its host
paused) may still be running a chat's job while another replica has taken the chat over. A
fencing token closes that door: each claim of a chat gets a new ``epoch`` (never reused, a
renewal keeps it), the worker runs its job inside :func:`holding` its :class:`Fence`, and
the irreversible steps (a message about to go to Telegram, an upload recorded, an
instruction marked as sent, a render started) are written only while that claim is still
the chat's. A stale holder's write changes nothing and raises :class:`LeaseLost`, so it
stops, however late it wakes up. Outside a job (a handler's answer) nothing is fenced.

SQLite serves one process, so its claims live in memory (``sqlite.SqliteStore``); PostgreSQL keeps
them in ``chat_leases`` and checks them in the same statement as the write, holding the
lease row (``FOR SHARE``) so a take-over cannot slip between the check and the write.
"""

from __future__ import annotations

import contextlib
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Fence:
    """One claim of one chat: who holds it and which of its claims this is."""

    chat_id: int
    thread_id: int
    owner: str
    epoch: int


class LeaseLost(Exception):
    """This worker's claim of the chat is gone (expired, taken over): it must stop."""


_fence: ContextVar[Fence | None] = ContextVar("store_fence", default=None)


@contextlib.contextmanager
def holding(fence: Fence | None) -> Iterator[None]:
    """The irreversible steps inside run only while ``fence`` still holds its chat."""
    token = _fence.set(fence)
    try:
        yield
    finally:
        _fence.reset(token)


def current_fence() -> Fence | None:
    return _fence.get()


FENCE = "{fence}"
"""Where a fenced statement puts its condition; without a fence it is always true."""

_ALWAYS = "1 = 1"


class ExclusiveSteps(ABC):
    """The fenced writes and the other single-winner queries, shared by both engines."""

    @abstractmethod
    async def _run(self, sql: str, *args: Any) -> int: ...

    @abstractmethod
    async def _value(self, sql: str, *args: Any) -> Any: ...

    @abstractmethod
    def _json(self, value: dict[str, Any]) -> Any: ...

    @abstractmethod
    async def _run_fenced(self, fence: Fence, sql: str, *args: Any) -> int:
        """Run ``sql`` (with :data:`FENCE` in its ``WHERE``) only while ``fence`` holds;
        raises :class:`LeaseLost` when it no longer does."""

    @abstractmethod
    async def claim(self, chat_id: int, thread_id: int, owner: str, ttl: float) -> Fence | None:
        """Hold the chat for ``owner`` for ``ttl`` seconds with a new epoch; ``None`` while
        another owner's lease is alive."""

    @abstractmethod
    async def holds(self, fence: Fence) -> bool:
        """Whether ``fence`` is still the chat's claim."""

    def _topic_changed(self, chat_id: int, thread_id: int) -> None:
        """A topic row was written here (SQLite drops the record it keeps in memory)."""
        return None

    async def _exclusive(self, sql: str, *args: Any) -> int:
        fence = _fence.get()
        if fence is None:
            return await self._run(sql.replace(FENCE, _ALWAYS), *args)
        return await self._run_fenced(fence, sql, *args)

    async def claim_chat(self, chat_id: int, thread_id: int, owner: str, ttl: float) -> bool:
        """Hold the chat for ``owner`` for ``ttl`` seconds; ``False`` while another owner's
        lease is alive. Claiming a chat one holds renews it (with a new epoch)."""
        return await self.claim(chat_id, thread_id, owner, ttl) is not None

    async def finish_job(self, job_id: int) -> None:
        """running → done, with the album items it claimed (a stale holder cannot: the job
        is its new holder's)."""
        await self._exclusive(
            "UPDATE jobs SET state = 'done', updated_at = $1 WHERE ((id = $2 AND state ="
            f" 'running') OR (batch_of = $2 AND state = 'claimed')) AND {FENCE}",
            time.time(), job_id,
        )

    async def mark_uploaded(self, job_id: int, result: dict[str, Any]) -> None:
        """The job's files reached the backend: a restart must not upload them again."""
        await self._exclusive(
            f"UPDATE jobs SET uploaded = $1, updated_at = $2 WHERE id = $3 AND {FENCE}",
            self._json(result), time.time(), job_id,
        )

    async def mark_turn_sent(self, job_id: int) -> bool:
        """The job's instruction is about to reach the agent: a restart must not send it
        again (the edit could be applied twice). ``False`` when it was marked already: with
        replicas, another one took the job over and sends it (only one caller wins)."""
        changed = await self._exclusive(
            "UPDATE jobs SET turn_sent = TRUE, updated_at = $1 WHERE id = $2 AND NOT turn_sent"
            f" AND {FENCE}",
            time.time(), job_id,
        )
        return changed == 1

    async def begin_send(self, owner: str, step: str) -> None:
        """A message is about to reach Telegram (kept as is if recorded before)."""
        await self._exclusive(
            "INSERT INTO sends (owner, step, sent, updated_at) SELECT CAST($1 AS TEXT),"
            f" CAST($2 AS TEXT), CAST($3 AS BOOLEAN), CAST($4 AS DOUBLE PRECISION) WHERE {FENCE}"
            " ON CONFLICT (owner, step) DO NOTHING",
            owner, step, False, time.time(),
        )

    async def set_render(
        self, chat_id: int, thread_id: int, render_id: str | None, message_id: int | None = None
    ) -> None:
        """The render in flight (``None``: none). Starting one is fenced; clearing is not (a
        stale holder clearing what it started changes nothing the new holder needs)."""
        now = time.time()
        sql = (
            "INSERT INTO topics (chat_id, thread_id, created_at, updated_at, render_id,"
            " render_message_id, render_started_at) SELECT CAST($1 AS BIGINT),"
            " CAST($2 AS BIGINT), CAST($3 AS DOUBLE PRECISION), CAST($3 AS DOUBLE PRECISION),"
            " CAST($4 AS TEXT), CAST($5 AS BIGINT), CAST($6 AS DOUBLE PRECISION)"
            f" WHERE {FENCE} ON CONFLICT (chat_id, thread_id) DO UPDATE SET"
            " render_id = EXCLUDED.render_id, render_message_id = EXCLUDED.render_message_id,"
            " render_started_at = EXCLUDED.render_started_at, updated_at = EXCLUDED.updated_at"
        )
        args = (chat_id, thread_id, now, render_id, message_id, now if render_id else None)
        try:
            if render_id is None:
                await self._run(sql.replace(FENCE, _ALWAYS), *args)
            else:
                await self._exclusive(sql, *args)
        finally:
            self._topic_changed(chat_id, thread_id)

    async def save_session_once(
        self, chat_id: int, thread_id: int, session_id: str, language: str | None,
        *, replacing: str | None,
    ) -> str:
        """Keep ``session_id`` as the topic's session only if the topic's session is still
        ``replacing`` (``None``: it has none yet); returns the session the topic has now.
        Two replicas creating the first (or the next) session at once: one wins, and the
        other uses the winner's, so no upload goes to an orphan session."""
        try:
            await self._run(
                "INSERT INTO topics (chat_id, thread_id, created_at, updated_at, session_id,"
                " session_language, draft_hash) VALUES ($1, $2, $3, $3, $4, $5, NULL)"
                " ON CONFLICT (chat_id, thread_id) DO UPDATE SET session_id = EXCLUDED.session_id,"
                " session_language = EXCLUDED.session_language, draft_hash = NULL,"
                " updated_at = EXCLUDED.updated_at"
                " WHERE COALESCE(topics.session_id, '') = COALESCE($6, '')",
                chat_id, thread_id, time.time(), session_id, language, replacing,
            )
        finally:
            self._topic_changed(chat_id, thread_id)
        now = await self._value(
            "SELECT session_id FROM topics WHERE chat_id = $1 AND thread_id = $2",
            chat_id, thread_id,
        )
        return str(now) if now else session_id

    async def prune_jobs(self, older_than_seconds: float = 7 * 86400) -> None:
        """Finished jobs are only kept to recognise repeated updates; a week is plenty. The
        records of unfinished work are never pruned, whatever the wall clock says (it may
        have jumped): an unfinished job's sends, an unhandled update's answers."""
        cutoff = time.time() - older_than_seconds
        await self._run(
            "DELETE FROM jobs WHERE state NOT IN ('pending', 'running', 'claimed')"
            " AND updated_at < $1",
            cutoff,
        )
        await self._run(
            "DELETE FROM inbox WHERE state IN ('done', 'dead') AND updated_at < $1", cutoff
        )
        await self._run(
            "DELETE FROM sends WHERE updated_at < $1 AND NOT EXISTS (SELECT 1 FROM jobs"
            " WHERE jobs.state IN ('pending', 'running', 'claimed')"
            " AND sends.owner = 'job:' || jobs.id) AND NOT EXISTS (SELECT 1 FROM inbox"
            " WHERE inbox.state IN ('new', 'handling')"
            " AND sends.owner = 'update:' || inbox.update_id)",
            cutoff,
        )
