"""Durable chat state in SQLite. Knows nothing of Telegram or HTTP."""

from bot.store.store import (
    ChatRecord,
    ExportRecord,
    Job,
    Source,
    Store,
    TopicRecord,
    VideoInfo,
)

__all__ = [
    "ChatRecord", "ExportRecord", "Job", "Source", "Store", "TopicRecord", "VideoInfo",
]
