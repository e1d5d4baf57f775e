"""What each kind of chat work does. Plain async functions over ``Ctx``; no Telegram here.

Work that changes the project (turns, uploads, exports, a new session) runs through the
chat's queue, in order; read-only answers (credits, status) and menus answer at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bot.backend.errors import BackendError
from bot.backend.models import UploadResult
from bot.conversation import (
    callbacks,
    gains,
    local,
    local_messages,
    messages,
    presets,
    retry,
    settings,
)
from bot.conversation.chat import (
    Button,
    DeliveryFailed,
    DeliveryUncertain,
    TooLarge,
    is_group,
)
from bot.conversation.context import Ctx
from bot.conversation.errors import report_error
from bot.conversation.export import export
from bot.conversation.intent import Intent, classify
from bot.conversation.media import (
    MediaItem,
    acknowledge,
    link_acknowledgement,
    split_urls,
    upload_items,
    upload_urls,
)
from bot.conversation.outbox import named, progress_before, send_progress
from bot.conversation.queue import ChatQueue, Handler, TakenOver
from bot.conversation.timeline import summarize
from bot.conversation.turn import check_draft, run_turn
from bot.i18n import LANGUAGE_NAMES, SUPPORTED, translator
from bot.store import Job

log = logging.getLogger(__name__)



# -- answered at once --------------------------------------------------------------------


async def setting_up(ctx: Ctx) -> int | None:
    """First contact: "Setting up…" while the chat's token and session are created. Returns
    that message, for the caller to edit into its answer (``None``: nothing to set up)."""
    svc, chat = ctx.svc, ctx.chat
    if not svc.backend_enabled:
        return None  # LOCAL_COMPRESSION=always: nothing to set up
    record = await svc.store.get_chat(chat.chat_id)
    topic = await svc.store.get_topic(chat.chat_id, chat.thread_id)
    has_token = svc.accounts.is_operator or bool(record and record.token)
    if has_token and topic and topic.session_id:
        # Set up by an earlier run of this job: its "Setting up…" becomes the answer.
        return await progress_before(chat, "setup")
    # Its own message (not the job's live status): the first answer replaces it in place.
    message_id = await send_progress(chat, "setup", messages.setting_up(ctx.t))
    try:
        await svc.accounts.call(chat.chat_id, chat.thread_id, ctx.language, _nothing)
    except BackendError:
        # The work that follows meets the same failure and explains it; here it only waits.
        log.warning("chat %s: setup failed", chat.chat_id, exc_info=True)
    return message_id


async def _nothing(_ident: object) -> None:
    return None


async def start(ctx: Ctx) -> None:
    limit = ctx.svc.limits.accepted(ctx.svc.backend_enabled)
    # LOCAL_COMPRESSION=always: no AI and no video service, so its own words.
    words = messages.welcome if ctx.svc.backend_enabled else local_messages.welcome
    text = words(ctx.t, limit)
    if is_group(ctx.chat.chat_id):
        text += "\n\n" + messages.group_hint(ctx.t)
    setup = await setting_up(ctx)
    if setup is None:
        await ctx.chat.send(text)
    else:
        await ctx.chat.edit(setup, text)


async def show_help(ctx: Ctx) -> None:
    limit = ctx.svc.limits.accepted(ctx.svc.backend_enabled)
    words = messages.help_text if ctx.svc.backend_enabled else local_messages.help_text
    text = words(ctx.t, limit)
    if is_group(ctx.chat.chat_id):
        text += "\n\n" + messages.group_hint(ctx.t)
    await ctx.chat.send(text)


async def credits(ctx: Ctx) -> None:
    svc, chat = ctx.svc, ctx.chat
    if not svc.backend_enabled:
        await chat.send(local_messages.no_credits_needed(ctx.t))
        return
    try:
        balance = await svc.accounts.call(
            chat.chat_id, chat.thread_id, ctx.language,
            lambda ident: svc.client.credits(ident.token),
        )
    except BackendError as exc:
        await report_error(ctx, exc)
        return
    await chat.send(messages.credits(ctx.t, balance.available, balance.frozen))


async def status(ctx: Ctx) -> None:
    svc, chat, t = ctx.svc, ctx.chat, ctx.t
    if not svc.backend_enabled:
        await local.status(ctx)
        return
    try:
        state = await svc.accounts.state(chat.chat_id, chat.thread_id, ctx.language)
    except BackendError as exc:
        await report_error(ctx, exc)
        return
    summary = summarize(state.state.draft, t)
    uploads = len(state.state.video_infos)
    if summary:
        await chat.send(messages.timeline(t, summary),
                        buttons=[[Button(messages.export_button(t), data=callbacks.EXPORT)]])
    elif uploads:
        await chat.send(messages.uploads_only(t, uploads))
    else:
        await chat.send(messages.empty_project(t))


async def show_history(ctx: Ctx) -> None:
    """The chat's latest deliveries; a tap sends one again by its file_id (no render)."""
    t = ctx.t
    records = await ctx.svc.store.exports(ctx.chat.chat_id, ctx.chat.thread_id)
    lines = [
        messages.history_line(
            t, index, t.size(r.video.size) if r.video.size else "–", t.ago(r.created_at)
        )
        for index, r in enumerate(records, start=1)
    ]
    buttons = [[Button(f"📤 {index}", data=callbacks.history(r.id))
                for index, r in enumerate(records, start=1)]] if records else None
    await ctx.chat.send(messages.history(t, lines), buttons=buttons)


async def send_again(ctx: Ctx, export_id: int) -> None:
    record = await ctx.svc.store.get_export(ctx.chat.chat_id, export_id)
    if record is None:
        await ctx.chat.send(messages.history_gone(ctx.t))
        return
    try:
        await ctx.chat.send_video(
            record.file_id, caption=messages.video_ready(ctx.t, record.video.size),
            as_document=record.as_document,
        )
    except (DeliveryFailed, DeliveryUncertain, TooLarge):
        log.info("chat %s: stored export %s could not be sent again", ctx.chat.chat_id,
                 export_id)
        await ctx.chat.send(messages.history_gone(ctx.t))


async def ask_new(ctx: Ctx) -> None:
    t = ctx.t
    await ctx.chat.send(
        messages.confirm_new(t),
        buttons=[[Button(t._("Yes, start over"), data=callbacks.NEW_CONFIRM),
                  Button(t._("No, keep it"), data=callbacks.NEW_ABORT)]],
    )


async def ask_language(ctx: Ctx) -> None:
    await ctx.chat.send(
        messages.choose_language(ctx.t),
        buttons=[[Button(LANGUAGE_NAMES[code], data=callbacks.language(code))
                  for code in SUPPORTED]],
    )


async def set_language(ctx: Ctx, locale: str) -> None:
    """Store the chat's language and confirm in it."""
    await ctx.svc.store.set_language(ctx.chat.chat_id, locale)
    await ctx.chat.send(messages.language_set(translator(locale), LANGUAGE_NAMES[locale]))


DIRECT_READS: dict[Intent, Callable[[Ctx], Awaitable[None]]] = {
    Intent.CREDITS: credits, Intent.STATUS: status,
}
"""Whole-message intents answered by a backend read, which the caller runs outside the
chat's lock (bot.telegram.handlers), as it does /credits and /status."""


async def route_text(ctx: Ctx, text: str) -> str | None:
    """Direct answers for whole-message intents; returns the job kind to queue otherwise."""
    intent = classify(text)
    if intent is Intent.CREDITS:
        await credits(ctx)
        return None
    if intent is Intent.STATUS:
        await status(ctx)
        return None
    if intent is Intent.UPLOAD:
        await ctx.chat.send(messages.send_the_file(ctx.t))
        return None
    if intent is Intent.EXPORT:
        return "export"
    urls, _rest = split_urls(text)
    return "link" if urls else "turn"


# -- queued work ---------------------------------------------------------------------------


async def _instruct(
    ctx: Ctx, job: Job, instruction: str, *, reuse: int | None = None,
    export_when_done: bool = False,
) -> None:
    """Run the job's instruction as a turn, recorded first so a restart never re-sends it."""
    if not await ctx.svc.store.mark_turn_sent(job.id):
        raise TakenOver(job.id)
    await run_turn(ctx, instruction, reuse=reuse, export_when_done=export_when_done)


async def turn_job(ctx: Ctx, job: Job) -> None:
    reuse = await setting_up(ctx)
    await _instruct(ctx, job, str(job.payload["text"]), reuse=reuse,
                    export_when_done=bool(job.payload.get("export")))


async def export_job(ctx: Ctx, job: Job) -> None:
    await export(ctx)


async def media_job(ctx: Ctx, job: Job) -> None:
    jobs = [job]
    group = job.payload.get("media_group_id")
    if group:
        # An album arrives as several updates; they are one upload and at most one turn.
        jobs += await _gather_album(ctx, job, str(group))
    items = [MediaItem.from_payload(j.payload["item"]) for j in jobs]
    caption = next((str(j.payload["caption"]) for j in jobs if j.payload.get("caption")), "")
    # No words: the chat's default preset (/settings), as if its button had been pressed;
    # kept in the job's payload, so a fallback to this machine compresses to it too.
    default = None if caption else await settings.default_for(ctx, items)
    if default is not None:
        job = dataclasses.replace(job, payload={**job.payload, "preset": default})
        ctx = dataclasses.replace(ctx, job=job)
    setup: int | None = None

    async def set_up() -> None:
        # First contact (a forwarded clip, a new group): the setup line, then the upload.
        nonlocal setup
        setup = await setting_up(ctx)

    result = await _upload_once(ctx, job, lambda: upload_items(ctx, items, set_up))
    if result is not None and job.uploaded is not None:
        setup = await progress_before(ctx.chat, "setup")  # a second run: reuse that line
    if result is None:
        if setup is not None:  # the failure was told; no "Setting up…" left hanging over it
            await ctx.chat.delete(setup)
        return
    # Baseline the draft: if the backend drafts uploads itself, that is not an edit to export.
    await check_draft(ctx)
    uploader = job.payload.get("user_id")
    source = await gains.remember_source(
        ctx, items, result, uploader if isinstance(uploader, int) else None
    )
    if source is None:
        default = None
    buttons = (settings.change_buttons(ctx) if default is not None
               else presets.keyboard(ctx, source) if source and not caption else None)
    text = await acknowledge(ctx, items, result, bool(caption), default=default)
    if setup is not None:
        await ctx.chat.edit(setup, text, buttons=buttons)
    else:
        with named("ack"):  # the text differs on a second run (the one-time quality hint)
            await ctx.chat.send(text, buttons=buttons)
    if caption:
        await _instruct(ctx, job, caption)
    elif default is not None and source is not None:
        await _instruct(ctx, job, messages.preset_instruction(ctx.t, default, source.video),
                        export_when_done=True)


async def _gather_album(ctx: Ctx, job: Job, group: str) -> list[Job]:
    """The album's other items, claimed for ``job``: after the usual wait, again for as long
    as more keep arriving (they may reach other replicas, or this process after a restart,
    later than a single process would see them), up to ten waits."""
    store, wait = ctx.svc.store, ctx.svc.timing.album_wait
    taken = await store.take_album(job.chat_id, job.thread_id, group, job.id)
    if job.uploaded is not None:
        return taken  # uploaded before a restart: exactly what was uploaded then
    await asyncio.sleep(wait)
    for _ in range(10):
        more = await store.take_album(job.chat_id, job.thread_id, group, job.id)
        if len(more) == len(taken):
            return more  # none came since the last look
        taken = more
        await asyncio.sleep(wait / 2)
    return taken


async def _upload_once(
    ctx: Ctx, job: Job, upload: Callable[[], Awaitable[UploadResult | None]]
) -> UploadResult | None:
    """The job's upload, done at most once: a restart after it finished reuses the stored
    result instead of uploading the same files again (a duplicate asset)."""
    if job.uploaded is not None:
        return UploadResult.model_validate(job.uploaded)
    result = await upload()
    if result is not None:
        await ctx.svc.store.mark_uploaded(job.id, result.model_dump(mode="json"))
    return result


async def link_job(ctx: Ctx, job: Job) -> None:
    urls, rest = split_urls(str(job.payload["text"]))
    result = await _upload_once(ctx, job, lambda: upload_urls(ctx, urls))
    if result is None:
        return
    await check_draft(ctx)
    with named("ack"):
        await ctx.chat.send(link_acknowledgement(ctx, urls, result, bool(rest)))
    if rest:
        await _instruct(ctx, job, rest)


async def new_session_job(ctx: Ctx, job: Job) -> None:
    svc, chat = ctx.svc, ctx.chat
    try:
        await svc.accounts.new_session(chat.chat_id, chat.thread_id, ctx.language)
    except BackendError as exc:
        await report_error(ctx, exc)
        return
    await chat.send(messages.new_started(ctx.t))


async def enqueue(
    ctx: Ctx,
    queue: ChatQueue,
    kind: str,
    payload: dict[str, Any],
    *,
    dedupe_key: str | None,
    notify: bool = True,
) -> None:
    """Queue work for this chat; say so (once, not per message) when it has to wait."""
    chat_id, thread_id = ctx.chat.chat_id, ctx.chat.thread_id
    refused = await queue.refusal(chat_id, thread_id, kind, payload)
    if refused is not None:
        if refused.tell:
            await ctx.chat.send(messages.slow_down(ctx.t, refused.reason, refused.limit,
                                                   refused.retry_after))
        return
    busy = queue.busy(chat_id, thread_id)
    accepted = await queue.submit(chat_id, thread_id, kind, payload, dedupe_key=dedupe_key)
    if accepted and busy and notify:
        await queue.line.joined(ctx.chat, ctx.t)  # its place in the chat's line


async def cancel(ctx: Ctx, queue: ChatQueue) -> None:
    count = await queue.cancel(ctx.chat.chat_id, ctx.chat.thread_id)
    # A render being polled is abandoned too; a restart must not pick it up again.
    topic = await ctx.svc.store.get_topic(ctx.chat.chat_id, ctx.chat.thread_id)
    if topic and topic.render_id:
        await ctx.svc.store.set_render(ctx.chat.chat_id, ctx.chat.thread_id, None)
        if topic.render_message_id:
            await ctx.chat.delete(topic.render_message_id)
    await ctx.chat.send(messages.cancelled(ctx.t, count))


async def job_failed(ctx: Ctx, job: Job, exc: Exception) -> None:
    await ctx.chat.send(messages.something_went_wrong(ctx.t),
                        buttons=retry.buttons(ctx, exc))


async def try_again(ctx: Ctx, queue: ChatQueue, job_id: int, *, dedupe_key: str) -> None:
    """🔁: the failed job's request queued again (the same kind and words, a fresh start)."""
    job = await ctx.svc.store.get_job(ctx.chat.chat_id, ctx.chat.thread_id, job_id)
    if job is None:
        await ctx.chat.send(messages.cancelled(ctx.t, 0))
        return
    payload = {k: v for k, v in job.payload.items() if k != "media_group_id"}
    await enqueue(ctx, queue, job.kind, payload, dedupe_key=dedupe_key)


HANDLERS: dict[str, Handler] = {
    "turn": turn_job,
    "export": export_job,
    "media": media_job,
    "link": link_job,
    "new_session": new_session_job,
    "compress": local.compress_job,
}

LOCAL_HANDLERS: dict[str, Handler] = {
    "turn": local.turn_job,
    "export": local.export_job,
    "media": local.media_job,
    "link": local.link_job,
    "new_session": local.new_job,
    "compress": local.compress_job,
}
"""LOCAL_COMPRESSION=always: the same job kinds, done on this machine only."""
