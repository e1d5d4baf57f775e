"""What came in from Telegram (the polling inbox) and what went out (the sends records)."""


from __future__ import annotations

import time

from bot.store.base import (
    StoreBase,
)
from bot.store.records import (
    SendRecord,
)


class UpdateQueries(StoreBase):
    """The inbox and the sends records."""

    # -- sends: the messages a job set out to send, and which Telegram confirmed
    # (bot.conversation.outbox)

    async def sends(self, owner: str) -> dict[str, SendRecord]:
        """What ``owner`` (``job:<id>``) set out to send before a restart, by step."""
        rows = await self._rows(
            "SELECT step, sent, message_id FROM sends WHERE owner = $1", owner
        )
        return {str(r["step"]): SendRecord(bool(r["sent"]), r["message_id"]) for r in rows}

    async def end_send(self, owner: str, step: str, message_id: int | None) -> None:
        """Telegram confirmed the message: a restart must not send it again."""
        await self._run(
            "INSERT INTO sends (owner, step, sent, message_id, updated_at)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (owner, step) DO UPDATE"
            " SET sent = excluded.sent, message_id = excluded.message_id,"
            " updated_at = excluded.updated_at",
            owner, step, True, message_id, time.time(),
        )

    # -- the inbox of polled updates (bot.telegram.inbox): kept before Telegram considers them
    # delivered, claimed and marked handled around their handlers

    async def keep_updates(self, updates: list[tuple[int, str]]) -> None:
        """Write a polled batch (``(update_id, raw JSON)``) at once; one seen before
        (Telegram repeats what was not confirmed) keeps its row and state."""
        now = time.time()
        await self._run_many(
            "INSERT INTO inbox (update_id, body, state, updated_at) VALUES ($1, $2, 'new', $3)"
            " ON CONFLICT (update_id) DO NOTHING",
            [(update_id, body, now) for update_id, body in updates],
        )

    async def claim_update(self, update_id: int) -> bool:
        """Whether to handle this update now: ``False`` when it is already being handled or
        was handled (a repeat), ``True`` when it is new or was never kept (webhook mode)."""
        if await self._run(
            "UPDATE inbox SET state = 'handling', updated_at = $1"
            " WHERE update_id = $2 AND state = 'new'",
            time.time(), update_id,
        ):
            return True
        return await self._value("SELECT 1 FROM inbox WHERE update_id = $1", update_id) is None

    async def finish_update(self, update_id: int) -> None:
        await self._run(
            "UPDATE inbox SET state = 'done', updated_at = $1 WHERE update_id = $2",
            time.time(), update_id,
        )

    async def unhandled_updates(self) -> list[tuple[int, str]]:
        """Updates (``(update_id, raw JSON)``) kept but not handled when the last process
        stopped, oldest first; they are marked new again, to be handled once more."""
        await self._run("UPDATE inbox SET state = 'new' WHERE state = 'handling'")
        rows = await self._rows(
            "SELECT update_id, body FROM inbox WHERE state = 'new' ORDER BY update_id"
        )
        return [(int(row["update_id"]), str(row["body"])) for row in rows]

    async def set_update_aside(self, update_id: int) -> None:
        """A kept update that cannot be read back ('dead'): never replayed again, kept for a
        look by hand until pruned, so one bad row cannot stop every start."""
        await self._run(
            "UPDATE inbox SET state = 'dead', updated_at = $1 WHERE update_id = $2",
            time.time(), update_id,
        )
