"""Updates of one chat handled one at a time, in arrival order; different chats at once.

python-telegram-bot's concurrent updates would otherwise let two quick messages of one chat
reach the store in either order. Most handlers only parse and queue; /credits and /status,
which wait on the backend, answer after their handler returned (see ``deferred``), so a slow
backend never holds up the chat's /cancel or next message. A stored export sent again still
waits inside the lock.

A store that fails while an update is handled (locked, full, gone for a moment) does not lose
it: when polling, the update (kept in the inbox) is handled again after a growing pause,
still inside its chat's lock, so the chat's later updates keep their order; in webhook mode
:class:`IntakeFailed` makes the POST a 5xx, and Telegram delivers it again.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

from bot.locks import KeyedLocks
from bot.store import ChatStore
from bot.store.errors import store_failed
from bot.telegram.flood import HELD
from bot.telegram.health import Health

log = logging.getLogger(__name__)

STORE_RETRY = (0.5, 1.0, 2.0, 4.0, 5.0)
"""Pauses before handling again an update whose handling the store failed; the last repeats."""


class IntakeFailed(Exception):
    """The store failed while this update was handled: it is not taken in (webhook: 5xx)."""


class PerChatOrder(BaseUpdateProcessor):
    def __init__(self, max_concurrent_updates: int, health: Health | None = None) -> None:
        super().__init__(max_concurrent_updates)
        self.health = health or Health()
        self.store_failed: set[int] = set()
        """Updates whose handlers met a failing store (the error handler notes them)."""
        self.again: Callable[[Update], Awaitable[Any]] | None = None
        """Handles an update once more (set once the Application runs)."""
        self.running: Callable[[], bool] = lambda: True
        """Whether the Application still runs: a stop ends the retries (the update stays
        kept in the inbox, and the next start handles it)."""
        self.inbox: ChatStore | None = None
        """Set once the store is open: each update is claimed before and marked handled
        after its handlers (see bot.telegram.inbox)."""
        self._locks: KeyedLocks[int] = KeyedLocks()
        self.deferred: set[int] = set()
        """Updates whose answer goes on after the handler returned, outside the chat's lock
        (/status, /credits): the answer marks them handled (:meth:`finish`), so a crash
        before it still leaves them to be handled again on the next start."""

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await self._handle(update, coroutine)
            return
        # The chat's lock is taken before anything awaits: updates enter it in arrival order.
        # (Claiming first let an album's items overtake each other on PostgreSQL, where
        # concurrent claims return in any order from a pool of connections.)
        lock = self._locks(chat.id)
        async with lock:
            # A flood wait gives it back meanwhile (bot.telegram.flood).
            held = HELD.set((lock, asyncio.current_task()))
            try:
                await self._handle(update, coroutine)
            finally:
                HELD.reset(held)

    async def _handle(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Claim the update in the inbox, run its handlers, mark it handled (unless its
        answer goes on outside the lock: ``deferred``); again while the store fails."""
        update_id = update.update_id if isinstance(update, Update) else None
        inbox = self.inbox if update_id is not None else None
        claimed = False
        attempt = 0
        while True:
            try:
                if inbox is not None and update_id is not None and not claimed:
                    if not await inbox.claim_update(update_id):
                        log.info("update %s was handled already; skipped", update_id)
                        if inspect.iscoroutine(coroutine):
                            coroutine.close()
                        return
                    claimed = True
                await coroutine
                if update_id is not None and update_id in self.store_failed:
                    self.store_failed.discard(update_id)
                    raise IntakeFailed(f"update {update_id}: the store failed")
                if update_id is not None and update_id in self.deferred:
                    self.deferred.discard(update_id)
                elif inbox is not None and update_id is not None:
                    await inbox.finish_update(update_id)
            except Exception as exc:
                if not (isinstance(exc, IntakeFailed) or store_failed(exc)):
                    raise
                if (inspect.iscoroutine(coroutine)
                        and inspect.getcoroutinestate(coroutine) == inspect.CORO_CREATED):
                    coroutine.close()  # the claim failed before the handlers ran
                if self.health.intake_failed(exc):
                    log.warning("the store failed while update %s was handled (%s)",
                                update_id, type(exc).__name__)
                if inbox is None or self.again is None or not isinstance(update, Update):
                    raise IntakeFailed(str(exc)) from exc  # webhook: Telegram sends it again
                pause = STORE_RETRY[min(attempt, len(STORE_RETRY) - 1)]
                attempt += 1
                await asyncio.sleep(pause)
                if not self.running():
                    log.warning("update %s left to the next start (the store failed)",
                                update_id)
                    return
                coroutine = self.again(update)
                continue
            if self.health.intake_ok():
                log.warning("the store works again; update %s handled", update_id)
            return

    async def finish(self, update_id: int) -> None:
        """A deferred update has been answered."""
        if self.inbox is not None:
            await self.inbox.finish_update(update_id)

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to tear down."""
