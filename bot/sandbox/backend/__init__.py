"""A fake NemoVideo backend: a real aiohttp server on 127.0.0.1 speaking the documented protocol.

Why: the real backend cannot be reached from here, and the bot must tolerate every documented
variant (envelopes, message keys, SSE styles, error codes, broken streams). This fake plays them
on demand over real sockets, with real SSE framing and delays, so client code is tested end to
end. It runs on the caller's asyncio loop; no threads.

Typical use::

    async with FakeBackend(frame_delay=0.001) as fake:
        fake.queue_turn([adk_text("Hi")], draft=None)
        fake.fail("credits", 500, http_status=500)
        ...  # point the client at fake.url

The package is one class in layers, each a module building on the one before: ``records``
(protocol constants, recorded requests, tokens, sessions, renders), ``frames`` (SSE frame and
draft builders for scripts), ``scripting`` (state and the hooks tests call), ``server``
(middleware: recording, failures, faults, auth), ``endpoints`` (one handler per endpoint) and
``fake`` (:class:`FakeBackend` with its routes).
"""

from __future__ import annotations

from bot.sandbox.backend.endpoints import (
    _message_text,
)
from bot.sandbox.backend.fake import (
    FakeBackend,
)
from bot.sandbox.backend.frames import (
    SSE_EMPTY_DATA,
    adk_call,
    adk_error,
    adk_error_code,
    adk_event,
    adk_response,
    adk_text,
    expire_token_frame,
    forget_session_frame,
    make_draft,
    sleep_frame,
    sse_comment,
    typed_heartbeat,
    typed_text,
    typed_tool_call,
)
from bot.sandbox.backend.records import (
    _RECORD,
    COMPRESS_ANSWER,
    RecordedRequest,
    RenderShape,
    ScriptedTurn,
)

__all__ = [
    "COMPRESS_ANSWER",
    "SSE_EMPTY_DATA",
    "_RECORD",
    "FakeBackend",
    "RecordedRequest",
    "RenderShape",
    "ScriptedTurn",
    "_message_text",
    "adk_call",
    "adk_error",
    "adk_error_code",
    "adk_event",
    "adk_response",
    "adk_text",
    "expire_token_frame",
    "forget_session_frame",
    "make_draft",
    "sleep_frame",
    "sse_comment",
    "typed_heartbeat",
    "typed_text",
    "typed_tool_call",
]
