"""Polled updates are written to the store before Telegram considers them delivered.

python-telegram-bot confirms a batch by asking for the next one, which it does as soon as the
batch is queued, long before the handlers have stored the work. A crash in between loses
updates Telegram will never send again. So getUpdates gets its own connection that writes
every batch to the store's inbox before handing it over; an update is marked handled when its
handlers are done, and a start hands the unhandled ones to the handlers again. A repeat
(Telegram re-sends what was not confirmed) is recognised and skipped.

While the store cannot take a batch (locked, full, gone for a moment), the batch is not
handed over, so the next getUpdates does not confirm it: polling pauses and the write is
tried again with a growing pause, and ``/healthz`` says unhealthy until it succeeds.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from telegram.request import HTTPXRequest, RequestData
from telegram.request._baserequest import BaseRequest

from bot.store import ChatStore
from bot.store.errors import store_failed
from bot.telegram.health import Health

log = logging.getLogger(__name__)

STORE_RETRY = (0.5, 1.0, 2.0, 4.0, 5.0)
"""Pauses between writes of a batch the store refused; the last one repeats."""


class InboxRequest(HTTPXRequest):
    """The getUpdates connection: a batch is in the store before the bot sees it."""

    def __init__(self, health: Health | None = None) -> None:
        super().__init__(connection_pool_size=1)
        self.store: ChatStore | None = None
        self.health = health or Health()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        code, payload = await super().do_request(
            url, method, request_data, read_timeout, write_timeout, connect_timeout,
            pool_timeout,
        )
        if self.store is not None and 200 <= code < 300:
            await self._keep(self.store, _updates(payload))
        return code, payload

    async def _keep(self, store: ChatStore, updates: list[tuple[int, str]]) -> None:
        """Write the batch, waiting out a failing store (one line when it starts failing and
        one when it works again); only a bug is raised."""
        attempt = 0
        while True:
            try:
                await store.keep_updates(updates)
            except Exception as exc:
                if not store_failed(exc):
                    raise
                pause = STORE_RETRY[min(attempt, len(STORE_RETRY) - 1)]
                attempt += 1
                if self.health.intake_failed(exc):
                    log.warning("the store cannot take updates (%s: %s); polling paused,"
                                " retrying", type(exc).__name__, exc)
                await asyncio.sleep(pause)
                continue
            if self.health.intake_ok():
                log.warning("the store takes updates again; polling resumed")
            return


def _updates(payload: bytes) -> list[tuple[int, str]]:
    """``(update_id, raw JSON)`` of each update in a getUpdates answer; nothing if odd (the
    library reports that itself)."""
    try:
        result = json.loads(payload).get("result")
    except (ValueError, AttributeError):
        return []
    if not isinstance(result, list):
        return []
    return [
        (int(u["update_id"]), json.dumps(u, ensure_ascii=False))
        for u in result
        if isinstance(u, dict) and isinstance(u.get("update_id"), int)
    ]
