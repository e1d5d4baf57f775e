"""Logging that never prints a secret, whatever a library decides to log."""

from __future__ import annotations

import logging
import re

_PATTERNS = (
    re.compile(r"nmv_usr_[A-Za-z0-9_\-]+"),  # backend tokens
    re.compile(r"(Bearer\s+)\S+"),
    re.compile(r"(/bot)\d+:[A-Za-z0-9_\-]+"),  # a bot token inside a Bot API URL
)


def redact(text: str, secrets: list[str]) -> str:
    """``text`` with the given secrets and anything that looks like a token masked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + "***", text)
    return text


class RedactingFormatter(logging.Formatter):
    """Masks secrets in the whole formatted record, tracebacks included."""

    def __init__(self, fmt: str, secrets: list[str]) -> None:
        super().__init__(fmt)
        self._secrets = [s for s in secrets if s]

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self._secrets)


class _QuietBootstrap(logging.Filter):
    """A failed start (bad token, no network) ends with one clear line from ``__main__``;
    python-telegram-bot's own traceback of it only buries that line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("telegram.ext") and "Bootstrap" in record.getMessage():
            record.exc_info = None
            record.exc_text = None
        return True


def setup(level: str, secrets: list[str]) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(_QuietBootstrap())
    handler.setFormatter(
        RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", secrets)
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request URL at INFO, and Telegram URLs contain the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
