"""``python -m bot demo``: a whole conversation against the built-in fakes, printed as seen:
an upload, its one-tap presets, a tap, and the delivery saying what was gained (before → after).

The real Application runs against the fake Telegram Bot API and the fake video backend
(both real HTTP servers on 127.0.0.1); nothing leaves this machine and no token is needed.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
from pathlib import Path

from bot.sandbox.backend import adk_call, adk_response, adk_text, sleep_frame
from bot.sandbox.harness import Harness
from bot.sandbox.telegram import BotMessage

USER_ID = 4242
CLIP = b"\x00\x00\x00\x18ftypmp42" + bytes(2_400_000)  # a 2.4 MB "phone video"
ANSWER = (
    "Done! I re-encoded your video with H.264 at a lower bitrate: about 60% smaller with no "
    "visible quality loss. Click Export in the top right corner to download it."
)


def _describe(message: BotMessage) -> str:
    text = message.text or ""
    buttons = " | ".join(str(b.get("text", "")) for b in message.buttons)
    keyboard = f"\n[{buttons}]" if buttons else ""
    if message.kind == "text":
        return text + keyboard
    size = message.file.size if message.file and not isinstance(message.file, str) else None
    what = f"[{message.kind}{f', {size:,} bytes' if size else ''}]"
    return f"{what} {text}".strip() + keyboard


async def play(workdir: Path) -> None:
    async with Harness(workdir, still_working_seconds=1, render_poll_seconds=0.5) as h:
        tg = h.tg
        h.backend.render_polls = 3
        user = tg.user(USER_ID, first_name="Dana", language_code="en")
        shown: dict[int, str] = {}

        def show(who: str, text: str) -> None:
            for i, line in enumerate(text.splitlines() or [""]):
                print(f"{who if i == 0 else ' ' * len(who)}  {line}", flush=True)

        async def watch(until: float) -> None:
            """Print the bot's messages as they appear and change, like a phone would."""
            loop = asyncio.get_running_loop()
            end = loop.time() + until
            while loop.time() < end:
                for message in tg.messages(USER_ID):
                    now = "(removed)" if message.deleted else _describe(message)
                    if shown.get(message.message_id) != now:
                        if message.message_id in shown and message.deleted:
                            show("   bot ✎", f"{shown[message.message_id]} (removed)")
                        elif message.message_id in shown:
                            show("   bot ✎", now)
                        elif not message.deleted:
                            show("   bot", now)
                        shown[message.message_id] = now
                await asyncio.sleep(0.05)

        async def until_idle() -> None:
            await asyncio.sleep(0.3)
            await h.idle(timeout=60)

        show("   you", "/start")
        await tg.send_text(USER_ID, "/start", user=user)
        await tg.wait_for_message(USER_ID)
        await watch(0.3)

        show("   you", f"[video clip.mp4, {len(CLIP):,} bytes, 1080p, 0:45]")
        await tg.send_video(USER_ID, CLIP, file_name="clip.mp4", duration=45, width=1920,
                            height=1080, user=user)
        await until_idle()
        await watch(0.3)
        upload = next(m for m in reversed(tg.messages(USER_ID)) if m.buttons)
        preset = upload.buttons[0]  # "Smaller file, same quality"

        h.backend.queue_turn(
            [
                adk_call("analyze_video", {"file": "clip.mp4"}),
                adk_response("analyze_video", {"codec": "h264", "bitrate": "16 Mbps"}),
                sleep_frame(1.5),
                adk_call("compress_video", {"crf": 26, "preset": "slow"}),
                adk_response("compress_video", {"ok": True}),
                adk_text("Done! I re-encoded your video ", partial=True),
                adk_text(ANSWER),
            ],
            delay=0.3,
            draft={"d": 45000, "m": {"width": 1920, "height": 1080}, "t": [{"tt": 0, "sg": [
                {"s": 0, "d": 45000, "m": {"title": "clip.mp4"}}]}]},
        )
        show("   you", f"[taps “{preset['text']}”]")
        await tg.press_button(USER_ID, upload.message_id, str(preset["callback_data"]),
                              user=user)
        watcher = asyncio.create_task(watch(60))
        await tg.wait_for_message(USER_ID, kind="video", timeout=60)
        await until_idle()
        await asyncio.sleep(0.2)
        watcher.cancel()
        await watch(0.2)
        actions = sorted(set(tg.chat_actions(USER_ID)))
        asked = next(iter(h.backend.sessions.values())).messages[-1]
        print(f"\n(the preset asked the agent: “{asked}”)")
        print(f"(chat actions shown while working: {', '.join(actions)})")


def main() -> int:
    logging.basicConfig(level=logging.ERROR)
    print("rtk-compressor-bot demo: the real bot against a fake Telegram and a fake backend\n")
    with tempfile.TemporaryDirectory(prefix="rtk-demo-") as tmp:
        try:
            asyncio.run(play(Path(tmp)))
        except Exception as exc:  # the demo must say what broke, not dump a traceback
            print(f"demo failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
    print("demo finished: video received, compressed, rendered and delivered.")
    return 0
