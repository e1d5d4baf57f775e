"""NemoClient against the fake backend (real sockets) and, for shapes the fake cannot produce,
httpx.MockTransport: what the backend receives, what the client returns or raises."""

from __future__ import annotations

import hashlib
import json
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot import __version__
from bot.backend import BackendError as PublicBackendError
from bot.backend.client import FileUpload, NemoClient
from bot.backend.errors import (
    BackendError,
    DuplicateRenderId,
    FileTooLarge,
    MissingClientId,
    NoCredits,
    PlanRequired,
    RateLimited,
    ServerFailed,
    SessionNotFound,
    TokenInvalid,
    Unavailable,
    Unreachable,
    UnsupportedFile,
)
from bot.backend.models import Credits, RenderStatus
from bot.sandbox.backend import FakeBackend, RecordedRequest, RenderShape, make_draft

RETRY = 0.01
DRAFT = make_draft([("clip.mp4", "http://x/cdn/clip.mp4", 10_000)])
CREDITS = {"available": 5, "frozen": 1, "total": 6}


Handler = Callable[[httpx.Request], httpx.Response]



def answers(*responses: httpx.Response) -> tuple[Handler, list[tuple[float, httpx.Request]]]:
    """A handler playing ``responses`` in order (the last repeats), recording the requests."""
    seen: list[tuple[float, httpx.Request]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append((time.monotonic(), request))
        return responses[min(len(seen), len(responses)) - 1]

    return handler, seen


def html(status: int, text: str = "<html><body><h1>Bad Gateway</h1></body></html>") -> Any:
    return httpx.Response(status, text=text, headers={"content-type": "text/html"})


def assert_attribution(req: RecordedRequest, token: str | None) -> None:
    assert req.headers["x-skill-source"] == "rtk-compressor-free"
    assert req.headers["x-skill-version"] == __version__
    assert req.headers["x-skill-platform"] == "telegram"
    if token is None:
        assert "authorization" not in req.headers
    else:
        assert req.headers["authorization"] == f"Bearer {token}"


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A local port nobody listens on."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    yield f"http://127.0.0.1:{port}"


# --------------------------------------------------------------------------- anonymous token


async def test_anonymous_token(fake: FakeBackend, client: NemoClient) -> None:
    tok = await client.anonymous_token("client-uuid-1")
    assert tok.token.startswith("nmv_usr_")
    assert tok.user_id is not None and tok.user_id.startswith("anon_")
    assert tok.credits == 100
    assert tok.expires_at is not None
    assert abs(tok.expires_at - (datetime.now(UTC) + timedelta(days=7))) < timedelta(minutes=1)
    (req,) = fake.requests_to("anonymous_token")
    assert req.method == "POST"
    assert req.path == "/api/auth/anonymous-token"
    assert req.headers["x-client-id"] == "client-uuid-1"
    assert_attribution(req, None)
    assert fake.tokens[tok.token].client_id == "client-uuid-1"


async def test_anonymous_token_429_is_retried_once(fake: FakeBackend, client: NemoClient) -> None:
    await client.anonymous_token("same-client")
    with pytest.raises(RateLimited) as info:
        await client.anonymous_token("same-client")  # one token per client id per 7 days
    assert info.value.code == 429 and info.value.path == "/api/auth/anonymous-token"
    assert len(fake.requests_to("anonymous_token")) == 3  # 1 + (1 + one retry)


async def test_anonymous_token_injected_429_then_success(
    fake: FakeBackend, client: NemoClient
) -> None:
    fake.fail("anonymous_token", 429, http_status=429)
    tok = await client.anonymous_token("fresh")
    assert tok.token.startswith("nmv_usr_")
    assert [r.headers["x-client-id"] for r in fake.requests_to("anonymous_token")] == [
        "fresh", "fresh"
    ]


async def test_anonymous_token_429_envelope_retried_once(
    mock: Callable[[Handler], NemoClient],
) -> None:
    handler, seen = answers(httpx.Response(200, json={"code": 429, "msg": "slow down"}))
    with pytest.raises(RateLimited):
        await mock(handler).anonymous_token("c")
    assert len(seen) == 2


async def test_anonymous_token_missing_client_id_is_bad_request(client: NemoClient) -> None:
    with pytest.raises(MissingClientId) as info:
        await client.anonymous_token("")
    assert info.value.code == 400


@pytest.mark.parametrize(
    "expires_at",
    ["2026-01-08T12:00:00Z", 1767873600, 1767873600000],
    ids=["iso", "epoch-s", "epoch-ms"],
)
async def test_anonymous_token_expiry_formats_over_http(
    mock: Callable[[Handler], NemoClient], expires_at: Any
) -> None:
    handler, seen = answers(
        httpx.Response(
            200,
            json={"code": 0, "data": {"token": "nmv_usr_t", "user_id": "anon_1",
                                      "expires_at": expires_at, "credits": 100}},
        )
    )
    tok = await mock(handler).anonymous_token("cid")
    assert tok.expires_at == datetime(2026, 1, 8, 12, tzinfo=UTC)
    assert seen[0][1].headers["x-client-id"] == "cid"
    assert "authorization" not in seen[0][1].headers


# --------------------------------------------------------------------------- headers & bodies


async def test_attribution_and_auth_on_every_call(
    fake: FakeBackend, client: NemoClient, token: str, sid: str, tmp_path: Path
) -> None:
    await client.create_session(token, "en")
    await client.credits(token)
    await client.state(token, sid)
    clip = tmp_path / "a.mp4"
    clip.write_bytes(b"x" * 100)
    await client.upload_files(token, sid, [FileUpload(clip, "a.mp4", "video/mp4")])
    await client.upload_urls(token, sid, ["https://example.com/v.mp4"])
    await client.start_render(token, sid, DRAFT, "render_hdr")
    await client.render_status(token, "render_hdr")
    async with client.run(token, sid, "hi") as events:
        async for _ in events:
            pass
    endpoints = [r.endpoint for r in fake.requests]
    assert endpoints == [
        "create_session", "credits", "state", "upload", "upload", "render", "render_status",
        "run_sse",
    ]
    for req in fake.requests:
        assert_attribution(req, token)


async def test_platform_is_configurable(fake: FakeBackend, token: str) -> None:
    c = NemoClient(fake.url, version="9.9.9", platform="custom")
    try:
        await c.credits(token)
    finally:
        await c.aclose()
    (req,) = fake.requests
    assert req.headers["x-skill-platform"] == "custom"
    assert req.headers["x-skill-version"] == "9.9.9"


@pytest.mark.parametrize("language", ["en", "zh"])
async def test_create_session(
    fake: FakeBackend, client: NemoClient, token: str, language: str
) -> None:
    session = await client.create_session(token, language)
    (req,) = fake.requests_to("create_session")
    assert req.method == "POST"
    assert req.path == "/api/tasks/me/with-session/nemo_agent"
    assert req.json == {"task_name": "project", "language": language}
    assert session.session_id.isdigit()
    assert session.session_id in fake.sessions
    assert fake.sessions[session.session_id].language == language
    assert session.task_id == fake.sessions[session.session_id].task_id
    assert session.user_id == fake.tokens[token].user_id


async def test_create_session_numeric_ids(mock: Callable[[Handler], NemoClient]) -> None:
    handler, _ = answers(
        httpx.Response(200, json={"code": 0, "data": {"task_id": 5, "session_id": 1234567}})
    )
    session = await mock(handler).create_session("t", "en")
    assert session.session_id == "1234567"
    assert session.task_id == "5"


async def test_credits_and_state(
    fake: FakeBackend, client: NemoClient, token: str, sid: str
) -> None:
    fake.set_credits(token, 42)
    assert await client.credits(token) == Credits(available=42, frozen=0, total=42)
    fake.set_draft(sid, DRAFT)
    st = await client.state(token, sid)
    assert st.state.draft == DRAFT
    assert st.session_id == sid
    assert st.state.generated_media == []
    req = fake.requests_to("state")[0]
    assert req.method == "GET"
    assert req.path == f"/api/state/nemo_agent/me/{sid}/latest"
    assert fake.requests_to("credits")[0].path == "/api/credits/balance/simple"


# --------------------------------------------------------------------------- envelopes


@pytest.mark.parametrize(
    "body",
    [
        {"code": 0, "data": CREDITS},
        {"code": 0, "msg": "ok", "data": CREDITS},
        {"code": "0", "data": CREDITS},
        {"success": True, "data": CREDITS},
        {"code": 0, "success": True, "message": "success", "data": CREDITS},
        CREDITS,
        {**CREDITS, "code": 0},
    ],
    ids=["code", "code-msg", "code-str", "success", "both", "bare", "bare-code"],
)
async def test_envelopes_unwrapped(
    mock: Callable[[Handler], NemoClient], body: dict[str, Any]
) -> None:
    handler, seen = answers(httpx.Response(200, json=body))
    got = await mock(handler).credits("tok")
    assert (got.available, got.frozen, got.total) == (5, 1, 6)
    req = seen[0][1]
    assert req.url.path == "/api/credits/balance/simple"
    assert req.headers["authorization"] == "Bearer tok"
    assert req.headers["x-skill-source"] == "rtk-compressor-free"
    assert req.headers["x-skill-version"] == __version__
    assert req.headers["x-skill-platform"] == "telegram"


async def test_empty_data_object_is_unwrapped(mock: Callable[[Handler], NemoClient]) -> None:
    handler, _ = answers(httpx.Response(200, json={"code": 0, "data": {}}))
    assert await mock(handler).credits("t") == Credits()


@pytest.mark.parametrize("key", ["msg", "message"])
async def test_error_message_under_either_key(
    mock: Callable[[Handler], NemoClient], key: str
) -> None:
    handler, _ = answers(httpx.Response(200, json={"code": 2001, key: "no credits left"}))
    with pytest.raises(NoCredits) as info:
        await mock(handler).credits("t")
    assert info.value.message == "no credits left"
    assert str(info.value) == "no credits left"


@pytest.mark.parametrize("key", ["msg", "message"])
async def test_fake_message_key_variants(
    fake: FakeBackend, client: NemoClient, token: str, key: Any
) -> None:
    fake.message_key = key
    fake.fail("credits", 1001, http_status=401, message="token expired")
    with pytest.raises(TokenInvalid) as info:
        await client.credits(token)
    assert info.value.message == "token expired"
    assert info.value.status == 401


async def test_code_as_string_error(mock: Callable[[Handler], NemoClient]) -> None:
    handler, _ = answers(httpx.Response(200, json={"code": "1002", "msg": "gone"}))
    with pytest.raises(SessionNotFound):
        await mock(handler).state("t", "1")


async def test_success_false_is_an_error(mock: Callable[[Handler], NemoClient]) -> None:
    handler, _ = answers(httpx.Response(200, json={"success": False, "message": "nope"}))
    with pytest.raises(BackendError, match="nope"):
        await mock(handler).render_status("t", "r")


# --------------------------------------------------------------------------- error codes


CODES: list[tuple[int, type[BackendError]]] = [
    (1001, TokenInvalid),
    (1002, SessionNotFound),
    (2001, NoCredits),
    (4001, UnsupportedFile),
    (4002, FileTooLarge),
    (400, MissingClientId),
    (402, PlanRequired),
]


@pytest.mark.parametrize("http_status", [200, 400, 401, 403, 404, 500])
@pytest.mark.parametrize(("code", "exc"), CODES, ids=[str(c) for c, _ in CODES])
async def test_one_exception_per_code(
    fake: FakeBackend,
    client: NemoClient,
    token: str,
    code: int,
    exc: type[BackendError],
    http_status: int,
) -> None:
    fake.fail("credits", code, http_status=http_status)
    with pytest.raises(exc) as info:
        await client.credits(token)
    assert type(info.value) is exc
    assert info.value.code == code
    assert info.value.status == http_status
    assert isinstance(info.value, PublicBackendError)
    assert len(fake.requests_to("credits")) == 1  # only 429 is retried


@pytest.mark.parametrize(
    ("status", "exc"),
    [
        (400, MissingClientId),
        (401, TokenInvalid),
        (402, PlanRequired),
        (500, ServerFailed),
        (502, ServerFailed),
        (503, ServerFailed),
        (504, ServerFailed),
    ],
)
async def test_http_status_with_html_body(
    mock: Callable[[Handler], NemoClient], status: int, exc: type[BackendError]
) -> None:
    handler, seen = answers(html(status))
    with pytest.raises(exc) as info:
        await mock(handler).credits("t")
    assert type(info.value) is exc
    assert info.value.status == status
    assert len(seen) == 1


async def test_http_404_html_is_backend_error(mock: Callable[[Handler], NemoClient]) -> None:
    handler, _ = answers(html(404, "not found"))
    with pytest.raises(BackendError) as info:
        await mock(handler).credits("t")
    assert info.value.status == 404


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_5xx_json_is_unavailable(
    fake: FakeBackend, client: NemoClient, token: str, status: int
) -> None:
    fake.fail("credits", status, http_status=status)
    with pytest.raises(ServerFailed):
        await client.credits(token)


async def test_200_with_html_is_unavailable(mock: Callable[[Handler], NemoClient]) -> None:
    handler, _ = answers(html(200, "<html>maintenance</html>"))
    with pytest.raises(ServerFailed):
        await mock(handler).credits("t")


async def test_unknown_code_is_generic_backend_error(
    fake: FakeBackend, client: NemoClient, token: str
) -> None:
    fake.fail("credits", 7777, message="strange")
    with pytest.raises(BackendError) as info:
        await client.credits(token)
    assert type(info.value) is BackendError
    assert info.value.code == 7777
    assert info.value.message == "strange"


async def test_expired_token_and_lost_session(
    fake: FakeBackend, client: NemoClient, token: str, sid: str
) -> None:
    fake.forget_session(sid)
    with pytest.raises(SessionNotFound):
        await client.state(token, sid)
    fake.expire_token(token)
    with pytest.raises(TokenInvalid):
        await client.credits(token)


async def test_connection_refused_is_unavailable(refused_url: str, tmp_path: Path) -> None:
    c = NemoClient(refused_url, version=__version__, rate_limit_retry_seconds=RETRY)
    try:
        with pytest.raises(Unreachable):
            await c.credits("t")
        with pytest.raises(Unreachable):
            await c.anonymous_token("cid")
        with pytest.raises(Unreachable):
            async with c.run("t", "1", "hi") as events:
                async for _ in events:
                    pass
        with pytest.raises(Unreachable):
            await c.download(f"{refused_url}/cdn/x.mp4", tmp_path / "x.mp4")
        assert await c.content_length(f"{refused_url}/cdn/x.mp4") is None
    finally:
        await c.aclose()


async def test_transport_timeout_is_unavailable(mock: Callable[[Handler], NemoClient]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(Unavailable):
        await mock(handler).credits("t")


# --------------------------------------------------------------------------- 429


async def test_429_retried_once_then_rate_limited(
    fake: FakeBackend, client: NemoClient, token: str
) -> None:
    fake.fail("credits", 429, http_status=429, times=2)
    with pytest.raises(RateLimited) as info:
        await client.credits(token)
    assert info.value.code == 429
    assert len(fake.requests_to("credits")) == 2


async def test_429_waits_the_configured_time(mock: Callable[[Handler], NemoClient]) -> None:
    handler, seen = answers(httpx.Response(429, json={"code": 429, "msg": "slow down"}))
    with pytest.raises(RateLimited):
        await mock(handler).credits("t")
    assert len(seen) == 2
    assert seen[1][0] - seen[0][0] >= RETRY * 0.9


async def test_429_then_success(fake: FakeBackend, client: NemoClient, token: str) -> None:
    fake.fail("credits", 429, http_status=429)
    assert (await client.credits(token)).available == 100
    assert len(fake.requests_to("credits")) == 2


async def test_429_envelope_with_http_200_is_retried(
    mock: Callable[[Handler], NemoClient],
) -> None:
    handler, seen = answers(
        httpx.Response(200, json={"code": 429, "message": "rate limited"}),
        httpx.Response(200, json={"code": 0, "data": CREDITS}),
    )
    assert (await mock(handler).credits("t")).total == 6
    assert len(seen) == 2
    assert seen[1][0] - seen[0][0] >= RETRY * 0.9


async def test_429_html_then_success(mock: Callable[[Handler], NemoClient]) -> None:
    handler, seen = answers(html(429, "Too Many Requests"), httpx.Response(200, json=CREDITS))
    assert (await mock(handler).credits("t")).available == 5
    assert len(seen) == 2


async def test_429_retry_resends_the_same_json_body(
    fake: FakeBackend, client: NemoClient, token: str
) -> None:
    fake.fail("create_session", 429, http_status=429)
    session = await client.create_session(token, "zh")
    reqs = fake.requests_to("create_session")
    assert len(reqs) == 2
    assert reqs[0].json == reqs[1].json == {"task_name": "project", "language": "zh"}
    assert session.session_id in fake.sessions


async def test_429_retry_resends_the_whole_file(
    fake: FakeBackend, client: NemoClient, token: str, sid: str, tmp_path: Path
) -> None:
    clip = tmp_path / "retry.mp4"
    payload = bytes(range(256)) * 400
    clip.write_bytes(payload)
    fake.fail("upload", 429, http_status=429)
    result = await client.upload_files(token, sid, [FileUpload(clip, "retry.mp4", "video/mp4")])
    reqs = fake.requests_to("upload")
    assert len(reqs) == 2
    (rec,) = reqs[1].files
    assert rec.size == len(payload)
    assert result.files[0].hash == hashlib.sha256(payload).hexdigest()


# --------------------------------------------------------------------------- uploads


async def test_upload_files_streams_a_large_file(
    fake: FakeBackend, client: NemoClient, token: str, sid: str, tmp_path: Path
) -> None:
    size = 5 * 1024 * 1024 + 123
    block = hashlib.sha256(b"seed").digest() * 2048  # 64 KiB of non-trivial bytes
    big = tmp_path / "big video.mp4"
    with big.open("wb") as out:
        written = 0
        while written < size:
            piece = block[: size - written]
            out.write(piece)
            written += len(piece)
    small = tmp_path / "cover.png"
    small.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)

    result = await client.upload_files(
        token,
        sid,
        [
            FileUpload(big, "big video.mp4", "video/mp4"),
            FileUpload(small, "cover.png", "image/png"),
        ],
    )
    (req,) = fake.requests_to("upload")
    assert req.method == "POST"
    assert req.path == f"/api/upload-video/nemo_agent/me/{sid}"
    assert req.headers["content-type"].startswith("multipart/form-data")
    assert [f.field for f in req.files] == ["files", "files"]
    assert [f.filename for f in req.files] == ["big video.mp4", "cover.png"]
    assert [f.content_type for f in req.files] == ["video/mp4", "image/png"]
    assert req.files[0].size == size
    assert req.files[1].size == small.stat().st_size
    data = big.read_bytes()
    assert req.files[0].head == data[: len(req.files[0].head)]
    assert [f.file_type for f in result.files] == ["video", "image"]
    assert result.files[0].hash == hashlib.sha256(data).hexdigest()
    assert result.files[0].cdn_url and result.files[0].cdn_url.startswith(fake.url)
    assert result.files[0].width == 1920
    assert len(fake.sessions[sid].uploads) == 2


async def test_upload_unsupported_and_too_large(
    fake: FakeBackend, client: NemoClient, token: str, sid: str, tmp_path: Path
) -> None:
    doc = tmp_path / "notes.txt"
    doc.write_text("hello")
    with pytest.raises(UnsupportedFile):
        await client.upload_files(token, sid, [FileUpload(doc, "notes.txt", "text/plain")])
    clip = tmp_path / "c.mp4"
    clip.write_bytes(b"\0" * 5000)
    fake.max_upload_bytes = 1000
    with pytest.raises(FileTooLarge):
        await client.upload_files(token, sid, [FileUpload(clip, "c.mp4", "video/mp4")])


async def test_upload_to_lost_session(
    fake: FakeBackend, client: NemoClient, token: str, sid: str, tmp_path: Path
) -> None:
    clip = tmp_path / "c.mp4"
    clip.write_bytes(b"\0" * 10)
    fake.forget_session(sid)
    with pytest.raises(SessionNotFound):
        await client.upload_files(token, sid, [FileUpload(clip, "c.mp4")])
    with pytest.raises(SessionNotFound):
        await client.upload_urls(token, sid, ["https://e.com/a.mp4"])


async def test_upload_gateway_error_is_unavailable(
    mock: Callable[[Handler], NemoClient], tmp_path: Path
) -> None:
    clip = tmp_path / "c.mp4"
    clip.write_bytes(b"\0" * 10)
    handler, seen = answers(html(503))
    with pytest.raises(ServerFailed):
        await mock(handler).upload_files("t", "1", [FileUpload(clip, "c.mp4")])
    (_, req) = seen[0]
    assert req.url.path == "/api/upload-video/nemo_agent/me/1"
    assert b'name="files"; filename="c.mp4"' in req.content


async def test_upload_urls(fake: FakeBackend, client: NemoClient, token: str, sid: str) -> None:
    urls = ["https://example.com/media/a.mp4", "https://example.com/b.mp3"]
    result = await client.upload_urls(token, sid, urls)
    (req,) = fake.requests_to("upload")
    assert req.path == f"/api/upload-video/nemo_agent/me/{sid}"
    assert req.json == {"urls": urls, "source_type": "url"}
    assert req.files == []
    assert [f.filename for f in result.files] == ["a.mp4", "b.mp3"]
    assert [f.file_type for f in result.files] == ["video", "audio"]


# --------------------------------------------------------------------------- renders


async def test_start_render_body(
    fake: FakeBackend, client: NemoClient, token: str, sid: str
) -> None:
    status = await client.start_render(token, sid, DRAFT, "render_123")
    (req,) = fake.requests_to("render")
    assert req.method == "POST"
    assert req.path == "/api/render/proxy/lambda"
    assert req.json == {
        "id": "render_123",
        "sessionId": sid,
        "draft": DRAFT,
        "output": {"format": "mp4", "quality": "high"},
    }
    assert status.id == "render_123"
    assert status.status == "pending"


@pytest.mark.parametrize("shape", ["code", "success", "bare", "outputUrl", "top_output"])
async def test_render_to_download_in_every_shape(
    fake: FakeBackend,
    client: NemoClient,
    token: str,
    sid: str,
    shape: RenderShape,
    tmp_path: Path,
) -> None:
    fake.render_shape = shape
    started = await client.start_render(token, sid, DRAFT, f"render_{shape}")
    assert (started.id, started.status) == (f"render_{shape}", "pending")
    first = await client.render_status(token, f"render_{shape}")
    assert first.status == "processing"
    assert first.url is None
    done = await client.render_status(token, f"render_{shape}")
    assert done.status == "completed"
    assert done.url == f"{fake.url}/cdn/render_{shape}.mp4"
    reqs = fake.requests_to("render_status")
    assert [r.path for r in reqs] == [f"/api/render/proxy/lambda/render_{shape}"] * 2

    assert await client.content_length(done.url) == 300_000
    dest = tmp_path / "out.mp4"
    assert await client.download(done.url, dest) == 300_000
    data = dest.read_bytes()
    assert len(data) == 300_000
    assert data[4:8] == b"ftyp"


@pytest.mark.parametrize("shape", ["code", "success", "bare"])
async def test_render_failure(
    fake: FakeBackend, client: NemoClient, token: str, sid: str, shape: RenderShape
) -> None:
    fake.render_shape = shape
    fake.render_fail = True
    fake.render_polls = 1
    await client.start_render(token, sid, DRAFT, "render_f")
    st = await client.render_status(token, "render_f")
    assert st.status == "failed"
    assert st.url is None
    assert st.error and "encoder" in st.error


@pytest.mark.parametrize("shape", ["code", "success", "bare"])
@pytest.mark.parametrize("key", ["msg", "message"])
async def test_duplicate_render_id(
    fake: FakeBackend,
    client: NemoClient,
    token: str,
    sid: str,
    shape: RenderShape,
    key: Any,
) -> None:
    fake.render_shape = shape
    fake.message_key = key
    await client.start_render(token, sid, DRAFT, "render_dup")
    with pytest.raises(DuplicateRenderId):
        await client.start_render(token, sid, DRAFT, "render_dup")
    assert len(fake.requests_to("render")) == 2
    ok = await client.start_render(token, sid, DRAFT, "render_dup2")
    assert ok.id == "render_dup2"


async def test_duplicate_render_id_in_success_false_envelope(
    mock: Callable[[Handler], NemoClient],
) -> None:
    handler, _ = answers(
        httpx.Response(200, json={"success": False, "message": "Duplicate render ID"})
    )
    with pytest.raises(DuplicateRenderId):
        await mock(handler).start_render("t", "1", DRAFT, "render_1")


async def test_export_blocked_is_plan_required(
    fake: FakeBackend, client: NemoClient, token: str, sid: str
) -> None:
    fake.force_402 = True
    with pytest.raises(PlanRequired) as info:
        await client.start_render(token, sid, DRAFT, "render_402")
    assert info.value.code == 402
    assert info.value.status == 402
    assert not isinstance(info.value, NoCredits)


async def test_render_status_unknown_id(
    fake: FakeBackend, client: NemoClient, token: str
) -> None:
    with pytest.raises(BackendError) as info:
        await client.render_status(token, "render_nope")
    assert info.value.status == 404


async def test_start_render_answer_without_id_keeps_ours(
    mock: Callable[[Handler], NemoClient],
) -> None:
    handler, seen = answers(
        httpx.Response(200, json={"success": True, "data": {"status": "pending"}})
    )
    st = await mock(handler).start_render("t", "77", {"t": []}, "render_42")
    assert st.id == "render_42"
    assert st.status == "pending"
    assert json.loads(seen[0][1].content) == {
        "id": "render_42",
        "sessionId": "77",
        "draft": {"t": []},
        "output": {"format": "mp4", "quality": "high"},
    }


@pytest.mark.parametrize(
    "body",
    [
        {"code": 0, "data": {"id": "r", "status": "completed", "output": {"url": "https://c/x"}}},
        {"code": 0, "id": "r", "status": "completed", "output": {"url": "https://c/x"}},
        {"success": True, "data": {"id": "r", "status": "completed", "outputUrl": "https://c/x"}},
        {"id": "r", "status": "completed", "output": {"url": "https://c/x"}},
        {"code": "0", "data": {"id": "r", "status": "completed", "output": {"url": "https://c/x"}}},
    ],
    ids=["code-data", "top-output", "success-outputUrl", "bare", "code-str"],
)
async def test_render_status_shapes_over_http(
    mock: Callable[[Handler], NemoClient], body: dict[str, Any]
) -> None:
    handler, seen = answers(httpx.Response(200, json=body))
    st = await mock(handler).render_status("t", "r")
    assert st == RenderStatus(id="r", status="completed", url="https://c/x")
    assert seen[0][1].url.path == "/api/render/proxy/lambda/r"


# --------------------------------------------------------------------------- downloads


async def _uploaded_url(
    client: NemoClient, token: str, sid: str, tmp_path: Path, size: int
) -> tuple[str, bytes]:
    src = tmp_path / "src.mp4"
    data = hashlib.sha256(b"x").digest() * (size // 32)
    src.write_bytes(data)
    result = await client.upload_files(token, sid, [FileUpload(src, "src.mp4", "video/mp4")])
    url = result.files[0].cdn_url
    assert url is not None
    return url, data


async def test_download_and_content_length(
    client: NemoClient, token: str, sid: str, tmp_path: Path
) -> None:
    url, data = await _uploaded_url(client, token, sid, tmp_path, 640_000)
    assert await client.content_length(url) == len(data)
    dest = tmp_path / "dl.mp4"
    assert await client.download(url, dest, max_bytes=len(data)) == len(data)
    got = dest.read_bytes()
    assert len(got) == len(data)
    assert got[: 1024 * 1024] == data[: 1024 * 1024]  # the fake keeps only the first MiB


async def test_download_over_max_bytes(
    client: NemoClient, token: str, sid: str, tmp_path: Path
) -> None:
    url, data = await _uploaded_url(client, token, sid, tmp_path, 320_000)
    dest = tmp_path / "dl.mp4"
    with pytest.raises(FileTooLarge):
        await client.download(url, dest, max_bytes=len(data) - 1)
    assert not dest.exists()


async def test_download_over_max_bytes_without_content_length(
    mock: Callable[[Handler], NemoClient], tmp_path: Path
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        async def body() -> AsyncIterator[bytes]:
            for _ in range(10):
                yield b"\0" * 100_000

        return httpx.Response(200, content=body())  # chunked: no content-length

    c = mock(handler)
    dest = tmp_path / "dl.mp4"
    assert await c.content_length("http://backend.test/x.mp4") is None
    with pytest.raises(FileTooLarge):
        await c.download("http://backend.test/x.mp4", dest, max_bytes=250_000)
    assert not dest.exists(), "a truncated download must not be left behind"
    assert await c.download("http://backend.test/x.mp4", dest, max_bytes=1_000_000) == 1_000_000
    assert dest.stat().st_size == 1_000_000


async def test_download_missing_file(client: NemoClient, fake: FakeBackend, tmp_path: Path) -> None:
    url = f"{fake.url}/cdn/nothing.mp4"
    with pytest.raises(Unavailable) as info:
        await client.download(url, tmp_path / "n.mp4")
    assert info.value.status == 404
    assert await client.content_length(url) is None


async def test_download_broken_midway_leaves_no_file(
    mock: Callable[[Handler], NemoClient], tmp_path: Path
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        async def body() -> AsyncIterator[bytes]:
            yield b"\0" * 100_000
            raise httpx.ReadError("connection reset", request=request)

        return httpx.Response(200, content=body())

    dest = tmp_path / "dl.mp4"
    with pytest.raises(Unavailable):
        await mock(handler).download("http://backend.test/x.mp4", dest)
    assert not dest.exists()
