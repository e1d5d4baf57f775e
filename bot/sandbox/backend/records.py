"""The fake backend's protocol constants and the records tests inspect (requests, tokens,
sessions, renders, scripted turns)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import UTC, datetime, timedelta
from types import EllipsisType
from typing import Any, Literal, TypeAlias

from aiohttp import web

JSONDict: TypeAlias = dict[str, Any]
Frame: TypeAlias = Mapping[str, Any] | str
"""A scripted SSE frame: a mapping is sent as ``data: <json>``, a string verbatim."""

Endpoint: TypeAlias = Literal[
    "anonymous_token",
    "create_session",
    "run_sse",
    "upload",
    "credits",
    "state",
    "render",
    "render_status",
    "cdn",
]
SseStyle: TypeAlias = Literal["adk", "typed"]
RenderShape: TypeAlias = Literal["code", "success", "bare", "outputUrl", "top_output"]
MessageKey: TypeAlias = Literal["msg", "message"]
FaultKind: TypeAlias = Literal["envelope", "html", "drop"]
ProgressStyle: TypeAlias = Literal["fraction", "percent", "data_percent"]

SUPPORTED_TYPES: dict[str, str] = {
    **dict.fromkeys(("mp4", "mov", "avi", "webm", "mkv"), "video"),
    **dict.fromkeys(("jpg", "jpeg", "png", "gif", "webp"), "image"),
    **dict.fromkeys(("mp3", "wav", "m4a", "aac"), "audio"),
}
MAX_UPLOAD_BYTES = 500 * 1024 * 1024
TOKEN_TTL = timedelta(days=7)
START_CREDITS = 100
HEAD_KEEP = 1024 * 1024
"""Bytes of each uploaded file kept in :class:`RecordedFile` for assertions."""
DUPLICATE_RENDER_CODE = 409
EMPTY_DRAFT_CODE = 400
FAKE_CLIP_MS = 10_000

COMPRESS_ANSWER = (
    "Done! I compressed your video to H.264 at a lower bitrate — about 60% smaller with no "
    "visible quality loss. Click Export in the top right corner to download it."
)
_COMPRESS_WORDS = re.compile(r"compress|smaller|720p|压缩|壓縮", re.IGNORECASE)
_ATTRIBUTION = ("X-Skill-Source", "X-Skill-Version", "X-Skill-Platform")
_DEFAULT_MESSAGES: dict[int, str] = {
    400: "bad request",
    401: "unauthorized",
    402: "export requires a paid plan",
    404: "not found",
    409: "duplicate render id",
    429: "rate limited",
    500: "internal server error",
    502: "bad gateway",
    503: "service unavailable",
    1001: "invalid or expired token",
    1002: "session not found",
    2001: "insufficient credits",
    4001: "unsupported file type",
    4002: "file too large",
}
# A minimal ISO BMFF header, so the fake render download looks like an MP4 to sniffers.
_MP4_HEAD = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41"
_CHUNK = 64 * 1024
HTML_ERROR_PAGE = (
    "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway"
    "</h1></center><hr><center>cloudflare</center></body></html>"
)
FAULT_KINDS = ("429", "5xx", "html", "broken_stream")
"""What :meth:`FakeBackend.inject_faults` plays; a broken stream only on ``/run_sse``."""
_ZEROS = bytes(_CHUNK)



# --------------------------------------------------------------------------- records


@dataclass
class RecordedFile:
    """One multipart part as the server received it (content is not kept beyond ``head``)."""

    field: str
    filename: str
    content_type: str | None
    size: int
    head: bytes = dc_field(default=b"", repr=False)
    sha256: str = ""


@dataclass
class RecordedRequest:
    """Everything a test may want to assert about one request."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any
    files: list[RecordedFile]
    query: dict[str, str]
    endpoint: str = ""


@dataclass
class TokenInfo:
    """An issued anonymous token and its credit balance."""

    token: str
    client_id: str
    user_id: str
    expires_at: datetime
    credits: int = START_CREDITS
    revoked: bool = False

    def is_valid(self, now: datetime | None = None) -> bool:
        """Usable: neither revoked nor past its expiry."""
        return not self.revoked and (now or datetime.now(UTC)) < self.expires_at


@dataclass
class SessionInfo:
    """A session with what the backend keeps for it: uploads, draft, received messages."""

    session_id: str
    task_id: str
    token: str
    user_id: str
    language: str
    uploads: list[JSONDict] = dc_field(default_factory=list)
    draft: JSONDict | None = None
    messages: list[str] = dc_field(default_factory=list)


@dataclass
class RenderInfo:
    """A render job; ``polls`` counts status requests, which drive its progress."""

    id: str
    session_id: str
    token: str
    draft: JSONDict
    output: JSONDict
    status: str = "pending"
    polls: int = 0
    will_fail: bool = False
    url: str | None = None
    error: str | None = None


@dataclass
class ScriptedTurn:
    """A queued ``/run_sse`` answer (see :meth:`FakeBackend.queue_turn`)."""

    frames: list[Frame]
    delay: float | None = None
    draft: JSONDict | EllipsisType | None = ...
    break_after: int | None = None
    hold: float = 0.0


@dataclass
class _Failure:
    code: int
    http_status: int
    remaining: int
    message: str
    kind: FaultKind = "envelope"


@dataclass
class _CdnFile:
    size: int
    head: bytes
    content_type: str


class _ApiError(Exception):
    """Raised by handlers; the middleware turns it into the error envelope."""

    def __init__(self, http_status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.code = code
        self.message = message


_RECORD = web.RequestKey("fake_backend_record", RecordedRequest)
_BREAK = web.RequestKey("fake_backend_break", bool)


