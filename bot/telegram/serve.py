"""Running the Application: long polling or a webhook, plus health and metrics.

One lifecycle for both modes, in python-telegram-bot's order (initialize, post_init, start
fetching, start; then the reverse), used by ``python -m bot`` and by the test harness.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from telegram.error import TelegramError
from telegram.ext import Application

from bot import logs
from bot.config import Settings
from bot.telegram.app import ALLOWED_UPDATES
from bot.telegram.runtime import Runtime

if TYPE_CHECKING:  # aiohttp's server is imported only when it runs: polling starts sooner
    from bot.telegram.web import WebServer

log = logging.getLogger(__name__)


def _polling_failed(exc: TelegramError) -> None:
    """A failed getUpdates (a 5xx, an HTML page, a 429): python-telegram-bot polls again with
    a backoff by itself, so one line is enough (its default logs a traceback at ERROR)."""
    log.warning("polling Telegram failed (%s); retrying", exc)


class Serving:
    """Starts and stops the bot in the mode the settings choose.

    ``advertise`` turns the bound port into the URL given to ``setWebhook`` (tests bind port
    0); by default it is ``WEBHOOK_URL`` as configured.
    """

    def __init__(
        self,
        app: Application[Any, Any, Any, Any, Any, Any],
        settings: Settings,
        *,
        host: str = "0.0.0.0",
        advertise: Callable[[int], str] | None = None,
        poll_interval: float = 0.0,
        poll_timeout: int = 10,
    ) -> None:
        self.app = app
        self.settings = settings
        self.host = host
        self.advertise = advertise
        self.poll_interval = poll_interval
        self.poll_timeout = poll_timeout
        self.mode = "webhook" if settings.webhook_url else "polling"
        self.web: WebServer | None = None
        self.health: WebServer | None = None
        """Webhook mode with HEALTH_PORT: /healthz and /metrics on a port of their own."""

    async def start(self) -> None:
        app, settings = self.app, self.settings
        if self.mode == "webhook" or settings.health_port is not None:
            import bot.telegram.web  # noqa: F401  (before "ready" is logged, as before)
        await app.initialize()
        if app.post_init:
            await app.post_init(app)
        if self.mode == "webhook":
            await self._start_webhook()
        else:
            if settings.health_port is not None:
                from bot.telegram.web import WebServer

                self.web = WebServer(app, mode="polling")
                await self.web.start(self.host, settings.health_port)
            assert app.updater is not None
            # Polling's bootstrap deletes a webhook left registered by an earlier start.
            await app.updater.start_polling(
                poll_interval=self.poll_interval,
                timeout=self.poll_timeout,
                allowed_updates=ALLOWED_UPDATES,
                error_callback=_polling_failed,
            )
            await app.start()

    async def _start_webhook(self) -> None:
        app, settings = self.app, self.settings
        if settings.webhook_secret is not None:
            secret = settings.webhook_secret.get_secret_value()
        else:
            secret = secrets.token_urlsafe(32)
            logs.add_secret(secret)
            log.info("WEBHOOK_SECRET is not set: a secret token was generated for this run")
        from bot.telegram.web import WebServer

        if settings.health_port is not None:
            self.health = WebServer(app, mode="webhook")
            await self.health.start(self.host, settings.health_port)
        self.web = WebServer(app, mode="webhook", webhook_path=settings.webhook_path,
                             secret=secret, metrics=not settings.metrics_health_port_only)
        port = await self.web.start(self.host, settings.port)
        await app.start()
        url = self.advertise(port) if self.advertise else str(settings.webhook_url)
        await app.bot.set_webhook(url, secret_token=secret, allowed_updates=ALLOWED_UPDATES)
        log.info("webhook registered at %s", url)

    async def stop(self, grace: float = 0) -> None:
        """Stop taking updates first, then the workers and the store; safe after a failed
        start. A webhook stays registered: Telegram keeps the updates until the next start.

        ``grace`` (SIGTERM: a deploy) lets running jobs finish for that long while the Bot
        API is still usable, so a turn in flight is answered instead of interrupted; jobs
        still running then, and those waiting, stay stored and resume on the next start.
        """
        app = self.app
        if app.updater and app.updater.running:
            await app.updater.stop()
        for server in (self.web, self.health):
            if server is not None:
                await server.stop()
        self.web = self.health = None
        if app.running:
            await app.stop()  # the updates already fetched are stored and queued first
            rt: Runtime | None = app.bot_data.runtime
            if grace > 0 and rt is not None:
                await rt.queue.shutdown(grace)
            if app.post_stop:
                await app.post_stop(app)
        await app.shutdown()
        if app.post_shutdown:
            await app.post_shutdown(app)


async def run(app: Application[Any, Any, Any, Any, Any, Any], settings: Settings) -> None:
    """Serve until SIGINT or SIGTERM."""
    serving = Serving(app, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await serving.start()
        await stop.wait()
        log.info("stopping")
    finally:
        await serving.stop(settings.shutdown_grace_seconds)
