"""A fake Telegram Bot API server for tests and the ``demo`` command.

The fake is a real HTTP server on 127.0.0.1 (aiohttp), so the real python-telegram-bot
``Bot``/``Application`` talks to it exactly as it talks to api.telegram.org: requests are
decoded from JSON, urlencoded forms and multipart uploads, answers and errors carry the real
Bot API shapes and descriptions, and the real size/length limits are enforced.  Tests play
users (:meth:`FakeTelegram.send_text`, :meth:`FakeTelegram.press_button`, ...) and observe what
the bot did (:attr:`FakeTelegram.calls`, :meth:`FakeTelegram.messages`, ...).

Point an application at it with::

    ApplicationBuilder().token(fake.token)
        .base_url(f"{fake.url}/bot").base_file_url(f"{fake.url}/file/bot")

Everything runs in the caller's asyncio loop; there are no threads.

The package is one class in layers, each a module that builds on the one before:
``api_types`` (limits, error texts, records), ``parse_mode`` (entities, HTML),
``state`` (chats, messages, files, updates), ``updates`` (getMe, webhooks, getUpdates),
``messages``, ``chats`` (commands, callbacks, members), ``media`` (files and uploads),
``server`` (HTTP, faults), ``scripting`` (users' actions, observations) and ``fake``
(:class:`FakeTelegram` with its table of methods).
"""

from __future__ import annotations

from bot.sandbox.telegram.api_types import (
    BOT_USER_ID,
    DEFAULT_TOKEN,
    ERR_NOT_MODIFIED,
    ApiCall,
    BotMessage,
    ChatOptions,
    UploadedFile,
    int_chat_id,
)
from bot.sandbox.telegram.fake import FakeTelegram
from bot.sandbox.telegram.parse_mode import detect_entities, parse_html

__all__ = [
    "BOT_USER_ID",
    "DEFAULT_TOKEN",
    "ERR_NOT_MODIFIED",
    "ApiCall",
    "BotMessage",
    "ChatOptions",
    "FakeTelegram",
    "UploadedFile",
    "detect_entities",
    "int_chat_id",
    "parse_html",
]
