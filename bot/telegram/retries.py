"""Which Bot API calls may be repeated after a failure, and how often.

A call that never reached Telegram (connection refused, not made in time) can always be
made again. A 5xx or a proxy's HTML error page is different: Telegram may have carried the
call out and only the answer was lost. Repeating an edit, a deletion or a read then changes
nothing, so those are retried patiently; repeating a send may put the message in the chat
twice, and Telegram offers no way to ask, so a send is repeated once, with a line in the log
that says it may have doubled (losing the answer silently would be worse).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from telegram.error import NetworkError, TimedOut

from bot import metrics

log = logging.getLogger(__name__)

IDEMPOTENT = frozenset({
    "answerCallbackQuery", "deleteMessage", "deleteMessages", "deleteWebhook",
    "editMessageCaption", "editMessageMedia", "editMessageReplyMarkup", "editMessageText",
    "getChat", "getChatAdministrators", "getChatMember", "getFile", "getMe",
    "getWebhookInfo", "sendChatAction", "setMyCommands", "setWebhook",
})
"""Methods whose second application changes nothing (a chat action only shows again)."""

PATIENT = (0.5, 1.0, 2.0, 4.0, 8.0)
"""Pauses before repeating a call that can be repeated safely."""
UNSURE = (0.5,)
"""Pauses before repeating a send that Telegram may have carried out: one repeat."""


def unsent(exc: BaseException) -> bool:
    """The request never reached Telegram: a refused connection, one not made in time."""
    cause = exc.__cause__
    if isinstance(exc, TimedOut):
        return isinstance(cause, httpx.ConnectTimeout | httpx.PoolTimeout)
    return type(exc) is NetworkError and isinstance(cause, httpx.ConnectError)


def transient(exc: BaseException) -> bool:
    """A failure worth repeating: not reached (``unsent``), a 5xx or an HTML error page. Not
    a read timeout: that call may have gone through and is the caller's to judge."""
    return unsent(exc) or type(exc) is NetworkError


async def repeat(endpoint: str, call: Callable[[], Awaitable[Any]]) -> Any:
    """``call()``, repeated after a transient failure as far as ``endpoint`` allows."""
    attempt = 0
    while True:
        try:
            return await call()
        except NetworkError as exc:
            if not transient(exc):
                raise
            # Telegram never saw it, or a repeat changes nothing: patiently; else once.
            pauses = PATIENT if unsent(exc) or endpoint in IDEMPOTENT else UNSURE
            if attempt >= len(pauses):
                raise
            pause = pauses[attempt]
            if pauses is UNSURE:
                log.warning("Bot API %s answered %s after Telegram may have carried it out;"
                            " sent once more, so the chat may see it twice", endpoint, exc)
            attempt += 1
            metrics.TELEGRAM_RETRIES.labels(endpoint).inc()
            log.info("Bot API %s failed (%s); retrying in %.1f s", endpoint, exc, pause)
            await asyncio.sleep(pause)
