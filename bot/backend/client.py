"""Typed async client for the NemoVideo agent API.

One httpx.AsyncClient, attribution headers on every request, envelopes unwrapped and errors
raised as typed exceptions in one place (``_unwrap``), and the one documented retry (429) in
one place (``_send``). Token and session recovery need the chat store, so they live a layer up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import httpx
from httpx_sse import EventSource

from bot.backend.errors import (
    BackendError,
    FileTooLarge,
    RateLimited,
    StreamBroken,
    Unavailable,
    error_for,
)
from bot.backend.events import End, Event, parse_error_event, parse_frame
from bot.backend.models import (
    AnonymousToken,
    Credits,
    RenderStatus,
    Session,
    StateResult,
    UploadResult,
)

log = logging.getLogger(__name__)

APP_NAME = "nemo_agent"
SKILL_SOURCE = "rtk-compressor-free"
SHORT_CALL_CONNECTIONS = 20
STREAMS_PER_POOL = 50


@dataclass(frozen=True, slots=True)
class FileUpload:
    """A file on disk to send; uploads stream from disk so phone-sized videos never sit in RAM."""

    path: Path
    filename: str
    content_type: str = "application/octet-stream"


class NemoClient:
    def __init__(
        self,
        base_url: str,
        *,
        version: str,
        platform: str = "telegram",
        rate_limit_retry_seconds: float = 30,
        sse_timeout_seconds: float = 900,
        max_connections: int = 1000,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        tls = httpx.create_ssl_context()  # one for every pool: building one takes ~10 ms

        def client(connections: int) -> httpx.AsyncClient:
            return httpx.AsyncClient(
                base_url=base_url.rstrip("/"),
                headers={
                    "X-Skill-Source": SKILL_SOURCE,
                    "X-Skill-Version": version,
                    "X-Skill-Platform": platform,
                },
                timeout=httpx.Timeout(30.0, connect=10.0),
                limits=httpx.Limits(
                    max_connections=connections, max_keepalive_connections=connections
                ),
                transport=transport,
                verify=tls,
            )

        # httpcore scans every connection of a pool on each request, and a pool holding more
        # connections than its keep-alive limit closes each one that goes idle
        # (encode/httpcore#1000): one pool for hundreds of open turns made every request cost
        # O(pool) and a new connection. So short calls get their own pool, where keep-alive
        # works, and turns are spread over pools of STREAMS_PER_POOL, the least busy first
        # (a pool is added when all are full).
        self._http = client(SHORT_CALL_CONNECTIONS)
        self._new_pool: Callable[[], httpx.AsyncClient] = lambda: client(
            min(STREAMS_PER_POOL, max_connections)
        )
        self._max_pools = -(-max_connections // STREAMS_PER_POOL)
        self._streams: list[httpx.AsyncClient] = []
        self._open: list[int] = []
        self.rate_limit_retry_seconds = rate_limit_retry_seconds
        self.sse_timeout_seconds = sse_timeout_seconds

    async def aclose(self) -> None:
        for http in (self._http, *self._streams):
            await http.aclose()

    # -- plumbing -------------------------------------------------------------------------

    def _stream_pool(self) -> int:
        """The least busy pool for a turn's stream; a new one when all are full."""
        if self._open:
            pool = min(range(len(self._open)), key=self._open.__getitem__)
            if self._open[pool] < STREAMS_PER_POOL or len(self._streams) >= self._max_pools:
                return pool
        self._streams.append(self._new_pool())
        self._open.append(0)
        return len(self._streams) - 1

    @staticmethod
    def _auth(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async def _send(
        self,
        request: httpx.Request,
        *,
        stream: bool = False,
        retry_429: bool = True,
        http: httpx.AsyncClient | None = None,
    ) -> httpx.Response:
        """Send with the single documented retry: a 429 waits, then tries once more."""
        for attempt in (1, 2) if retry_429 else (2,):
            try:
                response = await (http or self._http).send(request, stream=stream)
            except httpx.TransportError as exc:
                raise Unavailable(f"{type(exc).__name__}: {exc}") from exc
            if response.status_code != 429 and not self._is_429_envelope(response, stream):
                return response
            if stream:
                await response.aclose()
            if attempt == 2:
                raise RateLimited("rate limited", status=429)
            log.info("backend rate limited %s; retrying in %ss", request.url.path,
                     self.rate_limit_retry_seconds)
            await asyncio.sleep(self.rate_limit_retry_seconds)
        raise AssertionError("unreachable")

    @staticmethod
    def _is_429_envelope(response: httpx.Response, stream: bool) -> bool:
        if stream or "json" not in response.headers.get("content-type", ""):
            return False
        try:
            body = response.json()
        except ValueError:
            return False
        return isinstance(body, dict) and body.get("code") == 429

    @staticmethod
    def _unwrap(response: httpx.Response) -> dict[str, Any]:
        """Every envelope variant to its payload; any error to its exception."""
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        status = response.status_code
        if not isinstance(body, dict):
            if status >= 400:
                raise error_for(None, response.text[:200], status)
            raise Unavailable(f"unexpected answer (HTTP {status})", status=status)
        message = str(body.get("msg") or body.get("message") or body.get("error") or "")
        code = body.get("code")
        if isinstance(code, str) and code.lstrip("-").isdigit():
            code = int(code)
        if isinstance(code, int) and code != 0:
            raise error_for(code, message, status)
        if status >= 400:
            raise error_for(None, message, status)
        if body.get("success") is False:
            raise error_for(None, message or "request failed", status)
        data = body.get("data")
        return data if isinstance(data, dict) else body

    async def _call(
        self,
        method: str,
        path: str,
        token: str | None,
        *,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        files: Any = None,
        timeout: httpx.Timeout | None = None,
        retry_429: bool = True,
    ) -> dict[str, Any]:
        hdrs = dict(headers or {})
        if token:
            hdrs.update(self._auth(token))
        request = self._http.build_request(
            method,
            path,
            json=json_body,
            headers=hdrs,
            files=files,
            timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
        )
        response = await self._send(request, retry_429=retry_429)
        return self._unwrap(response)

    # -- endpoints ------------------------------------------------------------------------

    async def anonymous_token(self, client_id: str) -> AnonymousToken:
        data = await self._call(
            "POST",
            "/api/auth/anonymous-token",
            None,
            headers={"X-Client-Id": client_id},
            retry_429=False,  # the caller answers a 429 here with a new client id, not a wait
        )
        return AnonymousToken.model_validate(data)

    async def create_session(self, token: str, language: str) -> Session:
        data = await self._call(
            "POST",
            f"/api/tasks/me/with-session/{APP_NAME}",
            token,
            json_body={"task_name": "project", "language": language},
        )
        return Session.model_validate(data)

    async def upload_files(
        self, token: str, session_id: str, files: Sequence[FileUpload]
    ) -> UploadResult:
        handles: list[BinaryIO] = []
        try:
            parts = []
            for f in files:
                handle: BinaryIO = f.path.open("rb")
                handles.append(handle)
                parts.append(("files", (f.filename, handle, f.content_type)))
            data = await self._call(
                "POST",
                f"/api/upload-video/{APP_NAME}/me/{session_id}",
                token,
                files=parts,
                timeout=httpx.Timeout(600.0, connect=10.0),
            )
        finally:
            for handle in handles:
                handle.close()
        return UploadResult.model_validate(data)

    async def upload_urls(self, token: str, session_id: str, urls: Sequence[str]) -> UploadResult:
        data = await self._call(
            "POST",
            f"/api/upload-video/{APP_NAME}/me/{session_id}",
            token,
            json_body={"urls": list(urls), "source_type": "url"},
            timeout=httpx.Timeout(300.0, connect=10.0),
        )
        return UploadResult.model_validate(data)

    async def credits(self, token: str) -> Credits:
        return Credits.model_validate(
            await self._call("GET", "/api/credits/balance/simple", token)
        )

    async def state(self, token: str, session_id: str) -> StateResult:
        data = await self._call("GET", f"/api/state/{APP_NAME}/me/{session_id}/latest", token)
        return StateResult.model_validate(data)

    async def start_render(
        self, token: str, session_id: str, draft: dict[str, Any], render_id: str
    ) -> RenderStatus:
        data = await self._call(
            "POST",
            "/api/render/proxy/lambda",
            token,
            json_body={
                "id": render_id,
                "sessionId": session_id,
                "draft": draft,
                "output": {"format": "mp4", "quality": "high"},
            },
        )
        result = RenderStatus.parse(data)
        return result if result.id else result.model_copy(update={"id": render_id})

    async def render_status(self, token: str, render_id: str) -> RenderStatus:
        data = await self._call("GET", f"/api/render/proxy/lambda/{render_id}", token)
        return RenderStatus.parse(data)

    async def download(self, url: str, dest: Path, *, max_bytes: int | None = None) -> int:
        """Stream a finished export to disk; ``FileTooLarge`` once it passes ``max_bytes``."""
        size = 0
        opened = False
        try:
            async with self._http.stream(
                "GET", url, timeout=httpx.Timeout(60.0, connect=10.0), follow_redirects=True
            ) as response:
                if response.status_code >= 400:
                    raise Unavailable(f"download failed (HTTP {response.status_code})",
                                      status=response.status_code)
                declared = response.headers.get("content-length")
                if max_bytes is not None and declared and int(declared) > max_bytes:
                    raise FileTooLarge(f"{declared} bytes", status=response.status_code)
                with dest.open("wb") as out:
                    opened = True
                    async for chunk in response.aiter_bytes(1 << 16):
                        size += len(chunk)
                        if max_bytes is not None and size > max_bytes:
                            raise FileTooLarge(f"over {max_bytes} bytes")
                        out.write(chunk)
        except BaseException as exc:
            if opened:
                _discard(dest)  # never leave a truncated download behind
            if isinstance(exc, httpx.TransportError):
                raise Unavailable(f"download failed: {type(exc).__name__}") from exc
            raise
        return size

    async def content_length(self, url: str) -> int | None:
        """Size of a download without fetching it, when the server says."""
        try:
            response = await self._http.head(url, follow_redirects=True, timeout=15.0)
        except httpx.TransportError:
            return None
        value = response.headers.get("content-length")
        return int(value) if response.status_code < 400 and value and value.isdigit() else None

    @asynccontextmanager
    async def run(self, token: str, session_id: str, text: str) -> AsyncIterator[TurnStream]:
        """Open one agent turn; iterate the yielded stream for its events."""
        request = self._http.build_request(
            "POST",
            "/run_sse",
            json={
                "app_name": APP_NAME,
                "user_id": "me",
                "session_id": session_id,
                "new_message": {"parts": [{"text": text}]},
            },
            headers={**self._auth(token), "Accept": "text/event-stream"},
            # Heartbeats keep a healthy stream alive; 5 silent minutes means it is dead.
            timeout=httpx.Timeout(30.0, read=300.0),
        )
        pool = self._stream_pool()
        self._open[pool] += 1
        try:
            response = await self._send(request, stream=True, http=self._streams[pool])
        except BaseException:
            self._open[pool] -= 1
            raise
        try:
            if response.status_code >= 400 or "text/event-stream" not in response.headers.get(
                "content-type", ""
            ):
                try:
                    await response.aread()
                except httpx.TransportError as exc:
                    raise Unavailable(f"{type(exc).__name__}: {exc}",
                                      status=response.status_code) from exc
                self._unwrap(response)  # raises the error the backend sent
                raise Unavailable(f"no event stream (HTTP {response.status_code})")
            yield TurnStream(response, self.sse_timeout_seconds)
        finally:
            self._open[pool] -= 1
            await response.aclose()


class TurnStream:
    """Events of one turn, with the overall deadline and transport failures made explicit."""

    def __init__(self, response: httpx.Response, timeout: float) -> None:
        self._source = EventSource(response)
        self._deadline = time.monotonic() + timeout
        self._timeout = timeout

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._events()

    async def _events(self) -> AsyncIterator[Event]:
        iterator = self._source.aiter_sse().__aiter__()
        while True:
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                raise StreamBroken(f"no answer within {self._timeout:.0f}s")
            try:
                async with asyncio.timeout(remaining):
                    sse = await iterator.__anext__()
            except StopAsyncIteration:
                yield End()
                return
            except TimeoutError:
                raise StreamBroken(f"no answer within {self._timeout:.0f}s") from None
            except (httpx.TransportError, httpx.StreamError) as exc:
                raise StreamBroken(f"stream broke: {type(exc).__name__}") from exc
            if sse.event not in ("", "message"):
                # Named events are not part of the ADK stream; treat errors, ignore the rest.
                if sse.event == "error":
                    yield parse_error_event(sse.data)
                continue
            for event in parse_frame(sse.data):
                yield event
                if isinstance(event, End):
                    return


def _discard(path: Path) -> None:
    path.unlink(missing_ok=True)


__all__ = ["BackendError", "FileUpload", "NemoClient", "TurnStream"]
