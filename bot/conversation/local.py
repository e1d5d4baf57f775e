"""Compressing on this machine: the flow behind the same conversation, status and delivery.

Two ways in. ``LOCAL_COMPRESSION=fallback``: a job the video service could not do (no
credits, plan blocked, too large, unreachable, a failed or endless render) is said so in one
line and queued again as a ``compress`` job with the same request (:func:`take_over`).
``always``: the job kinds map to the functions at the end of this module and the video
service is never contacted.

A ``compress`` job fetches the original (in place when a local Bot API server's file is
readable here), waits for a free encoder, encodes with ``bot.compress`` and delivers once:
like an export, its delivery is a recorded step (``outbox.delivering``), so a restart never
sends it twice; a restart before that runs the encode again from the start.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from pathlib import Path
from typing import Any

from bot import metrics
from bot.backend.errors import (
    BackendError,
    FileTooLarge,
    NoCredits,
    PlanRequired,
    StreamBroken,
    Unavailable,
)
from bot.compress import (
    EncodeFailed,
    Engine,
    NotAVideo,
    Progress,
    Request,
    Result,
    TargetUnreachable,
    parse_request,
    preset_request,
)
from bot.conversation import callbacks, gains, messages, presets, retry, settings
from bot.conversation import local_messages as lm
from bot.conversation.chat import (
    Button,
    DeliveryUncertain,
    Keyboard,
    TooLarge,
    send_playable,
)
from bot.conversation.context import Ctx
from bot.conversation.media import MediaItem
from bot.conversation.outbox import delivering, delivery_before, named, send_progress
from bot.conversation.status import LiveStatus, interval, stop_buttons
from bot.store import Job, Source, SourceFile, VideoInfo
from bot.streams import FileWriter, PathSource, SourceError

log = logging.getLogger(__name__)

FALLBACK_ERRORS: tuple[type[BackendError], ...] = (NoCredits, PlanRequired, FileTooLarge,
                                                   Unavailable)
"""What sends a job to this machine. Not a broken stream: the agent may have applied the
request (a second, local result would be a surprise); not 429: it passes in minutes."""
TAKES_OVER = frozenset({"turn", "export", "media"})
COMPRESS_WORDS = re.compile(
    r"compress|smaller|shrink|reduce|squeeze|压缩|壓縮|缩小|縮小|变小|變小|减小|減小", re.IGNORECASE
)


def request_for(payload: dict[str, Any]) -> Request:
    """What a job asked for: its preset's request, else what its words say."""
    preset = payload.get("preset")
    if isinstance(preset, str) and preset in presets.KEYS:
        return preset_request(preset)
    target = payload.get("target_bytes")
    if isinstance(target, int) and target > 0:
        return Request(target_bytes=target)
    return parse_request(str(payload.get("text") or payload.get("caption") or ""))


def asked(text: str) -> Request | None:
    """The request in ``text`` when it asks for compression at all, else ``None``."""
    request = parse_request(text)
    if request != Request() or COMPRESS_WORDS.search(text):
        return request
    return None


# -- fallback -----------------------------------------------------------------------------------


async def take_over(ctx: Ctx, reason: BackendError | str) -> bool:
    """In fallback mode, queue the running job's request for this machine and say why in one
    line; ``True`` when it did (the caller then stays quiet about the failure)."""
    svc, chat, job = ctx.svc, ctx.chat, ctx.job
    local = svc.local
    if local is None or local.always or job is None or job.kind not in TAKES_OVER:
        return False
    if isinstance(reason, BackendError) and (
        not isinstance(reason, FALLBACK_ERRORS) or isinstance(reason, StreamBroken)
    ):
        return False
    if job.kind == "media" and not await _remember(ctx, job):
        return False
    source = await svc.store.get_source(chat.chat_id, chat.thread_id)
    if source is None or source.file is None:
        return False
    payload = {k: job.payload[k] for k in ("preset", "text", "caption", "user_id",
                                           "user_language", "message_id", "update_id")
               if job.payload.get(k) is not None}
    await svc.store.add_job(chat.chat_id, chat.thread_id, "compress", payload,
                            f"local:{job.id}")
    anon_user_id = None
    if isinstance(reason, NoCredits) and not svc.accounts.is_operator:
        anon_user_id = await svc.accounts.anon_user_id(chat.chat_id, chat.thread_id,
                                                       ctx.language)
    log.info("chat %s: job %s goes to local compression (%s)", chat.chat_id, job.id,
             reason if isinstance(reason, str) else type(reason).__name__)
    with named("fallback"):
        await chat.send(lm.fallback_reason(ctx.t, reason, anon_user_id=anon_user_id,
                                           operator=svc.accounts.is_operator))
    return True


async def _remember(ctx: Ctx, job: Job) -> bool:
    """A media job's video as the original, when its upload never reached the service."""
    item = MediaItem.from_payload(job.payload["item"])
    if not gains.is_video(item):
        return False
    await _save_source(ctx, item, job.payload.get("user_id"))
    return True


async def _save_source(ctx: Ctx, item: MediaItem, user_id: object) -> Source:
    video = VideoInfo(size=item.file_size, width=item.width, height=item.height,
                      duration=item.duration)
    file = SourceFile(item.file_id, item.file_name, item.mime_type, item.kind)
    uid = user_id if isinstance(user_id, int) else None
    await ctx.svc.store.save_source(ctx.chat.chat_id, ctx.chat.thread_id, uid,
                                    item.upload_name, video, file=file)
    return Source(user_id=uid, name=item.upload_name, video=video, file=file)


# -- buttons ---------------------------------------------------------------------------------------


def fit_buttons(ctx: Ctx, target: int) -> Keyboard | None:
    """Under an export over the size asked for: fit the original to it on this machine;
    ``None`` without local compression."""
    if ctx.svc.local is None:
        return None
    uid = ctx.job.payload.get("user_id") if ctx.job else None
    return [[Button(lm.fit_button(ctx.t, target),
                    data=callbacks.fit(target, uid if isinstance(uid, int) else None))]]


# -- the compress job -----------------------------------------------------------------------------


async def compress_job(ctx: Ctx, job: Job) -> None:
    await compress(ctx, request_for(job.payload))


async def compress(ctx: Ctx, request: Request) -> None:
    """Compress the chat's original as ``request`` says and deliver it, at most once."""
    svc, chat, t = ctx.svc, ctx.chat, ctx.t
    local = svc.local
    if local is None:  # queued, then LOCAL_COMPRESSION was turned off
        await chat.send(messages.something_went_wrong(t))
        return
    before = await delivery_before(chat)
    if before == "sent":
        return
    if before == "unsure":
        await chat.send(lm.maybe_missing(t))
        return
    source = await svc.store.get_source(chat.chat_id, chat.thread_id)
    if source is None or source.file is None:
        await chat.send(lm.send_a_video(t))
        return
    buttons = stop_buttons(ctx)
    status = LiveStatus(chat, await send_progress(chat, "compress", lm.starting(t), buttons),
                        interval(ctx, local.progress_every), buttons, shown=lm.starting(t))

    async def in_line(place: int) -> None:
        status.show(lm.waiting(t, place))

    try:
        async with local.slots.slot(in_line), svc.temp.directory("compress-") as work:
            await _fetch_and_encode(ctx, source, request, work, status)
    except asyncio.CancelledError:
        # A shutdown leaves the status for the next start to reuse; a ❌ or /cancel says so.
        job = ctx.job
        stopped = job is not None and await svc.store.cancelled_among([job.id])
        if stopped:
            await status.close(lm.stopped(t))
        else:
            await status.stop_editing()
        raise
    else:
        await status.close()


async def _fetch_and_encode(
    ctx: Ctx, source: Source, request: Request, work: Path, status: LiveStatus
) -> None:
    svc, chat, t = ctx.svc, ctx.chat, ctx.t
    assert svc.local is not None and source.file is not None
    src = await _fetch(ctx, source, work, status)
    if src is None:
        return
    engine = Engine(svc.local.ffmpeg, work, niceness=svc.local.niceness)

    async def progressed(p: Progress) -> None:
        status.show(lm.compressing(t, p.fraction, p.eta_seconds, p.passes))

    status.show(lm.compressing(t, None, None, ""))
    started = time.monotonic()
    note: str | None = None
    request, cap = await settings.for_encode(ctx, request)  # the chat's codec and cap
    try:
        result = await engine.compress(src, request, on_progress=progressed,
                                       max_short_side=cap)
    except NotAVideo:
        metrics.LOCAL_COMPRESSIONS.labels("not_a_video").inc()
        await chat.send(lm.not_a_video(t))
        return
    except TargetUnreachable as exc:
        smallest = exc.smallest
        target = request.target_bytes or 0
        if smallest is None or not smallest.smaller:
            metrics.LOCAL_COMPRESSIONS.labels("unreachable").inc()
            await chat.send(lm.unreachable(t, target, None))
            return
        result, note = smallest, lm.unreachable(t, target, smallest.size)
    except EncodeFailed as exc:
        metrics.LOCAL_COMPRESSIONS.labels("failed").inc()
        log.warning("chat %s: local compression failed: %s", chat.chat_id, exc)
        await chat.send(lm.encode_failed(t), buttons=retry.buttons(ctx, exc))
        return
    metrics.LOCAL_ENCODE_SECONDS.observe(time.monotonic() - started)
    if not result.smaller:
        metrics.LOCAL_COMPRESSIONS.labels("not_smaller").inc()
        keyboard = presets.smaller_keyboard(ctx, source)
        await chat.send(lm.already_small(t, result.input_size, bool(keyboard)),
                        buttons=keyboard or None)
        return
    status.show(lm.sending(t))
    await _deliver(ctx, result, source, note)


async def _fetch(ctx: Ctx, source: Source, work: Path, status: LiveStatus) -> Path | None:
    """Where the original can be read: a local Bot API server's file in place, else a copy
    streamed into ``work`` (never under the name the person gave it)."""
    chat, t = ctx.chat, ctx.t
    assert source.file is not None
    name = source.name or "video"
    try:
        opened_source = await chat.open_file(source.file.file_id)
    except TooLarge:
        await chat.send(messages.too_large_for_telegram(
            t, name, source.video.size, ctx.svc.limits.download,
            links=ctx.svc.backend_enabled))
        return None
    if isinstance(opened_source, PathSource):
        return opened_source.path
    path = work / "original"
    try:
        async with opened_source.open() as opened, FileWriter(path) as out:
            done = 0
            async for chunk in opened.chunks:
                await out.write(chunk)
                done += len(chunk)
                status.show(lm.fetching(t, done, opened.size))
    except SourceError as exc:
        log.warning("chat %s: reading the original from Telegram failed: %s", chat.chat_id, exc)
        await chat.send(messages.file_unreadable(t, name))
        return None
    return path


async def _deliver(ctx: Ctx, result: Result, source: Source, note: str | None) -> None:
    svc, chat, t = ctx.svc, ctx.chat, ctx.t
    after = VideoInfo(size=result.size, width=result.width, height=result.height,
                      duration=result.duration)
    caption = messages.video_ready(t, result.size, source.video, after)
    if note:
        caption = f"{note}\n\n{caption}"
    async with delivering(chat) as confirm:
        too_large = lm.over_telegram(t, result.size, svc.limits.upload)
        if result.size > svc.limits.upload:
            metrics.LOCAL_COMPRESSIONS.labels("too_large").inc()
            confirm(await chat.send(too_large))
            return
        try:
            playable = await send_playable(chat, result.path, caption=caption)
        except TooLarge:
            confirm(await chat.send(too_large))
            return
        except DeliveryUncertain as exc:
            log.warning("chat %s: no answer from Telegram sending the compressed video "
                        "(%s); not sent again", chat.chat_id, exc)
            confirm(await chat.send(lm.send_uncertain(t)))
            return
        if playable is None:
            confirm(await chat.send(lm.encode_failed(t)))
            return
        sent, as_document = playable
        confirm(sent.message_id)
    metrics.LOCAL_COMPRESSIONS.labels("ok").inc()
    metrics.DELIVERIES.labels("document" if as_document else "video").inc()
    await gains.record(ctx, sent, as_document, after)


# -- LOCAL_COMPRESSION=always: the job kinds without a video service ------------------------------


def _details(ctx: Ctx, video: VideoInfo) -> list[str]:
    details = []
    if video.size:
        details.append(ctx.t.size(video.size))
    if video.duration:
        details.append(ctx.t.duration(video.duration))
    return details


async def media_job(ctx: Ctx, job: Job) -> None:
    """A file: remembered as the original; compressed at once when its caption says how."""
    svc, chat, t = ctx.svc, ctx.chat, ctx.t
    item = MediaItem.from_payload(job.payload["item"])
    if not gains.is_video(item):
        await chat.send(lm.only_videos(t))
        return
    if item.file_size and item.file_size > svc.limits.download:
        await chat.send(messages.too_large_for_telegram(
            t, item.upload_name, item.file_size, svc.limits.download, links=False))
        return
    source = await _save_source(ctx, item, job.payload.get("user_id"))
    request = asked(str(job.payload.get("caption") or ""))
    default = None if request is not None else await settings.default_for(ctx, [item])
    details = _details(ctx, source.video)
    buttons = (settings.change_buttons(ctx) if default is not None
               else None if request is not None else presets.keyboard(ctx, source))
    with named("ack"):
        await chat.send(lm.received(t, item.upload_name, details, request is not None,
                                    default=default), buttons=buttons)
    if default is not None:  # no words: the chat's default (/settings)
        request = preset_request(default)
    if request is not None:
        await compress(ctx, request)


async def turn_job(ctx: Ctx, job: Job) -> None:
    """Words (or a preset): compress the original as they say; anything else, say how."""
    if isinstance(job.payload.get("preset"), str):
        await compress(ctx, request_for(job.payload))
        return
    request = asked(str(job.payload.get("text") or ""))
    if request is not None:
        await compress(ctx, request)
        return
    source = await ctx.svc.store.get_source(ctx.chat.chat_id, ctx.chat.thread_id)
    if source is None:
        await ctx.chat.send(lm.send_a_video(ctx.t))
        return
    await ctx.chat.send(lm.how_to_ask(ctx.t), buttons=presets.keyboard(ctx, source))


async def export_job(ctx: Ctx, job: Job) -> None:
    await compress(ctx, Request())


async def link_job(ctx: Ctx, job: Job) -> None:
    await ctx.chat.send(lm.no_links(ctx.t))


async def new_job(ctx: Ctx, job: Job) -> None:
    await ctx.svc.store.forget_source(ctx.chat.chat_id, ctx.chat.thread_id)
    await ctx.chat.send(lm.forgotten(ctx.t))


async def status(ctx: Ctx) -> None:
    source = await ctx.svc.store.get_source(ctx.chat.chat_id, ctx.chat.thread_id)
    if source is None:
        await ctx.chat.send(lm.send_a_video(ctx.t))
        return
    await ctx.chat.send(lm.status(ctx.t, source.name, _details(ctx, source.video)),
                        buttons=presets.keyboard(ctx, source))

