"""Typed async client for the NemoVideo agent API.

One httpx.AsyncClient, attribution headers on every request, envelopes unwrapped and errors
raised as typed exceptions in one place (``_unwrap``), and the one documented retry (429) in
one place (``_send``). Token and session recovery need the chat store, so they live a layer up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from bot.backend import links
from bot.backend.errors import (
    BackendError,
    FileTooLarge,
    RateLimited,
    ServerFailed,
    StreamBroken,
    Unavailable,
    Unreachable,
    code_of,
    error_for,
)
from bot.backend.links import Checked
from bot.backend.models import (
    AnonymousToken,
    Credits,
    RenderStatus,
    Session,
    StateResult,
    UploadResult,
    parse_answer,
    parse_render,
)
from bot.backend.multipart import FileUpload, ProgressFn, multipart_body, part_head
from bot.backend.retry import RetryPolicy, retry_after
from bot.backend.stream import TurnStream
from bot.streams import FileWriter

log = logging.getLogger(__name__)

APP_NAME = "nemo_agent"
SKILL_SOURCE = "rtk-compressor-free"
SHORT_CALL_CONNECTIONS = 20
TRANSFER_CONNECTIONS = 100
"""Uploads and export downloads have their own pool: a few big transfers, each holding its
connection for minutes, must not take the short calls' (sessions, state, credits)."""
STREAMS_PER_POOL = 50
MAX_REDIRECTS = 5


class NemoClient:
    def __init__(
        self,
        base_url: str,
        *,
        version: str,
        platform: str = "telegram",
        rate_limit_retry_seconds: float = 30,
        sse_timeout_seconds: float = 900,
        timeout_seconds: float = 30,
        max_connections: int = 1000,
        allow_private_urls: bool = False,
        connection_retries: int = 2,
        connection_retry_seconds: float = 0.5,
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
                timeout=httpx.Timeout(timeout_seconds, connect=min(10.0, timeout_seconds)),
                limits=httpx.Limits(
                    max_connections=connections, max_keepalive_connections=connections
                ),
                transport=transport,
                verify=tls,
            )

        # httpcore scans every connection of a pool on each request, and a pool holding more
        # connections than its keep-alive limit closes each one that goes idle
        # (encode/httpcore#1000): one pool for hundreds of open turns made every request cost
        # O(pool) and a new connection. So short calls get their own small pool, where
        # keep-alive works, and turns are spread over pools of STREAMS_PER_POOL, the least
        # busy first (a pool is added when all are full).
        self._http = client(SHORT_CALL_CONNECTIONS)
        self._transfers = client(min(TRANSFER_CONNECTIONS, max_connections))
        self._new_pool: Callable[[], httpx.AsyncClient] = lambda: client(
            min(STREAMS_PER_POOL, max_connections)
        )
        self._max_pools = -(-max_connections // STREAMS_PER_POOL)
        self._streams: list[httpx.AsyncClient] = []
        self._open: list[int] = []
        self.retry = RetryPolicy(
            rate_limit_seconds=rate_limit_retry_seconds,
            connection_retries=connection_retries,
            connection_seconds=connection_retry_seconds,
        )
        self.sse_timeout_seconds = sse_timeout_seconds
        self.allow_private_urls = allow_private_urls
        self._own_origin = links.origin(httpx.URL(base_url))

    async def aclose(self) -> None:
        for http in (self._http, self._transfers, *self._streams):
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
        """Send under the client's one retry policy (``retry.py``): a 429 waits and tries once
        more; a connection failure is tried again only where the policy says (idempotent
        requests), since the first POST may have been applied."""
        path = request.url.path
        limited = False
        failures = 0
        while True:
            try:
                response = await (http or self._http).send(request, stream=stream)
            except httpx.TransportError as exc:
                failures += 1
                if not self.retry.retries_connection(request.method, failures):
                    raise Unreachable(f"{type(exc).__name__}: {exc}", path=path) from exc
                pause = self.retry.connection_pause(failures)
                log.info("backend %s failed (%s); retrying in %.1fs",
                         path, type(exc).__name__, pause)
                await asyncio.sleep(pause)
                continue
            if response.status_code != 429 and not self._is_429_envelope(response, stream):
                return response
            if stream:
                await response.aclose()
            if limited or not retry_429:
                error = RateLimited("rate limited", status=429, path=path)
                error.retry_after = retry_after(response)
                raise error
            limited = True
            pause = self.retry.rate_limit_pause(retry_after(response))
            log.info("backend rate limited %s; retrying in %.1fs", path, pause)
            await asyncio.sleep(pause)

    @staticmethod
    def _is_429_envelope(response: httpx.Response, stream: bool) -> bool:
        if stream or "json" not in response.headers.get("content-type", ""):
            return False
        try:
            body = response.json()
        except ValueError:
            return False
        return isinstance(body, dict) and code_of(body.get("code")) == 429

    @staticmethod
    def _unwrap(response: httpx.Response, path: str | None = None) -> dict[str, Any]:
        """Every envelope variant to its payload; any error to its exception."""
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        status = response.status_code
        if not isinstance(body, dict):
            if status >= 400:
                raise error_for(None, response.text[:200], status, path)
            raise ServerFailed(f"unexpected answer (HTTP {status})", status=status, path=path)
        message = str(body.get("msg") or body.get("message") or body.get("error") or "")
        code = code_of(body.get("code"))
        if code is not None and code != 0:
            raise error_for(code, message, status, path)
        if status >= 400:
            raise error_for(None, message, status, path)
        if body.get("success") is False:
            raise error_for(None, message or "request failed", status, path)
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
        """One JSON call: the retry policy applied, the envelope unwrapped."""
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
        return self._unwrap(response, path)

    # -- endpoints ------------------------------------------------------------------------

    async def anonymous_token(self, client_id: str) -> AnonymousToken:
        # A 429 here waits and retries once like any call; the caller then switches client id.
        path = "/api/auth/anonymous-token"
        data = await self._call("POST", path, None, headers={"X-Client-Id": client_id})
        return parse_answer(AnonymousToken, data, path)

    async def create_session(self, token: str, language: str) -> Session:
        path = f"/api/tasks/me/with-session/{APP_NAME}"
        data = await self._call(
            "POST", path, token, json_body={"task_name": "project", "language": language}
        )
        return parse_answer(Session, data, path)

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
            except RateLimited as exc:
                if attempt == 2:
                    raise
                pause = self.retry.rate_limit_pause(exc.retry_after)
                log.info("backend rate limited an upload; retrying in %.1fs", pause)
                await asyncio.sleep(pause)
                continue
            return parse_answer(UploadResult, data, f"/api/upload-video/{APP_NAME}/me/{session_id}")
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
            heads = [part_head(boundary, f) for f in files]
            tail = f"--{boundary}--\r\n".encode()
            headers = {
                **self._auth(token),
                "Content-Type": f"multipart/form-data; boundary={boundary}",
            }
            sizes = [o.size for o in opened]
            if all(size is not None for size in sizes):
                length = sum(len(h) + 2 for h in heads) + sum(s or 0 for s in sizes) + len(tail)
                headers["Content-Length"] = str(length)
            path = f"/api/upload-video/{APP_NAME}/me/{session_id}"
            request = self._http.build_request(
                "POST",
                path,
                content=multipart_body(heads, opened, tail, on_progress),
                headers=headers,
                timeout=httpx.Timeout(600.0, connect=10.0),
            )
            response = await self._send(request, retry_429=False, http=self._transfers)
            return self._unwrap(response, path)

    async def upload_urls(self, token: str, session_id: str, urls: Sequence[str]) -> UploadResult:
        path = f"/api/upload-video/{APP_NAME}/me/{session_id}"
        data = await self._call(
            "POST",
            path,
            token,
            json_body={"urls": list(urls), "source_type": "url"},
            timeout=httpx.Timeout(300.0, connect=10.0),
        )
        return parse_answer(UploadResult, data, path)

    async def credits(self, token: str) -> Credits:
        path = "/api/credits/balance/simple"
        return parse_answer(Credits, await self._call("GET", path, token), path)

    async def state(self, token: str, session_id: str) -> StateResult:
        path = f"/api/state/{APP_NAME}/me/{session_id}/latest"
        return parse_answer(StateResult, await self._call("GET", path, token), path)

    async def start_render(
        self, token: str, session_id: str, draft: dict[str, Any], render_id: str
    ) -> RenderStatus:
        path = "/api/render/proxy/lambda"
        data = await self._call(
            "POST",
            path,
            token,
            json_body={
                "id": render_id,
                "sessionId": session_id,
                "draft": draft,
                "output": {"format": "mp4", "quality": "high"},
            },
        )
        result = parse_render(data, path)
        return result if result.id else result.model_copy(update={"id": render_id})

    async def render_status(self, token: str, render_id: str) -> RenderStatus:
        path = f"/api/render/proxy/lambda/{render_id}"
        return parse_render(await self._call("GET", path, token), path)

    # -- fetching render links ------------------------------------------------------------

    async def check_url(self, url: str) -> Checked:
        """Refuse a link the bot must not fetch (``UnsafeUrl`` says why); else the address
        to dial (``links.check``)."""
        return await links.check(url, self._own_origin, allow_private=self.allow_private_urls)

    @asynccontextmanager
    async def _fetch(
        self, method: str, url: str, timeout: httpx.Timeout
    ) -> AsyncIterator[httpx.Response]:
        """A streamed GET/HEAD whose every redirect hop passes ``check_url`` too."""
        target = await self.check_url(url)
        for _ in range(MAX_REDIRECTS + 1):
            request = links.dial(self._transfers, method, target, timeout)
            response = await self._send(request, stream=True, http=self._transfers)
            if not response.is_redirect:
                try:
                    yield response
                finally:
                    await response.aclose()
                return
            location = response.headers.get("location", "")
            await response.aclose()
            target = await self.check_url(str(target.url.join(location)))
        raise Unavailable(f"more than {MAX_REDIRECTS} redirects", path=target.url.path)

    async def download(
        self,
        url: str,
        dest: Path,
        *,
        max_bytes: int | None = None,
        on_progress: Callable[[int, int | None], None] | None = None,
    ) -> int:
        """Stream a finished export to disk (written off the event loop); ``FileTooLarge``
        once it passes ``max_bytes``. ``on_progress`` gets (bytes so far, declared size)."""
        size = 0
        opened = False
        try:
            async with self._fetch("GET", url, httpx.Timeout(60.0, connect=10.0)) as response:
                if response.status_code >= 400:
                    failed = ServerFailed if response.status_code >= 500 else Unavailable
                    raise failed(f"download failed (HTTP {response.status_code})",
                                      status=response.status_code, path=response.url.path)
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
            if isinstance(exc, httpx.TransportError | httpx.StreamError):
                raise Unreachable(f"download failed: {type(exc).__name__}") from exc
            raise
        return size

    async def content_length(self, url: str) -> int | None:
        """Size of a download without fetching it, when the server says (and may be asked)."""
        try:
            async with self._fetch("HEAD", url, httpx.Timeout(15.0)) as response:
                value = response.headers.get("content-length")
                ok = response.status_code < 400
        except BackendError:
            return None  # download() reports the reason, if it matters
        return int(value) if ok and value and value.isdigit() else None

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
            # A turn may stay silent for long stretches (heartbeats are optional): no read may
            # end it early. Only the turn budget (SSE_TIMEOUT_SECONDS) does.
            timeout=httpx.Timeout(30.0, read=self.sse_timeout_seconds),
        )
        deadline = time.monotonic() + self.sse_timeout_seconds
        pool = self._stream_pool()
        self._open[pool] += 1
        try:
            async with asyncio.timeout(self.sse_timeout_seconds):
                response = await self._send(request, stream=True, http=self._streams[pool])
        except TimeoutError:
            self._open[pool] -= 1
            raise StreamBroken(f"no answer within {self.sse_timeout_seconds:.0f}s",
                               path="/run_sse") from None
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
                    raise Unreachable(f"{type(exc).__name__}: {exc}",
                                      status=response.status_code, path="/run_sse") from exc
                self._unwrap(response, "/run_sse")  # raises the error the backend sent
                raise ServerFailed(f"no event stream (HTTP {response.status_code})",
                                  status=response.status_code, path="/run_sse")
            yield TurnStream(response, deadline, self.sse_timeout_seconds)
        finally:
            self._open[pool] -= 1
            await response.aclose()


def _discard(path: Path) -> None:
    path.unlink(missing_ok=True)


__all__ = ["BackendError", "FileUpload", "NemoClient", "TurnStream"]
