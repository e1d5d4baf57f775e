"""Thin handlers: parse the update, hand it to a flow or the chat queue, nothing else."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Message, Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop

from bot import logs, metrics
from bot.conversation import flows, messages, settings
from bot.conversation.chat import ChatUnavailable, is_group
from bot.conversation.context import Ctx
from bot.conversation.intent import classify
from bot.conversation.outbox import OutboxChat
from bot.store.errors import store_failed
from bot.telegram.chat import TelegramChat
from bot.telegram.ordering import PerChatOrder
from bot.telegram.runtime import BotContext

log = logging.getLogger(__name__)


def thread_of(update: Update) -> int:
    """Forum topics each get their own session; everything else is thread 0."""
    message = update.effective_message
    chat = update.effective_chat
    if message and chat and chat.is_forum and message.message_thread_id:
        return message.message_thread_id
    return 0


async def ctx_for(update: Update, context: BotContext) -> Ctx:
    rt = context.runtime
    chat = update.effective_chat
    assert chat is not None
    user = update.effective_user
    t = await rt.queue.translator_for(chat.id, user.language_code if user else None)
    message = update.message  # a person's message (not a button press on the bot's own)
    reply_to = message.message_id if message else None
    # An answer given here is not given twice when the update is handled again after a
    # restart (the polling inbox hands it over again; Telegram re-sends an unanswered webhook).
    owner = f"update:{update.update_id}"
    again = update.update_id in rt.replayed or rt.settings.webhook_url is not None
    return Ctx(
        chat=OutboxChat(
            TelegramChat(context.bot, chat.id, thread_of(update), reply_to, files=rt.files,
                         admins=rt.admins, moves=rt.moves),
            rt.svc.store, owner, t, again=again,
        ),
        t=t,
        svc=rt.svc,
    )


def _in_group(update: Update) -> bool:
    return update.effective_chat is not None and is_group(update.effective_chat.id)


def _mention(username: str) -> re.Pattern[str]:
    """``@name`` as a whole word: ``@bot`` is not in ``@bot_x``, ``@bots`` or ``me@bot``."""
    return re.compile(rf"(?<![\w@])@{re.escape(username)}(?!\w)", re.IGNORECASE)


def _mentions_bot(message: Message, username: str) -> bool:
    return bool(_mention(username).search(message.text or message.caption or ""))


def _replies_to_bot(message: Message, bot_id: int) -> bool:
    reply = message.reply_to_message
    return bool(reply and reply.from_user and reply.from_user.id == bot_id)


def addressed(update: Update, context: BotContext) -> bool:
    """In groups the bot only answers what is meant for it: a mention or a reply to it."""
    message = update.effective_message
    if message is None:
        return False
    if not _in_group(update):
        return True
    return _mentions_bot(message, context.bot.username) or _replies_to_bot(
        message, context.bot.id
    )


def _strip_mention(text: str, username: str) -> str:
    return _mention(username).sub(" ", text).strip()


async def _admin_or_refuse(update: Update, ctx: Ctx) -> bool:
    """In groups only admins may act; a sender nobody can check (a channel) may not."""
    user = update.effective_user
    if not _in_group(update):
        return True
    if user is not None and await ctx.chat.is_admin(user.id):
        return True
    await ctx.chat.send(messages.admins_only(ctx.t))
    return False


def _payload(update: Update, **extra: Any) -> dict[str, Any]:
    user = update.effective_user
    message = update.effective_message
    return {
        "user_language": user.language_code if user else None,
        "user_id": user.id if user else None,
        "message_id": message.message_id if message else None,
        "update_id": update.update_id,
        **extra,
    }


def _key(update: Update) -> str:
    return f"update:{update.update_id}"


# -- every update ------------------------------------------------------------------------


async def observe(update: Update, context: BotContext) -> None:
    """Runs before everything: count the update and tie the log lines it causes to it."""
    kinds = [k for k in ("message", "edited_message", "callback_query") if getattr(update, k)]
    metrics.UPDATES.labels(kinds[0] if kinds else "other").inc()
    chat = update.effective_chat
    logs.bind(update_id=update.update_id, chat_id=chat.id if chat else None, job_id=None,
              render_id=None)


# -- access --------------------------------------------------------------------------------


async def guard(update: Update, context: BotContext) -> None:
    """Runs first: refuse chats outside ALLOWED_CHAT_IDS before any other handler sees them."""
    allowed = context.runtime.settings.allowed_chat_ids
    chat = update.effective_chat
    if allowed is None or chat is None or chat.id in allowed:
        return
    log.info("refused update from chat %s (not in ALLOWED_CHAT_IDS)", chat.id)
    if update.effective_message and chat.type == ChatType.PRIVATE:
        ctx = await ctx_for(update, context)
        await ctx.chat.send(messages.not_allowed(ctx.t))
    raise ApplicationHandlerStop


# -- commands ------------------------------------------------------------------------------


async def start(update: Update, context: BotContext) -> None:
    await flows.start(await ctx_for(update, context))


async def show_help(update: Update, context: BotContext) -> None:
    await flows.show_help(await ctx_for(update, context))


def _answer_outside_lock(
    update: Update, context: BotContext, flow: Callable[[Ctx], Awaitable[None]]
) -> None:
    """Run ``flow`` after the handler returns: it asks the backend, which may be slow, and
    meanwhile the chat's lock (ordering.py) must let ``/cancel`` and new messages through.
    The update stays unhandled in the inbox until answered: a crash or a shutdown before
    that leaves it to the next start."""
    rt = context.runtime
    order = context.application.update_processor
    kept = order if isinstance(order, PerChatOrder) and order.inbox is not None else None
    if kept is not None:
        kept.deferred.add(update.update_id)

    async def answer() -> None:
        try:
            await flow(await ctx_for(update, context))
        except asyncio.CancelledError:
            raise  # not marked handled: the next start answers it
        except Exception as exc:
            await context.application.process_error(update, exc)
        if kept is not None:
            await kept.finish(update.update_id)

    task = asyncio.create_task(answer(), name=f"answer-{update.update_id}")
    rt.background.add(task)
    task.add_done_callback(rt.background.discard)


async def credits(update: Update, context: BotContext) -> None:
    _answer_outside_lock(update, context, flows.credits)


async def status(update: Update, context: BotContext) -> None:
    _answer_outside_lock(update, context, flows.status)


async def export(update: Update, context: BotContext) -> None:
    ctx = await ctx_for(update, context)
    await flows.enqueue(ctx, context.runtime.queue, "export", _payload(update),
                        dedupe_key=_key(update))


async def new(update: Update, context: BotContext) -> None:
    ctx = await ctx_for(update, context)
    if await _admin_or_refuse(update, ctx):
        await flows.ask_new(ctx)


async def cancel(update: Update, context: BotContext) -> None:
    ctx = await ctx_for(update, context)
    if await _admin_or_refuse(update, ctx):
        await flows.cancel(ctx, context.runtime.queue)


async def language(update: Update, context: BotContext) -> None:
    ctx = await ctx_for(update, context)
    if await _admin_or_refuse(update, ctx):
        await flows.ask_language(ctx)


async def show_settings(update: Update, context: BotContext) -> None:
    """Anyone may see the settings; who may change them is checked on each press."""
    await settings.show(await ctx_for(update, context))


# -- buttons -------------------------------------------------------------------------------


async def history(update: Update, context: BotContext) -> None:
    await flows.show_history(await ctx_for(update, context))


# -- messages ------------------------------------------------------------------------------


async def text(update: Update, context: BotContext) -> None:
    message = update.effective_message
    if message is None or not message.text or not addressed(update, context):
        return
    words = _strip_mention(message.text, context.bot.username)
    # "status" and "credits" typed as words read the backend like /status and /credits:
    # answered outside the chat's lock, so a slow backend holds up nothing else of the chat.
    direct = flows.DIRECT_READS.get(classify(words)) if words else None
    if direct is not None:
        _answer_outside_lock(update, context, direct)
        return
    ctx = await ctx_for(update, context)
    if not words:
        await flows.show_help(ctx)
        return
    kind = await flows.route_text(ctx, words)
    if kind is not None:
        await flows.enqueue(ctx, context.runtime.queue, kind, _payload(update, text=words),
                            dedupe_key=_key(update))


_MEDIA: tuple[tuple[str, tuple[str, ...], str | None], ...] = (
    # (the Message attribute, what its job keeps of it, the MIME type Telegram implies)
    ("video", ("file_name", "mime_type", "file_size", "duration", "width", "height"), None),
    ("video_note", ("file_size", "duration"), "video/mp4"),
    ("animation", ("file_name", "mime_type", "file_size", "duration"), None),
    ("photo", ("file_size", "width", "height"), "image/jpeg"),
    ("audio", ("file_name", "mime_type", "file_size", "duration"), None),
    ("document", ("file_name", "mime_type", "file_size"), None),
)
"""In this order: an animation also comes with a document, which is the same file."""


def _media_item(message: Message) -> dict[str, Any] | None:
    for kind, fields, mime_type in _MEDIA:
        media = getattr(message, kind)
        if not media:
            continue
        if kind == "photo":
            media = media[-1]  # the largest of the sizes Telegram made
        item: dict[str, Any] = {"kind": kind, "file_id": media.file_id}
        for name in fields:
            value = getattr(media, name)
            item[name] = _seconds(value) if name == "duration" else value
        if mime_type is not None:
            item["mime_type"] = mime_type
        return item
    return None


def _seconds(value: object) -> float | None:
    if value is None:
        return None
    total = getattr(value, "total_seconds", None)
    return float(total()) if callable(total) else float(value)  # type: ignore[arg-type]


async def _album_addressed(update: Update, context: BotContext) -> bool:
    """In groups only an album's first item carries the caption that mentions the bot; the
    rest of that album belongs to the same request. Which albums were asked about is read
    from the store (the first item's job), not kept in this process: the items may reach
    different replicas, or come on both sides of a restart."""
    message = update.effective_message
    assert message is not None
    if addressed(update, context):
        return True
    group = message.media_group_id
    return bool(group) and await context.runtime.svc.store.album_started(
        message.chat_id, thread_of(update), str(group))


async def media(update: Update, context: BotContext) -> None:
    message = update.effective_message
    if message is None:
        return
    if _in_group(update) and not await _album_addressed(update, context):
        return
    item = _media_item(message)
    if item is None:
        return
    ctx = await ctx_for(update, context)
    caption = _strip_mention(message.caption or "", context.bot.username)
    await flows.enqueue(
        ctx,
        context.runtime.queue,
        "media",
        _payload(update, item=item, caption=caption, media_group_id=message.media_group_id),
        dedupe_key=_key(update),
        notify=message.media_group_id is None,
    )


async def unsupported(update: Update, context: BotContext) -> None:
    if _in_group(update) and not addressed(update, context):
        return
    ctx = await ctx_for(update, context)
    await ctx.chat.send(messages.unsupported_message(ctx.t))


async def on_error(update: object, context: BotContext) -> None:
    """Log the failure for the operator; tell the person in plain words."""
    if isinstance(context.error, ChatUnavailable):
        log.info("update dropped: %s", context.error)
        return
    order = context.application.update_processor
    if (isinstance(update, Update) and isinstance(order, PerChatOrder)
            and context.error is not None and store_failed(context.error)):
        # Not the person's problem: the update is handled again once the store works
        # (polling), or Telegram sends it again (webhook). See bot.telegram.ordering.
        log.warning("update %s: the store failed (%s: %s); it is handled again",
                    update.update_id, type(context.error).__name__, context.error)
        order.store_failed.add(update.update_id)
        return
    log.error("update handling failed", exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat:
        try:
            ctx = await ctx_for(update, context)
            await ctx.chat.send(messages.something_went_wrong(ctx.t))
        except ChatUnavailable:
            pass
        except Exception:
            log.exception("could not tell the user about the failure")
