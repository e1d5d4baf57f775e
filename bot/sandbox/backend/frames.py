"""Builders for the SSE frames and drafts tests script the fake backend with."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from bot.sandbox.backend.records import (
    FAKE_CLIP_MS,
    JSONDict,
)

# --------------------------------------------------------------------------- frame helpers


def adk_event(
    parts: Sequence[Mapping[str, Any]],
    *,
    partial: bool = False,
    role: str = "model",
    invocation_id: str | None = None,
) -> JSONDict:
    """An ADK ``Event`` as ``/run_sse`` streams it (camelCase aliases, as ADK dumps them)."""
    return {
        "content": {"parts": [dict(p) for p in parts], "role": role},
        "author": "nemo_agent",
        "partial": partial,
        "invocationId": invocation_id or f"e-{uuid.uuid4()}",
        "id": uuid.uuid4().hex[:8],
        "timestamp": time.time(),
    }


def adk_text(text: str, partial: bool = False, *, invocation_id: str | None = None) -> JSONDict:
    """ADK text event; partial events are chunks that a final full-text event repeats."""
    return adk_event([{"text": text}], partial=partial, invocation_id=invocation_id)


def adk_call(
    name: str,
    args: Mapping[str, Any] | None = None,
    *,
    call_id: str | None = None,
    invocation_id: str | None = None,
) -> JSONDict:
    """ADK tool-call event: the agent working, never meant for the user."""
    call = {"id": call_id or f"adk-{uuid.uuid4()}", "name": name, "args": dict(args or {})}
    return adk_event([{"functionCall": call}], invocation_id=invocation_id)


def adk_response(
    name: str,
    result: Mapping[str, Any] | None = None,
    *,
    call_id: str | None = None,
    invocation_id: str | None = None,
) -> JSONDict:
    """ADK tool-result event (ADK gives these the ``user`` role)."""
    resp = {"id": call_id or f"adk-{uuid.uuid4()}", "name": name, "response": dict(result or {})}
    return adk_event([{"functionResponse": resp}], role="user", invocation_id=invocation_id)


def adk_error(message: str, *, details: Mapping[str, Any] | None = None) -> JSONDict:
    """The frame ADK's server writes when the agent run raises."""
    return {"error": message, "error_details": dict(details or {"type": "AgentError"})}


def typed_text(chunk: str) -> JSONDict:
    """Old-style typed text chunk; the client concatenates them."""
    return {"type": "text", "content": chunk}


def typed_heartbeat() -> JSONDict:
    """Old-style typed keep-alive frame."""
    return {"type": "heartbeat"}


def typed_tool_call(name: str, args: Mapping[str, Any] | None = None) -> JSONDict:
    """Old-style typed tool-call frame."""
    return {"type": "tool_call", "name": name, "args": dict(args or {})}


def sse_comment(text: str = "ping") -> str:
    """An SSE comment line (a keep-alive any SSE parser must skip)."""
    return f": {text}\n\n"


SSE_EMPTY_DATA = "data: \n\n"
"""An empty ``data:`` frame, which clients must treat as keep-alive."""


def sleep_frame(seconds: float) -> JSONDict:
    """A pseudo-frame that pauses the scripted stream."""
    return {"__sleep__": seconds}


def expire_token_frame() -> JSONDict:
    """A pseudo-frame: the turn's token expires here (so an error frame 1001 can follow)."""
    return {"__expire_token__": True}


def forget_session_frame() -> JSONDict:
    """A pseudo-frame: the turn's session is lost here (so an error frame 1002 can follow)."""
    return {"__forget_session__": True}


def adk_error_code(code: int | str, message: str = "agent error", *,
                   where: Literal["errorCode", "details", "typed"] = "errorCode") -> JSONDict:
    """An error frame carrying a backend code, in one of the documented places."""
    match where:
        case "errorCode":
            return {"errorCode": str(code), "errorMessage": message}
        case "details":
            return {"error": message, "error_details": {"code": code}}
        case _:
            return {"type": "error", "message": message, "code": code}


def make_draft(
    clips: Sequence[tuple[str, str, int]] = (("clip.mp4", "", FAKE_CLIP_MS),),
    *,
    bgm: tuple[str, float] | None = None,
    title: tuple[str, int] | None = None,
) -> JSONDict:
    """Build a draft in the API's short names: video clips ``(title, url, ms)``, optional BGM
    ``(title, volume)`` and title text ``(text, ms)``, so tests need not spell the format."""
    segments: list[JSONDict] = []
    start = 0
    for name, url, ms in clips:
        meta: JSONDict = {"title": name}
        if url:
            meta["url"] = url
        segments.append({"s": start, "d": ms, "m": meta})
        start += ms
    tracks: list[JSONDict] = [{"tt": 0, "sg": segments}]
    if bgm is not None:
        tracks.append(
            {"tt": 1, "sg": [{"s": 0, "d": start, "m": {"title": bgm[0], "volume": bgm[1]}}]}
        )
    if title is not None:
        tracks.append({"tt": 7, "sg": [{"s": 0, "d": title[1], "m": {"text": title[0]}}]})
    return {"d": start, "t": tracks}


