"""Telegram's flood limits ("retry after N s") waited out per chat, outside the chat's lock.

python-telegram-bot's rate limiter answers a 429 by pausing every request of the process
and sleeping where the call was made. A direct answer is made inside its chat's lock
(``ordering.PerChatOrder``), so one chat's flood wait held up that chat's ``/cancel`` and,
through the global pause, every other chat. Here a 429 only delays later calls to the same
chat, and the wait gives the chat's lock back to its other updates meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextvars import ContextVar
from datetime import timedelta

from telegram.error import RetryAfter

HELD: ContextVar[tuple[asyncio.Lock, asyncio.Task[object] | None] | None] = ContextVar(
    "held_chat_lock", default=None
)
"""The chat lock the current update's handlers run under and the task holding it (set by
``PerChatOrder``; a task started from a handler inherits the variable, not the lock)."""


class Flood(Exception):
    """A 429 carried past python-telegram-bot's limiter, so it does not pause everyone."""

    def __init__(self, exc: RetryAfter) -> None:
        super().__init__(str(exc))
        self.exc = exc

    @property
    def seconds(self) -> float:
        wait = self.exc.retry_after
        return wait.total_seconds() if isinstance(wait, timedelta) else float(wait)


@contextlib.asynccontextmanager
async def lock_released() -> AsyncIterator[None]:
    """Give the held chat lock (if any) to the chat's other updates for a while; order is
    kept for the rest, the lock is taken back before going on."""
    held = HELD.get()
    if held is None or held[1] is not asyncio.current_task() or not held[0].locked():
        yield
        return
    lock = held[0]
    lock.release()
    try:
        yield
    finally:
        # Held again whatever happens: the caller's ``async with`` releases it afterwards.
        cancelled = False
        while True:
            try:
                await lock.acquire()
                break
            except asyncio.CancelledError:
                cancelled = True
        if cancelled:
            raise asyncio.CancelledError


class FloodWaits:
    """Until when each chat (or, without a chat, the bot) must not be sent to."""

    def __init__(self) -> None:
        self._until: dict[object, float] = {}

    async def before(self, key: object) -> None:
        """Wait out the chat's flood limit, if one is running, without holding its lock."""
        wait = self._until.get(key, 0.0) - time.monotonic()
        if wait > 0:
            async with lock_released():
                await asyncio.sleep(wait)

    def hit(self, key: object, seconds: float) -> None:
        now = time.monotonic()
        for stale in [k for k, until in self._until.items() if until <= now]:
            del self._until[stale]  # the table holds only chats waiting now
        self._until[key] = max(self._until.get(key, 0.0), now + seconds + 0.1)
