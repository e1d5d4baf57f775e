"""Updates of one chat handled one at a time, in arrival order; different chats at once.

python-telegram-bot's concurrent updates would otherwise let two quick messages of one chat
reach the store in either order. Most handlers only parse and queue; /credits and /status,
which wait on the backend, answer after their handler returned (see ``deferred``), so a slow
backend never holds up the chat's /cancel or next message. A stored export sent again still
waits inside the lock.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

from bot.locks import KeyedLocks
from bot.store import ChatStore

log = logging.getLogger(__name__)


class PerChatOrder(BaseUpdateProcessor):
    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
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
        async with self._locks(chat.id):
            await self._handle(update, coroutine)

    async def _handle(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Claim the update in the inbox, run its handlers, mark it handled (unless its
        answer goes on outside the lock: ``deferred``)."""
        update_id = update.update_id if isinstance(update, Update) else None
        inbox = self.inbox if update_id is not None else None
        if inbox is not None and update_id is not None and not await inbox.claim_update(
            update_id
        ):
            log.info("update %s was handled already; skipped", update_id)
            if inspect.iscoroutine(coroutine):
                coroutine.close()
            return
        await coroutine
        if update_id is not None and update_id in self.deferred:
            self.deferred.discard(update_id)
        elif inbox is not None and update_id is not None:
            await inbox.finish_update(update_id)

    async def finish(self, update_id: int) -> None:
        """A deferred update has been answered."""
        if self.inbox is not None:
            await self.inbox.finish_update(update_id)

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to tear down."""
