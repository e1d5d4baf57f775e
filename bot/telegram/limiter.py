"""Sends under Telegram's limits: messages through python-telegram-bot's AIORateLimiter, chat
actions and button answers outside it, a 429 waited out per chat, and Telegram's 5xx retried
by the one per-method policy (``retries.py``)."""

from __future__ import annotations

import logging
import time
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import (
    AIORateLimiter,
)

from bot import metrics
from bot.conversation.outbox import about_to_send
from bot.telegram.flood import Flood, FloodWaits
from bot.telegram.retries import repeat

log = logging.getLogger(__name__)


FLOOD_RETRIES = 3
"""429s ("retry after N s") waited out before the call's error is the caller's."""
UNLIMITED = frozenset({"sendChatAction", "answerCallbackQuery", "getChatMember"})
"""Not messages: Telegram's 30 a second and 20 a minute per group are not theirs to use."""


class RateLimiter(AIORateLimiter):
    """Telegram's limits are about messages; "typing" must not eat a group's 20 a minute.

    Also repeats a call that got a 5xx, a proxy's HTML error page or a refused connection,
    as far as its method allows (``retries.repeat``): without it one Bad Gateway loses an
    answer, with it unbounded a send could arrive many times. A 429 delays only its own
    chat, and its wait gives the chat's lock back meanwhile (``bot.telegram.flood``).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.floods = FloodWaits()

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
            return await repeat(endpoint, lambda: counted(*a, **kw))

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
            except RetryAfter as exc:  # waited out below, past the base class's global pause
                metrics.TELEGRAM_RETRIES.labels(endpoint).inc()
                raise Flood(exc) from exc
            finally:
                metrics.TELEGRAM_WAITING.inc()
                in_flight += time.monotonic() - began

        chat = data.get("chat_id")
        metrics.TELEGRAM_WAITING.inc()
        try:
            for attempt in range(FLOOD_RETRIES + 1):
                await self.floods.before(chat)
                try:
                    if endpoint in UNLIMITED:
                        return await call(*args, **kwargs)
                    return await super().process_request(
                        call, args, kwargs, endpoint, data, rate_limit_args
                    )
                except Flood as flood:
                    if attempt == FLOOD_RETRIES:
                        raise flood.exc from None
                    log.info("Bot API %s: flood control, retrying in %.0f s", endpoint,
                             flood.seconds)
                    self.floods.hit(chat, flood.seconds)
            raise AssertionError("unreachable")
        finally:
            metrics.TELEGRAM_WAITING.dec()
            if endpoint not in UNLIMITED:
                waited = time.monotonic() - entered - in_flight
                metrics.TELEGRAM_WAIT.labels(endpoint).observe(max(0.0, waited))
