"""Durable chat state (SQLite by default, PostgreSQL for replicas). Knows nothing of
Telegram or HTTP."""

from bot.store.interface import ChatStore
from bot.store.open import PollingTaken, StoreUnavailable, open_store
from bot.store.records import (
    ChatRecord,
    ChatSettings,
    ExportRecord,
    Job,
    SendRecord,
    Source,
    SourceFile,
    TopicRecord,
    VideoInfo,
)
from bot.store.sqlite import SqliteStore

__all__ = ["ChatRecord", "ChatSettings", "ChatStore", "ExportRecord", "Job", "PollingTaken",
           "SendRecord", "Source", "SourceFile", "SqliteStore", "StoreUnavailable", "TopicRecord",
           "VideoInfo", "open_store"]
