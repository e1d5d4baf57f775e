"""The NemoVideo backend: client, models, errors and SSE events. Knows nothing of Telegram."""

from bot.backend.client import FileUpload, NemoClient, TurnStream
from bot.backend.errors import BackendError

__all__ = ["BackendError", "FileUpload", "NemoClient", "TurnStream"]
