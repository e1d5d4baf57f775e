"""A chat whose id changed: a group upgraded to a supergroup gets a new id from Telegram.

Every row keyed by the chat's id moves to the new one in one transaction (no schema change:
the same columns, new values). Where the new id already has a row of its own (someone wrote
in the supergroup before the bot noticed the move), the old chat's row wins: it holds the
project, token and settings the people built up; the new one can only be a fresh start.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager

KEYED_BY_CHAT = ("chats", "topics", "sources", "chat_settings", "jobs", "exports")
"""Every table with a ``chat_id`` (``chat_leases`` excepted: a lease belongs to the worker
that holds it, and it lets go of the old id by itself)."""
ONE_ROW = {"chats": "", "topics": "thread_id", "sources": "thread_id",
           "chat_settings": "thread_id"}
"""Tables with one row per chat (or per chat and the column named here)."""


class ChatMoves(ABC):
    @abstractmethod
    def _atomic(self) -> AbstractAsyncContextManager[Callable[..., Awaitable[int]]]: ...

    async def move_chat(self, old_id: int, new_id: int) -> int:
        """Move the chat's rows from ``old_id`` to ``new_id``; returns how many moved (0: done
        before, or nothing stored)."""
        moved = 0
        async with self._atomic() as run:
            for table in KEYED_BY_CHAT:
                if table in ONE_ROW:
                    column = ONE_ROW[table]
                    same = f" AND {column} IN (SELECT {column} FROM {table} WHERE chat_id = $1)"
                    await run(
                        f"DELETE FROM {table} WHERE chat_id = $2"
                        + (same if column else
                           f" AND EXISTS (SELECT 1 FROM {table} WHERE chat_id = $1)"),
                        old_id, new_id,
                    )
                moved += await run(f"UPDATE {table} SET chat_id = $2 WHERE chat_id = $1",
                                   old_id, new_id)
        return moved


__all__ = ["ChatMoves"]
