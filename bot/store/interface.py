"""What flows and the queue need from durable storage, whichever engine keeps it.

SQLite (one process, the default) and PostgreSQL (several replicas) both implement this;
code outside ``bot/store`` depends on ``ChatStore`` only, so a test of one contract covers
both engines (tests/store/).
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from bot.store.store import (
    ChatRecord,
    ExportRecord,
    Job,
    SendRecord,
    Source,
    TopicRecord,
    VideoInfo,
)


class ChatStore(Protocol):
    """A chat's identity, its sessions and renders, and its durable queue of work."""

    async def close(self) -> None: ...

    async def schema_version(self) -> int: ...

    async def hold_polling(self) -> bool:
        """Become the one process that long-polls with this database, until ``close()``;
        ``False`` when another process already is."""
        ...

    # -- chats
    async def get_chat(self, chat_id: int) -> ChatRecord | None: ...

    async def ensure_chat(self, chat_id: int) -> ChatRecord: ...

    async def save_token(
        self,
        chat_id: int,
        *,
        client_id: str,
        token: str,
        expires_at: float | None,
        anon_user_id: str | None,
    ) -> None: ...

    async def set_language(self, chat_id: int, language: str | None) -> None: ...

    def identity_lock(self, chat_id: int) -> AbstractAsyncContextManager[None]:
        """Held while the chat's backend token is read and renewed, so replicas never burn
        two anonymous tokens (client ids) for one chat."""
        ...

    async def claim_quality_hint(self, chat_id: int) -> bool:
        """``True`` exactly once per chat: the first caller gets to show the quality hint."""
        ...

    # -- topics
    async def get_topic(self, chat_id: int, thread_id: int = 0) -> TopicRecord | None: ...

    async def save_session(
        self, chat_id: int, thread_id: int, session_id: str | None, language: str | None
    ) -> None: ...

    async def set_session_language(self, chat_id: int, thread_id: int, language: str) -> None:
        """The agent was told to answer in ``language`` (its session stays)."""
        ...

    async def set_render(
        self, chat_id: int, thread_id: int, render_id: str | None, message_id: int | None = None
    ) -> None: ...

    async def set_draft_hash(
        self, chat_id: int, thread_id: int, draft_hash: str | None
    ) -> None: ...

    async def renders_in_flight(self) -> list[TopicRecord]: ...

    # -- before → after, /history
    async def save_source(
        self, chat_id: int, thread_id: int, user_id: int | None, name: str | None,
        video: VideoInfo,
    ) -> None:
        """The project's original video (replaces the previous one)."""
        ...

    async def get_source(self, chat_id: int, thread_id: int) -> Source | None: ...

    async def add_export(
        self, chat_id: int, thread_id: int, file_id: str, as_document: bool, video: VideoInfo
    ) -> int: ...

    async def exports(self, chat_id: int, thread_id: int, limit: int = 5) -> list[ExportRecord]:
        """The latest deliveries, newest first."""
        ...

    async def get_export(self, chat_id: int, export_id: int) -> ExportRecord | None: ...

    # -- jobs
    async def add_job(
        self,
        chat_id: int,
        thread_id: int,
        kind: str,
        payload: dict[str, Any],
        dedupe_key: str | None = None,
    ) -> int | None: ...

    async def next_job(self, chat_id: int, thread_id: int) -> Job | None: ...

    async def take_album(
        self, chat_id: int, thread_id: int, media_group_id: str, first_id: int
    ) -> list[Job]: ...

    async def count_waiting(self, chat_id: int, thread_id: int) -> int: ...

    async def set_job_state(self, job_id: int, state: str, *, expect: tuple[str, ...]) -> bool:
        """Move a job on only from an ``expect``ed state; ``False`` when it had moved on."""
        ...

    async def start_job(self, job_id: int) -> bool: ...

    async def finish_job(self, job_id: int) -> None: ...

    async def mark_uploaded(self, job_id: int, result: dict[str, Any]) -> None: ...

    async def mark_turn_sent(self, job_id: int) -> None: ...

    async def cancel_jobs(self, chat_id: int, thread_id: int) -> int: ...

    async def chats_with_work(self) -> list[tuple[int, int]]: ...

    async def count_unfinished(self) -> int:
        """Jobs waiting or running in all chats; raises when the database cannot be read
        (the health check relies on that)."""
        ...

    # -- replicas: who works a chat now
    @property
    def shared(self) -> bool:
        """True when other processes may use the same database (PostgreSQL): the queue
        then claims chats before working them and sweeps for work nobody holds."""
        ...

    async def claim_chat(self, chat_id: int, thread_id: int, owner: str, ttl: float) -> bool:
        """Hold the chat for ``owner`` for ``ttl`` seconds; ``False`` while another owner's
        lease is alive. Claiming a chat one holds renews it."""
        ...

    async def renew_claims(self, owner: str, ttl: float) -> set[tuple[int, int]]:
        """Extend every lease ``owner`` holds; returns the chats it still holds."""
        ...

    async def release_chat(self, chat_id: int, thread_id: int, owner: str) -> None: ...

    async def unclaimed_work(self) -> list[tuple[int, int]]:
        """Chats with unfinished jobs that no live lease holds (a replica died, or a job
        arrived just as its holder let go)."""
        ...

    async def cancelled_among(self, job_ids: list[int]) -> set[int]:
        """Which of these jobs were cancelled (a /cancel another replica received shows
        here; the replica running the job checks)."""
        ...

    async def prune_jobs(self, older_than_seconds: float = 7 * 86400) -> None: ...

    # The inbox of polled updates (bot.telegram.inbox): kept before Telegram considers them
    # delivered, claimed and marked handled around their handlers.

    async def sends(self, owner: str) -> dict[str, SendRecord]:
        """What ``owner`` (``job:<id>``) set out to send before a restart, by step."""
        ...

    async def begin_send(self, owner: str, step: str) -> None:
        """Recorded just before a message goes to Telegram."""
        ...

    async def end_send(self, owner: str, step: str, message_id: int | None) -> None:
        """Recorded once Telegram confirmed the message."""
        ...

    async def keep_updates(self, updates: list[tuple[int, str]]) -> None: ...

    async def claim_update(self, update_id: int) -> bool: ...

    async def finish_update(self, update_id: int) -> None: ...

    async def unhandled_updates(self) -> list[str]: ...
