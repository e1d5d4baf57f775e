"""The fake Telegram's webhook delivery behaves like Telegram's Bot API server: several
updates at once (up to setWebhook's ``max_connections``, 40 by default), but one chat's
updates one at a time and in order, each only after the previous one was answered 2xx. The
bot's per-chat order across replicas rests on that (each update's job is stored before the
POST is answered), so the fake must not be stricter (one at a time) nor looser."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from telegram import Bot

from bot.sandbox.telegram import FakeTelegram

TOKEN = "123456:WEBHOOK-TOKEN"


@dataclass
class Receiver:
    """A webhook endpoint that takes ``delay`` seconds per update and records what it saw."""

    delay: float = 0.15
    refuse: Callable[[dict[str, object]], bool] = lambda update: False
    now: int = 0
    most: int = 0
    chats_now: dict[int, int] = field(default_factory=dict)
    overlaps_in_a_chat: int = 0
    answered: dict[int, list[int]] = field(default_factory=dict)  # chat → update ids, 2xx

    async def handle(self, request: web.Request) -> web.Response:
        update = await request.json()
        chat = int(update["message"]["chat"]["id"])
        self.now += 1
        self.most = max(self.most, self.now)
        self.chats_now[chat] = self.chats_now.get(chat, 0) + 1
        if self.chats_now[chat] > 1:
            self.overlaps_in_a_chat += 1
        try:
            await asyncio.sleep(self.delay)
            if self.refuse(update):
                return web.Response(status=500)
            self.answered.setdefault(chat, []).append(int(update["update_id"]))
            return web.Response(status=200)
        finally:
            self.now -= 1
            self.chats_now[chat] -= 1


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(TOKEN) as server:
        yield server


async def _serve(receiver: Receiver) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/hook"


async def _deliver(
    fake: FakeTelegram, receiver: Receiver, chats: range, per_chat: int,
    max_connections: int | None = None,
) -> None:
    runner, url = await _serve(receiver)
    bot = Bot(fake.token, base_url=fake.base_url)
    try:
        async with bot:
            await bot.set_webhook(url, max_connections=max_connections)
            for n in range(per_chat):
                for chat in chats:
                    await fake.send_text(chat, f"message {n}")
            total = len(chats) * per_chat
            await fake.wait_for(
                lambda: sum(len(v) for v in receiver.answered.values()) >= total, timeout=30
            )
            info = await bot.get_webhook_info()
            assert info.max_connections == (max_connections or 40)
            assert info.pending_update_count == 0
    finally:
        await runner.cleanup()


async def test_chats_are_delivered_at_once_each_in_order(fake: FakeTelegram) -> None:
    receiver = Receiver()
    await _deliver(fake, receiver, range(500, 530), 3)
    assert receiver.most > 10  # 30 chats at once, not one POST after another
    assert receiver.most <= 40
    assert receiver.overlaps_in_a_chat == 0
    for ids in receiver.answered.values():
        assert len(ids) == 3 and ids == sorted(ids)


async def test_max_connections_bounds_the_posts_at_once(fake: FakeTelegram) -> None:
    receiver = Receiver(delay=0.05)
    await _deliver(fake, receiver, range(600, 620), 2, max_connections=4)
    assert receiver.most == 4


async def test_a_refused_update_holds_back_its_own_chat_only(fake: FakeTelegram) -> None:
    refusals = {"left": 3}

    def refuse(update: dict[str, object]) -> bool:
        message = update["message"]
        assert isinstance(message, dict)
        if message["chat"]["id"] == 700 and message["text"] == "message 0" and refusals["left"]:
            refusals["left"] -= 1
            return True
        return False

    receiver = Receiver(delay=0.02, refuse=refuse)
    await _deliver(fake, receiver, range(700, 703), 3)
    assert refusals["left"] == 0
    assert receiver.overlaps_in_a_chat == 0
    for ids in receiver.answered.values():
        assert ids == sorted(ids) and len(ids) == 3
    # Chat 700's first update was refused three times (0.1 s apart); the other chats were
    # answered meanwhile, and 700's later updates waited for its first.
    codes = [(uid, code) for uid, code in fake.webhook_deliveries]
    refused = [uid for uid, code in codes if code == 500]
    assert len(refused) == 3 and len(set(refused)) == 1
    last_refusal = max(i for i, (_uid, code) in enumerate(codes) if code == 500)
    others = [uid for c in (701, 702) for uid in receiver.answered[c]]
    assert any(codes.index((uid, 200)) < last_refusal for uid in others)
    chat_700_later = receiver.answered[700][1:]
    assert all(codes.index((uid, 200)) > last_refusal for uid in chat_700_later)
