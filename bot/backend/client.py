"""Typed async client for the NemoVideo agent API.

One httpx.AsyncClient, attribution headers on every request, envelopes unwrapped and errors
raised as typed exceptions in one place (``_unwrap``), and the one documented retry (429) in
one place (``_send``). Token and session recovery need the chat store, so they live a layer up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
from bot.transfer import ByteSource, FileWriter, Opened, PathSource, SourceError

log = logging.getLogger(__name__)

APP_NAME = "nemo_agent"
SKILL_SOURCE = "rtk-compressor-free"


@dataclass(frozen=True, slots=True)
class FileUpload:
    """One file to send: a path on disk or any :class:`ByteSource` (a URL streamed through).

    Either way it streams in chunks, so a phone-sized video never sits in memory."""

    source: Path | ByteSource
    filename: str
    content_type: str = "application/octet-stream"

    def open(self) -> contextlib.AbstractAsyncContextManager[Opened]:
        source = PathSource(self.source) if isinstance(self.source, Path) else self.source
        return source.open()


ProgressFn = Callable[[int], None]
"""Told the number of bytes moved so far, after every chunk."""


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
        # Every open SSE turn holds a connection for minutes: size the pool for hundreds of
        # concurrent chats instead of httpx's default of 100.
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=min(100, max_connections)
        )
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={
                "X-Skill-Source": SKILL_SOURCE,
                "X-Skill-Version": version,
                "X-Skill-Platform": platform,
            },
            timeout=httpx.Timeout(30.0, connect=10.0),
            limits=limits,
            transport=transport,
        )
        self.rate_limit_retry_seconds = rate_limit_retry_seconds
        self.sse_timeout_seconds = sse_timeout_seconds

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- plumbing -------------------------------------------------------------------------

    @staticmethod
    def _auth(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async def _send(
        self, request: httpx.Request, *, stream: bool = False, retry_429: bool = True
    ) -> httpx.Response:
        """Send with the single documented retry: a 429 waits, then tries once more."""
        for attempt in (1, 2) if retry_429 else (2,):
            try:
                response = await self._http.send(request, stream=stream)
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
        self,
        token: str,
        session_id: str,
        files: Sequence[FileUpload],
        *,
        on_progress: ProgressFn | None = None,
    ) -> UploadResult:
        """Stream the files as one multipart request; a 429 re-opens them and sends again.

        The body is an async generator (httpx reads file objects synchronously, on the event
        loop): disk reads happen in worker threads, and nothing is held beyond one chunk.
        """
        for attempt in (1, 2):
            try:
                data = await self._upload_once(token, session_id, files, on_progress)
            except RateLimited:
                if attempt == 2:
                    raise
                log.info("backend rate limited an upload; retrying in %ss",
                         self.rate_limit_retry_seconds)
                await asyncio.sleep(self.rate_limit_retry_seconds)
                continue
            return UploadResult.model_validate(data)
        raise AssertionError("unreachable")

    async def _upload_once(
        self,
        token: str,
        session_id: str,
        files: Sequence[FileUpload],
        on_progress: ProgressFn | None,
    ) -> dict[str, Any]:
        async with contextlib.AsyncExitStack() as stack:
            opened = [await stack.enter_async_context(f.open()) for f in files]
            boundary = secrets.token_hex(16)
            heads = [_part_head(boundary, f) for f in files]
            tail = f"--{boundary}--\r\n".encode()
            headers = {
                **self._auth(token),
                "Content-Type": f"multipart/form-data; boundary={boundary}",
            }
            sizes = [o.size for o in opened]
            if all(size is not None for size in sizes):
                length = sum(len(h) + 2 for h in heads) + sum(s or 0 for s in sizes) + len(tail)
                headers["Content-Length"] = str(length)
            request = self._http.build_request(
                "POST",
                f"/api/upload-video/{APP_NAME}/me/{session_id}",
                content=_multipart(heads, opened, tail, on_progress),
                headers=headers,
                timeout=httpx.Timeout(600.0, connect=10.0),
            )
            response = await self._send(request, retry_429=False)
            return self._unwrap(response)

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

    async def download(
        self,
        url: str,
        dest: Path,
        *,
        max_bytes: int | None = None,
        on_progress: Callable[[int, int | None], None] | None = None,
    ) -> int:
        """Stream a finished export to disk (writes in a worker thread); ``FileTooLarge``
        once it passes ``max_bytes``. ``on_progress`` gets (bytes so far, declared size)."""
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
                total = int(declared) if declared and declared.isdigit() else None
                opened = True
                async with FileWriter(dest) as out:
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if max_bytes is not None and size > max_bytes:
                            raise FileTooLarge(f"over {max_bytes} bytes")
                        await out.write(chunk)
                        if on_progress is not None:
                            on_progress(size, total)
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
        response = await self._send(request, stream=True)
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


_FORM_ESCAPES = {
    '"': "%22", "\\": "\\\\", **{chr(c): f"%{c:02X}" for c in range(0x20) if c != 0x1B}
}
_FORM_ESCAPE_RE = re.compile("|".join(re.escape(c) for c in _FORM_ESCAPES))


def _part_head(boundary: str, upload: FileUpload) -> bytes:
    """A part's boundary line and headers, quoted the way browsers (and httpx) do."""
    name = _FORM_ESCAPE_RE.sub(lambda m: _FORM_ESCAPES[m.group(0)], upload.filename)
    content_type = upload.content_type.replace("\r", "").replace("\n", "")
    return (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="files"; filename="{name}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()


async def _multipart(
    heads: Sequence[bytes], opened: Sequence[Opened], tail: bytes, on_progress: ProgressFn | None
) -> AsyncIterator[bytes]:
    """The multipart body, chunk by chunk; a source that delivers a different number of
    bytes than it declared fails the upload instead of corrupting it."""
    sent = 0
    for head, source in zip(heads, opened, strict=True):
        yield head
        count = 0
        async for chunk in source.chunks:
            count += len(chunk)
            if source.size is not None and count > source.size:
                raise SourceError(f"the file grew past its declared {source.size} bytes")
            yield chunk
            sent += len(chunk)
            if on_progress is not None:
                on_progress(sent)
        if source.size is not None and count != source.size:
            raise SourceError(f"the file ended at {count} of {source.size} bytes")
        yield b"\r\n"
    yield tail


__all__ = ["BackendError", "FileUpload", "NemoClient", "TurnStream"]
