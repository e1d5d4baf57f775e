"""The client's one retry policy, its errors' context, link safety and answer validation."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from bot.backend import FileUpload, NemoClient
from bot.backend.errors import (
    MalformedAnswer,
    NoCredits,
    RateLimited,
    TokenInvalid,
    Unavailable,
    UnsafeUrl,
)

Handler = Callable[[httpx.Request], httpx.Response]



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
    assert await c.download("http://backend.test/r.mp4", tmp_path / "a.mp4") == 5
    assert await c.download("https://93.184.215.14/r.mp4", tmp_path / "b.mp4") == 5
    assert len(seen) == 2


async def test_a_private_own_host_is_trusted(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"abc")

    c = NemoClient("http://10.0.0.5:8080", version="t", transport=httpx.MockTransport(handler))
    try:
        assert await c.download("http://10.0.0.5:8080/r.mp4", tmp_path / "r.mp4") == 3
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


# -- issue 23 item 12: one resolution, the checked address, the backend's own origin only ----


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, list[str]], list[str]]:
    """A hostile resolver for one name: each lookup answers the next address of a script
    (the last one repeats), as a DNS-rebinding server does. Returns the lookups seen."""
    lookups: list[str] = []
    real = socket.getaddrinfo

    def install(name: str, answers: list[str]) -> list[str]:
        def fake(host: object, port: object, *args: object, **kwargs: object) -> object:
            if (host.decode() if isinstance(host, bytes) else host) != name:
                return real(host, port, *args, **kwargs)  # type: ignore[arg-type]
            lookups.append(name)
            ip = answers[min(len(lookups), len(answers)) - 1]
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, int(port or 0)))]  # type: ignore[call-overload]

        monkeypatch.setattr(socket, "getaddrinfo", fake)
        return lookups

    return install


async def test_a_rebinding_host_cannot_reach_a_private_server(
    dns: Callable[[str, list[str]], list[str]], tmp_path: Path
) -> None:
    """The check resolves a public address; a second lookup would answer 127.0.0.1, where a
    private service listens. The connection goes to the checked address, never the second."""
    hits: list[str] = []

    async def secret(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(body=b"internal secrets")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", secret)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    lookups = dns("cdn.rebind.test", ["93.184.215.14", "127.0.0.1"])
    c = NemoClient("http://backend.test/", version="t", connection_retry_seconds=0.01)
    try:
        with pytest.raises(Unavailable):
            await c.download(f"http://cdn.rebind.test:{port}/r.mp4", tmp_path / "r.mp4")
        assert await c.content_length(f"http://cdn.rebind.test:{port}/r.mp4") is None
    finally:
        await c.aclose()
        await runner.cleanup()
    assert hits == []
    assert not (tmp_path / "r.mp4").exists()
    assert len(lookups) == 2  # once per fetch, by the check only


async def test_the_checked_address_is_dialled_with_the_hosts_name(
    mock: Callable[..., NemoClient], dns: Callable[[str, list[str]], list[str]], tmp_path: Path
) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/a.mp4":
            return httpx.Response(302, headers={"Location": "/b.mp4"})
        return httpx.Response(200, content=b"video")

    dns("cdn.example.com", ["93.184.215.14"])
    c = mock(handler)
    assert await c.download("https://cdn.example.com:8443/a.mp4", tmp_path / "v.mp4") == 5
    assert [r.url.host for r in seen] == ["93.184.215.14", "93.184.215.14"]
    assert [r.url.path for r in seen] == ["/a.mp4", "/b.mp4"]
    assert {r.headers["host"] for r in seen} == {"cdn.example.com:8443"}
    assert {r.extensions.get("sni_hostname") for r in seen} == {"cdn.example.com"}


@pytest.mark.parametrize(
    "url",
    ["http://10.0.0.5:9000/r.mp4", "https://10.0.0.5:8080/r.mp4", "http://10.0.0.5/r.mp4"],
)
async def test_only_the_backends_own_origin_is_trusted(url: str, tmp_path: Path) -> None:
    """Another port or scheme of the backend's (private) host is another service."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"abc")

    c = NemoClient("http://10.0.0.5:8080", version="t", transport=httpx.MockTransport(handler))
    try:
        assert await c.download("http://10.0.0.5:8080/ok.mp4", tmp_path / "ok.mp4") == 3
        with pytest.raises(UnsafeUrl):
            await c.download(url, tmp_path / "r.mp4")
    finally:
        await c.aclose()
    assert [r.url.path for r in seen] == ["/ok.mp4"]


async def test_an_upload_429_waits_as_long_as_the_backend_says(
    mock: Callable[..., NemoClient], tmp_path: Path
) -> None:
    """Uploads re-open their files for the second try, under the same policy as calls."""
    clip = tmp_path / "c.mp4"
    clip.write_bytes(b"\0" * 10)
    handler, seen = script(
        httpx.Response(429, headers={"Retry-After": "0.4"}, json={"code": 429}),
        httpx.Response(200, json={"code": 0, "data": {"files": []}}),
    )
    await mock(handler).upload_files("t", "1", [FileUpload(clip, "c.mp4")])
    assert len(seen) == 2
    assert seen[1] - seen[0] >= 0.4
