"""Durable chat state in SQLite. Knows nothing of Telegram or HTTP."""

from bot.store.store import ChatRecord, Job, Store, TopicRecord

__all__ = ["ChatRecord", "Job", "Store", "TopicRecord"]
