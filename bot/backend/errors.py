"""One exception per backend failure, so callers decide by type, never by parsing text."""

from __future__ import annotations

from typing import Any

_BY_CODE: dict[int, type[BackendError]] = {}
"""The backend's error codes (and the HTTP statuses used as codes), each to its exception;
filled by the classes that name a ``code``."""


class BackendError(Exception):
    """Any failure talking to the video backend."""

    code: int | None = None

    def __init_subclass__(cls, *, code: int | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if code is not None:
            cls.code = code
            _BY_CODE[code] = cls

    def __init__(
        self,
        message: str = "",
        *,
        code: int | None = None,
        status: int | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message or self.__class__.__name__)
        self.message = message
        if code is not None:
            self.code = code
        self.status = status
        self.path = path  # the request path, so a log line says which call failed


class TokenInvalid(BackendError, code=1001):
    """The token is bad or expired; a new anonymous token fixes it."""


class SessionNotFound(BackendError, code=1002):
    """The session is gone; a new session fixes it, uploads are lost."""


class NoCredits(BackendError, code=2001):
    """The account has no credits left."""


class UnsupportedFile(BackendError, code=4001):
    """The backend refuses this file type."""


class FileTooLarge(BackendError, code=4002):
    """The file is over the backend's size limit."""


class MissingClientId(BackendError, code=400):
    """Usually a missing or refused X-Client-Id (not python-telegram-bot's BadRequest)."""


class PlanRequired(BackendError, code=402):
    """Export is blocked on the free plan (not a credits problem)."""


class RateLimited(BackendError, code=429):
    """Too many requests; retry once after a pause (``retry_after`` when the backend said)."""

    retry_after: float | None = None


class DuplicateRenderId(BackendError):
    """The render id was used already; retry with a fresh one."""


class Unavailable(BackendError):
    """The service cannot serve right now: catch this for either kind below."""


class Unreachable(Unavailable):
    """No answer at all: the connection failed, timed out or broke, or the name did not
    resolve. A request that was not idempotent may or may not have been applied."""


class ServerFailed(Unavailable):
    """The backend answered, with a 5xx or an answer that is not the API's (a proxy's page)."""


class StreamBroken(Unavailable):
    """The SSE stream ended abnormally (connection lost or timed out)."""


class AgentError(BackendError):
    """The agent reported a failure inside the SSE stream."""


class MalformedAnswer(BackendError):
    """The backend answered, but in a shape the bot cannot use (validation failed)."""


class UnsafeUrl(BackendError):
    """A download URL the bot refuses to fetch (not http(s), or a private address)."""


TRANSIENT: tuple[type[BackendError], ...] = (Unavailable, RateLimited, MalformedAnswer)
"""Failures worth retrying later: the same call may well succeed in a moment."""

def error_for(
    code: int | None, message: str, status: int | None, path: str | None = None
) -> BackendError:
    """Map a backend code (or, lacking one, the HTTP status) to its exception."""
    if "duplicate" in message.lower() and code not in {1001, 1002, 2001, 402, 429}:
        return DuplicateRenderId(message, code=code, status=status, path=path)
    if code is not None and code in _BY_CODE:
        return _BY_CODE[code](message, status=status, path=path)
    if status is not None:
        if status == 401:
            return TokenInvalid(message, status=status, path=path)
        if status in _BY_CODE and code is None:
            return _BY_CODE[status](message, status=status, path=path)
        if status >= 500:
            return ServerFailed(message or f"HTTP {status}", code=code, status=status, path=path)
    return BackendError(message or f"backend error {code}", code=code, status=status, path=path)


def code_of(value: object) -> int | None:
    """A backend code as an int, whether it came as a number or a numeric string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def stream_error(message: str, code: int | None) -> BackendError:
    """An error frame inside the SSE stream, under the same table as HTTP answers."""
    if code is not None and code in _BY_CODE:
        return _BY_CODE[code](message, path="/run_sse")
    return AgentError(message, code=code, path="/run_sse")
