"""The assembled fake NemoVideo backend."""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.typedefs import Handler

from bot.sandbox.backend.endpoints import BackendEndpoints


class FakeBackend(BackendEndpoints):
    """The scriptable fake. Attributes may be changed between requests to switch variants:
    ``sse_style``, ``frame_delay``, ``render_polls``, ``render_shape``, ``message_key``,
    ``render_size``, ``render_fail``, ``force_402``, ``max_upload_bytes``, ``delays`` (seconds
    an endpoint waits before answering, e.g. ``{"state": 3}``: a slow backend)."""

    # ------------------------------------------------------------------ lifecycle

    _shutdown_timeout = 0.2
    _handler_cancellation = True

    def _make_app(self) -> web.Application:
        self._closing = asyncio.Event()

        @web.middleware
        async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
            return await self._middleware(request, handler)

        app = web.Application(middlewares=[middleware], client_max_size=4 * 1024 * 1024)
        r = app.router
        r.add_post("/api/auth/anonymous-token", self._h_anonymous_token, name="anonymous_token")
        r.add_post(
            "/api/tasks/me/with-session/nemo_agent", self._h_create_session, name="create_session"
        )
        r.add_post("/run_sse", self._h_run_sse, name="run_sse")
        r.add_post("/api/upload-video/nemo_agent/me/{session_id}", self._h_upload, name="upload")
        r.add_get("/api/credits/balance/simple", self._h_credits, name="credits")
        r.add_get("/api/state/nemo_agent/me/{session_id}/latest", self._h_state, name="state")
        r.add_post("/api/render/proxy/lambda", self._h_render, name="render")
        r.add_get(
            "/api/render/proxy/lambda/{render_id}", self._h_render_status, name="render_status"
        )
        r.add_get("/cdn/{name}", self._h_cdn, name="cdn")
        return app

    async def stop(self) -> None:
        """Shut down promptly: open streams are cut (as a dying server would cut them)."""
        if self._runner is not None:
            self._closing.set()
        await super().stop()

