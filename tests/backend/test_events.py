"""SSE frames to typed events: both frame styles, keep-alives, tool activity, errors, broken
and overlong streams, and the answer assembled from partial and final texts."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from bot import __version__
from bot.backend.client import NemoClient
from bot.backend.errors import (
    NoCredits,
    RateLimited,
    ServerFailed,
    SessionNotFound,
    StreamBroken,
    TokenInvalid,
    Unavailable,
)
from bot.backend.events import (
    AnswerBuilder,
    End,
    Event,
    Heartbeat,
    StreamError,
    TextChunk,
    ToolActivity,
    parse_frame,
)
from bot.sandbox.backend import (
    COMPRESS_ANSWER,
    SSE_EMPTY_DATA,
    FakeBackend,
    adk_call,
    adk_error,
    adk_event,
    adk_response,
    adk_text,
    make_draft,
    sleep_frame,
    sse_comment,
    typed_heartbeat,
    typed_text,
    typed_tool_call,
)

# --------------------------------------------------------------------------- parse_frame


def frame(obj: Any) -> list[Event]:
    return parse_frame(json.dumps(obj))


def test_adk_partial_and_final_text() -> None:
    assert frame(adk_text("Hel", partial=True)) == [TextChunk("Hel", partial=True)]
    assert frame(adk_text("Hello")) == [TextChunk("Hello", partial=False)]


def test_adk_missing_partial_means_final() -> None:
    obj = {"content": {"parts": [{"text": "x"}], "role": "model"}, "author": "nemo_agent"}
    assert frame(obj) == [TextChunk("x", partial=False)]


def test_adk_several_text_parts_are_joined() -> None:
    assert frame(adk_event([{"text": "a"}, {"text": "b"}])) == [TextChunk("ab", partial=False)]


def test_adk_function_call_and_response_are_tool_activity_never_text() -> None:
    assert frame(adk_call("compress_video", {"crf": 28})) == [
        ToolActivity("compress_video", "call")
    ]
    assert frame(adk_response("compress_video", {"ok": True})) == [
        ToolActivity("compress_video", "result")
    ]


def test_adk_mixed_parts_keep_text_and_tools_apart() -> None:
    events = frame(
        adk_event(
            [
                {"functionCall": {"name": "probe", "args": {}}},
                {"text": "Looking at it"},
                {"functionResponse": {"name": "probe", "response": {}}},
            ]
        )
    )
    assert ToolActivity("probe", "call") in events
    assert ToolActivity("probe", "result") in events
    assert [e for e in events if isinstance(e, TextChunk)] == [TextChunk("Looking at it", False)]


def test_adk_thoughts_and_user_role_text_are_not_answers() -> None:
    assert frame(adk_event([{"text": "thinking...", "thought": True}])) == [Heartbeat()]
    assert frame(adk_event([{"text": "echo of the user"}], role="user")) == [Heartbeat()]


def test_adk_event_without_content_is_keepalive() -> None:
    assert frame({"author": "nemo_agent", "id": "x", "turnComplete": True}) == [Heartbeat()]
    assert frame({"content": {"parts": []}}) == [Heartbeat()]


@pytest.mark.parametrize("parts", [1, "text", {"text": "x"}, True])
def test_adk_parts_that_are_not_a_list_are_a_keepalive(parts: object) -> None:
    """Found by the property test: a garbled frame must not end the turn with a TypeError."""
    assert frame({"content": {"parts": parts}}) == [Heartbeat()]


def test_adk_error_frames() -> None:
    assert frame(adk_error("model overloaded")) == [StreamError("model overloaded")]
    assert frame({"errorCode": "SAFETY", "errorMessage": "blocked"}) == [
        StreamError("blocked", "SAFETY")
    ]
    assert frame({"error_code": "E1"}) == [StreamError("E1", "E1")]


def test_typed_frames() -> None:
    assert frame(typed_text("Hi ")) == [TextChunk("Hi ", partial=True)]
    assert frame({"type": "text", "text": "alt key"}) == [TextChunk("alt key", partial=True)]
    assert frame({"type": "text", "content": ""}) == [Heartbeat()]
    assert frame(typed_heartbeat()) == [Heartbeat()]
    assert frame(typed_tool_call("trim", {"s": 1})) == [ToolActivity("trim", "call")]
    assert frame({"type": "tool_result", "name": "trim"}) == [ToolActivity("trim", "result")]
    assert frame({"type": "error", "message": "boom"}) == [StreamError("boom")]
    assert frame({"type": "final", "content": "All done"}) == [TextChunk("All done", False)]
    assert frame({"type": "done"}) == [End()]
    assert frame({"type": "something_new"}) == [Heartbeat()]


@pytest.mark.parametrize("data", ["", "   ", "not json", "[1, 2]", "42", "null"])
def test_empty_and_unknown_payloads_are_keepalive(data: str) -> None:
    assert parse_frame(data) == [Heartbeat()]


def test_done_marker_ends() -> None:
    assert parse_frame("[DONE]") == [End()]


# --------------------------------------------------------------------------- AnswerBuilder


def build(*chunks: TextChunk) -> str:
    b = AnswerBuilder()
    for c in chunks:
        b.add(c)
    return b.text


def test_builder_partials_replaced_by_final_without_duplication() -> None:
    text = build(
        TextChunk("Hel", True), TextChunk("lo wo", True), TextChunk("rld", True),
        TextChunk("Hello world", False),
    )
    assert text == "Hello world"


def test_builder_several_final_texts() -> None:
    text = build(
        TextChunk("First", True), TextChunk("First part.", False),
        TextChunk("Sec", True), TextChunk("Second part.", False),
        TextChunk("Third part.", False),
    )
    assert text == "First part.\n\nSecond part.\n\nThird part."


def test_builder_partials_only_are_concatenated() -> None:
    assert build(TextChunk("Hello ", True), TextChunk("there", True)) == "Hello there"


def test_builder_trailing_partials_after_a_final_are_kept() -> None:
    assert build(TextChunk("Done.", False), TextChunk("And ", True), TextChunk("more", True)) == (
        "Done.\n\nAnd more"
    )


def test_builder_empty_and_blank() -> None:
    assert AnswerBuilder().text == ""
    assert build(TextChunk("  ", False), TextChunk("\n", True)) == ""


# --------------------------------------------------------------------------- streams end to end


async def collect(client: NemoClient, token: str, sid: str, text: str = "hi") -> list[Event]:
    out: list[Event] = []
    async with client.run(token, sid, text) as events:
        async for ev in events:
            out.append(ev)
    return out


def answer(events: list[Event]) -> str:
    b = AnswerBuilder()
    for ev in events:
        if isinstance(ev, TextChunk):
            b.add(ev)
    return b.text


def texts(events: list[Event]) -> list[TextChunk]:
    return [e for e in events if isinstance(e, TextChunk)]


async def test_run_sends_documented_body_and_headers(
    fake: FakeBackend, client: NemoClient, token: str, sid: str
) -> None:
    fake.queue_turn([adk_text("ok")])
    await collect(client, token, sid, "make it smaller 压缩")
    (req,) = fake.requests_to("run_sse")
    assert req.method == "POST"
    assert req.json == {
        "app_name": "nemo_agent",
        "user_id": "me",
        "session_id": sid,
        "new_message": {"parts": [{"text": "make it smaller 压缩"}]},
    }
    assert req.headers["accept"] == "text/event-stream"
    assert req.headers["authorization"] == f"Bearer {token}"
    assert req.headers["x-skill-source"] == "rtk-compressor-free"
    assert req.headers["x-skill-version"] == __version__
    assert req.headers["x-skill-platform"] == "telegram"
    assert fake.sessions[sid].messages == ["make it smaller 压缩"]


async def test_adk_partials_then_final(
    fake: FakeBackend, client: NemoClient, token: str, sid: str
) -> None:
    fake.queue_turn(
        [
            adk_text("Your video ", partial=True),
            adk_text("is ", partial=True),
            adk_text("ready.", partial=True),
            adk_text("Your video is ready."),
        ]
    )
    events = await collect(client, token, sid)
    assert texts(events) == [
        TextChunk("Your video ", True),
        TextChunk("is ", True),
        TextChunk("ready.", True),
        TextChunk("Your video is ready.", False),
    ]
    assert events[-1] == End()
    assert answer(events) == "Your video is ready."


async def test_adk_default_turn_tools_hidden_and_answer_once(
    fake: FakeBackend, client: NemoClient, token: str, sid: str
) -> None:
    events = await collect(client, token, sid, "please compress this")
    tools = [e for e in events if isinstance(e, ToolActivity)]
    assert tools == [
        ToolActivity("compress_video", "call"),
        ToolActivity("compress_video", "result"),
    ]
    assert answer(events) == COMPRESS_ANSWER
    assert all("compress_video" not in t.text for t in texts(events))
    assert events[-1] == End()
    assert fake.sessions[sid].draft is not None  # the turn edited the draft


async def test_typed_default_turn(
    fake: FakeBackend, client: NemoClient, token: str, sid: str
) -> None:
    fake.sse_style = "typed"
    events = await collect(client, token, sid, "compress it")
    assert events[0] == ToolActivity("compress_video", "call")
    assert events.count(Heartbeat()) >= 2  # the empty data line and the typed heartbeat
    assert all(t.partial for t in texts(events))
    assert answer(events) == COMPRESS_ANSWER
    assert events[-1] == End()


async def test_typed_text_chunks_concatenate(
    fake: FakeBackend, client: NemoClient, token: str, sid: str
) -> None:
    fake.queue_turn(
        [typed_heartbeat(), typed_text("Hello "), typed_tool_call("trim"), typed_text("world")]
    )
    events = await collect(client, token, sid)
    assert events == [
        Heartbeat(),
        TextChunk("Hello ", True),
        ToolActivity("trim", "call"),
        TextChunk("world", True),
        End(),
    ]
    assert answer(events) == "Hello world"


async def test_keepalives_are_ignored(
    fake: FakeBackend, client: NemoClient, token: str, sid: str
) -> None:
    fake.queue_turn(
        [
            sse_comment("ping"),
            SSE_EMPTY_DATA,
            typed_heartbeat(),
            sse_comment("keep-alive"),
            "data:\n\n",
            adk_text("ok"),
        ]
    )
    events = await collect(client, token, sid)
    # Comments produce no event at all; empty data lines and heartbeat frames are Heartbeats.
    assert events == [Heartbeat(), Heartbeat(), Heartbeat(), TextChunk("ok", False), End()]


async def test_tool_only_turn_has_no_text(
    fake: FakeBackend, client: NemoClient, token: str, sid: str
) -> None:
    fake.queue_turn([adk_call("apply_edit", {"x": 1}), adk_response("apply_edit", {"ok": 1})])
    events = await collect(client, token, sid)
    assert events == [
        ToolActivity("apply_edit", "call"), ToolActivity("apply_edit", "result"), End()
    ]
    assert answer(events) == ""


async def test_multiple_final_texts_in_one_turn(
    fake: FakeBackend, client: NemoClient, token: str, sid: str
) -> None:
    fake.queue_turn(
        [
            adk_text("Let me ", partial=True),
            adk_text("Let me check."),
            adk_call("inspect_timeline"),
            adk_response("inspect_timeline"),
            adk_text("Trimmed ", partial=True),
            adk_text("Trimmed to 10s."),
        ]
    )
    events = await collect(client, token, sid)
    assert answer(events) == "Let me check.\n\nTrimmed to 10s."


async def test_adk_error_frame_is_stream_error(
    fake: FakeBackend, client: NemoClient, token: str, sid: str
) -> None:
    fake.queue_turn([adk_text("Work", partial=True), adk_error("LLM quota exceeded")])
    events = await collect(client, token, sid)
    errors = [e for e in events if isinstance(e, StreamError)]
    assert errors == [StreamError("LLM quota exceeded")]
    assert events[-1] == End()


async def test_named_error_event_is_stream_error(
    fake: FakeBackend, client: NemoClient, token: str, sid: str
) -> None:
    fake.queue_turn(
        [
            'event: error\ndata: {"message": "agent crashed"}\n\n',
            "event: error\ndata: plain words\n\n",
            "event: progress\ndata: {}\n\n",
        ]
    )
    events = await collect(client, token, sid)
    assert events == [StreamError("agent crashed"), StreamError("plain words"), End()]


async def test_done_marker_ends_the_turn(
    fake: FakeBackend, client: NemoClient, token: str, sid: str
) -> None:
    fake.queue_turn([adk_text("bye"), "data: [DONE]\n\n", adk_text("never seen")])
    events = await collect(client, token, sid)
    assert events == [TextChunk("bye", False), End()]


async def test_stream_broken_midway(
    fake: FakeBackend, client: NemoClient, token: str, sid: str
) -> None:
    draft = make_draft()
    fake.queue_turn(
        [adk_text("Part ", partial=True), adk_text("one", partial=True), adk_text("Part one")],
        break_after=2,
        draft=draft,
    )
    got: list[Event] = []
    with pytest.raises(StreamBroken):
        async with client.run(token, sid, "go") as events:
            async for ev in events:
                got.append(ev)
    assert got == [TextChunk("Part ", True), TextChunk("one", True)]
    assert End() not in got
    assert isinstance(StreamBroken("x"), Unavailable)


async def test_stream_past_deadline_is_broken(fake: FakeBackend, token: str, sid: str) -> None:
    fake.queue_turn([adk_text("thinking", partial=True)], hold=5)
    c = NemoClient(fake.url, version=__version__, sse_timeout_seconds=0.3)
    got: list[Event] = []
    start = time.monotonic()
    try:
        with pytest.raises(StreamBroken):
            async with c.run(token, sid, "go") as events:
                async for ev in events:
                    got.append(ev)
    finally:
        await c.aclose()
    elapsed = time.monotonic() - start
    assert 0.25 <= elapsed < 2
    assert got == [TextChunk("thinking", True)]


async def test_heartbeats_do_not_extend_the_deadline(
    fake: FakeBackend, token: str, sid: str
) -> None:
    fake.queue_turn([typed_heartbeat()] * 200, delay=0.02)
    c = NemoClient(fake.url, version=__version__, sse_timeout_seconds=0.3)
    start = time.monotonic()
    beats = 0
    try:
        with pytest.raises(StreamBroken):
            async with c.run(token, sid, "go") as events:
                async for ev in events:
                    assert ev == Heartbeat()
                    beats += 1
    finally:
        await c.aclose()
    assert 0.25 <= time.monotonic() - start < 2
    assert 3 <= beats < 200


async def test_sleep_frames_within_deadline_are_fine(
    fake: FakeBackend, client: NemoClient, token: str, sid: str
) -> None:
    fake.queue_turn([adk_text("a", partial=True), sleep_frame(0.1), adk_text("a")])
    events = await collect(client, token, sid)
    assert answer(events) == "a"


# --------------------------------------------------------------------------- non-stream answers


async def test_unknown_session_is_session_not_found(
    fake: FakeBackend, client: NemoClient, token: str, sid: str
) -> None:
    fake.forget_session(sid)
    with pytest.raises(SessionNotFound) as info:
        await collect(client, token, sid)
    assert info.value.code == 1002
    assert len(fake.requests_to("run_sse")) == 1


async def test_no_credits_json_answer_is_no_credits(
    fake: FakeBackend, client: NemoClient, token: str, sid: str
) -> None:
    fake.set_credits(token, 0)
    with pytest.raises(NoCredits) as info:
        await collect(client, token, sid)
    assert info.value.code == 2001
    assert info.value.status == 200


async def test_expired_token_on_run(
    fake: FakeBackend, client: NemoClient, token: str, sid: str
) -> None:
    fake.expire_token(token)
    with pytest.raises(TokenInvalid):
        await collect(client, token, sid)


@pytest.mark.parametrize("key", ["msg", "message"])
async def test_injected_run_failure_message_key(
    fake: FakeBackend, client: NemoClient, token: str, sid: str, key: Any
) -> None:
    fake.message_key = key
    fake.fail("run_sse", 2001, message="top up please")
    with pytest.raises(NoCredits, match="top up please"):
        await collect(client, token, sid)


async def test_run_429_then_stream(
    fake: FakeBackend, client: NemoClient, token: str, sid: str
) -> None:
    fake.fail("run_sse", 429, http_status=429)
    fake.queue_turn([adk_text("after the wait")])
    events = await collect(client, token, sid)
    assert answer(events) == "after the wait"
    reqs = fake.requests_to("run_sse")
    assert len(reqs) == 2
    assert reqs[0].json == reqs[1].json


async def test_run_429_twice_is_rate_limited(
    fake: FakeBackend, client: NemoClient, token: str, sid: str
) -> None:
    fake.fail("run_sse", 429, http_status=429, times=2)
    with pytest.raises(RateLimited):
        await collect(client, token, sid)
    assert len(fake.requests_to("run_sse")) == 2


async def test_run_5xx_is_unavailable(
    fake: FakeBackend, client: NemoClient, token: str, sid: str
) -> None:
    fake.fail("run_sse", 503, http_status=503)
    with pytest.raises(Unavailable):
        await collect(client, token, sid)


async def test_run_non_stream_success_is_unavailable(mock: Callable[..., NemoClient]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"code": 0, "data": {}})

    with pytest.raises(ServerFailed):
        await collect(mock(handler), "tok", "1")


async def test_run_html_gateway_error_is_unavailable(mock: Callable[..., NemoClient]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            504, text="<html><body>Gateway Timeout</body></html>",
            headers={"content-type": "text/html"},
        )

    with pytest.raises(ServerFailed):
        await collect(mock(handler), "tok", "1")


async def test_run_crlf_framing_via_mock_transport() -> None:
    body = (
        b": hello\r\n\r\n"
        b'data: {"content":{"parts":[{"text":"A"}],"role":"model"},"partial":true}\r\n\r\n'
        b'data: {"content":{"parts":[{"text":"AB"}],"role":"model"}}\r\n\r\n'
    )

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    c = NemoClient("http://b.test", version=__version__, transport=httpx.MockTransport(handler))
    try:
        events = await collect(c, "tok", "1")
    finally:
        await c.aclose()
    assert events == [TextChunk("A", True), TextChunk("AB", False), End()]


async def test_error_answer_whose_body_breaks_is_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        async def body() -> AsyncIterator[bytes]:
            yield b"<html>"
            raise httpx.ReadError("connection reset", request=request)

        return httpx.Response(502, content=body(), headers={"content-type": "text/html"})

    c = NemoClient("http://b.test", version=__version__, transport=httpx.MockTransport(handler))
    try:
        with pytest.raises(Unavailable):
            await collect(c, "tok", "1")
    finally:
        await c.aclose()


async def test_stream_cut_before_any_frame_is_broken(
    fake: FakeBackend, client: NemoClient, token: str, sid: str
) -> None:
    fake.queue_turn([adk_text("never")], break_after=0)
    with pytest.raises(StreamBroken):
        await collect(client, token, sid)


async def test_empty_stream_just_ends(
    fake: FakeBackend, client: NemoClient, token: str, sid: str
) -> None:
    fake.queue_turn([])
    assert await collect(client, token, sid) == [End()]
