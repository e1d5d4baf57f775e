"""Durable chat state (SQLite by default, PostgreSQL for replicas). Knows nothing of
Telegram or HTTP."""

from bot.store.interface import ChatStore
from bot.store.open import PollingTaken, StoreUnavailable, open_store
from bot.store.store import (
    ChatRecord,
    ExportRecord,
    Job,
    SendRecord,
    Source,
    Store,
    TopicRecord,
    VideoInfo,
)

__all__ = ["ChatRecord", "ChatStore", "ExportRecord", "Job", "PollingTaken", "SendRecord",
           "Source", "Store", "StoreUnavailable", "TopicRecord", "VideoInfo", "open_store"]
