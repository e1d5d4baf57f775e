"""The events of one turn as they arrive over Server-Sent Events, within one deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
from httpx_sse import EventSource

from bot.backend.errors import StreamBroken
from bot.backend.events import End, Event, parse_error_event, parse_frame


class TurnStream:
    """Events of one turn, with the overall deadline and transport failures made explicit."""

    def __init__(self, response: httpx.Response, deadline: float, timeout: float) -> None:
        self._source = EventSource(response)
        self._deadline = deadline
        self._timeout = timeout

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._events()

    async def _events(self) -> AsyncIterator[Event]:
        iterator = self._source.aiter_sse().__aiter__()
        while True:
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                raise StreamBroken(f"no answer within {self._timeout:.0f}s")
            try:
                async with asyncio.timeout(remaining):
                    sse = await iterator.__anext__()
            except StopAsyncIteration:
                yield End()
                return
            except TimeoutError:
                raise StreamBroken(f"no answer within {self._timeout:.0f}s") from None
            except (httpx.TransportError, httpx.StreamError) as exc:
                raise StreamBroken(f"stream broke: {type(exc).__name__}") from exc
            if sse.event not in ("", "message"):
                # Named events are not part of the ADK stream; treat errors, ignore the rest.
                if sse.event == "error":
                    yield parse_error_event(sse.data)
                continue
            for event in parse_frame(sse.data):
                yield event
                if isinstance(event, End):
                    return
