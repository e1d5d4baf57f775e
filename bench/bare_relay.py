"""The baseline the bot is measured against: the least a Telegram relay to the backend can do.

A python-telegram-bot Application that sends each text message to ``/run_sse``, reads the
stream with httpx-sse and sends the answer; ``/start`` gets a fixed text. No store, no i18n,
no progress messages, no rate limiter, one backend token (``NEMO_TOKEN``) and a session per
chat kept in a dict. Configured by the same environment variables as the bot.

Streams are spread over httpx pools of 50 by chat, as the bot does: one httpx pool holding
1000 connections costs O(pool) per request and drops keep-alive (encode/httpcore#1000), and
a relay built that way could not even open 1000 turns at 25 a second on this machine.
"""

from __future__ import annotations

import json
import os
from typing import Any

import httpx
from httpx_sse import aconnect_sse
from telegram import Update
from telegram.ext import Application, CommandHandler, ContextTypes, MessageHandler, filters

API = os.environ["TELEGRAM_API_URL"]
POOLS = -(-int(os.environ.get("MAX_BACKEND_CONNECTIONS", "1000")) // 50)


def client(size: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=os.environ["NEMO_API_URL"],
        headers={"Authorization": f"Bearer {os.environ['NEMO_TOKEN']}"},
        timeout=httpx.Timeout(30.0, read=300.0),
        limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
    )


backend = client(100)
streams: dict[int, httpx.AsyncClient] = {}
sessions: dict[int, str] = {}


async def session_for(chat_id: int) -> str:
    if chat_id not in sessions:
        r = await backend.post("/api/tasks/me/with-session/nemo_agent", json={"language": "en"})
        sessions[chat_id] = r.json()["data"]["session_id"]
    return sessions[chat_id]


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_chat is not None
    await context.bot.send_message(update.effective_chat.id, "Hi! Send me what you want done.")


async def relay(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_chat is not None and update.effective_message is not None
    chat_id = update.effective_chat.id
    body: dict[str, Any] = {
        "app_name": "nemo_agent", "user_id": "me", "session_id": await session_for(chat_id),
        "new_message": {"parts": [{"text": update.effective_message.text}]},
    }
    answer = ""
    pool = streams.get(chat_id % POOLS) or streams.setdefault(chat_id % POOLS, client(50))
    async with aconnect_sse(pool, "POST", "/run_sse", json=body) as source:
        async for sse in source.aiter_sse():
            if not sse.data:
                continue
            event = json.loads(sse.data)
            for part in (event.get("content") or {}).get("parts") or []:
                if "text" in part:  # partial chunks add up; the final event repeats them all
                    answer = answer + part["text"] if event.get("partial") else part["text"]
    await context.bot.send_message(chat_id, answer or "(no answer)")


def main() -> None:
    app = (
        Application.builder()
        .token(os.environ["TELEGRAM_BOT_TOKEN"])
        .base_url(f"{API}/bot")
        .concurrent_updates(int(os.environ.get("MAX_CONCURRENT_UPDATES", "1024")))
        .connection_pool_size(512)
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, relay))
    app.run_polling(allowed_updates=Update.ALL_TYPES)


if __name__ == "__main__":
    main()
