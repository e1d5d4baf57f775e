"""The client's one retry policy: what is tried again, after how long, with what jitter, and
how a ``Retry-After`` is read. Calls, uploads and render polling all ask it, so a change to
the policy is made here once.

What it does not retry is as deliberate: a request that is not idempotent (a POST) is never
sent twice after a connection failure, since the first may have been applied.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from bot.backend.errors import TRANSIENT

MAX_RETRY_AFTER = 300.0
"""A ``Retry-After`` longer than this is read as this: a chat waits minutes, not hours."""

IDEMPOTENT = frozenset({"GET", "HEAD"})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    rate_limit_seconds: float = 30.0
    """The pause after a 429 that names no ``Retry-After``."""
    connection_retries: int = 2
    """Connection failures of an idempotent request tried again, each after a backoff."""
    connection_seconds: float = 0.5
    """The first connection backoff; doubled each time."""
    max_backoff_factor: int = 8
    """A poll interval grows to at most this many intervals after failures in a row."""

    def retries_connection(self, method: str, failures: int) -> bool:
        """Whether a request that failed to connect ``failures`` times in a row goes again."""
        return method in IDEMPOTENT and failures <= self.connection_retries

    def connection_pause(self, failures: int) -> float:
        return jitter(self.connection_seconds * 2 ** (failures - 1))

    def rate_limit_pause(self, retry_after: float | None) -> float:
        """The wait after a 429 (the one retry it gets): the backend's word, else ours."""
        return jitter(retry_after if retry_after is not None else self.rate_limit_seconds)

    def poll_pause(self, interval: float, failures: int) -> float:
        """The pause before the next status poll: the interval, doubled after each failed poll
        in a row, capped at ``max_backoff_factor`` intervals."""
        if failures <= 0:
            return interval
        return jitter(interval * min(2 ** min(failures, 10), self.max_backoff_factor))

    @staticmethod
    def transient(exc: BaseException) -> bool:
        """A failure a later try may not meet (network, 5xx, 429, a garbled answer)."""
        return isinstance(exc, TRANSIENT)


def jitter(seconds: float) -> float:
    """A little randomness, so chats that failed together do not retry together."""
    return seconds * random.uniform(1.0, 1.2)


def retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (a number or an HTTP date), capped to something sane."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


__all__ = ["RetryPolicy", "jitter", "retry_after"]
