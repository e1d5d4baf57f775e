"""Media in: files from Telegram and links, uploaded to the chat's backend session.

Files stream from where Telegram keeps them straight to the backend: from the path a local
Bot API server gives when this machine can read it (no copy at all), else from the file URL,
chunk by chunk. Nothing is written to disk and a phone-sized video never sits in memory.
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.backend import FileUpload
from bot.backend.errors import BackendError, FileTooLarge
from bot.backend.models import UploadResult
from bot.conversation import messages
from bot.conversation.chat import TooLarge
from bot.conversation.context import Ctx
from bot.conversation.errors import report_error
from bot.conversation.progress import progress, transfer
from bot.streams import SourceError

log = logging.getLogger(__name__)

SUPPORTED_EXTENSIONS = frozenset(messages.SUPPORTED_FORMATS) | {"jpeg"}
_MIME_EXT = {
    "video/mp4": "mp4", "video/quicktime": "mov", "video/x-msvideo": "avi", "video/webm": "webm",
    "video/x-matroska": "mkv", "image/jpeg": "jpg", "image/png": "png", "image/gif": "gif",
    "image/webp": "webp", "audio/mpeg": "mp3", "audio/mp3": "mp3", "audio/wav": "wav",
    "audio/x-wav": "wav", "audio/mp4": "m4a", "audio/x-m4a": "m4a", "audio/aac": "aac",
}
_DEFAULT_NAME = {
    "photo": "photo.jpg", "video_note": "video_note.mp4", "animation": "animation.mp4",
    "video": "video.mp4", "audio": "audio.mp3", "document": "file",
}
SOURCE_RETRIES = (1.0, 3.0)
"""Pauses before streaming a file again after its source broke midway."""
URL_RE = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class MediaItem:
    """What a Telegram message carried, as stored in a media job."""

    kind: str
    file_id: str
    file_name: str | None = None
    mime_type: str | None = None
    file_size: int | None = None
    duration: float | None = None
    width: int | None = None
    height: int | None = None

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> MediaItem:
        return cls(**{k: data.get(k) for k in cls.__slots__})  # type: ignore[arg-type]

    @property
    def extension(self) -> str | None:
        name = self.file_name or ""
        if "." in name:
            return name.rsplit(".", 1)[1].lower()
        if self.mime_type:
            mime = self.mime_type.lower()
            if mime in _MIME_EXT:
                return _MIME_EXT[mime]
            guessed = mimetypes.guess_extension(mime)
            return guessed.lstrip(".") if guessed else None
        return _DEFAULT_NAME.get(self.kind, "").rsplit(".", 1)[-1] or None

    @property
    def upload_name(self) -> str:
        if self.file_name:
            return Path(self.file_name).name
        ext = self.extension
        base = _DEFAULT_NAME.get(self.kind, "file").rsplit(".", 1)[0]
        return f"{base}.{ext}" if ext else base

    @property
    def content_type(self) -> str:
        return self.mime_type or mimetypes.guess_type(self.upload_name)[0] or (
            "application/octet-stream"
        )


def split_urls(text: str) -> tuple[list[str], str]:
    """Links in a message, and the words around them (the instruction, if any)."""
    urls = [u.rstrip(".,;:!?)]}") for u in URL_RE.findall(text)]
    rest = URL_RE.sub(" ", text)
    return urls, re.sub(r"\s+", " ", rest).strip()


async def upload_items(
    ctx: Ctx, items: list[MediaItem],
    before_upload: Callable[[], Awaitable[None]] | None = None,
) -> UploadResult | None:
    """Check, download and upload; tells the person about anything refused. ``None`` if
    nothing was uploaded. ``before_upload`` runs once the files passed the checks (the
    first contact's setup line: not shown for a file that is refused anyway)."""
    t, chat, svc = ctx.t, ctx.chat, ctx.svc
    accepted: list[MediaItem] = []
    for item in items:
        if item.extension not in SUPPORTED_EXTENSIONS:
            await chat.send(messages.unsupported_format(t, item.upload_name))
        elif item.file_size and item.file_size > svc.limits.backend:
            if not await _compress_here(ctx):
                await chat.send(messages.too_large_for_backend(t, item.upload_name,
                                                               item.file_size))
        elif item.file_size and item.file_size > svc.limits.download:
            await chat.send(messages.too_large_for_telegram(
                t, item.upload_name, item.file_size, svc.limits.download,
                links=svc.backend_enabled))
        else:
            accepted.append(item)
    if not accepted:
        return None
    files: list[FileUpload] = []
    total: int | None = 0
    for item in accepted:
        try:
            source = await chat.open_file(item.file_id)
        except TooLarge:
            await chat.send(messages.too_large_for_telegram(
                t, item.upload_name, item.file_size, svc.limits.download,
                links=svc.backend_enabled))
            continue
        files.append(FileUpload(source, item.upload_name, item.content_type))
        # Percentages only when every size is known; otherwise the status shows bytes.
        total = total + item.file_size if total is not None and item.file_size else None
    if not files:
        return None
    if before_upload is not None:
        await before_upload()

    def status(done: int, size: int | None) -> str:
        return messages.uploading(t, files[0].filename, len(files), done, size)

    async with transfer(ctx, status, total) as shown:
        # A file stream that breaks midway fails the whole request, so the backend keeps
        # nothing of it: sending it again from the start is safe.
        for pause in (*SOURCE_RETRIES, None):
            try:
                return await _upload(ctx, lambda ident: svc.client.upload_files(
                    ident.token, ident.session_id, files, on_progress=shown.advance))
            except SourceError as exc:
                log.warning("chat %s: reading a file from Telegram failed: %s",
                            chat.chat_id, exc)
                if pause is None:
                    await chat.send(messages.file_unreadable(t, files[0].filename))
                    return None
                await asyncio.sleep(pause)
    return None


async def _compress_here(ctx: Ctx) -> bool:
    """Too large for the service: compressed on this machine instead, when it can."""
    if ctx.svc.local is None:
        return False
    from bot.conversation.local import take_over  # local imports this module

    return await take_over(ctx, FileTooLarge("over the service's upload limit", code=4002))


async def upload_urls(ctx: Ctx, urls: list[str]) -> UploadResult | None:
    svc = ctx.svc
    return await _upload(
        ctx, lambda ident: svc.client.upload_urls(ident.token, ident.session_id, urls)
    )


async def _upload(ctx: Ctx, fn: Any) -> UploadResult | None:
    svc, chat = ctx.svc, ctx.chat

    try:
        async with progress(ctx, None, "upload_video"):
            result: UploadResult = await svc.accounts.call(
                chat.chat_id, chat.thread_id, ctx.language, fn,
                on_session_lost=ctx.tell_session_lost,
            )
    except BackendError as exc:
        await report_error(ctx, exc)
        return None
    return result


def acknowledgement(ctx: Ctx, items: list[MediaItem], result: UploadResult,
                    has_instruction: bool) -> str:
    """What was received (name or kind, size, duration) and what to say next."""
    t = ctx.t
    lines: list[str] = []
    by_name = {f.filename: f for f in result.files if f.filename}
    for index, item in enumerate(items):
        info = by_name.get(item.upload_name) or (
            result.files[index] if index < len(result.files) else None
        )
        duration = item.duration or (info.duration if info else None)
        details = []
        if item.file_size:
            details.append(t.size(item.file_size))
        if duration:
            details.append(t.duration(duration))
        suffix = f" ({', '.join(details)})" if details else ""
        lines.append(f"• {_kind_label(ctx, item)}: {item.upload_name}{suffix}")
    head = t.n_("📥 Received {n} file:", "📥 Received {n} files:", len(items)).format(
        n=len(items)
    )
    tail = messages.working_on_caption(t) if has_instruction else messages.what_next(t)
    return "\n".join([head, *lines, "", tail])


async def acknowledge(ctx: Ctx, items: list[MediaItem], result: UploadResult,
                      has_instruction: bool) -> str:
    """The acknowledgement, with the quality hint the first time this chat sends a video
    the ordinary way (Telegram re-encodes those; a file keeps the original)."""
    text = acknowledgement(ctx, items, result, has_instruction)
    if any(item.kind == "video" for item in items) and await ctx.svc.store.claim_quality_hint(
        ctx.chat.chat_id
    ):
        head, _, rest = text.partition("\n\n")
        text = f"{head}\n\n{messages.quality_hint(ctx.t)}\n\n{rest}"
    return text


def link_acknowledgement(ctx: Ctx, urls: list[str], result: UploadResult,
                         has_instruction: bool) -> str:
    t = ctx.t
    head = t.n_("📥 Added {n} link to your project.", "📥 Added {n} links to your project.",
                len(urls)).format(n=len(urls))
    names = [f"• {f.filename}" for f in result.files if f.filename]
    tail = messages.working_on_caption(t) if has_instruction else messages.what_next(t)
    return "\n".join([head, *names, "", tail])


def _kind_label(ctx: Ctx, item: MediaItem) -> str:
    t = ctx.t
    ext = item.extension or ""
    if item.kind == "photo" or ext in {"jpg", "jpeg", "png", "webp"}:
        return t._("Photo")
    if item.kind == "audio" or ext in {"mp3", "wav", "m4a", "aac"}:
        return t._("Audio")
    if item.kind == "animation" or ext == "gif":
        return t._("Animation")
    return t._("Video")
