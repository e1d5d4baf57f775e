"""Export: render the draft, poll it with one status message, deliver the video.

The render id is stored with the chat before polling starts, so a restart resumes polling
the same render instead of orphaning it (the backend's renders survive the client).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot import logs, metrics
from bot.backend.errors import (
    BackendError,
    DuplicateRenderId,
    FileTooLarge,
    UnsafeUrl,
)
from bot.backend.models import RenderStatus
from bot.conversation import gains, local_messages, messages, retry
from bot.conversation import status as live_status
from bot.conversation.accounts import Identity
from bot.conversation.chat import Button, DeliveryUncertain, TooLarge, send_playable
from bot.conversation.context import Ctx
from bot.conversation.errors import report_error
from bot.conversation.local import fit_buttons, request_for, take_over
from bot.conversation.messages import Text
from bot.conversation.outbox import (
    delivering,
    delivery_before,
    maybe_missing_video,
    send_progress,
)
from bot.conversation.progress import transfer
from bot.conversation.timeline import duration_seconds, exportable

log = logging.getLogger(__name__)

LONG_VIDEO_SECONDS = 60
"""A project longer than this gets the "shorter clips compress faster" tip when it fails."""


def new_render_id() -> str:
    return f"render_{int(time.time() * 1000)}_{secrets.token_hex(4)}"


async def export(ctx: Ctx, draft: dict[str, Any] | None = None) -> bool:
    """Render and deliver the current draft; ``True`` when a video or link was delivered."""
    svc, chat = ctx.svc, ctx.chat
    topic = await svc.store.get_topic(chat.chat_id, chat.thread_id)
    if topic and topic.render_id:
        return await resume(ctx)
    if await delivery_before(chat) == "sent":
        return True  # this job delivered before a restart: no second render
    try:
        if draft is None:
            state = await svc.accounts.state(chat.chat_id, chat.thread_id, ctx.language)
            draft = state.state.draft
        if not exportable(draft):
            await chat.send(messages.nothing_to_export(ctx.t))
            return False
        assert draft is not None
    except BackendError as exc:
        await report_error(ctx, exc)
        return False
    status_id = await _render_status(ctx)
    try:
        render_id = await _start(ctx, draft, status_id)
    except BackendError as exc:
        await _clear_status(ctx, status_id)
        await report_error(ctx, exc)
        return False
    return await _poll(ctx, render_id, status_id)


async def _start(ctx: Ctx, draft: dict[str, Any], status_id: int | None) -> str:
    svc, chat = ctx.svc, ctx.chat
    for attempt in (1, 2):
        render_id = new_render_id()
        await svc.store.set_render(chat.chat_id, chat.thread_id, render_id, status_id)

        async def start(ident: Identity, render_id: str = render_id) -> RenderStatus:
            return await svc.client.start_render(ident.token, ident.session_id, draft, render_id)

        try:
            await svc.accounts.call(chat.chat_id, chat.thread_id, ctx.language, start)
            return render_id
        except asyncio.CancelledError:
            raise  # stopped mid-request: the render may exist, so the restart polls it
        except Exception as exc:
            await svc.store.set_render(chat.chat_id, chat.thread_id, None)
            if isinstance(exc, DuplicateRenderId) and attempt == 1:
                continue  # ids must be unique: a fresh one, once
            raise
    raise AssertionError("unreachable")


async def resume(ctx: Ctx) -> bool:
    """Pick up polling a render that was running when the bot stopped."""
    topic = await ctx.svc.store.get_topic(ctx.chat.chat_id, ctx.chat.thread_id)
    if not topic or not topic.render_id:
        return False
    log.info("chat %s: resuming render %s", ctx.chat.chat_id, topic.render_id)
    status_id = topic.render_message_id
    if status_id is None:
        status_id = await _render_status(ctx)
    started = topic.render_started_at or time.time()
    return await _poll(ctx, topic.render_id, status_id, started_wall=started)


async def _render_status(ctx: Ctx) -> int | None:
    """"Rendering…" in the job's live status (``None``: nothing of its own to store or take
    down), else in a message of its own, stored with the render."""
    text = messages.rendering(ctx.t, None)
    if live_status.show(ctx, text):
        return None
    return await send_progress(ctx.chat, "rendering", text)


async def _poll(
    ctx: Ctx, render_id: str, status_id: int | None, *, started_wall: float | None = None
) -> bool:
    chat = ctx.chat
    try:
        with logs.scope(render_id=render_id):
            delivered = await _watch(ctx, render_id, status_id, started_wall or time.time())
    except asyncio.CancelledError:
        raise  # a shutdown mid-poll keeps the render id, so the next start resumes it
    except BaseException:
        await ctx.svc.store.set_render(chat.chat_id, chat.thread_id, None)
        raise
    await ctx.svc.store.set_render(chat.chat_id, chat.thread_id, None)
    return delivered


async def _watch(ctx: Ctx, render_id: str, status_id: int | None, started: float) -> bool:
    """Poll until the render ends, keeping the status message current; then deliver.

    A failed poll is not a failed render: transient failures (network, 5xx, 429, an HTML
    page, a garbled answer) are retried with capped backoff until the render's give-up
    time, and the render id stays stored meanwhile.
    """
    svc, chat = ctx.svc, ctx.chat
    failures = 0
    # The wall clock is read once, for the time a resumed render ran before this start
    # (stored, so it is wall time); from here on the monotonic clock counts, so a clock
    # step (NTP, a resumed VM) neither gives the render up early nor keeps it forever.
    before = max(0.0, time.time() - started)
    watching = time.monotonic()
    while True:
        await asyncio.sleep(svc.client.retry.poll_pause(svc.timing.render_poll, failures))
        elapsed = before + time.monotonic() - watching
        try:
            status = await svc.accounts.call(
                chat.chat_id, chat.thread_id, ctx.language,
                lambda ident: svc.client.render_status(ident.token, render_id),
            )
        except BackendError as exc:
            if svc.client.retry.transient(exc):
                failures += 1
                log.warning("chat %s: render %s poll failed (%s, %s in a row): %s",
                            chat.chat_id, render_id, type(exc).__name__, failures, exc)
                if elapsed > svc.timing.render_give_up:
                    return await _no_video(ctx, status_id, "timeout", messages.render_too_slow)
                continue
            metrics.RENDERS.labels("error").inc()
            await _clear_status(ctx, status_id)
            await report_error(ctx, exc)
            return False
        failures = 0
        if status.status == "completed" and status.url:
            metrics.RENDERS.labels("ok").inc()
            metrics.RENDER_SECONDS.observe(elapsed)
            await _clear_status(ctx, status_id)
            return await deliver(ctx, status.url)
        if status.status == "failed" or (status.status == "completed" and not status.url):
            log.warning("chat %s: render %s failed: %s", chat.chat_id, render_id, status.error)
            return await _no_video(ctx, status_id, "failed", messages.render_failed)
        if elapsed > svc.timing.render_give_up:
            return await _no_video(ctx, status_id, "timeout", messages.render_too_slow)
        text = messages.rendering(ctx.t, elapsed, status.progress)
        if not live_status.show(ctx, text) and status_id is not None:
            with contextlib.suppress(Exception):
                await chat.edit(status_id, text)


async def _no_video(ctx: Ctx, status_id: int | None, outcome: str, text: Text) -> bool:
    """The render ended without a video (it failed, or took too long): count it, take the
    status message down, say so, and suggest shorter clips when the video was long."""
    metrics.RENDERS.labels(outcome).inc()
    await _clear_status(ctx, status_id)
    if await take_over(ctx, outcome):
        return False
    await ctx.chat.send(text(ctx.t), buttons=retry.export_buttons(ctx))
    await tip_if_long(ctx)
    return False


async def tip_if_long(ctx: Ctx, draft: dict[str, Any] | None = None) -> None:
    """After a failure or a timeout on a long video, say that shorter clips go faster."""
    if draft is None:
        try:
            state = await ctx.svc.accounts.state(ctx.chat.chat_id, ctx.chat.thread_id, ctx.language)
        except BackendError:
            return  # a tip is not worth a second failure
        draft = state.state.draft
    length = duration_seconds(draft)
    if length is not None and length > LONG_VIDEO_SECONDS:
        await ctx.chat.send(messages.shorter_clips_tip(ctx.t))


async def _clear_status(ctx: Ctx, status_id: int | None) -> None:
    if status_id is None:
        return
    with contextlib.suppress(Exception):
        await ctx.chat.delete(status_id)


async def deliver(ctx: Ctx, url: str) -> bool:
    """A playable video if Telegram takes it, else a document, else a download link; once
    per job: after a restart, a delivery that may have arrived is not repeated (the person
    is told, with the link; see bot/conversation/outbox.py)."""
    svc, chat, t = ctx.svc, ctx.chat, ctx.t
    before = await delivery_before(chat)
    if before == "sent":
        return True
    if before == "unsure":
        log.info("chat %s: restarted while delivering; the video may be there: the link "
                 "instead of a second copy", chat.chat_id)
        await maybe_missing_video(chat, t, url)
        return True
    size = await svc.client.content_length(url)
    if size is not None and size > svc.limits.upload:
        await _send_link(ctx, url, size)
        return True
    with contextlib.suppress(Exception):
        await chat.action("upload_video")
    # Streamed to a file in the bot's temporary directory (removed however this ends), with
    # a percent status if it takes a while, then handed to Telegram by path. Any local failure
    # before the file is whole (a full disk, a quota, a permission) still gives the link.
    fetched = False
    try:
        async with svc.temp.directory("export-") as tmp:
            path = tmp / "video.mp4"
            size = await _download(ctx, url, path, size)
            fetched = True
            if size is None:
                return True  # the link went instead
            return await _send_file(ctx, url, path, size)
    except OSError as exc:
        if fetched:
            raise
        log.warning("chat %s: could not store the export on this machine (%s); sending the "
                    "link", chat.chat_id, exc.strerror or type(exc).__name__)
        await _send_link(ctx, url, size)
        return True


async def _download(ctx: Ctx, url: str, path: Path, size: int | None) -> int | None:
    """The export on disk at ``path`` and its size, or ``None`` when the link was sent
    instead (too big, an unsafe link, a backend failure)."""
    svc, chat, t = ctx.svc, ctx.chat, ctx.t
    try:
        async with transfer(ctx, lambda done, total: messages.sending_video(t, done, total),
                            size) as shown:
            return await svc.client.download(
                url, path, max_bytes=svc.limits.upload, on_progress=shown.advance
            )
    except FileTooLarge:
        await _send_link(ctx, url, size)
        return None
    except UnsafeUrl as exc:
        log.warning("chat %s: refused to fetch the render link (%s); sent the link instead "
                    "(ALLOW_PRIVATE_URLS=1 allows private addresses)", chat.chat_id, exc)
        await _send_link(ctx, url, None)
        return None
    except BackendError:
        log.warning("chat %s: could not download the export; sending the link",
                    chat.chat_id, exc_info=True)
        await _send_link(ctx, url, size)
        return None


async def _send_file(ctx: Ctx, url: str, path: Path, size: int) -> bool:
    """The downloaded export to Telegram: a video, else a document, else the link."""
    svc, chat, t = ctx.svc, ctx.chat, ctx.t
    source = await svc.store.get_source(chat.chat_id, chat.thread_id)
    result = await gains.after(ctx, size, source)
    caption = messages.video_ready(t, size, source.video if source else None, result)
    # Never passed off as a saving: a size asked for and missed, or no smaller at all.
    target = request_for(ctx.job.payload).target_bytes if ctx.job else None
    buttons = None
    if target is not None and size > target:
        caption = f"{local_messages.export_over_target(t, size, target)}\n\n{caption}"
        buttons = fit_buttons(ctx, target)
    elif source is not None and source.video.size and size >= source.video.size:
        caption = (f"{messages.video_ready(t, size)}\n\n"
                   f"{local_messages.export_not_smaller(t, source.video.size)}")
    live_status.show(ctx, local_messages.sending(t))
    async with delivering(chat) as confirm:
        try:
            playable = await send_playable(chat, path, caption=caption, buttons=buttons)
        except TooLarge:
            playable = None
        except DeliveryUncertain as exc:
            # Sending again could time out again (and double the video): the link is sure.
            log.warning("chat %s: no answer from Telegram sending the video (%s); "
                        "sending the link too", chat.chat_id, exc)
            metrics.DELIVERIES.labels("link").inc()
            confirm(await chat.send(
                messages.video_link_uncertain(t, url),
                buttons=[[Button(t._("⬇️ Download the video"), url=url)]],
            ))
            return True
        if playable is None:
            await _send_link(ctx, url, size, confirm)
            return True
        sent, as_document = playable
        confirm(sent.message_id)
    metrics.DELIVERIES.labels("document" if as_document else "video").inc()
    await gains.record(ctx, sent, as_document, result)
    return True


async def _send_link(
    ctx: Ctx, url: str, size: int | None, confirm: Callable[[int | None], None] | None = None
) -> None:
    """The download link as the delivery (recorded as the job's delivery, see deliver)."""
    if confirm is None:
        async with delivering(ctx.chat) as confirm:
            await _send_link(ctx, url, size, confirm)
        return
    metrics.DELIVERIES.labels("link").inc()
    confirm(await ctx.chat.send(
        messages.video_link(ctx.t, size, url),
        buttons=[[Button(ctx.t._("⬇️ Download the video"), url=url)]],
    ))
