"""Inline button presses: who may press, then the flow each button stands for.

Split from ``handlers.py`` (which parses messages and commands); the same rules apply: parse
the press, store what it asks for, hand it on, answer the query.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable

from telegram import Update
from telegram.error import TelegramError

from bot.conversation import callbacks, flows, local_messages, messages, presets, settings
from bot.conversation.context import Ctx
from bot.i18n import SUPPORTED
from bot.telegram.handlers import _admin_or_refuse, _in_group, _key, _payload, ctx_for
from bot.telegram.runtime import BotContext

log = logging.getLogger(__name__)


async def button(update: Update, context: BotContext) -> None:
    query = update.callback_query
    if query is None:
        return
    alert: str | None = None
    try:
        if update.effective_chat is None:
            # A button on an inline message belongs to no chat this bot works for.
            log.info("callback query on an inline message ignored")
            return
        alert = await _press(update, context)
    finally:
        # Answered after the press is stored; a press too old to answer still counts.
        try:
            if alert is None:
                await query.answer()
            else:
                await query.answer(alert, show_alert=True)
        except TelegramError as exc:
            log.info("callback query not answered: %s", exc)


async def _may_press(update: Update, ctx: Ctx, owner: int | None) -> bool:
    """The presser is the button's owner, or (in groups) an admin; the owner comes from the
    store or from the message Telegram quotes, never from the button's data, which a client
    may send with any value. In a private chat only its one person can press anything."""
    if not _in_group(update):
        return True
    user = update.effective_user
    if user is None:
        return False
    if owner is not None and user.id == owner:
        return True
    return await ctx.chat.is_admin(user.id)


def _asker(update: Update) -> int | None:
    """Who asked for the message a button is on: in groups every answer quotes the message it
    answers (TelegramChat), and Telegram says who sent that. ``None`` when nothing is quoted."""
    query = update.callback_query
    message = query.message if query is not None else None
    reply = getattr(message, "reply_to_message", None)
    sender = reply.from_user if reply is not None else None
    return sender.id if sender is not None and not sender.is_bot else None


async def _press(update: Update, context: BotContext) -> str | None:
    """Act on a press; returns the alert to answer it with when the presser may not."""
    query = update.callback_query
    assert query is not None
    data = query.data or ""
    if (preset := presets.parse(data)) is not None:
        return await _preset(update, context, preset[0])
    if (stop := callbacks.parse_stop(data)) is not None:
        return await _stop(update, context, stop[0])
    if (fit := callbacks.parse_fit(data)) is not None:
        return await _fit(update, context, fit[0])
    if (again := callbacks.parse_retry(data)) is not None:
        return await _retry(update, context, again[0])
    if data == callbacks.SETTINGS_OPEN:
        await settings.show(await ctx_for(update, context))
        return None
    if (choice := callbacks.parse_setting(data)) is not None:
        await _setting(update, context, *choice)
        return None
    ctx = await ctx_for(update, context)
    queue = context.runtime.queue
    export_id = callbacks.parse_history(data)
    if export_id is not None or data == callbacks.EXPORT:
        asker = _asker(update)
        if asker is not None and not await _may_press(update, ctx, asker):
            return messages.button_not_yours(ctx.t)
    if export_id is not None:
        await flows.send_again(ctx, export_id)
    elif data == callbacks.EXPORT:
        await flows.enqueue(ctx, queue, "export", _payload(update), dedupe_key=_key(update))
    elif data in {callbacks.NEW_CONFIRM, callbacks.NEW_ABORT}:
        if not await _admin_or_refuse(update, ctx):
            return None
        if query.message is not None:
            await ctx.chat.delete(query.message.message_id)
        if data == callbacks.NEW_CONFIRM:
            await flows.enqueue(ctx, queue, "new_session", _payload(update),
                                dedupe_key=_key(update))
        else:
            await ctx.chat.send(messages.new_kept(ctx.t))
    elif (locale := callbacks.parse_language(data)) is not None and locale in SUPPORTED:
        if not await _admin_or_refuse(update, ctx):
            return None
        if query.message is not None:
            await ctx.chat.delete(query.message.message_id)
        await flows.set_language(ctx, locale)
    return None


async def _setting(update: Update, context: BotContext, field: str, value: str) -> None:
    """A /settings button: in groups only admins change the group's (or topic's) settings;
    the menu pressed is edited to show the new value."""
    ctx = await ctx_for(update, context)
    if not await _admin_or_refuse(update, ctx):
        return
    query = update.callback_query
    message = query.message if query is not None else None
    await settings.change(ctx, message.message_id if message is not None else None, field,
                          value)


async def _preset(update: Update, context: BotContext, key: str) -> str | None:
    """A one-tap preset: only the uploader of the project's video as stored (or a group
    admin) may spend a turn on it; the uploader id in the button's data is not trusted."""
    ctx = await ctx_for(update, context)
    source = await ctx.svc.store.get_source(ctx.chat.chat_id, ctx.chat.thread_id)
    if source is None:
        await ctx.chat.send(messages.preset_no_video(ctx.t))
        return None
    if not await _may_press(update, ctx, source.user_id):
        return messages.preset_not_yours(ctx.t)
    instruction = await presets.instruction(ctx, key)
    if instruction is None:
        await ctx.chat.send(messages.preset_no_video(ctx.t))
        return None
    await flows.enqueue(ctx, context.runtime.queue, "turn",
                        _payload(update, text=instruction, export=True, preset=key),
                        dedupe_key=_key(update))
    return None


async def _job_press(
    update: Update, context: BotContext, job_id: int,
    act: Callable[[Ctx], Awaitable[str | None]],
) -> str | None:
    """A button naming one of this chat's jobs: ``act`` for who asked for it (from the
    store, not the button's data) or a group admin; anyone else gets the alert."""
    ctx = await ctx_for(update, context)
    job = await ctx.svc.store.get_job(ctx.chat.chat_id, ctx.chat.thread_id, job_id)
    if job is None:
        return None
    owner = job.payload.get("user_id")
    if not await _may_press(update, ctx, owner if isinstance(owner, int) else None):
        return messages.button_not_yours(ctx.t)
    return await act(ctx)


async def _stop(update: Update, context: BotContext, job_id: int) -> str | None:
    """A live status's ❌: stops that one job."""
    queue = context.runtime.queue

    async def stop(ctx: Ctx) -> str | None:
        chat_id, thread_id = ctx.chat.chat_id, ctx.chat.thread_id
        job = await ctx.svc.store.get_job(chat_id, thread_id, job_id)
        here = queue.running(chat_id, thread_id) == job_id
        if not await queue.cancel_job(chat_id, thread_id, job_id):
            return messages.cancelled(ctx.t, 0)
        if job is not None and job.state == "running":
            # Its render (one per topic, the running job's) must not resume after a restart.
            await ctx.svc.store.set_render(chat_id, thread_id, None)
        query = update.callback_query
        if not here and query is not None and query.message is not None:
            # Not running in this process (a restart, another replica): confirm it here.
            with contextlib.suppress(Exception):
                await ctx.chat.edit(query.message.message_id, local_messages.stopped(ctx.t))
        return None

    return await _job_press(update, context, job_id, stop)


async def _retry(update: Update, context: BotContext, job_id: int) -> str | None:
    """🔁 under a failure: runs that job's request again."""
    async def again(ctx: Ctx) -> None:
        await flows.try_again(ctx, context.runtime.queue, job_id, dedupe_key=_key(update))

    return await _job_press(update, context, job_id, again)


async def _fit(update: Update, context: BotContext, target: int) -> str | None:
    """An export over the size asked for: the original compressed to it on this machine, for
    who asked (the message the export answers) or the original's uploader, or an admin."""
    ctx = await ctx_for(update, context)
    if ctx.svc.local is None:
        return None
    owner = _asker(update)
    if owner is None:
        source = await ctx.svc.store.get_source(ctx.chat.chat_id, ctx.chat.thread_id)
        owner = source.user_id if source else None
    if not await _may_press(update, ctx, owner):
        return messages.button_not_yours(ctx.t)
    await flows.enqueue(ctx, context.runtime.queue, "compress",
                        _payload(update, target_bytes=target), dedupe_key=_key(update))
    return None
