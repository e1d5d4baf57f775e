"""Polled updates are written to the store before Telegram considers them delivered.

python-telegram-bot confirms a batch by asking for the next one, which it does as soon as the
batch is queued, long before the handlers have stored the work. A crash in between loses
updates Telegram will never send again. So getUpdates gets its own connection that writes
every batch to the store's inbox before handing it over; an update is marked handled when its
handlers are done, and a start hands the unhandled ones to the handlers again. A repeat
(Telegram re-sends what was not confirmed) is recognised and skipped.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from telegram.request import HTTPXRequest, RequestData
from telegram.request._baserequest import BaseRequest

from bot.store import ChatStore

log = logging.getLogger(__name__)


class InboxRequest(HTTPXRequest):
    """The getUpdates connection: a batch is in the store before the bot sees it."""

    def __init__(self) -> None:
        super().__init__(connection_pool_size=1)
        self.store: ChatStore | None = None

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
            await self.store.keep_updates(_updates(payload))
        return code, payload


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
