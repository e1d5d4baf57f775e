"""A fake NemoVideo backend: a real aiohttp server on 127.0.0.1 speaking the documented protocol.

Why: the real backend cannot be reached from here, and the bot must tolerate every documented
variant (envelopes, message keys, SSE styles, error codes, broken streams). This fake plays them
on demand over real sockets, with real SSE framing and delays, so client code is tested end to
end. It runs on the caller's asyncio loop; no threads.

Typical use::

    async with FakeBackend(frame_delay=0.001) as fake:
        fake.queue_turn([adk_text("Hi")], draft=None)
        fake.fail("credits", 500, http_status=500)
        ...  # point the client at fake.url
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import random
import re
import secrets
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import UTC, datetime, timedelta
from types import EllipsisType
from typing import Any, Literal, TypeAlias
from urllib.parse import urlparse

from aiohttp import BodyPartReader, web
from aiohttp.typedefs import Handler

from bot.sandbox.server import FakeServer

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


# --------------------------------------------------------------------------- frame helpers


def adk_event(
    parts: Sequence[Mapping[str, Any]],
    *,
    partial: bool = False,
    role: str = "model",
    invocation_id: str | None = None,
) -> JSONDict:
    """An ADK ``Event`` as ``/run_sse`` streams it (camelCase aliases, as ADK dumps them)."""
    return {
        "content": {"parts": [dict(p) for p in parts], "role": role},
        "author": "nemo_agent",
        "partial": partial,
        "invocationId": invocation_id or f"e-{uuid.uuid4()}",
        "id": uuid.uuid4().hex[:8],
        "timestamp": time.time(),
    }


def adk_text(text: str, partial: bool = False, *, invocation_id: str | None = None) -> JSONDict:
    """ADK text event; partial events are chunks that a final full-text event repeats."""
    return adk_event([{"text": text}], partial=partial, invocation_id=invocation_id)


def adk_call(
    name: str,
    args: Mapping[str, Any] | None = None,
    *,
    call_id: str | None = None,
    invocation_id: str | None = None,
) -> JSONDict:
    """ADK tool-call event: the agent working, never meant for the user."""
    call = {"id": call_id or f"adk-{uuid.uuid4()}", "name": name, "args": dict(args or {})}
    return adk_event([{"functionCall": call}], invocation_id=invocation_id)


def adk_response(
    name: str,
    result: Mapping[str, Any] | None = None,
    *,
    call_id: str | None = None,
    invocation_id: str | None = None,
) -> JSONDict:
    """ADK tool-result event (ADK gives these the ``user`` role)."""
    resp = {"id": call_id or f"adk-{uuid.uuid4()}", "name": name, "response": dict(result or {})}
    return adk_event([{"functionResponse": resp}], role="user", invocation_id=invocation_id)


def adk_error(message: str, *, details: Mapping[str, Any] | None = None) -> JSONDict:
    """The frame ADK's server writes when the agent run raises."""
    return {"error": message, "error_details": dict(details or {"type": "AgentError"})}


def typed_text(chunk: str) -> JSONDict:
    """Old-style typed text chunk; the client concatenates them."""
    return {"type": "text", "content": chunk}


def typed_heartbeat() -> JSONDict:
    """Old-style typed keep-alive frame."""
    return {"type": "heartbeat"}


def typed_tool_call(name: str, args: Mapping[str, Any] | None = None) -> JSONDict:
    """Old-style typed tool-call frame."""
    return {"type": "tool_call", "name": name, "args": dict(args or {})}


def sse_comment(text: str = "ping") -> str:
    """An SSE comment line (a keep-alive any SSE parser must skip)."""
    return f": {text}\n\n"


SSE_EMPTY_DATA = "data: \n\n"
"""An empty ``data:`` frame, which clients must treat as keep-alive."""


def sleep_frame(seconds: float) -> JSONDict:
    """A pseudo-frame that pauses the scripted stream."""
    return {"__sleep__": seconds}


def expire_token_frame() -> JSONDict:
    """A pseudo-frame: the turn's token expires here (so an error frame 1001 can follow)."""
    return {"__expire_token__": True}


def forget_session_frame() -> JSONDict:
    """A pseudo-frame: the turn's session is lost here (so an error frame 1002 can follow)."""
    return {"__forget_session__": True}


def adk_error_code(code: int | str, message: str = "agent error", *,
                   where: Literal["errorCode", "details", "typed"] = "errorCode") -> JSONDict:
    """An error frame carrying a backend code, in one of the documented places."""
    match where:
        case "errorCode":
            return {"errorCode": str(code), "errorMessage": message}
        case "details":
            return {"error": message, "error_details": {"code": code}}
        case _:
            return {"type": "error", "message": message, "code": code}


def make_draft(
    clips: Sequence[tuple[str, str, int]] = (("clip.mp4", "", FAKE_CLIP_MS),),
    *,
    bgm: tuple[str, float] | None = None,
    title: tuple[str, int] | None = None,
) -> JSONDict:
    """Build a draft in the API's short names: video clips ``(title, url, ms)``, optional BGM
    ``(title, volume)`` and title text ``(text, ms)``, so tests need not spell the format."""
    segments: list[JSONDict] = []
    start = 0
    for name, url, ms in clips:
        meta: JSONDict = {"title": name}
        if url:
            meta["url"] = url
        segments.append({"s": start, "d": ms, "m": meta})
        start += ms
    tracks: list[JSONDict] = [{"tt": 0, "sg": segments}]
    if bgm is not None:
        tracks.append(
            {"tt": 1, "sg": [{"s": 0, "d": start, "m": {"title": bgm[0], "volume": bgm[1]}}]}
        )
    if title is not None:
        tracks.append({"tt": 7, "sg": [{"s": 0, "d": title[1], "m": {"text": title[0]}}]})
    return {"d": start, "t": tracks}


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


# --------------------------------------------------------------------------- the server


class FakeBackend(FakeServer):
    """The scriptable fake. Attributes may be changed between requests to switch variants:
    ``sse_style``, ``frame_delay``, ``render_polls``, ``render_shape``, ``message_key``,
    ``render_size``, ``render_fail``, ``force_402``, ``max_upload_bytes``, ``delays`` (seconds
    an endpoint waits before answering, e.g. ``{"state": 3}``: a slow backend)."""

    def __init__(
        self,
        *,
        sse_style: SseStyle = "adk",
        frame_delay: float = 0.02,
        render_polls: int = 2,
        render_shape: RenderShape = "code",
        message_key: MessageKey = "msg",
        render_size: int = 200_000,
    ) -> None:
        self.sse_style: SseStyle = sse_style
        self.frame_delay = frame_delay
        self.render_polls = render_polls
        self.render_shape: RenderShape = render_shape
        self.message_key: MessageKey = message_key
        self.render_size = render_size
        self.render_fail = False
        self.render_progress: ProgressStyle | None = None
        self.render_host: str | None = None
        """Host name put in render URLs instead of 127.0.0.1 (e.g. ``localhost``)."""
        self.render_redirect_to: str | None = None
        """When set, a finished render's URL redirects (302) here instead of serving."""
        self.omit_user_id: set[str] = {"state"}
        """Endpoints (``anonymous_token``, ``create_session``, ``state``) whose answers leave
        out ``user_id``. The documented state has none; the seed hints some versions do."""
        self.state_patch: JSONDict = {}
        """Keys merged over every state answer's ``state`` (strange shapes on demand)."""
        self.force_402 = False
        self.max_upload_bytes = MAX_UPLOAD_BYTES
        self.delays: dict[str, float] = {}
        self.upload_chunk_delay = 0.0
        """Seconds to wait after reading each 64 KiB of an upload: a slow link, for tests of
        long transfers."""
        self.requests: list[RecordedRequest] = []
        self.tokens: dict[str, TokenInfo] = {}
        self.sessions: dict[str, SessionInfo] = {}
        self.renders: dict[str, RenderInfo] = {}
        self._turns: deque[ScriptedTurn] = deque()
        self._failures: dict[str, deque[_Failure]] = {}
        self._cdn: dict[str, _CdnFile] = {}
        self._user_by_client: dict[str, str] = {}
        self._ids = itertools.count(1)
        self._closing = asyncio.Event()
        self.fault_rate = 0.0
        self.faults_injected: Counter[str] = Counter()
        self._fault_random = random.Random(0)
        self.slow: dict[str, float] = {}
        """Seconds each request of an endpoint (by name) waits before it is answered."""
        self.annotate: Callable[[str], str] | None = None
        """When set, the default agent's answer ends with ``annotate(instruction)`` (the soak
        echoes each instruction's marker so an answer can be traced to its message)."""

    # ------------------------------------------------------------------ lifecycle

    _shutdown_timeout = 0.2
    _handler_cancellation = True

    def _make_app(self) -> web.Application:
        self._closing = asyncio.Event()

        @web.middleware
        async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
            return await self._middleware(request, handler)

        app = web.Application(middlewares=[middleware], client_max_size=4 * 1024 * 1024)
        r = app.router
        r.add_post("/api/auth/anonymous-token", self._h_anonymous_token, name="anonymous_token")
        r.add_post(
            "/api/tasks/me/with-session/nemo_agent", self._h_create_session, name="create_session"
        )
        r.add_post("/run_sse", self._h_run_sse, name="run_sse")
        r.add_post("/api/upload-video/nemo_agent/me/{session_id}", self._h_upload, name="upload")
        r.add_get("/api/credits/balance/simple", self._h_credits, name="credits")
        r.add_get("/api/state/nemo_agent/me/{session_id}/latest", self._h_state, name="state")
        r.add_post("/api/render/proxy/lambda", self._h_render, name="render")
        r.add_get(
            "/api/render/proxy/lambda/{render_id}", self._h_render_status, name="render_status"
        )
        r.add_get("/cdn/{name}", self._h_cdn, name="cdn")
        return app

    async def stop(self) -> None:
        """Shut down promptly: open streams are cut (as a dying server would cut them)."""
        if self._runner is not None:
            self._closing.set()
        await super().stop()

    # ------------------------------------------------------------------ scripting hooks

    def queue_turn(
        self,
        frames: Sequence[Frame],
        *,
        delay: float | None = None,
        draft: JSONDict | EllipsisType | None = ...,
        break_after: int | None = None,
        hold: float = 0,
    ) -> ScriptedTurn:
        """Make the next ``/run_sse`` (any session, FIFO) play exactly ``frames``.

        ``delay`` overrides ``frame_delay``; ``draft`` (unless ``...``) becomes the session's
        draft when the turn ends, even if the connection was broken; ``break_after=N`` aborts
        the TCP connection after N frames (strings count, sleeps don't); ``hold`` keeps the
        connection open silently before closing it. The turn costs a credit, as a real one.
        """
        turn = ScriptedTurn(list(frames), delay, draft, break_after, hold)
        self._turns.append(turn)
        return turn

    @property
    def pending_turns(self) -> int:
        """Scripted turns not played yet."""
        return len(self._turns)

    def fail(
        self,
        endpoint: Endpoint,
        code: int,
        *,
        http_status: int = 200,
        times: int = 1,
        message: str | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``endpoint`` answer ``{"code": code, <key>: msg}``.

        Checked before authentication, so the injected error is what the client sees.
        """
        text = message if message is not None else _DEFAULT_MESSAGES.get(code, "error")
        self._failures.setdefault(endpoint, deque()).append(
            _Failure(code, http_status, times, text)
        )

    def fault(
        self, endpoint: Endpoint, kind: FaultKind, *, http_status: int = 502, times: int = 1
    ) -> None:
        """Make the next ``times`` calls of ``endpoint`` fail below the envelope: ``html`` answers
        a proxy's HTML error page with ``http_status``; ``drop`` cuts the connection."""
        self._failures.setdefault(endpoint, deque()).append(
            _Failure(0, http_status, times, "", kind)
        )

    def inject_faults(self, rate: float, *, seed: int = 0) -> None:
        """From now on fail a seeded random ``rate`` of requests (every endpoint) as a
        struggling backend does: 429, a JSON 5xx, an HTML error page from a proxy, or on
        ``/run_sse`` a stream cut after a few frames (the turn still applies, as a real agent
        run finishes server-side). :attr:`faults_injected` counts each by kind."""
        self.fault_rate = rate
        self._fault_random = random.Random(seed)

    def _random_fault(self, endpoint: str) -> str | None:
        if not self.fault_rate or self._fault_random.random() >= self.fault_rate:
            return None
        kinds = FAULT_KINDS if endpoint == "run_sse" else FAULT_KINDS[:-1]
        kind = self._fault_random.choice(kinds)
        self.faults_injected[kind] += 1
        return kind

    def issue_token(
        self, client_id: str | None = None, *, credits: int = START_CREDITS
    ) -> TokenInfo:
        """Create a token directly (tests that skip the HTTP handshake). A client id keeps its
        anonymous user id across tokens, so a re-issued token still owns its sessions."""
        cid = client_id or str(uuid.uuid4())
        user_id = self._user_by_client.setdefault(cid, f"anon_{secrets.token_hex(8)}")
        info = TokenInfo(
            token=f"nmv_usr_{secrets.token_urlsafe(24)}",
            client_id=cid,
            user_id=user_id,
            expires_at=datetime.now(UTC).replace(microsecond=0) + TOKEN_TTL,
            credits=credits,
        )
        self.tokens[info.token] = info
        return info

    def create_session(self, token: str, *, language: str = "en") -> SessionInfo:
        """Create a session for ``token`` directly."""
        owner = self.tokens[token]
        n = next(self._ids)
        session = SessionInfo(
            session_id=str(1_000_000 + n),
            task_id=f"task_{n}",
            token=token,
            user_id=owner.user_id,
            language=language,
        )
        self.sessions[session.session_id] = session
        return session

    def expire_token(self, token: str) -> None:
        """Calls with ``token`` now get 1001; its client id may request a new one."""
        self.tokens[token].expires_at = datetime.now(UTC) - timedelta(seconds=1)

    def forget_session(self, session_id: str) -> None:
        """Calls for ``session_id`` now get 1002 (the backend lost it)."""
        self.sessions.pop(session_id, None)

    def set_credits(self, token: str, credits: int) -> None:
        """Set a token's balance (0 makes ``/run_sse`` answer 2001)."""
        self.tokens[token].credits = credits

    def set_draft(self, session_id: str, draft: JSONDict | None) -> None:
        """Replace a session's draft, as if the agent had edited it."""
        self.sessions[session_id].draft = draft

    def requests_to(self, endpoint: Endpoint) -> list[RecordedRequest]:
        """Recorded requests of one endpoint, in arrival order."""
        return [r for r in self.requests if r.endpoint == endpoint]

    # ------------------------------------------------------------------ plumbing

    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Record every request, apply injected failures, and render ``_ApiError``s."""
        endpoint = request.match_info.route.name or ""
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            headers={k.lower(): v for k, v in request.headers.items()},
            json=None,
            files=[],
            query=dict(request.query),
            endpoint=endpoint,
        )
        if request.body_exists and request.content_type == "application/json":
            raw = await request.read()
            try:
                record.json = json.loads(raw)
            except ValueError:
                record.json = None
        self.requests.append(record)
        request[_RECORD] = record
        try:
            if await self._pause(self.delays.get(endpoint, 0)):
                raise _ApiError(503, 503, "shutting down")
            failure = self._take_failure(endpoint)
            if failure is not None and failure.kind == "html":
                return web.Response(
                    status=failure.http_status, content_type="text/html",
                    text=HTML_ERROR_PAGE,
                )
            if failure is not None and failure.kind == "drop":
                if request.transport is not None:
                    request.transport.abort()
                return web.Response(status=500)
            if failure is not None:
                raise _ApiError(failure.http_status, failure.code, failure.message)
            if self.slow.get(endpoint):
                await self._pause(self.slow[endpoint])
            fault = self._random_fault(endpoint)
            if fault == "429":
                raise _ApiError(429, 429, "rate limited")
            if fault == "5xx":
                status = self._fault_random.choice((500, 502, 503))
                raise _ApiError(status, status, _DEFAULT_MESSAGES[status])
            if fault == "html":
                return web.Response(status=502, text=HTML_ERROR_PAGE, content_type="text/html")
            request[_BREAK] = fault == "broken_stream"
            return await handler(request)
        except _ApiError as err:
            return web.json_response(
                self._error_body(endpoint, err.code, err.message), status=err.http_status
            )

    def _take_failure(self, endpoint: str) -> _Failure | None:
        queue = self._failures.get(endpoint)
        if not queue:
            return None
        failure = queue[0]
        failure.remaining -= 1
        if failure.remaining <= 0:
            queue.popleft()
        return failure

    def _error_body(self, endpoint: str, code: int, message: str) -> JSONDict:
        body: JSONDict = {"code": code, self.message_key: message}
        if endpoint in ("render", "render_status") and self.render_shape == "success":
            body = {"success": False, **body}
        return body

    @staticmethod
    def _ok(data: JSONDict) -> web.Response:
        return web.json_response({"code": 0, "data": data})

    @staticmethod
    def _body(request: web.Request, *, required: bool = True) -> JSONDict:
        body = request[_RECORD].json
        if isinstance(body, dict):
            return body
        if required:
            raise _ApiError(400, 400, "invalid JSON body")
        return {}

    def _auth(self, request: web.Request) -> TokenInfo:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        info = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if info is None or not info.is_valid():
            raise _ApiError(401, 1001, "invalid or expired token")
        return info

    def _session(self, owner: TokenInfo, session_id: str) -> SessionInfo:
        session = self.sessions.get(session_id)
        if session is None or session.user_id != owner.user_id:
            raise _ApiError(404, 1002, "session not found")
        return session

    async def _pause(self, seconds: float) -> bool:
        """Sleep, waking early when the server stops; True means 'stopping'."""
        if seconds <= 0:
            return self._closing.is_set()
        try:
            async with asyncio.timeout(seconds):
                await self._closing.wait()
        except TimeoutError:
            return False
        return True

    # ------------------------------------------------------------------ handlers

    async def _h_anonymous_token(self, request: web.Request) -> web.StreamResponse:
        client_id = request.headers.get("X-Client-Id", "").strip()
        if not client_id:
            raise _ApiError(400, 400, "missing X-Client-Id")
        if any(t.client_id == client_id and t.is_valid() for t in self.tokens.values()):
            raise _ApiError(429, 429, "rate limited")
        info = self.issue_token(client_id)
        return self._ok(
            self._user(
                "anonymous_token",
                {
                    "token": info.token,
                    "user_id": info.user_id,
                    "expires_at": info.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "credits": info.credits,
                },
            )
        )

    def _user(self, endpoint: str, data: JSONDict) -> JSONDict:
        if endpoint in self.omit_user_id:
            data.pop("user_id", None)
        return data

    async def _h_create_session(self, request: web.Request) -> web.StreamResponse:
        owner = self._auth(request)
        body = self._body(request, required=False)
        session = self.create_session(owner.token, language=str(body.get("language") or "en"))
        return self._ok(
            self._user(
                "create_session",
                {"task_id": session.task_id, "session_id": session.session_id,
                 "user_id": owner.user_id},
            )
        )

    async def _h_credits(self, request: web.Request) -> web.StreamResponse:
        owner = self._auth(request)
        n = owner.credits
        return self._ok({"available": n, "frozen": 0, "total": n})

    async def _h_state(self, request: web.Request) -> web.StreamResponse:
        owner = self._auth(request)
        session = self._session(owner, request.match_info["session_id"])
        return self._ok(
            self._user("state", {
                "session_id": session.session_id,
                "task_id": session.task_id,
                "user_id": owner.user_id,
                "state": {
                    "draft": session.draft,
                    "video_infos": list(session.uploads),
                    "generated_media": [],
                    **self.state_patch,
                },
            })
        )

    # -- run_sse

    async def _h_run_sse(self, request: web.Request) -> web.StreamResponse:
        owner = self._auth(request)
        body = self._body(request)
        session = self._session(owner, str(body.get("session_id") or ""))
        if owner.credits <= 0:
            # Not a stream: a plain JSON envelope, which SSE clients must detect by content type.
            raise _ApiError(200, 2001, "insufficient credits")
        text = _message_text(body)
        session.messages.append(text)
        owner.credits -= 1
        turn = self._turns.popleft() if self._turns else self._default_turn(session, text)
        if request.get(_BREAK):
            turn = ScriptedTurn(turn.frames, turn.delay, turn.draft,
                                break_after=self._fault_random.randint(0, 3))
        return await self._stream(request, session, turn)

    def _default_turn(self, session: SessionInfo, text: str) -> ScriptedTurn:
        """The realistic agent: a tool call and result, a ping, then the streamed answer."""
        compress = bool(_COMPRESS_WORDS.search(text))
        if compress:
            answer = COMPRESS_ANSWER
            tool, args = "compress_video", {"codec": "h264", "crf": 28, "target_reduction": 0.6}
            result: JSONDict = {"status": "ok", "size_reduction": 0.6}
            draft: JSONDict | EllipsisType | None = self._draft_from_uploads(
                session, height=720 if "720p" in text else None
            )
        else:
            answer = (
                f'I can help with that: "{text}". Upload a video and tell me how to compress it.'
            )
            tool, args = "inspect_timeline", {}
            result = {"status": "ok", "tracks": len((session.draft or {}).get("t", []))}
            draft = ...
        if self.annotate is not None:
            answer += self.annotate(text)
        chunks = _split_text(answer)
        frames: list[Frame]
        if self.sse_style == "typed":
            frames = [
                typed_tool_call(tool, args),
                SSE_EMPTY_DATA,
                typed_heartbeat(),
                *(typed_text(c) for c in chunks),
            ]
        else:
            inv = f"e-{uuid.uuid4()}"
            call_id = f"adk-{uuid.uuid4()}"
            frames = [
                adk_call(tool, args, call_id=call_id, invocation_id=inv),
                adk_response(tool, result, call_id=call_id, invocation_id=inv),
                sse_comment("ping"),
                *(adk_text(c, partial=True, invocation_id=inv) for c in chunks),
                adk_text(answer, invocation_id=inv),
            ]
        return ScriptedTurn(frames, draft=draft)

    def _draft_from_uploads(self, session: SessionInfo, height: int | None = None) -> JSONDict:
        """The uploads as a draft; its ``m`` holds the output size (scaled to ``height``)."""
        videos = [u for u in session.uploads if u.get("file_type") == "video"]
        clips = [
            (str(u["filename"]), str(u["cdn_url"]), int(float(u.get("duration") or 10) * 1000))
            for u in videos
        ] or [("clip.mp4", f"{self.url}/cdn/placeholder.mp4", FAKE_CLIP_MS)]
        draft = make_draft(clips)
        first = videos[0] if videos else {"width": 1920, "height": 1080}
        width, tall = int(first.get("width") or 1920), int(first.get("height") or 1080)
        if height is not None and tall > height:
            width, tall = round(width * height / tall), height
        draft["m"] = {"width": width, "height": tall}
        return draft

    async def _stream(
        self, request: web.Request, session: SessionInfo, turn: ScriptedTurn
    ) -> web.StreamResponse:
        resp = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await resp.prepare(request)
        delay = self.frame_delay if turn.delay is None else turn.delay
        written = 0
        try:
            for frame in turn.frames:
                if not isinstance(frame, str) and "__sleep__" in frame:
                    if await self._pause(float(frame["__sleep__"])):
                        return _abort(request, resp)
                    continue
                if not isinstance(frame, str) and "__expire_token__" in frame:
                    self.expire_token(session.token)
                    continue
                if not isinstance(frame, str) and "__forget_session__" in frame:
                    self.forget_session(session.session_id)
                    continue
                if turn.break_after is not None and written >= turn.break_after:
                    return _abort(request, resp)
                if written and await self._pause(delay):
                    return _abort(request, resp)
                await resp.write(_encode(frame))
                written += 1
            if turn.break_after is not None:
                return _abort(request, resp)
            if turn.hold > 0 and await self._pause(turn.hold):
                return _abort(request, resp)
            if self._closing.is_set():
                return _abort(request, resp)
            _apply_draft(session, turn)
            await resp.write_eof()
        except ConnectionError:
            pass  # the client went away; nothing to tell it
        finally:
            _apply_draft(session, turn)
        return resp

    # -- upload

    async def _h_upload(self, request: web.Request) -> web.StreamResponse:
        owner = self._auth(request)
        session = self._session(owner, request.match_info["session_id"])
        infos: list[JSONDict] = []
        if request.content_type.startswith("multipart/"):
            received = await self._read_multipart(request)
            if not received:
                raise _ApiError(400, 400, "no files")
            for rec, digest in received:
                kind = _file_type(rec.filename)
                if kind is None:
                    raise _ApiError(200, 4001, "unsupported file type")
                if rec.size > self.max_upload_bytes:
                    raise _ApiError(200, 4002, "file too large")
                infos.append(self._media_info(rec.filename, kind, digest, rec.size, rec.head))
        elif request.content_type == "application/json":
            body = self._body(request)
            urls = body.get("urls")
            if not isinstance(urls, list) or not urls:
                raise _ApiError(400, 400, "no urls")
            for url in urls:
                name = urlparse(str(url)).path.rsplit("/", 1)[-1] or "file"
                kind = _file_type(name)
                if kind is None:
                    raise _ApiError(200, 4001, "unsupported file type")
                digest = hashlib.sha256(str(url).encode()).hexdigest()
                infos.append(self._media_info(name, kind, digest, 0, b""))
        else:
            raise _ApiError(400, 400, "expected multipart/form-data or JSON")
        session.uploads.extend(infos)
        return self._ok({"files": infos})

    async def _read_multipart(self, request: web.Request) -> list[tuple[RecordedFile, str]]:
        """Stream the parts: count and hash bytes, keep only the first ``HEAD_KEEP``."""
        record = request[_RECORD]
        out: list[tuple[RecordedFile, str]] = []
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or part.name != "files":
                await part.release()
                continue
            size = 0
            head = bytearray()
            digest = hashlib.sha256()
            while chunk := await part.read_chunk(_CHUNK):
                if self.upload_chunk_delay:
                    await asyncio.sleep(self.upload_chunk_delay)
                size += len(chunk)
                digest.update(chunk)
                if len(head) < HEAD_KEEP:
                    head += chunk[: HEAD_KEEP - len(head)]
            rec = RecordedFile(
                field=part.name,
                filename=part.filename or "",
                content_type=part.headers.get("Content-Type"),
                size=size,
                head=bytes(head),
                sha256=digest.hexdigest(),
            )
            record.files.append(rec)
            out.append((rec, digest.hexdigest()))
        return out

    def _media_info(
        self, filename: str, kind: str, digest: str, size: int, head: bytes
    ) -> JSONDict:
        name = f"u{next(self._ids)}_{re.sub(r'[^A-Za-z0-9._-]', '_', filename)}"
        ext = filename.rsplit(".", 1)[-1].lower()
        self._cdn[name] = _CdnFile(size, head, f"{kind}/{ext}")
        video, image, audio = kind == "video", kind == "image", kind == "audio"
        return {
            "filename": filename,
            "file_type": kind,
            "cdn_url": f"{self.url}/cdn/{name}",
            "duration": FAKE_CLIP_MS / 1000 if (video or audio) else None,
            "width": 1920 if video else 1080 if image else None,
            "height": 1080 if (video or image) else None,
            "fps": 30 if video else None,
            "hash": digest,
        }

    # -- render

    async def _h_render(self, request: web.Request) -> web.StreamResponse:
        owner = self._auth(request)
        if self.force_402 or not all(request.headers.get(h) for h in _ATTRIBUTION):
            raise _ApiError(402, 402, "export requires a paid plan")
        body = self._body(request)
        render_id = str(body.get("id") or "")
        if not render_id:
            raise _ApiError(400, 400, "missing render id")
        if render_id in self.renders:
            raise _ApiError(409, DUPLICATE_RENDER_CODE, "duplicate render id")
        session_id = str(body.get("sessionId") or "")
        if session_id:
            self._session(owner, session_id)
        draft = body.get("draft")
        if not isinstance(draft, dict) or not _exportable(draft):
            raise _ApiError(400, EMPTY_DRAFT_CODE, "empty draft")
        output = body.get("output")
        render = RenderInfo(
            id=render_id,
            session_id=session_id,
            token=owner.token,
            draft=draft,
            output=output if isinstance(output, dict) else {},
            will_fail=self.render_fail,
        )
        self.renders[render_id] = render
        return web.json_response(self._render_body(render))

    async def _h_render_status(self, request: web.Request) -> web.StreamResponse:
        self._auth(request)
        render = self.renders.get(request.match_info["render_id"])
        if render is None:
            raise _ApiError(404, 404, "render not found")
        if render.status not in ("completed", "failed"):
            render.polls += 1
            if render.polls < self.render_polls:
                render.status = "processing"
            elif render.will_fail:
                render.status = "failed"
                render.error = "render failed: encoder error on the render node"
            else:
                render.status = "completed"
                name = f"{render.id}.mp4"
                base = self.url
                if self.render_host is not None:
                    base = base.replace("127.0.0.1", self.render_host)
                render.url = f"{base}/cdn/{name}"
                self._cdn[name] = _CdnFile(self.render_size, _MP4_HEAD, "video/mp4")
        return web.json_response(self._render_body(render))

    def _render_body(self, render: RenderInfo) -> JSONDict:
        """The same job in whichever documented envelope ``render_shape`` selects."""
        data: JSONDict = {"id": render.id, "status": render.status}
        if self.render_progress is not None and render.status == "processing":
            fraction = min(1.0, render.polls / max(1, self.render_polls))
            if self.render_progress == "fraction":
                data["progress"] = round(fraction, 3)
            else:
                data["progress"] = round(fraction * 100)
        if render.url is not None:
            if self.render_shape == "outputUrl":
                data["outputUrl"] = render.url
            else:
                data["output"] = {"url": render.url}
        if render.error is not None:
            data["error"] = render.error
        if self.render_progress == "data_percent" and "progress" in data:
            return {"code": 0, "data": data}
        match self.render_shape:
            case "success":
                return {"success": True, "data": data}
            case "bare":
                return data
            case "top_output":
                return {"code": 0, **data}
            case _:
                return {"code": 0, "data": data}

    # -- cdn

    async def _h_cdn(self, request: web.Request) -> web.StreamResponse:
        """Serve uploads and finished renders (streamed; HEAD gives only the length)."""
        entry = self._cdn.get(request.match_info["name"])
        if entry is None:
            return web.Response(status=404, text="not found")
        if self.render_redirect_to is not None and entry.content_type == "video/mp4" and (
            request.match_info["name"].startswith("render_")
        ):
            raise web.HTTPFound(self.render_redirect_to)
        resp = web.StreamResponse(headers={"Content-Type": entry.content_type})
        resp.content_length = entry.size
        await resp.prepare(request)
        if request.method == "HEAD":
            return resp
        head = entry.head[: entry.size]
        if head:
            await resp.write(head)
        left = entry.size - len(head)
        while left > 0:
            n = min(left, _CHUNK)
            await resp.write(_ZEROS[:n])
            left -= n
        await resp.write_eof()
        return resp


# --------------------------------------------------------------------------- helpers


def _encode(frame: Frame) -> bytes:
    if isinstance(frame, str):
        return frame.encode()
    return f"data: {json.dumps(frame, ensure_ascii=False)}\n\n".encode()


def _abort(request: web.Request, resp: web.StreamResponse) -> web.StreamResponse:
    """Cut the TCP connection mid-body, so the client sees a transport error."""
    resp.force_close()
    if request.transport is not None:
        request.transport.abort()
    return resp


def _apply_draft(session: SessionInfo, turn: ScriptedTurn) -> None:
    if not isinstance(turn.draft, EllipsisType):
        session.draft = turn.draft


def _message_text(body: JSONDict) -> str:
    message = body.get("new_message")
    parts = message.get("parts") if isinstance(message, dict) else None
    if not isinstance(parts, list):
        return ""
    return "".join(str(p.get("text", "")) for p in parts if isinstance(p, dict))


def _split_text(text: str, pieces: int = 3) -> list[str]:
    """Cut text into up to ``pieces`` chunks at spaces, as a token stream would arrive."""
    size = max(1, -(-len(text) // pieces))
    out: list[str] = []
    i = 0
    while i < len(text):
        j = min(len(text), i + size)
        if j < len(text):
            k = text.find(" ", j)
            j = len(text) if k == -1 else k + 1
        out.append(text[i:j])
        i = j
    return out


def _file_type(filename: str) -> str | None:
    if "." not in filename:
        return None
    return SUPPORTED_TYPES.get(filename.rsplit(".", 1)[-1].lower())


def _exportable(draft: Mapping[str, Any]) -> bool:
    tracks = draft.get("t")
    return isinstance(tracks, list) and any(
        isinstance(t, dict) and isinstance(t.get("sg"), list) and t["sg"] for t in tracks
    )
