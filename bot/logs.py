"""Logging that never prints a secret, whatever a library decides to log.

Every line carries the chat, update, job and render it is about (when there is one), taken
from context variables that the update path, the chat queue and the export set. With
``LOG_FORMAT=json`` each line is one JSON object, traceback included.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from pythonjsonlogger.json import JsonFormatter

_PATTERNS = (
    re.compile(r"nmv_usr_[A-Za-z0-9_\-]+"),  # backend tokens
    re.compile(r"(Bearer\s+)[^\s\"']+"),
    re.compile(r"(/bot)\d+:[A-Za-z0-9_\-]+"),  # a bot token inside a Bot API URL
    # The register link's anonymous user id claims that chat's account for whoever opens it.
    re.compile(r"(bind=)[^\s&#\"'<>\\]+"),
)

# What a log line is about; set where the value becomes known, inherited by the tasks it starts.
CONTEXT_FIELDS = ("chat_id", "update_id", "job_id", "render_id")
_context: dict[str, ContextVar[int | str | None]] = {
    name: ContextVar(name, default=None) for name in CONTEXT_FIELDS
}


def bind(**fields: int | str | None) -> None:
    """Attach these ids to every log line of the current task (and the tasks it starts)."""
    for name, value in fields.items():
        _context[name].set(value)


@contextlib.contextmanager
def scope(**fields: int | str | None) -> Iterator[None]:
    """``bind`` for a block only."""
    tokens = [(_context[name], _context[name].set(value)) for name, value in fields.items()]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def current() -> dict[str, int | str]:
    """The ids bound now (only those that are set)."""
    values = {name: var.get() for name, var in _context.items()}
    return {name: value for name, value in values.items() if value is not None}


_RUNTIME_SECRETS: list[str] = []
"""Secrets made while running (a generated webhook secret), masked like configured ones."""


def add_secret(value: str) -> None:
    """Mask ``value`` in every log line from now on: a library's DEBUG request logging may
    print it (python-telegram-bot logs setWebhook's parameters, secret_token included)."""
    if value and value not in _RUNTIME_SECRETS:
        _RUNTIME_SECRETS.append(value)


def redact(text: str, secrets: list[str]) -> str:
    """``text`` with the given secrets and anything that looks like a token masked."""
    for secret in (*secrets, *_RUNTIME_SECRETS):
        if secret:
            text = text.replace(secret, "***")
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + "***", text)
    return text


class ContextFilter(logging.Filter):
    """Copies the bound ids onto the record: ``record.chat_id`` etc. for the formatters."""

    def filter(self, record: logging.LogRecord) -> bool:
        ids = current()
        for name, value in ids.items():
            if not hasattr(record, name):
                setattr(record, name, value)
        record.context = "".join(
            f" {name.removesuffix('_id')}={value}" for name, value in ids.items()
        )
        return True


class RedactingFormatter(logging.Formatter):
    """Masks secrets in the whole formatted record, tracebacks included."""

    def __init__(self, fmt: str, secrets: list[str]) -> None:
        super().__init__(fmt, defaults={"context": ""})
        self._secrets = [s for s in secrets if s]

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self._secrets)


class RedactingJsonFormatter(JsonFormatter):
    """One JSON object per line; every string value masked before it is serialised."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger",
                           "exc_info": "traceback"},
            reserved_attrs=[*_RESERVED, "context"],
        )
        self._secrets = [s for s in secrets if s]

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        return {
            key: redact(value, self._secrets) if isinstance(value, str) else value
            for key, value in log_data.items()
        }


_RESERVED = [
    "args", "asctime", "created", "exc_info", "exc_text", "filename", "funcName", "levelname",
    "levelno", "lineno", "module", "msecs", "message", "msg", "name", "pathname", "process",
    "processName", "relativeCreated", "stack_info", "thread", "threadName", "taskName",
]


class _QuietBootstrap(logging.Filter):
    """A failed start (bad token, no network) ends with one clear line from ``__main__``;
    python-telegram-bot's own traceback of it only buries that line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("telegram.ext") and "Bootstrap" in record.getMessage():
            record.exc_info = None
            record.exc_text = None
        return True


def formatter(log_format: str, secrets: list[str]) -> logging.Formatter:
    if log_format == "json":
        return RedactingJsonFormatter(secrets)
    return RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s%(context)s",
                              secrets)


def setup(level: str, secrets: list[str], log_format: str = "text") -> None:
    handler = logging.StreamHandler()
    handler.addFilter(_QuietBootstrap())
    handler.addFilter(ContextFilter())
    handler.setFormatter(formatter(log_format, secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.captureWarnings(True)  # library warnings become log lines in the same format
    # httpx logs every request URL at INFO, and Telegram URLs contain the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("aiosqlite").setLevel(logging.INFO)  # a line per SQL call otherwise
    # aiohttp's access log is one line per request; Telegram's POSTs would drown the rest.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
