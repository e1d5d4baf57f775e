"""The real Application wired to both fakes: what the demo plays and what the tests drive."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application

from bot.config import Settings, load_settings
from bot.sandbox.backend import FakeBackend
from bot.sandbox.telegram import FakeTelegram
from bot.telegram.app import build_application
from bot.telegram.runtime import Runtime

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

    def make_settings(self) -> Settings:
        values: dict[str, Any] = {
            "telegram_bot_token": TOKEN,
            "telegram_api_url": self.tg.url,
            "nemo_api_url": self.backend.url,
            "database_url": f"sqlite:///{self.workdir / 'bot.db'}",
            "still_working_seconds": 5,
            "render_poll_seconds": 0.05,
            "rate_limit_retry_seconds": 0.05,
        }
        values.update(self.overrides)
        return load_settings(**values)

    async def start(self) -> None:
        await self.tg.start()
        await self.backend.start()
        await self.start_bot()

    async def start_bot(self) -> None:
        self.settings = self.make_settings()
        self.app = build_application(self.settings)
        await self.app.initialize()
        if self.app.post_init:
            await self.app.post_init(self.app)
        await self.app.start()
        assert self.app.updater is not None
        app = self.app

        def polling_failed(exc: TelegramError) -> None:
            # What run_polling does: a failed getUpdates goes to the error handlers.
            app.create_task(app.process_error(error=exc, update=None))

        await self.app.updater.start_polling(
            poll_interval=0, timeout=1, allowed_updates=Update.ALL_TYPES,
            error_callback=polling_failed,
        )

    async def stop_bot(self) -> None:
        app, self.app = self.app, None
        if app is None:
            return
        with contextlib.suppress(Exception):
            if app.updater and app.updater.running:
                await app.updater.stop()
            if app.running:
                await app.stop()
            if app.post_shutdown:
                await app.post_shutdown(app)
            await app.shutdown()

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
        rt = self.app.bot_data["runtime"]
        assert isinstance(rt, Runtime)
        return rt

    async def idle(self, timeout: float = 10.0) -> None:
        """Wait until the bot has handled every update and finished every chat's work."""
        async with asyncio.timeout(timeout):
            await asyncio.sleep(0.05)
            while True:
                assert self.app is not None
                await self.runtime.queue.idle()
                if self.app.update_queue.empty() and not self.runtime.queue.active:
                    await asyncio.sleep(0.05)
                    if not self.runtime.queue.active:
                        return
                await asyncio.sleep(0.02)

    async def __aenter__(self) -> Harness:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
