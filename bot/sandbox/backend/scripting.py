"""The fake backend's state and the hooks tests script it with (turns, failures, tokens, drafts)."""

from __future__ import annotations

import asyncio
import itertools
import random
import secrets
import uuid
from collections import Counter, deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from types import EllipsisType

from bot.sandbox.backend.records import (
    _DEFAULT_MESSAGES,
    FAULT_KINDS,
    MAX_UPLOAD_BYTES,
    START_CREDITS,
    TOKEN_TTL,
    Endpoint,
    FaultKind,
    Frame,
    JSONDict,
    MessageKey,
    ProgressStyle,
    RecordedRequest,
    RenderInfo,
    RenderShape,
    ScriptedTurn,
    SessionInfo,
    SseStyle,
    TokenInfo,
    _CdnFile,
    _Failure,
)
from bot.sandbox.server import FakeServer


class BackendScripting(FakeServer):
    """State and scripting hooks; the server and endpoints build on it."""

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

