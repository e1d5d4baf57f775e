"""``python -m bot demo``: a whole conversation against the built-in fakes, printed as seen."""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
from pathlib import Path

from bot.sandbox.harness import Harness

USER_ID = 4242


async def play(workdir: Path, out: list[str]) -> None:
    async with Harness(workdir, still_working_seconds=1.5) as h:
        h.backend.frame_delay = 0.3  # slow enough to see "typing" and the progress message
        tg = h.tg
        user = tg.user(USER_ID, first_name="Demo", language_code="en")

        def show(who: str, text: str) -> None:
            line = f"{who}: {text}"
            out.append(line)
            print(line, flush=True)

        async def say(text: str, *, expect: int = 1, timeout: float = 30) -> None:
            before = len(tg.messages(USER_ID))
            show("you", text)
            await tg.send_text(USER_ID, text, user=user)
            await _await_replies(before, expect, timeout)

        async def _await_replies(before: int, expect: int, timeout: float) -> None:
            await tg.wait_for(lambda: len(tg.messages(USER_ID)) >= before + expect, timeout)
            await h.idle(timeout)
            for message in tg.messages(USER_ID)[before:]:
                if not message.deleted:
                    show("bot", _render(message))

        await say("/start")
        await say("compress this video to a smaller file size without losing quality")


def _render(message: object) -> str:
    kind = getattr(message, "kind", "text")
    text = getattr(message, "text", "") or ""
    if kind != "text":
        return f"[{kind}] {text}".strip()
    return text


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    out: list[str] = []
    with tempfile.TemporaryDirectory(prefix="rtk-demo-") as tmp:
        try:
            asyncio.run(play(Path(tmp), out))
        except Exception as exc:  # the demo must say what broke, not dump a traceback
            print(f"demo failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
    print("\ndemo finished: the bot answered through the fake Telegram and the fake backend.")
    return 0
