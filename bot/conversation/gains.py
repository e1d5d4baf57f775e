"""Before → after: what the person sent, what they got back, and the deliveries /history lists.

The original is stored at upload (size, resolution and duration as Telegram and the backend
reported them); the export's size is what was downloaded, its resolution and duration come
from the draft that was rendered (falling back to the original's, within the backend's
1080x1920 output box).
"""

from __future__ import annotations

import logging
from typing import Any

from bot.backend.errors import BackendError
from bot.backend.models import UploadResult
from bot.conversation.chat import Sent
from bot.conversation.context import Ctx
from bot.conversation.media import MediaItem
from bot.store import Source, SourceFile, VideoInfo

log = logging.getLogger(__name__)

VIDEO_KINDS = {"video", "video_note", "animation"}
VIDEO_EXTENSIONS = {"mp4", "mov", "avi", "webm", "mkv"}
OUTPUT_BOX = (1920, 1080)  # exports are H.264 up to 1080x1920, either orientation


def is_video(item: MediaItem) -> bool:
    return item.kind in VIDEO_KINDS or (item.extension or "") in VIDEO_EXTENSIONS


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and value > 0 else None


async def remember_source(
    ctx: Ctx, items: list[MediaItem], result: UploadResult, user_id: int | None
) -> Source | None:
    """Store the first video of an upload as the project's original; ``None`` if none."""
    by_name = {f.filename: f for f in result.files if f.filename}
    for index, item in enumerate(items):
        if not is_video(item):
            continue
        info = by_name.get(item.upload_name) or (
            result.files[index] if index < len(result.files) else None
        )
        video = VideoInfo(
            size=item.file_size,
            width=item.width or (_int(info.width) if info else None),
            height=item.height or (_int(info.height) if info else None),
            duration=item.duration or (info.duration if info else None),
        )
        file = SourceFile(item.file_id, item.file_name, item.mime_type, item.kind)
        source = Source(user_id=user_id, name=item.upload_name, video=video, file=file)
        await ctx.svc.store.save_source(
            ctx.chat.chat_id, ctx.chat.thread_id, user_id, item.upload_name, video, file=file
        )
        return source
    return None


def _draft_duration(draft: dict[str, Any]) -> float | None:
    if isinstance(draft.get("d"), int | float) and draft["d"] > 0:
        return float(draft["d"]) / 1000
    ends = [
        float(seg.get("s", 0) or 0) + float(seg["d"])
        for track in draft.get("t") or [] if isinstance(track, dict) and track.get("tt") == 0
        for seg in track.get("sg") or [] if isinstance(seg, dict)
        and isinstance(seg.get("d"), int | float)
    ]
    return max(ends) / 1000 if ends else None


def _fit(width: int, height: int) -> tuple[int, int]:
    """The backend's output box, in the video's own orientation, never enlarging."""
    long_side, short_side = OUTPUT_BOX
    box_w, box_h = (long_side, short_side) if width >= height else (short_side, long_side)
    scale = min(1.0, box_w / width, box_h / height)
    return round(width * scale), round(height * scale)


async def after(ctx: Ctx, size: int | None, source: Source | None) -> VideoInfo:
    """What the delivered export is: its size, and resolution and duration from its draft."""
    svc, chat = ctx.svc, ctx.chat
    draft: dict[str, Any] = {}
    try:
        state = await svc.accounts.state(chat.chat_id, chat.thread_id, ctx.language)
        draft = state.state.draft or {}
    except BackendError:
        log.info("chat %s: no state for the delivery's details", chat.chat_id, exc_info=True)
    meta = draft.get("m") if isinstance(draft.get("m"), dict) else {}
    assert isinstance(meta, dict)
    width, height = _int(meta.get("width")), _int(meta.get("height"))
    before = source.video if source else VideoInfo()
    if not (width and height) and before.width and before.height:
        width, height = _fit(before.width, before.height)
    duration = _draft_duration(draft) or before.duration
    return VideoInfo(size=size, width=width, height=height, duration=duration)


async def record(ctx: Ctx, sent: Sent, as_document: bool, video: VideoInfo) -> None:
    """Remember a delivered video so /history can send it again without a render."""
    if sent.file_id:
        await ctx.svc.store.add_export(
            ctx.chat.chat_id, ctx.chat.thread_id, sent.file_id, as_document, video
        )
