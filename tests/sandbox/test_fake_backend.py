"""The fake backend speaks the documented protocol over real HTTP; proven with plain httpx."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import IO, Any

import httpx
import pytest
from httpx_sse import aconnect_sse

from bot.sandbox.backend import (
    COMPRESS_ANSWER,
    SSE_EMPTY_DATA,
    FakeBackend,
    RenderShape,
    adk_call,
    adk_error,
    adk_response,
    adk_text,
    make_draft,
    sleep_frame,
    sse_comment,
    typed_heartbeat,
    typed_text,
)

ATTRIBUTION = {
    "X-Skill-Source": "rtk-compressor-free",
    "X-Skill-Version": "0.1.0",
    "X-Skill-Platform": "telegram",
}
DRAFT = make_draft([("clip.mp4", "http://x/cdn/clip.mp4", 10_000)])


@pytest.fixture
async def fake() -> AsyncIterator[FakeBackend]:
    async with FakeBackend(frame_delay=0.001) as backend:
        yield backend


@pytest.fixture
async def client(fake: FakeBackend) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=fake.url, headers=ATTRIBUTION, timeout=5) as c:
        yield c


async def login(client: httpx.AsyncClient, client_id: str = "cid-1") -> tuple[str, str]:
    """Token + session over HTTP, and make the client send the token from now on."""
    r = await client.post("/api/auth/anonymous-token", headers={"X-Client-Id": client_id})
    token = r.json()["data"]["token"]
    client.headers["Authorization"] = f"Bearer {token}"
    r = await client.post(
        "/api/tasks/me/with-session/nemo_agent", json={"task_name": "project", "language": "en"}
    )
    return token, r.json()["data"]["session_id"]


def run_body(sid: str, text: str) -> dict[str, Any]:
    return {
        "app_name": "nemo_agent",
        "user_id": "me",
        "session_id": sid,
        "new_message": {"parts": [{"text": text}]},
    }


async def sse_frames(client: httpx.AsyncClient, sid: str, text: str) -> list[str]:
    """All ``data`` payloads of one turn, parsed by httpx-sse."""
    async with aconnect_sse(client, "POST", "/run_sse", json=run_body(sid, text)) as source:
        assert source.response.status_code == 200
        return [sse.data async for sse in source.aiter_sse()]


# --------------------------------------------------------------------------- auth & session


async def test_anonymous_token_and_rate_limit(fake: FakeBackend, client: httpx.AsyncClient) -> None:
    r = await client.post("/api/auth/anonymous-token")
    assert (r.status_code, r.json()) == (400, {"code": 400, "msg": "missing X-Client-Id"})

    r = await client.post("/api/auth/anonymous-token", headers={"X-Client-Id": "abc"})
    data = r.json()["data"]
    assert r.json()["code"] == 0
    assert data["token"].startswith("nmv_usr_") and data["user_id"].startswith("anon_")
    assert data["credits"] == 100
    expires = datetime.fromisoformat(data["expires_at"])
    assert abs(expires - (datetime.now(UTC) + timedelta(days=7))) < timedelta(minutes=1)
    assert fake.tokens[data["token"]].client_id == "abc"

    r = await client.post("/api/auth/anonymous-token", headers={"X-Client-Id": "abc"})
    assert (r.status_code, r.json()) == (429, {"code": 429, "msg": "rate limited"})

    fake.expire_token(data["token"])  # once expired, the client id may get a new token
    r = await client.post("/api/auth/anonymous-token", headers={"X-Client-Id": "abc"})
    assert r.json()["data"]["token"] != data["token"]
    assert r.json()["data"]["user_id"] == data["user_id"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/tasks/me/with-session/nemo_agent"),
        ("POST", "/run_sse"),
        ("POST", "/api/upload-video/nemo_agent/me/1"),
        ("GET", "/api/credits/balance/simple"),
        ("GET", "/api/state/nemo_agent/me/1/latest"),
        ("POST", "/api/render/proxy/lambda"),
        ("GET", "/api/render/proxy/lambda/render_1"),
    ],
)
async def test_every_endpoint_needs_a_valid_token(
    fake: FakeBackend, client: httpx.AsyncClient, method: str, path: str
) -> None:
    expected = {"code": 1001, "msg": "invalid or expired token"}
    for auth in (None, "Bearer nmv_usr_unknown", "Basic abc"):
        headers = {"Authorization": auth} if auth else {}
        r = await client.request(method, path, json={}, headers=headers)
        assert (r.status_code, r.json()) == (401, expected)
    token = fake.issue_token().token
    fake.expire_token(token)
    r = await client.request(method, path, json={}, headers={"Authorization": f"Bearer {token}"})
    assert (r.status_code, r.json()) == (401, expected)


async def test_create_session_and_ownership(fake: FakeBackend, client: httpx.AsyncClient) -> None:
    token, sid = await login(client)
    r = await client.post(
        "/api/tasks/me/with-session/nemo_agent", json={"task_name": "project", "language": "zh"}
    )
    data = r.json()["data"]
    assert data["session_id"].isdigit() and data["task_id"].startswith("task_")
    assert data["user_id"] == fake.tokens[token].user_id
    assert fake.sessions[data["session_id"]].language == "zh"
    assert fake.sessions[sid].token == token

    other = fake.issue_token("someone-else").token  # another user's session is not found
    r = await client.get(
        f"/api/state/nemo_agent/me/{sid}/latest", headers={"Authorization": f"Bearer {other}"}
    )
    assert (r.status_code, r.json()["code"]) == (404, 1002)


async def test_requests_are_recorded(fake: FakeBackend, client: httpx.AsyncClient) -> None:
    await login(client)
    await client.get("/api/credits/balance/simple", params={"x": "1"})
    req = fake.requests_to("create_session")[0]
    assert (req.method, req.path, req.json) == (
        "POST",
        "/api/tasks/me/with-session/nemo_agent",
        {"task_name": "project", "language": "en"},
    )
    assert req.headers["x-skill-source"] == "rtk-compressor-free"
    assert req.headers["authorization"].startswith("Bearer nmv_usr_")
    assert fake.requests_to("credits")[0].query == {"x": "1"}
    assert [r.endpoint for r in fake.requests] == ["anonymous_token", "create_session", "credits"]


# --------------------------------------------------------------------------- run_sse


async def test_adk_default_turn(fake: FakeBackend, client: httpx.AsyncClient) -> None:
    token, sid = await login(client)
    events = [json.loads(d) for d in await sse_frames(client, sid, "please compress it")]
    parts = [e["content"]["parts"][0] for e in events]
    assert parts[0]["functionCall"]["name"] == "compress_video"
    assert parts[1]["functionResponse"]["name"] == "compress_video"
    assert all(e["author"] == "nemo_agent" and "invocationId" in e for e in events)
    texts = [(p["text"], e["partial"]) for p, e in zip(parts, events, strict=True) if "text" in p]
    partials = [t for t, partial in texts if partial]
    assert 2 <= len(partials) <= 3 and texts[-1] == (COMPRESS_ANSWER, False)
    assert "".join(partials) == COMPRESS_ANSWER
    assert fake.sessions[sid].messages == ["please compress it"]
    assert fake.tokens[token].credits == 99
    draft = fake.sessions[sid].draft  # no uploads: one placeholder clip on a video track
    assert draft is not None and [t["tt"] for t in draft["t"]] == [0]
    assert draft["t"][0]["sg"][0]["m"]["title"] == "clip.mp4"


async def test_raw_framing_has_comment_and_no_done_frame(client: httpx.AsyncClient) -> None:
    _, sid = await login(client)
    async with client.stream("POST", "/run_sse", json=run_body(sid, "hello")) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        raw = (await r.aread()).decode()
    chunks = raw.split("\n\n")
    assert chunks[-1] == "" and ": ping" in chunks
    assert all(c.startswith("data: {") for c in chunks[:-1] if c != ": ping")
    last = json.loads(chunks[-2].removeprefix("data: "))
    assert last["content"]["parts"][0]["text"] == (
        'I can help with that: "hello". Upload a video and tell me how to compress it.'
    )


async def test_compress_builds_draft_from_uploads(
    fake: FakeBackend, client: httpx.AsyncClient
) -> None:
    _, sid = await login(client)
    files = [("files", ("a.mp4", b"x" * 10, "video/mp4")), ("files", ("b.mov", b"y", "video/mp4"))]
    await client.post(f"/api/upload-video/nemo_agent/me/{sid}", files=files)
    await sse_frames(client, sid, "make it smaller")
    draft = fake.sessions[sid].draft
    assert draft is not None
    segments = draft["t"][0]["sg"]
    assert [s["m"]["title"] for s in segments] == ["a.mp4", "b.mov"]
    assert [s["s"] for s in segments] == [0, 10_000] and draft["d"] == 20_000
    assert segments[0]["m"]["url"] == fake.sessions[sid].uploads[0]["cdn_url"]


async def test_typed_style(fake: FakeBackend, client: httpx.AsyncClient) -> None:
    _, sid = await login(client)
    fake.sse_style = "typed"
    data = await sse_frames(client, sid, "压缩这个视频")
    assert "" in data  # the empty data: line
    frames = [json.loads(d) for d in data if d]
    assert frames[0] == {"type": "tool_call", "name": "compress_video", "args": frames[0]["args"]}
    assert {"type": "heartbeat"} in frames
    text = "".join(f["content"] for f in frames if f["type"] == "text")
    assert text == COMPRESS_ANSWER
    assert FakeBackend(sse_style="typed").sse_style == "typed"


async def test_frame_delay_is_real() -> None:
    async with FakeBackend(frame_delay=0.05) as fake, httpx.AsyncClient(base_url=fake.url) as c:
        _, sid = await login(c)
        fake.queue_turn([adk_text("a"), adk_text("b"), adk_text("c")])
        stamps = []
        async with aconnect_sse(c, "POST", "/run_sse", json=run_body(sid, "x")) as source:
            async for _ in source.aiter_sse():
                stamps.append(time.monotonic())
        assert len(stamps) == 3 and stamps[2] - stamps[0] >= 0.09


async def test_unknown_session_and_no_credits_are_json(
    fake: FakeBackend, client: httpx.AsyncClient
) -> None:
    token, sid = await login(client)
    r = await client.post("/run_sse", json=run_body("999", "hi"))
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/json")
    assert r.json() == {"code": 1002, "msg": "session not found"}

    fake.set_credits(token, 0)
    r = await client.post("/run_sse", json=run_body(sid, "hi"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    assert r.json() == {"code": 2001, "msg": "insufficient credits"}
    assert fake.sessions[sid].messages == []
    r = await client.get("/api/credits/balance/simple")
    assert r.json() == {"code": 0, "data": {"available": 0, "frozen": 0, "total": 0}}


async def test_forget_session(fake: FakeBackend, client: httpx.AsyncClient) -> None:
    _, sid = await login(client)
    fake.forget_session(sid)
    for r in (
        await client.post("/run_sse", json=run_body(sid, "hi")),
        await client.get(f"/api/state/nemo_agent/me/{sid}/latest"),
        await client.post(f"/api/upload-video/nemo_agent/me/{sid}", json={"urls": ["u/a.mp4"]}),
        await client.post("/api/render/proxy/lambda", json={"id": "r", "sessionId": sid}),
    ):
        assert (r.status_code, r.json()) == (404, {"code": 1002, "msg": "session not found"})


async def test_scripted_turns(fake: FakeBackend, client: httpx.AsyncClient) -> None:
    token, sid = await login(client)
    sid2 = fake.create_session(token).session_id
    fake.queue_turn(
        [
            adk_call("trim", {"to": 5}),
            sse_comment("keep-alive"),
            SSE_EMPTY_DATA,
            "data: {not json\n\n",
            sleep_frame(0.01),
            adk_response("trim", {"ok": True}),
            adk_error("boom", details={"code": "E1"}),
        ],
        draft=DRAFT,
    )
    fake.queue_turn([typed_heartbeat(), typed_text("second")], delay=0)
    assert fake.pending_turns == 2
    first = await sse_frames(client, sid, "trim")
    assert first[1:3] == ["", "{not json"]
    assert json.loads(first[-1]) == {"error": "boom", "error_details": {"code": "E1"}}
    assert fake.sessions[sid].draft == DRAFT
    second = await sse_frames(client, sid2, "next")  # FIFO, any session
    assert [json.loads(d) for d in second] == [typed_heartbeat(), typed_text("second")]
    assert fake.sessions[sid2].draft is None  # draft=... leaves it unchanged
    assert fake.pending_turns == 0


async def test_turn_with_no_text_then_state(fake: FakeBackend, client: httpx.AsyncClient) -> None:
    _, sid = await login(client)
    fake.queue_turn([adk_call("add_bgm", {}), adk_response("add_bgm", {})], draft=DRAFT)
    await sse_frames(client, sid, "add music")
    r = await client.get(f"/api/state/nemo_agent/me/{sid}/latest")
    assert r.json()["data"]["state"]["draft"] == DRAFT


async def test_break_after_is_a_transport_error(
    fake: FakeBackend, client: httpx.AsyncClient
) -> None:
    _, sid = await login(client)
    fake.queue_turn([adk_text("one"), adk_text("two"), adk_text("three")], break_after=2)
    got: list[str] = []
    with pytest.raises(httpx.TransportError):
        async with aconnect_sse(client, "POST", "/run_sse", json=run_body(sid, "x")) as source:
            async for sse in source.aiter_sse():
                got.append(json.loads(sse.data)["content"]["parts"][0]["text"])
    assert got == ["one", "two"]
    r = await client.get("/api/credits/balance/simple")  # the server lives on
    assert r.json()["code"] == 0


async def test_hold_and_prompt_stop() -> None:
    fake = FakeBackend(frame_delay=0)
    await fake.start()
    async with httpx.AsyncClient(base_url=fake.url, timeout=5) as c:
        _, sid = await login(c)
        fake.queue_turn([adk_text("a")], hold=0.2)
        start = time.monotonic()
        assert len(await sse_frames(c, sid, "x")) == 1
        assert time.monotonic() - start >= 0.2

        fake.queue_turn([adk_text("a")], hold=30)
        async with aconnect_sse(c, "POST", "/run_sse", json=run_body(sid, "x")) as source:
            it = source.aiter_sse()
            await anext(it)
            start = time.monotonic()
            await fake.stop()
            assert time.monotonic() - start < 1.5
            with pytest.raises(httpx.TransportError):
                await anext(it)


# --------------------------------------------------------------------------- upload


async def test_streaming_multipart_upload(fake: FakeBackend, client: httpx.AsyncClient) -> None:
    _, sid = await login(client)
    big = io.BytesIO(bytes(range(256)) * (5 * 4096))  # 5 MiB, above the JSON body limit
    files: list[tuple[str, tuple[str, IO[bytes] | bytes, str]]] = [
        ("files", ("big.MP4", big, "video/mp4")),
        ("files", ("cover.jpg", b"\xff\xd8jpeg", "image/jpeg")),
        ("files", ("song.mp3", b"ID3", "audio/mpeg")),
    ]
    r = await client.post(f"/api/upload-video/nemo_agent/me/{sid}", files=files)
    assert r.json()["code"] == 0
    out = r.json()["data"]["files"]
    assert [f["file_type"] for f in out] == ["video", "image", "audio"]
    keys = "filename file_type cdn_url duration width height fps hash"
    assert set(out[0]) == set(keys.split())
    assert out[0]["filename"] == "big.MP4" and out[0]["cdn_url"].startswith(f"{fake.url}/cdn/")
    rec = fake.requests_to("upload")[0].files
    assert (rec[0].field, rec[0].filename, rec[0].content_type) == ("files", "big.MP4", "video/mp4")
    assert rec[0].size == 5 * 1024 * 1024 and len(rec[0].head) == 1024 * 1024
    assert rec[0].head[:256] == bytes(range(256))
    assert fake.sessions[sid].uploads == out
    state = (await client.get(f"/api/state/nemo_agent/me/{sid}/latest")).json()["data"]
    assert state["state"]["video_infos"] == out and state["session_id"] == sid
    r = await client.head(out[1]["cdn_url"])
    assert r.headers["content-length"] == "6"


async def test_upload_errors_and_urls(fake: FakeBackend, client: httpx.AsyncClient) -> None:
    _, sid = await login(client)
    path = f"/api/upload-video/nemo_agent/me/{sid}"
    r = await client.post(path, files=[("files", ("notes.txt", b"hi", "text/plain"))])
    assert r.json() == {"code": 4001, "msg": "unsupported file type"}
    fake.max_upload_bytes = 1000
    r = await client.post(path, files=[("files", ("a.mp4", bytes(1001), "video/mp4"))])
    assert r.json() == {"code": 4002, "msg": "file too large"}
    assert fake.requests_to("upload")[1].files[0].size == 1001
    assert fake.sessions[sid].uploads == []

    r = await client.post(
        path, json={"urls": ["https://e.com/v/clip.webm?x=1"], "source_type": "url"}
    )
    (info,) = r.json()["data"]["files"]
    assert (info["filename"], info["file_type"]) == ("clip.webm", "video")
    r = await client.post(path, json={"urls": ["https://e.com/doc.pdf"], "source_type": "url"})
    assert r.json()["code"] == 4001


# --------------------------------------------------------------------------- state & credits


async def test_state_and_credits(fake: FakeBackend, client: httpx.AsyncClient) -> None:
    token, sid = await login(client)
    r = await client.get(f"/api/state/nemo_agent/me/{sid}/latest")
    assert r.json() == {
        "code": 0,
        "data": {
            "session_id": sid,
            "task_id": fake.sessions[sid].task_id,
            "state": {"draft": None, "video_infos": [], "generated_media": []},
        },
    }
    full = make_draft([("city timelapse", "", 10_000)], bgm=("Lo-fi", 0.35), title=("Urban", 3000))
    fake.set_draft(sid, full)
    r = await client.get(f"/api/state/nemo_agent/me/{sid}/latest")
    assert [t["tt"] for t in r.json()["data"]["state"]["draft"]["t"]] == [0, 1, 7]
    fake.set_credits(token, 42)
    r = await client.get("/api/credits/balance/simple")
    assert r.json() == {"code": 0, "data": {"available": 42, "frozen": 0, "total": 42}}


# --------------------------------------------------------------------------- render


def render_body(rid: str, sid: str, draft: dict[str, Any] | None = DRAFT) -> dict[str, Any]:
    return {"id": rid, "sessionId": sid, "draft": draft, "output": {"format": "mp4"}}


def unwrap(body: dict[str, Any]) -> dict[str, Any]:
    """What a tolerant client does: take ``data`` if present, find the URL anywhere."""
    data: dict[str, Any] = body.get("data", body)
    url = data.get("outputUrl") or (data.get("output") or {}).get("url")
    return {"status": data["status"], "id": data["id"], "url": url}


@pytest.mark.parametrize(
    ("shape", "envelope"),
    [
        ("code", {"code": 0}),
        ("success", {"success": True}),
        ("bare", {}),
        ("outputUrl", {"code": 0}),
        ("top_output", {"code": 0}),
    ],
)
async def test_render_shapes(
    fake: FakeBackend, client: httpx.AsyncClient, shape: RenderShape, envelope: dict[str, Any]
) -> None:
    fake.render_shape = shape
    _, sid = await login(client)
    r = await client.post("/api/render/proxy/lambda", json=render_body("render_1", sid))
    body = r.json()
    assert {k: body[k] for k in envelope} == envelope
    assert unwrap(body) == {"status": "pending", "id": "render_1", "url": None}
    polls = [(await client.get("/api/render/proxy/lambda/render_1")).json() for _ in range(3)]
    assert [unwrap(p)["status"] for p in polls] == ["processing", "completed", "completed"]
    url = f"{fake.url}/cdn/render_1.mp4"
    done = polls[1]
    if shape == "code":
        data = {"id": "render_1", "status": "completed", "output": {"url": url}}
        assert done == {"code": 0, "data": data}
    elif shape == "outputUrl":
        assert done["data"]["outputUrl"] == url
    elif shape == "top_output":
        assert done["output"] == {"url": url} and "data" not in done
    elif shape == "bare":
        assert done == {"id": "render_1", "status": "completed", "output": {"url": url}}
    else:
        assert done["data"]["output"] == {"url": url}
    assert fake.renders["render_1"].polls == 2


async def test_render_download(fake: FakeBackend, client: httpx.AsyncClient) -> None:
    fake.render_polls = 1
    fake.render_size = 300_000
    _, sid = await login(client)
    assert (await client.get(f"{fake.url}/cdn/r1.mp4")).status_code == 404  # not done yet
    await client.post("/api/render/proxy/lambda", json=render_body("r1", sid))
    url = unwrap((await client.get("/api/render/proxy/lambda/r1")).json())["url"]
    r = await client.head(url)
    assert (r.status_code, r.headers["content-length"]) == (200, "300000")
    async with httpx.AsyncClient() as plain, plain.stream("GET", url) as r:
        assert r.headers["content-type"] == "video/mp4"
        received = b"".join([c async for c in r.aiter_bytes()])
    assert len(received) == 300_000 and received[4:8] == b"ftyp"


async def test_render_errors(fake: FakeBackend, client: httpx.AsyncClient) -> None:
    _, sid = await login(client)
    path = "/api/render/proxy/lambda"
    r = await client.post(path, json=render_body("r1", sid, {"d": 0, "t": [{"tt": 0, "sg": []}]}))
    assert (r.status_code, r.json()) == (400, {"code": 400, "msg": "empty draft"})
    r = await client.post(path, json=render_body("r1", sid, None))
    assert r.json()["msg"] == "empty draft"

    fake.render_fail = True
    fake.message_key = "message"
    await client.post(path, json=render_body("r1", sid))
    r = await client.post(path, json=render_body("r1", sid))
    assert (r.status_code, r.json()) == (409, {"code": 409, "message": "duplicate render id"})
    statuses = [(await client.get(f"{path}/r1")).json()["data"] for _ in range(2)]
    assert [s["status"] for s in statuses] == ["processing", "failed"]
    assert statuses[1]["error"] and "output" not in statuses[1]
    r = await client.get(f"{path}/nope")
    assert (r.status_code, r.json()["code"]) == (404, 404)


async def test_render_402(fake: FakeBackend, client: httpx.AsyncClient) -> None:
    _, sid = await login(client)
    path = "/api/render/proxy/lambda"
    auth = {"Authorization": client.headers["Authorization"]}
    async with httpx.AsyncClient(base_url=fake.url) as bare:
        for missing in ATTRIBUTION:
            headers = {k: v for k, v in ATTRIBUTION.items() if k != missing} | auth
            r = await bare.post(path, json=render_body("r1", sid), headers=headers)
            assert r.status_code == 402
            assert r.json() == {"code": 402, "msg": "export requires a paid plan"}
    fake.force_402 = True
    r = await client.post(path, json=render_body("r1", sid))
    assert r.status_code == 402
    fake.force_402 = False
    r = await client.post(path, json=render_body("r1", sid))
    assert r.json()["data"]["status"] == "pending"
    assert fake.renders["r1"].draft == DRAFT and fake.renders["r1"].session_id == sid


# --------------------------------------------------------------------------- failure injection


@pytest.mark.parametrize(
    ("endpoint", "method", "path", "code", "status"),
    [
        ("anonymous_token", "POST", "/api/auth/anonymous-token", 429, 429),
        ("create_session", "POST", "/api/tasks/me/with-session/nemo_agent", 1001, 401),
        ("run_sse", "POST", "/run_sse", 1002, 404),
        ("upload", "POST", "/api/upload-video/nemo_agent/me/{sid}", 4002, 200),
        ("credits", "GET", "/api/credits/balance/simple", 500, 500),
        ("state", "GET", "/api/state/nemo_agent/me/{sid}/latest", 1002, 404),
        ("render", "POST", "/api/render/proxy/lambda", 402, 402),
        ("render_status", "GET", "/api/render/proxy/lambda/r1", 503, 503),
    ],
)
async def test_fail_injection(
    fake: FakeBackend,
    client: httpx.AsyncClient,
    endpoint: Any,
    method: str,
    path: str,
    code: int,
    status: int,
) -> None:
    _, sid = await login(client)
    await client.post("/api/render/proxy/lambda", json=render_body("r1", sid))
    path = path.format(sid=sid)
    body: dict[str, Any] = {"urls": ["https://e.com/a.mp4"]}
    if endpoint == "run_sse":
        body = run_body(sid, "hi")
    elif endpoint == "render":
        body = render_body("r2", sid)
    headers = {"X-Client-Id": "fresh"}
    fake.fail(endpoint, code, http_status=status, times=2)
    for _ in range(2):
        r = await client.request(method, path, json=body, headers=headers)
        assert r.status_code == status and r.json()["code"] == code and r.json()["msg"]
    r = await client.request(method, path, json=body, headers=headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith(
        "text/event-stream" if endpoint == "run_sse" else "application/json"
    )
    await r.aread()
    assert len(fake.requests_to(endpoint)) >= 3


async def test_fail_message_and_key(fake: FakeBackend, client: httpx.AsyncClient) -> None:
    fake.message_key = "message"
    fake.fail("anonymous_token", 500, http_status=500, message="upstream down")
    fake.fail("anonymous_token", 503, http_status=503)
    r1 = await client.post("/api/auth/anonymous-token", headers={"X-Client-Id": "a"})
    r2 = await client.post("/api/auth/anonymous-token", headers={"X-Client-Id": "a"})
    assert (r1.status_code, r1.json()) == (500, {"code": 500, "message": "upstream down"})
    assert (r2.status_code, r2.json()) == (503, {"code": 503, "message": "service unavailable"})
    fake.render_shape = "success"
    fake.fail("render_status", 500, http_status=500)
    r = await client.get("/api/render/proxy/lambda/x")
    assert r.json() == {"success": False, "code": 500, "message": "internal server error"}


async def test_many_concurrent_streams(fake: FakeBackend, client: httpx.AsyncClient) -> None:
    _, sid = await login(client)
    results = await asyncio.gather(*(sse_frames(client, sid, f"msg {i}") for i in range(5)))
    assert all(len(r) >= 5 for r in results)
    assert sorted(fake.sessions[sid].messages) == [f"msg {i}" for i in range(5)]


async def test_client_leaving_mid_stream(fake: FakeBackend, client: httpx.AsyncClient) -> None:
    _, sid = await login(client)
    fake.queue_turn([adk_text("a"), adk_text("b"), adk_text("c")], delay=0.05, draft=DRAFT)
    async with aconnect_sse(client, "POST", "/run_sse", json=run_body(sid, "x")) as source:
        async for _ in source.aiter_sse():
            break  # the client gives up after the first frame
    await asyncio.sleep(0.1)
    assert fake.sessions[sid].draft == DRAFT  # the backend finished its work anyway
    assert len(await sse_frames(client, sid, "hello")) >= 5


# --------------------------------------------------------------------------- injected faults


async def test_injected_faults_are_seeded_counted_and_real_shaped(
    fake: FakeBackend, client: httpx.AsyncClient
) -> None:
    _token, sid = await login(client)
    assert not fake.faults_injected
    fake.inject_faults(0.5, seed=3)
    statuses: set[int] = set()
    html = broken = 0
    for _ in range(80):
        try:
            async with client.stream("POST", "/run_sse", json=run_body(sid, "hi q1")) as r:
                statuses.add(r.status_code)
                if r.headers["content-type"].startswith("text/html"):
                    html += 1
                await r.aread()
        except httpx.RemoteProtocolError:
            broken += 1
    assert {429, 500, 200} <= statuses and html and broken
    assert set(fake.faults_injected) == {"429", "5xx", "html", "broken_stream"}
    assert fake.faults_injected["broken_stream"] == broken
    fake.inject_faults(0)
    assert (await client.get("/api/credits/balance/simple")).status_code == 200


async def test_annotate_appends_to_the_default_answer(
    fake: FakeBackend, client: httpx.AsyncClient
) -> None:
    _token, sid = await login(client)
    fake.annotate = lambda text: " [" + text[-3:] + "]"
    r = await client.post("/run_sse", json=run_body(sid, "please q42"))
    assert "[q42]" in r.text
