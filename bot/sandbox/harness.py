"""The real Application wired to both fakes: what the demo plays and what the tests drive."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from telegram.ext import Application

from bot.config import Settings, load_settings
from bot.sandbox.backend import FakeBackend
from bot.sandbox.telegram import FakeTelegram
from bot.telegram.app import build_application
from bot.telegram.runtime import Runtime
from bot.telegram.serve import Serving

TOKEN = "123456:TEST-TOKEN"


class Harness:
    """Fake Telegram + fake backend + the bot, over HTTP on loopback.

    ``restart()`` stops the bot and starts a new Application on the same database, as a
    process restart would, while the fakes keep their state.
    """

    def __init__(
        self, workdir: Path, *, tg_options: dict[str, Any] | None = None, **overrides: Any
    ) -> None:
        self.workdir = workdir
        self.overrides = overrides
        self.tg = FakeTelegram(TOKEN, **(tg_options or {}))
        self.backend = FakeBackend()
        self.app: Application[Any, Any, Any, Any, Any, Any] | None = None
        self.settings: Settings | None = None
        self.serving: Serving | None = None

    def make_settings(self) -> Settings:
        values: dict[str, Any] = {
            "telegram_bot_token": TOKEN,
            "telegram_api_url": self.tg.url,
            "nemo_api_url": self.backend.url,
            "database_url": f"sqlite:///{self.workdir / 'bot.db'}",
            "still_working_seconds": 5,
            "render_poll_seconds": 0.05,
            "rate_limit_retry_seconds": 0.05,
            # Tests send many messages a minute; the protections' own tests turn them on.
            "turn_rate_limit": 0,
            "max_pending_jobs": 0,
            # The backend path as it was; local compression's own tests turn it on.
            "local_compression": "off",
        }
        values.update(self.overrides)
        return load_settings(**values)

    async def start(self) -> None:
        await self.tg.start()
        await self.backend.start()
        await self.start_bot()

    async def start_bot(self) -> None:
        """Start the bot the way ``python -m bot`` does: polling, or a webhook when the
        settings have ``webhook_url`` (served on 127.0.0.1 at a port the OS picks)."""
        self.settings = self.make_settings()
        self.app = build_application(self.settings)
        path = self.settings.webhook_path
        self.serving = Serving(
            self.app, self.settings, host="127.0.0.1", poll_interval=0, poll_timeout=1,
            advertise=lambda port: f"http://127.0.0.1:{port}{path}",
        )
        await self.serving.start()

    @property
    def web_url(self) -> str:
        """Root of the bot's web server (webhook mode, or polling with ``health_port``)."""
        assert self.serving is not None and self.serving.web is not None
        return f"http://127.0.0.1:{self.serving.web.port}"

    @property
    def webhook_url(self) -> str:
        assert self.settings is not None
        return self.web_url + urlsplit(self.settings.webhook_url or "").path

    async def stop_bot(self) -> None:
        serving, self.serving, self.app = self.serving, None, None
        if serving is None:
            return
        with contextlib.suppress(Exception):
            await serving.stop()

    async def restart(self) -> None:
        await self.stop_bot()
        await self.start_bot()

    async def stop(self) -> None:
        await self.stop_bot()
        await self.backend.stop()
        await self.tg.stop()

    @property
    def runtime(self) -> Runtime:
        assert self.app is not None
        rt: Runtime | None = self.app.bot_data.runtime
        assert rt is not None, "the bot is not running"
        return rt

    async def idle(self, timeout: float = 10.0) -> None:
        """Wait until the bot has handled every update and finished every chat's work."""
        async with asyncio.timeout(timeout):
            await asyncio.sleep(0.05)
            while True:
                assert self.app is not None
                rt = self.runtime
                await rt.queue.idle()
                await asyncio.gather(*list(rt.background), return_exceptions=True)
                if self.app.update_queue.empty() and not rt.queue.active and not rt.background:
                    await asyncio.sleep(0.05)
                    if not rt.queue.active and not rt.background:
                        return
                await asyncio.sleep(0.02)

    async def __aenter__(self) -> Harness:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
