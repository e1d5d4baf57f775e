"""The start/stop both fake servers share: an aiohttp app on 127.0.0.1, on a port from the OS."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Self

from aiohttp import web


class FakeServer:
    """Serves :meth:`_make_app` on 127.0.0.1:<free port>; :attr:`url` is set once started.

    Usable as an async context manager. Subclasses tune how hard shutdown cuts open requests
    with :attr:`_shutdown_timeout` and :attr:`_handler_cancellation`."""

    url: str = ""
    _runner: web.AppRunner | None = None
    _shutdown_timeout: float = 1.0
    _handler_cancellation: bool = False

    def _make_app(self) -> web.Application:
        """The application to serve (called by :meth:`start`)."""
        raise NotImplementedError

    async def start(self) -> None:
        """Bind 127.0.0.1 on a free port and serve; sets :attr:`url`."""
        if self._runner is not None:
            return
        runner = web.AppRunner(
            self._make_app(),
            access_log=None,
            shutdown_timeout=self._shutdown_timeout,
            handler_cancellation=self._handler_cancellation,
        )
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self.url = f"http://127.0.0.1:{runner.addresses[0][1]}"

    async def stop(self) -> None:
        """Stop serving (a no-op when not started)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await asyncio.sleep(0)
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
