"""The bot's one web server: Telegram's webhook, ``/healthz`` and ``/metrics``.

python-telegram-bot's custom-webhook pattern on aiohttp: the POST is checked against the
secret token, turned into an ``Update`` and processed before it is answered, so by the time
Telegram hears 200 the update's work is in the durable queue (a repeat is recognised by its
update id). A POST without the right secret is answered 403 and never looked at; one the
store could not take (locked, full) is answered 503, so Telegram delivers it again.

``/healthz`` and ``/metrics`` answer from state kept in memory (``bot.telegram.health``): no
table scan per request, and no wait on a busy store beyond a second.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from telegram import Update
from telegram.ext import Application

from bot import __version__, metrics
from bot.telegram.health import Health
from bot.telegram.ordering import IntakeFailed, PerChatOrder
from bot.telegram.runtime import Runtime

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
AnyApp = Application[Any, Any, Any, Any, Any, Any]


class ListenError(Exception):
    """The port cannot be bound (in use, or a privileged port): one line for the operator."""


class WebServer:
    """Serves health and metrics always, and the webhook when ``webhook_path`` is given."""

    def __init__(
        self,
        app: AnyApp,
        *,
        mode: str,
        webhook_path: str | None = None,
        secret: str | None = None,
        metrics: bool = True,
    ) -> None:
        self.app = app
        self.mode = mode
        self.secret = secret or ""
        self.started = time.monotonic()
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._web = web.Application()
        self._web.router.add_get("/healthz", self._healthz)
        if metrics:  # METRICS_HEALTH_PORT_ONLY keeps them off the public port
            self._web.router.add_get("/metrics", self._metrics)
        if webhook_path is not None:
            self._web.router.add_post(webhook_path, self._webhook)

    async def start(self, host: str, port: int) -> int:
        """Listen; returns the bound port (``port`` 0 lets the OS choose)."""
        self._runner = web.AppRunner(self._web, access_log=None, shutdown_timeout=5.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            self._runner = None
            raise ListenError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
        self.port = int(self._runner.addresses[0][1])
        log.info("web server on %s:%d (%s mode)", host, self.port, self.mode)
        return self.port

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    # -- webhook ---------------------------------------------------------------------------

    async def _webhook(self, request: web.Request) -> web.Response:
        # aiohttp keeps header bytes that are not UTF-8 as surrogates: compare the raw bytes,
        # so a forged header is one refusal, not a 500 with a traceback.
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "surrogateescape")
        if not self.secret or not hmac.compare_digest(given, self.secret.encode()):
            log.warning("webhook POST without the right secret token refused")
            return web.Response(status=403)
        try:
            data = await request.json()
            update = Update.de_json(data, self.app.bot)
        except (ValueError, TypeError, KeyError):
            log.warning("webhook POST with an unreadable update refused")
            return web.Response(status=400)
        if update is None:
            return web.Response(status=400)
        # The same path a polled update takes (per-chat order, handlers, error handler); its
        # job is stored before Telegram is answered.
        try:
            await self.app.update_processor.process_update(
                update, self.app.process_update(update)
            )
        except IntakeFailed:  # not stored: Telegram delivers it again after a 5xx
            return web.Response(status=503)
        return web.Response(status=200)

    # -- health and metrics ----------------------------------------------------------------

    def _runtime(self) -> Runtime | None:
        rt: Runtime | None = self.app.bot_data.runtime
        return rt

    def _health(self) -> Health | None:
        order = self.app.update_processor
        return order.health if isinstance(order, PerChatOrder) else None

    async def _healthz(self, request: web.Request) -> web.Response:
        rt, health = self._runtime(), self._health()
        store_ok, pending = False, None
        if rt is not None and health is not None:
            snapshot = await health.snapshot()
            store_ok, pending = snapshot.store_ok, snapshot.pending
        loop_ok = self.app.running and (
            self.mode != "polling" or bool(self.app.updater and self.app.updater.running)
        )
        body = {
            "version": __version__,
            "mode": self.mode,
            "uptime_seconds": round(time.monotonic() - self.started, 1),
            "store_ok": store_ok,
            "update_loop_ok": loop_ok,
            "pending_jobs": pending,
            "running_chats": rt.queue.active if rt else 0,
        }
        status = 200 if store_ok and loop_ok else 503
        return web.Response(status=status, text=json.dumps(body),
                            content_type="application/json")

    async def _metrics(self, request: web.Request) -> web.Response:
        rt, health = self._runtime(), self._health()
        if rt is not None:
            metrics.RUNNING_CHATS.set(rt.queue.active)
        if rt is not None and health is not None:
            pending = (await health.snapshot(wait=False)).pending  # never waits on the store
            if pending is not None:
                metrics.QUEUE_DEPTH.set(pending)
        body = generate_latest()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
