"""The backend client against the fake backend, a real HTTP server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from bot import __version__
from bot.backend import NemoClient
from bot.sandbox.backend import FakeBackend


@pytest.fixture
async def fake() -> AsyncIterator[FakeBackend]:
    async with FakeBackend(frame_delay=0.001, render_polls=2, render_size=300_000) as backend:
        yield backend


@pytest.fixture
async def client(fake: FakeBackend) -> AsyncIterator[NemoClient]:
    c = NemoClient(
        fake.url, version=__version__, rate_limit_retry_seconds=0.01, sse_timeout_seconds=5
    )
    try:
        yield c
    finally:
        await c.aclose()


@pytest.fixture
def token(fake: FakeBackend) -> str:
    return fake.issue_token("cid-tests").token


@pytest.fixture
def sid(fake: FakeBackend, token: str) -> str:
    return fake.create_session(token).session_id


Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
async def mock() -> AsyncIterator[Callable[..., NemoClient]]:
    """A factory of clients whose transport is ``handler`` (options go to ``NemoClient``),
    with short retry pauses; all closed at teardown."""
    made: list[NemoClient] = []

    def make(handler: Handler, **options: object) -> NemoClient:
        c = NemoClient(
            "http://backend.test/",
            version=__version__,
            rate_limit_retry_seconds=0.01,
            connection_retry_seconds=0.01,
            transport=httpx.MockTransport(handler),
            **options,  # type: ignore[arg-type]
        )
        made.append(c)
        return c

    yield make
    for c in made:
        await c.aclose()

