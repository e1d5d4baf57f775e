"""python-telegram-bot wiring: builder, lifecycle hooks and handler registration."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import timedelta
from typing import Any, Final, Literal

import httpx
from telegram import BotCommand, LinkPreviewOptions, Update
from telegram.error import NetworkError, RetryAfter
from telegram.ext import (
    AIORateLimiter,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    Defaults,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot import __version__, metrics
from bot.backend import NemoClient
from bot.compress import Ffmpeg
from bot.config import Settings, local_ffmpeg
from bot.conversation import flows
from bot.conversation.accounts import Accounts
from bot.conversation.context import Limits, Services, Timing, TypingBudget
from bot.conversation.encoder import EncodeSlots, Local
from bot.conversation.interrupted import interrupted
from bot.conversation.outbox import about_to_send
from bot.conversation.queue import ChatQueue
from bot.i18n import SUPPORTED, translator
from bot.store import PollingTaken, open_store
from bot.telegram import buttons, handlers
from bot.telegram.chat import AdminCache, TelegramChat, transient
from bot.telegram.inbox import InboxRequest
from bot.telegram.ordering import PerChatOrder
from bot.telegram.runtime import CONTEXT_TYPES, BotApp, BotContext, Runtime
from bot.tempfiles import TempFiles

log = logging.getLogger(__name__)


TRANSIENT_RETRIES = (0.5, 1.0, 2.0)
"""Pauses before repeating a Bot API call that failed before Telegram did anything."""


class RateLimiter(AIORateLimiter):
    """Telegram's limits are about messages; "typing" must not eat a group's 20 a minute.

    Also repeats a call that got a 5xx, a proxy's HTML error page or a refused connection
    (``transient``): without it one Bad Gateway loses an answer. 429s are the base class's.
    """

    async def process_request(
        self,
        callback: Any,
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Any:
        if endpoint == "getUpdates":  # the updater has its own backoff
            return await callback(*args, **kwargs)

        async def call(*a: Any, **kw: Any) -> Any:
            # After any rate-limit wait, just before Telegram gets it: a job's message is
            # recorded as on its way (a restart then knows it may have arrived).
            await about_to_send(endpoint)
            for pause in TRANSIENT_RETRIES:
                try:
                    return await counted(*a, **kw)
                except NetworkError as exc:
                    if not transient(exc):
                        raise
                    metrics.TELEGRAM_RETRIES.labels(endpoint).inc()
                    log.info("Bot API %s failed (%s); retrying in %.1f s", endpoint, exc, pause)
                    await asyncio.sleep(pause)
            return await counted(*a, **kw)

        # Measured for the limited methods: time not spent in the calls themselves was spent
        # held back (the limiter's queue, a 429's retry_after, a retry's pause).
        entered = time.monotonic()
        in_flight = 0.0

        async def counted(*a: Any, **kw: Any) -> Any:
            nonlocal in_flight
            began = time.monotonic()
            metrics.TELEGRAM_WAITING.dec()
            try:
                return await callback(*a, **kw)
            except RetryAfter:  # the rate limiter waits and repeats it
                metrics.TELEGRAM_RETRIES.labels(endpoint).inc()
                raise
            finally:
                metrics.TELEGRAM_WAITING.inc()
                in_flight += time.monotonic() - began

        async def waiting(*a: Any, **kw: Any) -> Any:
            """Outside the limiter a 429 is ours to wait out (once per retry pause)."""
            for _ in TRANSIENT_RETRIES:
                try:
                    return await call(*a, **kw)
                except RetryAfter as exc:
                    wait = exc.retry_after
                    seconds = wait.total_seconds() if isinstance(wait, timedelta) else wait
                    log.info("Bot API %s: flood control, retrying in %s s", endpoint, seconds)
                    await asyncio.sleep(float(seconds))
            return await call(*a, **kw)

        if endpoint in {"sendChatAction", "answerCallbackQuery", "getChatMember"}:
            return await waiting(*args, **kwargs)
        metrics.TELEGRAM_WAITING.inc()
        try:
            return await super().process_request(
                call, args, kwargs, endpoint, data, rate_limit_args
            )
        finally:
            metrics.TELEGRAM_WAITING.dec()
            waited = time.monotonic() - entered - in_flight
            metrics.TELEGRAM_WAIT.labels(endpoint).observe(max(0.0, waited))


# Editing a sent message must not run it again.
NEW_MESSAGES = filters.UpdateType.MESSAGE
# What the handlers below handle; Telegram need not send (nor the bot store) anything else.
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]


def command_menu(locale: str) -> list[BotCommand]:
    t = translator(locale)
    return [
        BotCommand("start", t._("What this bot does")),
        BotCommand("help", t._("How to use the bot")),
        BotCommand("export", t._("Render the project and send the video")),
        BotCommand("status", t._("Show what is in the project")),
        BotCommand("credits", t._("Show the remaining credits")),
        BotCommand("new", t._("Start a fresh project")),
        BotCommand("cancel", t._("Stop what is running")),
        BotCommand("language", t._("Choose the language")),
        BotCommand("history", t._("Your latest videos, to get one again")),
    ]


# Telegram picks the menu by the phone's language code; both Chinese scripts share "zh".
MENU_LANGUAGES = {"en": "en", "zh": "zh_Hans"}


FIND: Final = "find"
"""``build_application(ffmpeg=FIND)``: look for ffmpeg at start (the harness); ``python -m bot``
hands over the one it already found while validating the configuration."""


async def _post_init(app: BotApp, settings: Settings, inbox: InboxRequest | None,
                     found: Ffmpeg | Literal["find"] | None) -> None:
    store = await open_store(settings.database_url)
    sole = not store.shared  # a SQLite file serves one process, polling or webhook
    if (sole or settings.webhook_url is None) and not await store.hold_polling():
        await store.close()
        if sole:
            raise PollingTaken(
                f"another bot process is using the database {settings.database_path}; "
                "stop it first (several replicas need PostgreSQL)"
            )
        raise PollingTaken(
            "another bot process is already polling with this DATABASE_URL; "
            "run several replicas in webhook mode (WEBHOOK_URL)"
        )
    await store.prune_jobs()
    client = NemoClient(
        settings.nemo_api_url,
        version=__version__,
        platform=settings.skill_platform,
        rate_limit_retry_seconds=settings.rate_limit_retry_seconds,
        sse_timeout_seconds=settings.sse_timeout_seconds,
        timeout_seconds=settings.backend_timeout_seconds,
        max_connections=settings.max_backend_connections,
        allow_private_urls=settings.allow_private_urls,
    )
    temp = await TempFiles.start(settings.temp_base)
    # Files people send are streamed from the Bot API's file server to the backend.
    files = httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=10.0))
    operator = settings.nemo_token.get_secret_value() if settings.nemo_token else None
    ffmpeg = (await asyncio.to_thread(local_ffmpeg, settings) if isinstance(found, str)
              else found)
    local = None
    if ffmpeg is not None and settings.local_compression != "off":
        local = Local(ffmpeg, "always" if settings.local_compression == "always" else "fallback",
                      EncodeSlots(settings.local_encode_concurrency),
                      progress_every=settings.transfer_progress_seconds)
        log.info("local compression: %s with %s %s", settings.local_compression, ffmpeg.path,
                 ffmpeg.version)
    svc = Services(
        client=client,
        store=store,
        accounts=Accounts(client, store, operator),
        timing=Timing(
            still_working=settings.still_working_seconds,
            render_poll=settings.render_poll_seconds,
            render_give_up=settings.render_timeout_seconds,
            transfer_progress=settings.transfer_progress_seconds,
        ),
        temp=temp,
        limits=Limits.for_mode(settings.telegram_local_mode),
        typing=TypingBudget(settings.typing_per_second),
        auto_export=settings.auto_export,
        local=local,
    )
    admins = AdminCache()
    queue = ChatQueue(
        svc,
        lambda chat_id, thread_id, reply_to: TelegramChat(
            app.bot, chat_id, thread_id, reply_to, files=files, admins=admins
        ),
        flows.LOCAL_HANDLERS if local is not None and local.always else flows.HANDLERS,
        on_error=flows.job_failed,
        on_interrupted=interrupted,
        lease_seconds=settings.replica_lease_seconds,
        turn_rate_limit=settings.turn_rate_limit,
        max_pending=settings.max_pending_jobs,
    )
    rt = app.bot_data.runtime = Runtime(settings=settings, svc=svc, queue=queue, files=files,
                                        admins=admins)
    if app.job_queue is not None:  # a long-running bot must not only prune when restarted
        app.job_queue.run_repeating(_prune, interval=settings.prune_interval_seconds,
                                    first=settings.prune_interval_seconds, name="prune-jobs")
    # One round trip for the three menus, not three in a row before polling starts.
    await asyncio.gather(
        app.bot.set_my_commands(command_menu("en")),
        *(app.bot.set_my_commands(command_menu(locale), language_code=code)
          for code, locale in MENU_LANGUAGES.items()),
    )
    resumed = await queue.resume()
    # Only when polling, on either engine: one process polls (a SQLite file's lock, or the
    # PostgreSQL poller lock), so it alone owns the inbox. Webhook updates need none: the POST
    # is answered only after the handlers stored the work (bot.telegram.web).
    if inbox is not None and isinstance(app.update_processor, PerChatOrder):
        inbox.store = app.update_processor.inbox = store
        kept = await store.unhandled_updates()
        for update_id, body in kept:
            try:
                update = Update.de_json(json.loads(body), app.bot)
            except Exception as exc:  # a bad row must not stop this start and every next
                log.error("kept update %s cannot be read (%s): set aside", update_id,
                          type(exc).__name__)
                await store.set_update_aside(update_id)
                continue
            rt.replayed.add(update.update_id)
            await app.update_queue.put(update)
        if kept:
            log.info("%d updates received before the last stop are handled now", len(kept))
    log.info("bot @%s ready (%d chats resumed)", app.bot.username, resumed)


async def _prune(context: BotContext) -> None:
    """Finished job rows only recognise repeated updates; drop the old ones periodically."""
    await context.runtime.svc.store.prune_jobs()


async def _post_shutdown(app: BotApp) -> None:
    rt = app.bot_data.runtime
    if rt is None:  # post_init failed before opening it
        return
    await rt.cancel_background()
    await rt.queue.shutdown()
    await rt.svc.client.aclose()
    await rt.files.aclose()
    await rt.svc.temp.close()
    await rt.svc.store.close()


def build_application(
    settings: Settings, *, ffmpeg: Ffmpeg | Literal["find"] | None = FIND
) -> BotApp:
    api = settings.telegram_api_url
    # Polling fetches updates through the inbox, which keeps each batch in the store first.
    inbox = None if settings.webhook_url else InboxRequest()
    builder = ApplicationBuilder().context_types(CONTEXT_TYPES)
    if inbox is not None:
        builder = builder.get_updates_request(inbox)
    app = (
        builder
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .local_mode(settings.telegram_local_mode)
        # Handlers only queue work, but hundreds of chats may talk at once: lift PTB's 256,
        # while each chat's updates still go through in order.
        .concurrent_updates(PerChatOrder(settings.max_concurrent_updates))
        .connection_pool_size(512)
        .rate_limiter(RateLimiter(max_retries=3))
        # No message the bot sends or edits unfurls a link into a preview card.
        .defaults(Defaults(link_preview_options=LinkPreviewOptions(is_disabled=True)))
        .post_init(lambda app: _post_init(app, settings, inbox, ffmpeg))
        .post_shutdown(_post_shutdown)
        .build()
    )
    app.add_handler(TypeHandler(Update, handlers.observe), group=-2)
    app.add_handler(TypeHandler(Update, handlers.guard), group=-1)
    for name, callback in {
        "start": handlers.start,
        "help": handlers.show_help,
        "export": handlers.export,
        "status": handlers.status,
        "credits": handlers.credits,
        "new": handlers.new,
        "cancel": handlers.cancel,
        "language": handlers.language,
        "history": handlers.history,
    }.items():
        app.add_handler(CommandHandler(name, callback, filters=NEW_MESSAGES))
    app.add_handler(CallbackQueryHandler(buttons.button))
    app.add_handler(
        MessageHandler(NEW_MESSAGES & filters.TEXT & ~filters.COMMAND, handlers.text)
    )
    app.add_handler(
        MessageHandler(
            NEW_MESSAGES
            & (
                filters.VIDEO | filters.VIDEO_NOTE | filters.ANIMATION | filters.PHOTO
                | filters.AUDIO | filters.Document.ALL
            ),
            handlers.media,
        )
    )
    app.add_handler(
        MessageHandler(
            NEW_MESSAGES
            & (
                filters.Sticker.ALL | filters.VOICE | filters.CONTACT | filters.LOCATION
                | filters.VENUE | filters.POLL | filters.Dice.ALL | filters.GAME
            ),
            handlers.unsupported,
        )
    )
    app.add_error_handler(handlers.on_error)
    return app


__all__ = ["SUPPORTED", "build_application"]
