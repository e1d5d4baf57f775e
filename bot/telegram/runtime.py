"""The objects that live for the whole process, opened in post_init and closed in post_shutdown."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx
from telegram.ext import CallbackContext

from bot.config import Settings
from bot.conversation.context import Services
from bot.conversation.queue import ChatQueue


@dataclass
class Runtime:
    settings: Settings
    svc: Services
    queue: ChatQueue
    files: httpx.AsyncClient  # streams files the people sent from the Bot API's file server
    background: set[asyncio.Task[None]] = field(default_factory=set)
    """Answers given outside a chat's lock (/status, /credits); cancelled at shutdown."""

    async def cancel_background(self) -> None:
        tasks = list(self.background)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def runtime(context: CallbackContext[Any, Any, Any, Any]) -> Runtime:
    rt = context.application.bot_data["runtime"]
    assert isinstance(rt, Runtime)
    return rt
