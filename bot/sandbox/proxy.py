"""A round-robin HTTP proxy on 127.0.0.1: the load balancer in front of webhook replicas.

Why: replicas are only interchangeable if any of them may receive any update. Each POST
goes to the next upstream; one that refuses the connection or drops it is skipped for the
next (as a load balancer's retry would), and only when every upstream fails does the caller
(the fake Telegram) get a 502 and retry later, as Telegram does.
"""

from __future__ import annotations

import itertools

from aiohttp import ClientError, ClientSession, ClientTimeout, web

_HOP = {"host", "content-length", "transfer-encoding", "connection"}


class RoundRobinProxy:
    """Forwards every request to ``upstreams`` in turn (base URLs, e.g. http://127.0.0.1:81)."""

    def __init__(self, upstreams: list[str] | None = None) -> None:
        self.upstreams: list[str] = list(upstreams or [])
        self.forwarded: dict[str, int] = {}
        self.failed: dict[str, int] = {}
        self._turn = itertools.count()
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None
        self.url = ""

    async def start(self) -> str:
        """Listen on a port the OS picks; returns the proxy's base URL."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._session = ClientSession(timeout=ClientTimeout(total=30))
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        upstreams = list(self.upstreams)
        start = next(self._turn)
        for i in range(len(upstreams)):
            base = upstreams[(start + i) % len(upstreams)]
            try:
                async with self._session.request(
                    request.method, base + request.path_qs, data=body, headers=headers
                ) as response:
                    payload = await response.read()
                    self.forwarded[base] = self.forwarded.get(base, 0) + 1
                    return web.Response(status=response.status, body=payload,
                                        content_type=response.content_type)
            except (ClientError, TimeoutError):
                self.failed[base] = self.failed.get(base, 0) + 1
        return web.Response(status=502, text="no upstream answered")
