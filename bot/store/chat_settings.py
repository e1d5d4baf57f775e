"""The /settings queries, the same on both engines (a part of ``ChatStore``, kept apart to
keep ``interface.py`` readable)."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import Any

from bot.store.records import ChatSettings, Row


class SettingsQueries(ABC):
    """One row per chat or forum topic (thread 0 = the chat itself); none means defaults."""

    @abstractmethod
    async def _row(self, sql: str, *args: Any) -> Row | None: ...

    @abstractmethod
    async def _run(self, sql: str, *args: Any) -> int: ...

    async def get_settings(self, chat_id: int, thread_id: int) -> ChatSettings:
        row = await self._row(
            "SELECT preset, codec, max_short_side FROM chat_settings"
            " WHERE chat_id = $1 AND thread_id = $2",
            chat_id, thread_id,
        )
        if row is None:
            return ChatSettings()
        return ChatSettings(row["preset"], str(row["codec"]), row["max_short_side"])

    async def save_settings(self, chat_id: int, thread_id: int, value: ChatSettings) -> None:
        """Replace the chat's (or topic's) settings with ``value``."""
        await self._run(
            "INSERT INTO chat_settings (chat_id, thread_id, preset, codec, max_short_side,"
            " updated_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (chat_id, thread_id)"
            " DO UPDATE SET preset = $3, codec = $4, max_short_side = $5, updated_at = $6",
            chat_id, thread_id, value.preset, value.codec, value.max_short_side, time.time(),
        )
