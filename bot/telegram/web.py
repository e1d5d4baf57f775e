"""The bot's one web server: Telegram's webhook, ``/healthz`` and ``/metrics``.

python-telegram-bot's custom-webhook pattern on aiohttp: the POST is checked against the
secret token, turned into an ``Update`` and processed before it is answered, so by the time
Telegram hears 200 the update's work is in the durable queue (a repeat is recognised by its
update id). A POST without the right secret is answered 403 and never looked at.
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
    ) -> None:
        self.app = app
        self.mode = mode
        self.secret = secret or ""
        self.started = time.monotonic()
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._web = web.Application()
        self._web.router.add_get("/healthz", self._healthz)
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
        await self.app.update_processor.process_update(update, self.app.process_update(update))
        return web.Response(status=200)

    # -- health and metrics ----------------------------------------------------------------

    def _runtime(self) -> Runtime | None:
        rt: Runtime | None = self.app.bot_data.runtime
        return rt

    async def _healthz(self, request: web.Request) -> web.Response:
        rt = self._runtime()
        store_ok, pending = False, None
        if rt is not None:
            try:
                pending = await rt.svc.store.count_unfinished()
                store_ok = True
            except Exception as exc:
                log.warning("health: store check failed: %s", type(exc).__name__)
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
        rt = self._runtime()
        if rt is not None:
            metrics.RUNNING_CHATS.set(rt.queue.active)
            try:
                metrics.QUEUE_DEPTH.set(await rt.svc.store.count_unfinished())
            except Exception:
                log.warning("metrics: store unreadable; queue depth not updated")
        body = generate_latest()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
