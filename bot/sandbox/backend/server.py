"""The fake backend's request plumbing: recording, injected failures and faults, envelopes, auth."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web
from aiohttp.typedefs import Handler

from bot.sandbox.backend.records import (
    _BREAK,
    _DEFAULT_MESSAGES,
    _RECORD,
    HTML_ERROR_PAGE,
    JSONDict,
    RecordedRequest,
    SessionInfo,
    TokenInfo,
    _ApiError,
    _Failure,
)
from bot.sandbox.backend.scripting import BackendScripting


class BackendServer(BackendScripting):
    """Middleware and the helpers every endpoint uses."""

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

