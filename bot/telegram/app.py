"""The composition root: builds the Application and registers the handlers. The rate limiter
(``limiter.py``), the runtime's opening and closing (``lifecycle.py``) and the classification
of Telegram's errors (``retries.py``, ``flood.py``) live in their own modules."""

from __future__ import annotations

import logging
from typing import Literal

from telegram import LinkPreviewOptions, Update
from telegram.ext import (
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    Defaults,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.compress import Ffmpeg
from bot.config import Settings
from bot.i18n import SUPPORTED
from bot.telegram import buttons, handlers
from bot.telegram.health import Health
from bot.telegram.inbox import InboxRequest
from bot.telegram.lifecycle import FIND, post_init, post_shutdown
from bot.telegram.limiter import RateLimiter
from bot.telegram.ordering import PerChatOrder
from bot.telegram.runtime import CONTEXT_TYPES, BotApp

log = logging.getLogger(__name__)


# Editing a sent message must not run it again.
NEW_MESSAGES = filters.UpdateType.MESSAGE
# What the handlers below handle; Telegram need not send (nor the bot store) anything else.
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]




def build_application(
    settings: Settings, *, ffmpeg: Ffmpeg | Literal["find"] | None = FIND
) -> BotApp:
    api = settings.telegram_api_url
    # Polling fetches updates through the inbox, which keeps each batch in the store first.
    health = Health()
    inbox = None if settings.webhook_url else InboxRequest(health)
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
        .concurrent_updates(PerChatOrder(settings.max_concurrent_updates, health))
        .connection_pool_size(512)
        .rate_limiter(RateLimiter(max_retries=3))
        # No message the bot sends or edits unfurls a link into a preview card.
        .defaults(Defaults(link_preview_options=LinkPreviewOptions(is_disabled=True)))
        .post_init(lambda app: post_init(app, settings, inbox, ffmpeg))
        .post_shutdown(post_shutdown)
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
        "settings": handlers.show_settings,
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
