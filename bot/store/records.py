"""What the store returns, the same from either engine (plain frozen dataclasses)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Row = Mapping[str, Any]
"""A database row (aiosqlite.Row or asyncpg.Record: both read by column name)."""


def _json(value: Any) -> Any:
    """SQLite keeps JSON as text; asyncpg's codec has already decoded JSONB."""
    return json.loads(value) if isinstance(value, str) else value


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
    line_message_id: int | None = None


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """What is known of one video: the original (before) or an export (after)."""

    size: int | None = None
    width: int | None = None
    height: int | None = None
    duration: float | None = None

    @classmethod
    def from_row(cls, row: Row) -> VideoInfo:
        return cls(row["size"], row["width"], row["height"], row["duration"])


@dataclass(frozen=True, slots=True)
class SourceFile:
    """What fetches the original again from Telegram (local compression, after a restart too)."""

    file_id: str
    file_name: str | None = None
    mime_type: str | None = None
    kind: str = "video"


@dataclass(frozen=True, slots=True)
class Source:
    """The original video of a chat's project, and who sent it."""

    user_id: int | None
    name: str | None
    video: VideoInfo
    file: SourceFile | None = None


@dataclass(frozen=True, slots=True)
class ExportRecord:
    id: int
    file_id: str
    as_document: bool
    video: VideoInfo
    created_at: float

    @classmethod
    def from_row(cls, row: Row) -> ExportRecord:
        return cls(
            id=int(row["id"]),
            file_id=str(row["file_id"]),
            as_document=bool(row["as_document"]),
            video=VideoInfo.from_row(row),
            created_at=float(row["created_at"]),
        )


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

    @classmethod
    def from_row(cls, row: Row) -> Job:
        return cls(
            id=int(row["id"]),
            chat_id=int(row["chat_id"]),
            thread_id=int(row["thread_id"]),
            kind=str(row["kind"]),
            payload=dict(_json(row["payload"])),
            state=str(row["state"]),
            uploaded=dict(_json(row["uploaded"])) if row["uploaded"] is not None else None,
            turn_sent=bool(row["turn_sent"]),
        )


@dataclass(frozen=True, slots=True)
class SendRecord:
    """One message a job set out to send: ``sent`` once Telegram confirmed it (with its id);
    not ``sent`` means the process stopped while Telegram had it, so it may have arrived."""

    sent: bool
    message_id: int | None = None


@dataclass(frozen=True, slots=True)
class ChatSettings:
    """What /settings keeps for one chat or forum topic (the language is the chat's own,
    ``ChatRecord.language``): the preset each new video is compressed to (``None``: ask),
    and the local engine's codec and resolution cap (short side; ``None``: no cap)."""

    preset: str | None = None
    codec: str = "h264"
    max_short_side: int | None = None
