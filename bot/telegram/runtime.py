"""The objects that live for the whole process, opened in post_init and closed in post_shutdown,
and the typed context (python-telegram-bot's ``ContextTypes``) that hands them to handlers."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx
from telegram.ext import Application, CallbackContext, ContextTypes, ExtBot, JobQueue

from bot.config import Settings
from bot.conversation.context import Services
from bot.conversation.queue import ChatQueue
from bot.telegram.chat import AdminCache
from bot.telegram.migration import Moves


@dataclass
class Runtime:
    settings: Settings
    svc: Services
    queue: ChatQueue
    files: httpx.AsyncClient  # streams files the people sent from the Bot API's file server
    admins: AdminCache = field(default_factory=AdminCache)
    moves: Moves = field(default_factory=Moves)
    """Groups that became supergroups, old id -> new id (bot.telegram.migration)."""
    background: set[asyncio.Task[None]] = field(default_factory=set)
    replayed: set[int] = field(default_factory=set)
    """Updates handed to the handlers again at start (kept in the inbox, not handled when the
    last process stopped): their answers may have been sent already (bot.conversation.outbox)."""
    """Answers given outside a chat's lock (/status, /credits); cancelled at shutdown."""

    async def cancel_background(self) -> None:
        tasks = list(self.background)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class BotData:
    """``application.bot_data``: typed attributes instead of a dict of strings."""

    def __init__(self) -> None:
        self.runtime: Runtime | None = None
        """Open from post_init until post_shutdown."""


class BotContext(CallbackContext[ExtBot[Any], dict[Any, Any], dict[Any, Any], BotData]):
    """The ``context`` of every handler and job: python-telegram-bot's, plus the runtime."""

    @property
    def runtime(self) -> Runtime:
        rt = self.bot_data.runtime
        if rt is None:  # handlers and jobs run only between post_init and post_shutdown
            raise RuntimeError("the bot's runtime is not open")
        return rt


CONTEXT_TYPES = ContextTypes(context=BotContext, bot_data=BotData)

BotApp = Application[
    ExtBot[Any], BotContext, dict[Any, Any], dict[Any, Any], BotData, JobQueue[Any]
]
