"""Durable chat state (SQLite by default, PostgreSQL for replicas). Knows nothing of
Telegram or HTTP."""

from bot.store.interface import ChatStore
from bot.store.open import PollingTaken, StoreUnavailable, open_store
from bot.store.store import ChatRecord, Job, Store, TopicRecord

__all__ = ["ChatRecord", "ChatStore", "Job", "PollingTaken", "Store",
           "StoreUnavailable", "TopicRecord", "open_store"]
