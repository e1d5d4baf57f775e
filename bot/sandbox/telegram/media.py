"""Bot API methods of the fake about files: getFile and sending media (upload, file_id, URL)."""

from __future__ import annotations

import mimetypes
import re
import tempfile
from pathlib import Path
from urllib.parse import unquote

from bot.sandbox.telegram.api_types import (
    _DEFAULT_EXT,
    _FOLDERS,
    ERR_CAPTION_TOO_LONG,
    ERR_FILE_TOO_BIG,
    ERR_INVALID_FILE_ID,
    ERR_TOO_LARGE,
    ERR_WRONG_FILE,
    MAX_CAPTION_LENGTH,
    REMOTE_ROOT,
    JSONDict,
    MessageKind,
    UploadedFile,
    _ApiError,
    _bool_param,
    _int_param,
    _Request,
    _StoredFile,
    _utf16_len,
)
from bot.sandbox.telegram.chats import ChatMethods


class MediaMethods(ChatMethods):
    """getFile, sendVideo, sendDocument, sendPhoto, sendAnimation."""

    def _file_folder(self) -> Path:
        if self._tmpdir is None:
            self._tmpdir = Path(tempfile.mkdtemp(prefix="fake-telegram-"))
        folder = self._tmpdir / self.token
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    async def _m_get_file(self, req: _Request) -> JSONDict:
        file_id = str(req.params.get("file_id") or "")
        stored = self._files.get(file_id)
        if stored is None:
            raise _ApiError(400, ERR_INVALID_FILE_ID)
        if stored.size > self.download_limit:
            raise _ApiError(400, ERR_FILE_TOO_BIG)
        if stored.rel_path is None:
            ext = Path(stored.file_name or "").suffix
            if not ext and stored.mime_type:
                ext = mimetypes.guess_extension(stored.mime_type) or ""
            ext = ext or _DEFAULT_EXT.get(stored.kind, "")
            number = next(self._file_counter)
            stored.rel_path = f"{_FOLDERS.get(stored.kind, 'documents')}/file_{number}{ext}"
            self._file_paths[stored.rel_path] = stored
        result: JSONDict = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
            "file_path": stored.rel_path,
        }
        if self.local_mode and self.local_files_elsewhere:
            remote = f"{REMOTE_ROOT}/{self.token}/{stored.rel_path}"
            self._file_paths[remote] = stored
            result["file_path"] = remote
        elif self.local_mode:
            if stored.source_path is not None:
                result["file_path"] = str(stored.source_path)
            else:
                if stored.abs_path is None:
                    path = self._file_folder() / stored.rel_path
                    path.parent.mkdir(parents=True, exist_ok=True)
                    with path.open("wb") as handle:
                        handle.write((stored.content or b"")[: stored.size])
                        handle.truncate(stored.size)  # declared_size: sparse, nothing allocated
                    stored.abs_path = path
                result["file_path"] = str(stored.abs_path)
        return result

    def _resolve_media(
        self, req: _Request, field_name: str, kind: str
    ) -> tuple[_StoredFile, UploadedFile | str]:
        """Find the media of a send* call: a multipart upload, attach://, URL or file_id."""
        value = req.params.get(field_name)
        upload = req.uploads.get(field_name)
        if isinstance(value, str) and value.startswith("attach://"):
            upload = req.uploads.get(value[len("attach://") :])
            if upload is None:
                raise _ApiError(400, f"Bad Request: there is no {field_name} in the request")
        if upload is not None:
            stored = self._store_file(
                kind, upload.content, upload.filename, upload.content_type, None
            )
            info = UploadedFile(upload.filename, upload.content_type, len(upload.content))
            return stored, info
        if not isinstance(value, str) or not value.strip():
            raise _ApiError(400, f"Bad Request: there is no {field_name} in the request")
        value = value.strip()
        if re.match(r"https?://", value, re.IGNORECASE):
            name = Path(value.split("?", 1)[0]).name or None
            mime = mimetypes.guess_type(name or "")[0] if name else None
            return self._store_file(kind, None, name, mime, None), value
        if value.startswith("file://"):
            path = Path(unquote(value[len("file://") :]))
            if not self.local_mode or not path.is_file():
                raise _ApiError(400, ERR_WRONG_FILE)
            if path.stat().st_size > self.upload_limit:
                raise _ApiError(413, ERR_TOO_LARGE)
            mime = mimetypes.guess_type(path.name)[0]
            stored = self._store_file(kind, None, path.name, mime, None, source_path=path)
            return stored, value
        existing = self._files.get(value)
        if existing is None:
            raise _ApiError(400, ERR_WRONG_FILE)
        return existing, value

    def _caption(self, params: JSONDict) -> tuple[str, list[JSONDict]]:
        caption, entities = self._format(
            str(params.get("caption") or ""),
            params.get("parse_mode"),
            params.get("caption_entities"),
        )
        if _utf16_len(caption) > MAX_CAPTION_LENGTH:
            raise _ApiError(400, ERR_CAPTION_TOO_LONG)
        return caption, entities

    def _thumbnail(self, req: _Request) -> JSONDict | None:
        value = req.params.get("thumbnail")
        upload = req.uploads.get("thumbnail")
        if isinstance(value, str) and value.startswith("attach://"):
            upload = req.uploads.get(value[len("attach://") :])
        if upload is None:
            return None
        stored = self._store_file("thumbnail", upload.content, None, None, None)
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "width": 320,
            "height": 180,
            "file_size": stored.size,
        }

    async def _send_media(self, req: _Request, kind: MessageKind) -> JSONDict:
        self._chat_from_params(req.params)
        caption, entities = self._caption(req.params)
        stored, ref = self._resolve_media(req, kind, kind)
        params = req.params
        body: JSONDict
        if kind == "photo":
            body = {"photo": self._photo_from(stored, params)}
        else:
            extra: dict[str, int] = {}
            if kind in ("video", "animation"):
                extra = {
                    "width": _int_param(params, "width") or 0,
                    "height": _int_param(params, "height") or 0,
                    "duration": _int_param(params, "duration") or 0,
                }
            media = self._file_object(stored, **extra)
            thumb = self._thumbnail(req)
            if thumb is not None:
                media["thumbnail"] = thumb
            body = {kind: media}
            if kind == "animation":
                body["document"] = self._file_object(stored)
        if _bool_param(params, "has_spoiler"):
            body["has_media_spoiler"] = True
        if _bool_param(params, "show_caption_above_media"):
            body["show_caption_above_media"] = True
        return self._new_bot_message(
            req, kind, caption, entities, body, file=ref, file_id=stored.file_id
        )

    def _photo_from(self, stored: _StoredFile, params: JSONDict) -> list[JSONDict]:
        width = _int_param(params, "width") or 1280
        height = _int_param(params, "height") or 720
        return [
            {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "width": width,
                "height": height,
                "file_size": stored.size,
            }
        ]

    async def _m_send_video(self, req: _Request) -> JSONDict:
        return await self._send_media(req, "video")

    async def _m_send_document(self, req: _Request) -> JSONDict:
        return await self._send_media(req, "document")

    async def _m_send_photo(self, req: _Request) -> JSONDict:
        return await self._send_media(req, "photo")

    async def _m_send_animation(self, req: _Request) -> JSONDict:
        return await self._send_media(req, "animation")


