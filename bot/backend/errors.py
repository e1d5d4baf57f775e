"""One exception per backend failure, so callers decide by type, never by parsing text."""

from __future__ import annotations


class BackendError(Exception):
    """Any failure talking to the video backend."""

    code: int | None = None

    def __init__(self, message: str = "", *, code: int | None = None, status: int | None = None):
        super().__init__(message or self.__class__.__name__)
        self.message = message
        if code is not None:
            self.code = code
        self.status = status


class TokenInvalid(BackendError):
    """1001: the token is bad or expired; a new anonymous token fixes it."""

    code = 1001


class SessionNotFound(BackendError):
    """1002: the session is gone; a new session fixes it, uploads are lost."""

    code = 1002


class NoCredits(BackendError):
    """2001: the account has no credits left."""

    code = 2001


class UnsupportedFile(BackendError):
    """4001: the backend refuses this file type."""

    code = 4001


class FileTooLarge(BackendError):
    """4002: the file is over the backend's size limit."""

    code = 4002


class BadRequest(BackendError):
    """400: usually a missing X-Client-Id."""

    code = 400


class PlanRequired(BackendError):
    """402: export is blocked on the free plan (not a credits problem)."""

    code = 402


class RateLimited(BackendError):
    """429: too many requests; retry once after a pause."""

    code = 429


class DuplicateRenderId(BackendError):
    """The render id was used already; retry with a fresh one."""


class Unavailable(BackendError):
    """Transport failure, timeout or a 5xx: the service cannot be reached right now."""


class StreamBroken(Unavailable):
    """The SSE stream ended abnormally (connection lost or timed out)."""


class AgentError(BackendError):
    """The agent reported a failure inside the SSE stream."""


_BY_CODE: dict[int, type[BackendError]] = {
    cls.code: cls
    for cls in (
        TokenInvalid,
        SessionNotFound,
        NoCredits,
        UnsupportedFile,
        FileTooLarge,
        BadRequest,
        PlanRequired,
        RateLimited,
    )
    if cls.code is not None
}


def error_for(code: int | None, message: str, status: int | None) -> BackendError:
    """Map a backend code (or, lacking one, the HTTP status) to its exception."""
    if "duplicate" in message.lower() and code not in {1001, 1002, 2001, 402, 429}:
        return DuplicateRenderId(message, code=code, status=status)
    if code is not None and code in _BY_CODE:
        return _BY_CODE[code](message, status=status)
    if "duplicate" in message.lower():
        return DuplicateRenderId(message, code=code, status=status)
    if status is not None:
        if status == 401:
            return TokenInvalid(message, status=status)
        if status in _BY_CODE and code is None:
            return _BY_CODE[status](message, status=status)
        if status >= 500:
            return Unavailable(message or f"HTTP {status}", code=code, status=status)
    return BackendError(message or f"backend error {code}", code=code, status=status)
