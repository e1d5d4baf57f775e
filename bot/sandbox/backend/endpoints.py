"""The fake backend's endpoints: token, session, credits, state, run_sse, upload, render, CDN."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from types import EllipsisType
from typing import Any
from urllib.parse import urlparse

from aiohttp import BodyPartReader, web

from bot.sandbox.backend.frames import (
    SSE_EMPTY_DATA,
    adk_call,
    adk_response,
    adk_text,
    make_draft,
    sse_comment,
    typed_heartbeat,
    typed_text,
    typed_tool_call,
)
from bot.sandbox.backend.records import (
    _ATTRIBUTION,
    _BREAK,
    _CHUNK,
    _COMPRESS_WORDS,
    _MP4_HEAD,
    _RECORD,
    _ZEROS,
    COMPRESS_ANSWER,
    DUPLICATE_RENDER_CODE,
    EMPTY_DRAFT_CODE,
    FAKE_CLIP_MS,
    HEAD_KEEP,
    SUPPORTED_TYPES,
    Frame,
    JSONDict,
    RecordedFile,
    RenderInfo,
    ScriptedTurn,
    SessionInfo,
    _ApiError,
    _CdnFile,
)
from bot.sandbox.backend.server import BackendServer


class BackendEndpoints(BackendServer):
    """One handler per documented endpoint."""

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

