"""SSE frames of both documented styles (ADK events and the older typed frames) as typed events.

The turn logic only ever sees these few event kinds, so a new frame style is a change here alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bot.backend.errors import code_of


@dataclass(frozen=True, slots=True)
class TextChunk:
    """Agent text. ``partial`` chunks are pieces of the ``final`` text that follows them."""

    text: str
    partial: bool


@dataclass(frozen=True, slots=True)
class ToolActivity:
    """The agent called a tool or got its result: proof of work, never shown to the user."""

    name: str
    kind: str  # "call" or "result"


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """Keep waiting."""


@dataclass(frozen=True, slots=True)
class StreamError:
    """The agent reported a failure in the stream."""

    message: str
    code: str | None = None

    @property
    def backend_code(self) -> int | None:
        """The backend's numeric code (1001, 2001...), when the frame carried one."""
        return code_of(self.code)


@dataclass(frozen=True, slots=True)
class End:
    """The stream closed normally."""


Event = TextChunk | ToolActivity | Heartbeat | StreamError | End


def parse_frame(data: str) -> list[Event]:
    """Turn one ``data:`` payload into events; unknown shapes count as keep-alive."""
    data = data.strip()
    if not data:
        return [Heartbeat()]
    try:
        obj = json.loads(data)
    except json.JSONDecodeError:
        if data in {"[DONE]", "DONE"}:
            return [End()]
        return [Heartbeat()]
    if not isinstance(obj, dict):
        return [Heartbeat()]
    if ("type" in obj and "content" not in obj) or isinstance(obj.get("content"), str):
        return _typed(obj)
    return _adk(obj)


def parse_error_event(data: str) -> StreamError:
    """A named ``error`` SSE event, whatever its payload looks like."""
    try:
        obj = json.loads(data)
    except json.JSONDecodeError:
        return StreamError(data.strip() or "agent error")
    if not isinstance(obj, dict):
        return StreamError(str(obj) if obj not in (None, "") else "agent error")
    message = obj.get("message") or obj.get("error") or obj.get("errorMessage")
    code = _error_code(obj)
    return StreamError(str(message or code or "agent error"), code)


def _error_code(obj: dict[str, Any]) -> str | None:
    """Where the documented error frames put a code: ``errorCode`` (ADK), ``error_code``,
    ``error_details.code`` (ADK's server-side failure frame) or a plain ``code``."""
    details = obj.get("error_details") or obj.get("errorDetails")
    candidates = [obj.get("errorCode"), obj.get("error_code")]
    if isinstance(details, dict):
        candidates += [details.get("code"), details.get("errorCode"), details.get("error_code")]
    candidates.append(obj.get("code"))
    for value in candidates:
        if value is not None and value != "" and not isinstance(value, dict | list | bool):
            return str(value)
    return None


def _typed(obj: dict[str, Any]) -> list[Event]:
    kind = str(obj.get("type", "")).lower()
    if kind in {"text", "message", "delta"}:
        text = obj.get("content") or obj.get("text") or ""
        return [TextChunk(str(text), partial=True)] if text else [Heartbeat()]
    if kind in {"final", "answer"}:
        return [TextChunk(str(obj.get("content") or obj.get("text") or ""), partial=False)]
    if kind in {"tool_call", "tool_result", "tool", "function_call", "function_response"}:
        name = str(obj.get("name") or obj.get("tool") or kind)
        return [ToolActivity(name, "result" if "result" in kind or "response" in kind else "call")]
    if kind == "error":
        message = obj.get("message") or obj.get("content") or obj.get("error") or "agent error"
        return [StreamError(str(message), _error_code(obj))]
    if kind in {"done", "end"}:
        return [End()]
    return [Heartbeat()]


def _adk(obj: dict[str, Any]) -> list[Event]:
    if obj.get("error") or obj.get("errorCode") or obj.get("error_code"):
        message = obj.get("error") or obj.get("errorMessage") or obj.get("error_message")
        code = _error_code(obj)
        return [StreamError(str(message or code or "agent error"), code)]
    content = obj.get("content")
    if not isinstance(content, dict):
        return [Heartbeat()]
    partial = bool(obj.get("partial", False))
    events: list[Event] = []
    texts: list[str] = []
    parts = content.get("parts")
    for part in parts if isinstance(parts, list) else []:
        if not isinstance(part, dict):
            continue
        if part.get("thought"):
            continue  # model reasoning, not an answer
        if isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif isinstance(part.get("functionCall"), dict):
            events.append(ToolActivity(str(part["functionCall"].get("name", "tool")), "call"))
        elif isinstance(part.get("functionResponse"), dict):
            name = str(part["functionResponse"].get("name", "tool"))
            events.append(ToolActivity(name, "result"))
    if texts and content.get("role", "model") != "user":
        events.append(TextChunk("".join(texts), partial=partial))
    return events or [Heartbeat()]


class AnswerBuilder:
    """Assemble the final answer from chunks: partial pieces are replaced by the final text."""

    def __init__(self) -> None:
        self._done: list[str] = []
        self._pending: list[str] = []

    def add(self, chunk: TextChunk) -> None:
        if chunk.partial:
            self._pending.append(chunk.text)
        else:
            self._pending.clear()
            if chunk.text.strip():
                self._done.append(chunk.text)

    @property
    def text(self) -> str:
        parts = [*self._done]
        if "".join(self._pending).strip():
            parts.append("".join(self._pending))
        return "\n\n".join(p.strip() for p in parts if p.strip())
