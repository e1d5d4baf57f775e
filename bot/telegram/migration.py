"""A group upgraded to a supergroup: Telegram gives it a new id and refuses the old one
(400 with ``migrate_to_chat_id``; python-telegram-bot raises ``ChatMigrated``).

The first call that meets the refusal moves the chat: its stored rows (project, token,
settings, queue) go to the new id (``ChatStore.move_chat``), the chat's queue learns of it
(its running job finishes, the rest runs under the new id), and this process remembers the
new id, so later messages go straight there. The call that failed is made again there.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class Moves:
    """Old chat id -> new chat id, for this process (the store holds the rows)."""

    def __init__(self) -> None:
        self._to: dict[int, int] = {}
        self.on_move: Callable[[int, int], Awaitable[None]] | None = None
        """Moves the stored chat and tells the queue (set once the store is open)."""

    def current(self, chat_id: int) -> int:
        """The id to send to: the chat's new id once it moved."""
        seen: set[int] = set()
        while chat_id in self._to and chat_id not in seen:
            seen.add(chat_id)
            chat_id = self._to[chat_id]
        return chat_id

    async def moved(self, old_id: int, new_id: int) -> None:
        """Telegram said ``old_id`` is now ``new_id``: move the chat (once)."""
        if old_id == new_id or self._to.get(old_id) == new_id:
            return  # a call that raced the first one meets the same refusal
        self._to[old_id] = new_id  # before the await: two calls failing at once move it once
        log.info("chat %s became supergroup %s: its project and queue move there",
                 old_id, new_id)
        if self.on_move is not None:
            await self.on_move(old_id, new_id)
