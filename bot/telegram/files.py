"""Telegram's files fetched over HTTP (a Bot API file URL, a local Bot API server), streamed
as they arrive."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx

from bot.streams import CHUNK, Opened, SourceError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class UrlSource:
    """A file served over HTTP, streamed as it arrives (never whole in memory).

    A failure before any byte arrives (a 5xx, a 429, an HTML error page from a proxy, a
    refused connection) is tried again after each pause in ``retries``. The URL may hold a
    secret (a Bot API file URL holds the bot token): it is never put in an error or a log.
    """

    http: httpx.AsyncClient
    url: str
    size: int | None = None
    retries: tuple[float, ...] = ()

    @contextlib.asynccontextmanager
    async def open(self) -> AsyncIterator[Opened]:
        for pause in (*self.retries, None):
            yielded = False  # past this, errors are the caller's: never retried or renamed
            try:
                async with self.http.stream("GET", self.url) as response:
                    status = response.status_code
                    if (status >= 500 or status == 429) and pause is not None:
                        log.info("file server answered HTTP %s; trying again", status)
                    elif status >= 400:
                        raise SourceError(f"file server answered HTTP {status}")
                    else:
                        declared = response.headers.get("content-length")
                        size = int(declared) if declared and declared.isdigit() else self.size
                        yielded = True
                        yield Opened(size, _http_chunks(response))
                        return
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if yielded:
                    raise
                if pause is None:
                    raise SourceError(f"file server unreachable: {type(exc).__name__}") from None
                log.info("file server unreachable (%s); trying again", type(exc).__name__)
            except httpx.HTTPError as exc:
                if yielded:
                    raise
                raise SourceError(f"file download failed: {type(exc).__name__}") from None
            await asyncio.sleep(pause)


async def _http_chunks(response: httpx.Response) -> AsyncIterator[bytes]:
    try:
        async for chunk in response.aiter_bytes(CHUNK):
            yield chunk
    except httpx.HTTPError as exc:
        raise SourceError(f"file download broke: {type(exc).__name__}") from None
