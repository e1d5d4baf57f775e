"""Property-based tests for the pieces that take arbitrary input from outside: SSE frames,
backend envelopes, the agent's text (splitter, GUI rewriter) and the person's words (intent
router). None may raise on any input, and each keeps its invariants."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.backend.client import NemoClient
from bot.backend.errors import BackendError
from bot.backend.events import (
    AnswerBuilder,
    End,
    Heartbeat,
    StreamError,
    TextChunk,
    ToolActivity,
    parse_error_event,
    parse_frame,
)
from bot.backend.models import RenderStatus
from bot.conversation.gui import read_gui
from bot.conversation.intent import Intent, classify, holds_export
from bot.conversation.text import split_text
from bot.i18n import translator

SETTINGS = settings(max_examples=150, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])

JSON = st.recursive(
    st.none() | st.booleans() | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)
KEYS = st.sampled_from([
    "content", "parts", "text", "type", "partial", "error", "errorCode", "error_code",
    "errorMessage", "error_details", "code", "message", "role", "functionCall",
    "functionResponse", "name", "thought", "data", "status", "progress", "output", "url",
    "outputUrl", "success", "msg", "id",
])
# Dicts built from the keys the parsers look at, so the interesting branches are reached.
SHAPED = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20)
    | st.sampled_from(["text", "heartbeat", "error", "tool_call", "done", "final", "1001",
                       "2001", "model", "user", "completed", "failed", "processing"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=6),
    max_leaves=25,
)
EVENT_TYPES = (TextChunk, ToolActivity, Heartbeat, StreamError, End)


# -- SSE frames ----------------------------------------------------------------------------


@SETTINGS
@given(st.text())
def test_any_frame_text_parses_to_events(data: str) -> None:
    events = parse_frame(data)
    assert events and all(isinstance(e, EVENT_TYPES) for e in events)
    assert isinstance(parse_error_event(data), StreamError)


@SETTINGS
@given(JSON | SHAPED)
def test_any_json_frame_parses_to_events(obj: Any) -> None:
    data = json.dumps(obj)
    events = parse_frame(data)
    assert events and all(isinstance(e, EVENT_TYPES) for e in events)
    builder = AnswerBuilder()
    for event in events:
        if isinstance(event, TextChunk):
            builder.add(event)
        if isinstance(event, StreamError):
            code = event.backend_code
            assert code is None or isinstance(code, int)
    assert isinstance(builder.text, str)
    error = parse_error_event(data)
    assert isinstance(error, StreamError) and error.message


@SETTINGS
@given(st.integers(min_value=-10**6, max_value=10**6),
       st.sampled_from(["errorCode", "details", "typed"]))
def test_an_error_code_is_found_wherever_it_is(code: int, where: str) -> None:
    frame: dict[str, Any] = {
        "errorCode": {"errorCode": str(code), "errorMessage": "x"},
        "details": {"error": "x", "error_details": {"code": code}},
        "typed": {"type": "error", "message": "x", "code": code},
    }[where]
    (event,) = parse_frame(json.dumps(frame))
    assert isinstance(event, StreamError) and event.backend_code == code


# -- envelopes -----------------------------------------------------------------------------


@SETTINGS
@given(st.integers(min_value=100, max_value=599), st.binary(max_size=200))
def test_any_body_unwraps_or_raises_a_backend_error(status: int, body: bytes) -> None:
    try:
        result = NemoClient._unwrap(httpx.Response(status, content=body), "/p")
    except BackendError as exc:
        assert exc.path == "/p"
    else:
        assert isinstance(result, dict) and status < 400


@SETTINGS
@given(st.integers(min_value=100, max_value=599), JSON | SHAPED)
def test_any_json_envelope_unwraps_or_raises_a_backend_error(status: int, body: Any) -> None:
    try:
        result = NemoClient._unwrap(httpx.Response(status, json=body))
    except BackendError:
        return
    assert isinstance(result, dict) and status < 400
    assert isinstance(body, dict)
    if isinstance(body.get("data"), dict):
        assert result == body["data"]


@SETTINGS
@given(st.dictionaries(st.text(max_size=10), JSON | SHAPED, max_size=6))
def test_data_under_code_zero_is_the_payload(data: dict[str, Any]) -> None:
    response = httpx.Response(200, json={"code": 0, "msg": "ok", "data": data})
    assert NemoClient._unwrap(response) == data


@SETTINGS
@given(st.dictionaries(KEYS, SHAPED, max_size=6))
def test_any_render_status_parses(payload: dict[str, Any]) -> None:
    status = RenderStatus.parse(payload)
    assert status.status
    assert status.progress is None or 0 <= status.progress <= 1


# -- the splitter --------------------------------------------------------------------------

WORDY = st.text(
    alphabet=st.sampled_from([*list("ab cd\n\n\t错误 ✅x"), "\u2028"]), max_size=3000
)


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


@SETTINGS
@given(WORDY | st.text(max_size=3000), st.integers(min_value=1, max_value=400))
def test_chunks_fit_and_rejoin_to_the_text(text: str, limit: int) -> None:
    chunks = split_text(text, limit)
    assert all(0 < len(c) <= limit for c in chunks)
    assert all(c == c.strip() for c in chunks)
    assert _squeeze("".join(chunks)) == _squeeze(text)


@settings(max_examples=30, deadline=None, database=None)
@given(st.text(alphabet=st.sampled_from(list("word \n.")), min_size=4000, max_size=20000))
def test_long_answers_fit_telegrams_limit(text: str) -> None:
    chunks = split_text(text)
    assert all(0 < len(c) <= 4096 for c in chunks)
    assert _squeeze("".join(chunks)) == _squeeze(text)


# -- the intent router ---------------------------------------------------------------------

PHRASES = st.sampled_from([
    "export", "send me the video", "导出", "積分", "credits", "status", "don't export",
    "upload", "please", "not yet", "make it smaller", "余额", "show tracks", "?", "!",
])


@SETTINGS
@given(st.lists(PHRASES | st.text(max_size=20), max_size=6).map(" ".join))
def test_any_words_get_one_intent(text: str) -> None:
    intent = classify(text)
    assert isinstance(intent, Intent)
    assert classify(f"  {text}\n") == intent  # surrounding whitespace never changes it
    assert isinstance(holds_export(text), bool)


@SETTINGS
@given(st.text(min_size=201, max_size=600))
def test_long_messages_go_to_the_agent_unless_direct(text: str) -> None:
    assert classify(text) in set(Intent)


# -- the GUI rewriter ----------------------------------------------------------------------

GUI_WORDS = st.sampled_from([
    "Click Export", "click the Export button", "open the settings panel", "preview in timeline",
    "drag the clip to 0:05", "点击导出", "打开设置面板", "拖拽", "Export", ".", " ", "\n",
])


@SETTINGS
@given(st.lists(GUI_WORDS | st.text(max_size=30), max_size=8).map("".join),
       st.booleans(), st.booleans(), st.booleans(),
       st.sampled_from(["en", "zh_Hans", "zh_Hant"]))
def test_any_agent_text_is_rewritten(
    text: str, exporting: bool, button: bool, act: bool, locale: str
) -> None:
    reply = read_gui(text, translator(locale), exporting=exporting, button=button, act=act)
    assert isinstance(reply.text, str)
    assert all(isinstance(m, str) for m in reply.moves)
    if not act:
        assert reply.moves == ()


@SETTINGS
@given(st.text(alphabet=st.sampled_from(list("0123456789 ,;-+=()\n")), max_size=200))
def test_text_without_gui_words_is_left_alone(text: str) -> None:
    reply = read_gui(text, translator("en"), exporting=False)
    assert reply.text == text and not reply.show_state and reply.moves == ()
