"""The client's one retry policy, its errors' context, link safety and answer validation."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from bot import __version__
from bot.backend import NemoClient
from bot.backend.errors import (
    MalformedAnswer,
    NoCredits,
    RateLimited,
    TokenInvalid,
    Unavailable,
    UnsafeUrl,
)

Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
async def mock() -> AsyncIterator[Callable[..., NemoClient]]:
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


def script(*steps: httpx.Response | Exception) -> tuple[Handler, list[float]]:
    """A handler playing ``steps`` (an exception is raised as a transport failure)."""
    seen: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(time.monotonic())
        step = steps[min(len(seen), len(steps)) - 1]
        if isinstance(step, Exception):
            raise step
        return step

    return handler, seen


OK_CREDITS = httpx.Response(200, json={"code": 0, "data": {"available": 5}})


async def test_retry_after_is_honoured(mock: Callable[..., NemoClient]) -> None:
    handler, seen = script(
        httpx.Response(429, headers={"Retry-After": "0.4"}, json={"code": 429}), OK_CREDITS
    )
    credits = await mock(handler).credits("tok")
    assert credits.available == 5
    assert seen[1] - seen[0] >= 0.4


async def test_a_second_429_is_rate_limited_with_its_path(mock: Callable[..., NemoClient]) -> None:
    handler, seen = script(httpx.Response(429, json={"code": 429, "msg": "slow"}))
    with pytest.raises(RateLimited) as info:
        await mock(handler).credits("tok")
    assert len(seen) == 2
    assert (info.value.status, info.value.code) == (429, 429)
    assert info.value.path == "/api/credits/balance/simple"


async def test_connection_errors_on_get_are_retried(mock: Callable[..., NemoClient]) -> None:
    handler, seen = script(httpx.ConnectError("refused"), httpx.ReadError("reset"), OK_CREDITS)
    assert (await mock(handler).credits("tok")).available == 5
    assert len(seen) == 3


async def test_connection_errors_on_get_give_up(mock: Callable[..., NemoClient]) -> None:
    handler, seen = script(httpx.ConnectError("refused"))
    with pytest.raises(Unavailable) as info:
        await mock(handler, connection_retries=2).state("tok", "42")
    assert len(seen) == 3
    assert info.value.path == "/api/state/nemo_agent/me/42/latest"


async def test_a_post_is_never_resent_after_a_connection_error(
    mock: Callable[..., NemoClient],
) -> None:
    handler, seen = script(httpx.ReadError("reset"), OK_CREDITS)
    with pytest.raises(Unavailable):
        await mock(handler).create_session("tok", "en")
    assert len(seen) == 1


async def test_errors_carry_status_code_and_path(mock: Callable[..., NemoClient]) -> None:
    handler, _ = script(httpx.Response(200, json={"code": 2001, "msg": "no credits"}))
    with pytest.raises(NoCredits) as info:
        await mock(handler).create_session("tok", "en")
    assert (info.value.code, info.value.status) == (2001, 200)
    assert info.value.path == "/api/tasks/me/with-session/nemo_agent"
    handler, _ = script(httpx.Response(401, json={"msg": "who?"}))
    with pytest.raises(TokenInvalid) as expired:
        await mock(handler).credits("tok")
    assert expired.value.status == 401


@pytest.mark.parametrize(
    "data",
    [
        {"session_id": {"nested": True}},
        {"session_id": None},
    ],
)
async def test_an_unusable_answer_is_a_backend_error(
    mock: Callable[..., NemoClient], data: dict[str, object]
) -> None:
    handler, _ = script(httpx.Response(200, json={"code": 0, "data": data}))
    with pytest.raises(MalformedAnswer) as info:
        await mock(handler).create_session("tok", "en")
    assert info.value.path == "/api/tasks/me/with-session/nemo_agent"


async def test_a_strange_state_is_tolerated(mock: Callable[..., NemoClient]) -> None:
    body = {"code": 0, "data": {"session_id": 7, "user_id": 9, "state": {
        "draft": '{"t": [{"tt": 0, "sg": [{"d": 1000}]}]}', "video_infos": None,
        "generated_media": {"url": "x"},
    }}}
    handler, _ = script(httpx.Response(200, json=body))
    result = await mock(handler).state("tok", "7")
    assert result.state.draft == {"t": [{"tt": 0, "sg": [{"d": 1000}]}]}
    assert result.state.video_infos == []
    assert result.state.generated_media == [{"url": "x"}]
    assert (result.session_id, result.user_id) == ("7", "9")
    handler, _ = script(httpx.Response(200, json={"code": 0, "data": {"state": None}}))
    assert (await mock(handler).state("tok", "7")).state.draft is None


# -- which links may be fetched --------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "ftp://backend.test/x.mp4",
        "file:///etc/passwd",
        "http://127.0.0.1/x.mp4",
        "http://localhost/x.mp4",
        "http://10.1.2.3/x.mp4",
        "http://192.168.0.10/x.mp4",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/x.mp4",
        "http://[fe80::1]/x.mp4",
        "http://[::ffff:127.0.0.1]/x.mp4",
        "http://0.0.0.0/x.mp4",
    ],
)
async def test_private_and_odd_links_are_refused(
    mock: Callable[..., NemoClient], url: str, tmp_path: Path
) -> None:
    handler, seen = script(httpx.Response(200, content=b"video"))
    c = mock(handler)
    with pytest.raises(UnsafeUrl):
        await c.download(url, tmp_path / "v.mp4")
    assert await c.content_length(url) is None
    assert seen == []


async def test_the_backends_own_host_and_public_addresses_are_fetched(
    mock: Callable[..., NemoClient], tmp_path: Path
) -> None:
    handler, seen = script(httpx.Response(200, content=b"video"))
    c = mock(handler)
    assert await c.download("https://backend.test/r.mp4", tmp_path / "a.mp4") == 5
    assert await c.download("https://93.184.215.14/r.mp4", tmp_path / "b.mp4") == 5
    assert len(seen) == 2


async def test_a_private_own_host_is_trusted(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"abc")

    c = NemoClient("http://10.0.0.5:8080", version="t", transport=httpx.MockTransport(handler))
    try:
        assert await c.download("http://10.0.0.5:9000/r.mp4", tmp_path / "r.mp4") == 3
        with pytest.raises(UnsafeUrl):
            await c.download("http://10.0.0.6/r.mp4", tmp_path / "s.mp4")
    finally:
        await c.aclose()


async def test_allow_private_urls(mock: Callable[..., NemoClient], tmp_path: Path) -> None:
    handler, _ = script(httpx.Response(200, content=b"video"))
    c = mock(handler, allow_private_urls=True)
    assert await c.download("http://192.168.1.2/r.mp4", tmp_path / "r.mp4") == 5
    with pytest.raises(UnsafeUrl):
        await c.download("gopher://192.168.1.2/r.mp4", tmp_path / "s.mp4")


async def test_every_redirect_hop_is_checked(
    mock: Callable[..., NemoClient], tmp_path: Path
) -> None:
    handler, seen = script(
        httpx.Response(302, headers={"Location": "/moved.mp4"}),
        httpx.Response(302, headers={"Location": "http://169.254.169.254/secret"}),
        httpx.Response(200, content=b"secret"),
    )
    with pytest.raises(UnsafeUrl):
        await mock(handler).download("http://backend.test/r.mp4", tmp_path / "r.mp4")
    assert len(seen) == 2
    assert not (tmp_path / "r.mp4").exists()


async def test_too_many_redirects(mock: Callable[..., NemoClient], tmp_path: Path) -> None:
    handler, seen = script(httpx.Response(302, headers={"Location": "/again.mp4"}))
    with pytest.raises(Unavailable):
        await mock(handler).download("http://backend.test/r.mp4", tmp_path / "r.mp4")
    assert len(seen) == 6
