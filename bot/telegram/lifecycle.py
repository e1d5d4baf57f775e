"""The runtime's opening (the store, the backend client, the queue, resumed work, the command
menus) when the Application starts, and its closing when it stops."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Final, Literal

import httpx
from telegram import BotCommand, Update

from bot import __version__
from bot.backend import NemoClient
from bot.compress import Ffmpeg
from bot.config import Settings, local_ffmpeg
from bot.conversation import flows
from bot.conversation.accounts import Accounts
from bot.conversation.context import Limits, Services, Timing, TypingBudget
from bot.conversation.encoder import EncodeSlots, Local
from bot.conversation.interrupted import interrupted
from bot.conversation.queue import ChatQueue
from bot.i18n import translator
from bot.store import PollingTaken, open_store
from bot.telegram.chat import AdminCache, TelegramChat
from bot.telegram.inbox import InboxRequest
from bot.telegram.migration import Moves
from bot.telegram.ordering import PerChatOrder
from bot.telegram.runtime import BotApp, BotContext, Runtime
from bot.tempfiles import TempFiles

log = logging.getLogger(__name__)


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
        BotCommand("settings", t._("A default for new videos, the language, the codec")),
        BotCommand("history", t._("Your latest videos, to get one again")),
    ]


# Telegram picks the menu by the phone's language code; both Chinese scripts share "zh".
MENU_LANGUAGES = {"en": "en", "zh": "zh_Hans"}


FIND: Final = "find"
"""``build_application(ffmpeg=FIND)``: look for ffmpeg at start (the harness); ``python -m bot``
hands over the one it already found while validating the configuration."""


async def post_init(app: BotApp, settings: Settings, inbox: InboxRequest | None,
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
    admins, moves = AdminCache(), Moves()
    queue = ChatQueue(
        svc,
        lambda chat_id, thread_id, reply_to: TelegramChat(
            app.bot, chat_id, thread_id, reply_to, files=files, admins=admins, moves=moves
        ),
        flows.LOCAL_HANDLERS if local is not None and local.always else flows.HANDLERS,
        on_error=flows.job_failed,
        on_interrupted=interrupted,
        lease_seconds=settings.replica_lease_seconds,
        turn_rate_limit=settings.turn_rate_limit,
        max_pending=settings.max_pending_jobs,
    )
    rt = app.bot_data.runtime = Runtime(settings=settings, svc=svc, queue=queue, files=files,
                                        admins=admins, moves=moves)

    async def move(old_id: int, new_id: int) -> None:  # a group became a supergroup
        await store.move_chat(old_id, new_id)
        queue.moved(old_id, new_id)

    moves.on_move = move
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
    order = app.update_processor
    if isinstance(order, PerChatOrder):
        order.health.store = store

        def again(update: Update) -> Any:
            rt.replayed.add(update.update_id)  # its answers may have been sent (the outbox)
            return app.process_update(update)

        order.again = again
        order.running = lambda: app.running
    if inbox is not None and isinstance(order, PerChatOrder):
        inbox.store = order.inbox = store
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


async def post_shutdown(app: BotApp) -> None:
    rt = app.bot_data.runtime
    if rt is None:  # post_init failed before opening it
        return
    await rt.cancel_background()
    if isinstance(app.update_processor, PerChatOrder):
        await app.update_processor.health.close()
    await rt.queue.shutdown()
    await rt.svc.client.aclose()
    await rt.files.aclose()
    await rt.svc.temp.close()
    await rt.svc.store.close()
