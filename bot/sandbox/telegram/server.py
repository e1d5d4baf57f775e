"""The fake Telegram's HTTP side: routes, request decoding, injected faults, file downloads."""

from __future__ import annotations

import asyncio
import json
import random
import shutil
from collections.abc import Iterable
from urllib.parse import parse_qsl, unquote

from aiohttp import BodyPartReader, web

from bot.sandbox.telegram.api_types import (
    ERR_BAD_GATEWAY,
    ERR_BLOCKED,
    ERR_KICKED,
    ERR_NOT_FOUND,
    ERR_TOO_LARGE,
    ERR_UNAUTHORIZED,
    HTML_ERROR_PAGE,
    MB,
    STARTUP_METHODS,
    ApiCall,
    JSONDict,
    UploadedFile,
    _ApiError,
    _as_chat_id,
    _decode_param,
    _error_body,
    _Failure,
    _Request,
    _Upload,
    int_chat_id,
    log,
)
from bot.sandbox.telegram.media import MediaMethods


class TelegramServer(MediaMethods):
    """Serves the Bot API over HTTP on 127.0.0.1."""

    # -- lifecycle ---------------------------------------------------------------------------

    def _make_app(self) -> web.Application:
        app = web.Application(client_max_size=max(self.upload_limit, 64 * MB) + MB)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._stopping = False
        return app

    async def stop(self) -> None:
        """Stop serving; pending getUpdates long polls are answered at once so this is quick."""
        self._stopping = True
        self._notify()
        await self._webhook_stop()
        if self._runner is not None:
            # Let the woken long polls answer before the connections are closed (on a busy
            # machine one loop iteration is not enough).
            for _ in range(100):
                if not self._polls:
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.01)
        await super().stop()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    @property
    def base_url(self) -> str:
        """Value for ``ApplicationBuilder().base_url(...)``."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        """Value for ``ApplicationBuilder().base_file_url(...)``."""
        return f"{self.url}/file/bot"

    # -- test switches -----------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        error_code: int,
        description: str,
        retry_after: int | None = None,
        *,
        html: bool = False,
    ) -> None:
        """Make the next call of ``method`` fail with this error (calls queue up).

        ``method="file"`` fails the next file download; ``html=True`` answers with a proxy's
        HTML error page (status ``error_code``) instead of the Bot API's JSON."""
        failure = _Failure(error_code, description, retry_after, html)
        self._failures.setdefault(method.lower(), []).append(failure)

    def fail_after_next(
        self, method: str, error_code: int = 502, description: str = "Bad Gateway",
        *, times: int = 1,
    ) -> None:
        """Carry out the next ``times`` calls of ``method`` but answer them with this error,
        as a proxy in front of Telegram does when it loses the answer: the bot sees a 5xx
        although the message was sent (or the edit made)."""
        for _ in range(times):
            failure = _Failure(error_code, description, None, False)
            self._applied_failures.setdefault(method.lower(), []).append(failure)

    def migrate_chat(self, old_id: int, new_id: int) -> None:
        """Upgrade group ``old_id`` to supergroup ``new_id``: from now on every call naming the
        old id is answered 400 with ``migrate_to_chat_id`` (python-telegram-bot raises
        ``ChatMigrated``); the new chat starts empty (its message ids are its own)."""
        self._migrated[old_id] = new_id
        self._ensure_chat(new_id, chat_type="supergroup")

    def stall_next(self, method: str, seconds: float) -> None:
        """Carry out the next call of ``method`` but answer only after ``seconds``, as Telegram
        does after a large upload: past the client's read timeout the bot sees ``TimedOut``
        although the message was sent."""
        self._stalls.setdefault(method.lower(), []).append(seconds)

    def inject_faults(
        self, rate: float, *, seed: int = 0, blocked_chats: Iterable[int] = ()
    ) -> None:
        """From now on fail a seeded random ``rate`` of calls (any method but startup ones,
        file downloads included) the way Telegram and its proxies fail: 429 with retry_after,
        a JSON 5xx, an nginx HTML error page. Calls that write to ``blocked_chats`` get 403
        (blocked by the user / kicked from the group). :attr:`faults_injected` counts each."""
        self.fault_rate = rate
        self._fault_random = random.Random(seed)
        self.blocked_chats = set(blocked_chats)

    def _random_fault(self, method: str, chat_id: int | None) -> web.Response | None:
        """The fault to answer this call with, if one is due (see :meth:`inject_faults`)."""
        if chat_id is not None and chat_id in self.blocked_chats and method != "getchat":
            self.faults_injected["403"] += 1
            description = ERR_BLOCKED if chat_id > 0 else ERR_KICKED
            return web.json_response(_error_body(403, description, None), status=403)
        if method in STARTUP_METHODS or self._fault_random.random() >= self.fault_rate:
            return None
        kind = self._fault_random.choice(("429", "5xx", "html"))
        self.faults_injected[kind] += 1
        if kind == "429":
            body = _error_body(429, "Too Many Requests: retry after 1", {"retry_after": 1})
            return web.json_response(body, status=429)
        if kind == "5xx":
            return web.json_response(_error_body(502, ERR_BAD_GATEWAY, None), status=502)
        return web.Response(status=502, text=HTML_ERROR_PAGE, content_type="text/html")

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        wire_method = request.match_info["method"]
        name, handler = self._handlers.get(wire_method.lower(), (wire_method, None))
        call = ApiCall(method=name, params={})
        try:
            params, uploads = await self._decode_request(request)
        except _ApiError as exc:
            self.calls.append(call)
            return self._error(call, exc)
        call.params = params
        call.files = {
            key: UploadedFile(up.filename, up.content_type, len(up.content))
            for key, up in uploads.items()
        }
        self.calls.append(call)
        if token != self.token:
            return self._error(call, _ApiError(401, ERR_UNAUTHORIZED))
        if handler is None:
            return self._error(call, _ApiError(404, ERR_NOT_FOUND))
        failures = self._failures.get(name.lower())
        if failures:
            failure = failures.pop(0)
            if failure.html:
                call.error_code, call.description = failure.error_code, "HTML page"
                return web.Response(status=failure.error_code, text=HTML_ERROR_PAGE,
                                    content_type="text/html")
            extra = None
            if failure.retry_after is not None:
                extra = {"retry_after": failure.retry_after}
            return self._error(call, _ApiError(failure.error_code, failure.description, extra))
        moved_to = self._migrated.get(int_chat_id(params.get("chat_id")) or 0)
        if moved_to is not None:
            return self._error(call, _ApiError(
                400, "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": moved_to},
            ))
        if self.fault_rate or self.blocked_chats:
            fault = self._random_fault(name.lower(), int_chat_id(params.get("chat_id")))
            if fault is not None:
                call.error_code = fault.status
                call.description = "injected fault"
                return fault
        try:
            result = await handler(_Request(name, params, uploads, call))
        except _ApiError as exc:
            return self._error(call, exc)
        except Exception as exc:
            log.exception("fake Telegram failed handling %s", name)
            self.server_errors.append(exc)
            return self._error(call, _ApiError(500, f"Internal Server Error: {exc!r}"))
        call.result = result
        applied = self._applied_failures.get(name.lower())
        if applied:
            failure = applied.pop(0)
            return self._error(call, _ApiError(failure.error_code, failure.description))
        stalls = self._stalls.get(name.lower())
        if stalls:
            await asyncio.sleep(stalls.pop(0))  # done, but the answer comes late
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    def _error(call: ApiCall, exc: _ApiError) -> web.Response:
        call.error_code = exc.error_code
        call.description = exc.description
        body = _error_body(exc.error_code, exc.description, exc.parameters)
        return web.json_response(body, status=exc.error_code)

    async def _decode_request(self, request: web.Request) -> tuple[JSONDict, dict[str, _Upload]]:
        """Decode query string, JSON, urlencoded and multipart bodies as Telegram does."""
        raw: JSONDict = dict(request.query)
        uploads: dict[str, _Upload] = {}
        content_type = request.content_type
        if content_type == "multipart/form-data":
            too_large = False
            reader = await request.multipart()
            while True:
                part = await reader.next()
                if part is None:
                    break
                if not isinstance(part, BodyPartReader):
                    continue
                if part.filename is None:
                    data = await part.read(decode=True)
                    raw[part.name or ""] = bytes(data).decode("utf-8", "replace")
                    continue
                chunks: list[bytes] = []
                size = 0
                while chunk := await part.read_chunk(256 * 1024):
                    size += len(chunk)
                    if size > self.upload_limit:
                        too_large = True
                        chunks.clear()
                    elif not too_large:
                        chunks.append(chunk)
                uploads[part.name or ""] = _Upload(
                    filename=part.filename,
                    content_type=part.headers.get("Content-Type"),
                    content=b"".join(chunks),
                )
            if too_large:
                raise _ApiError(413, ERR_TOO_LARGE)
        elif request.body_exists:
            try:
                body = await request.read()
            except web.HTTPRequestEntityTooLarge:
                raise _ApiError(413, ERR_TOO_LARGE) from None
            if content_type == "application/json":
                if body.strip():
                    try:
                        decoded = json.loads(body)
                    except ValueError:
                        raise _ApiError(400, "Bad Request: can't parse JSON") from None
                    if not isinstance(decoded, dict):
                        raise _ApiError(400, "Bad Request: JSON object expected") from None
                    raw.update(decoded)
            else:
                text = body.decode("utf-8", "replace")
                raw.update(parse_qsl(text, keep_blank_values=True))
        params = {key: _decode_param(key, value) for key, value in raw.items()}
        if "chat_id" in params:
            params["chat_id"] = _as_chat_id(params["chat_id"])
        return params, uploads

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            body = _error_body(401, ERR_UNAUTHORIZED, None)
            return web.json_response(body, status=401)
        self.file_downloads += 1
        if failures := self._failures.get("file"):
            failure = failures.pop(0)
            if failure.html:
                return web.Response(status=failure.error_code, text=HTML_ERROR_PAGE,
                                    content_type="text/html")
            extra = {"retry_after": failure.retry_after} if failure.retry_after else None
            body = _error_body(failure.error_code, failure.description, extra)
            return web.json_response(body, status=failure.error_code)
        if self.fault_rate and (fault := self._random_fault("file", None)) is not None:
            return fault
        path = unquote(request.match_info["path"])
        stored = self._file_paths.get(path) or self._file_paths.get("/" + path.lstrip("/"))
        if stored is None:
            return web.json_response(_error_body(404, ERR_NOT_FOUND, None), status=404)
        if stored.source_path is not None and stored.source_path.exists():
            return web.FileResponse(stored.source_path)
        head = (stored.content or b"")[: stored.size]
        if len(head) == stored.size:
            return web.Response(body=head, content_type="application/octet-stream")
        # A declared_size file: its bytes, then zeros up to the claimed size.
        response = web.StreamResponse()
        response.content_length = stored.size
        response.content_type = "application/octet-stream"
        await response.prepare(request)
        await response.write(head)
        remaining = stored.size - len(head)
        zeros = bytes(min(remaining, MB))
        while remaining > 0:
            step = min(remaining, len(zeros))
            await response.write(zeros[:step])
            remaining -= step
        await response.write_eof()
        return response

