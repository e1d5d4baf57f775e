"""One live status per backend job (issue 22): it appears as the job starts, is edited through
every stage in the one message (uploading, the agent working, rendering, sending), carries a
❌ Cancel that stops that job for good (also across a restart), and goes away when the result
is there."""

from __future__ import annotations

import asyncio
import hashlib
import re
from pathlib import Path
from typing import Any

from bot.sandbox.backend import adk_call, adk_text, make_draft, sleep_frame
from bot.sandbox.harness import Harness
from bot.sandbox.telegram import BotMessage

ALICE = 5801
BOB = 5802
CAROL = 5803
GROUP = -100580
MB = 1024 * 1024
COMPRESSED = [adk_call("compress_video", {}), sleep_frame(1.0), adk_text("Compressed.")]
HELD = [adk_call("slow", {}), sleep_frame(30), adk_text("never seen")]
FAST = {"transfer_progress_seconds": 0.2, "render_poll_seconds": 0.3}


def _clip(size: int) -> bytes:
    block = hashlib.sha256(b"status").digest() * 2048
    return (block * (size // len(block) + 1))[:size]


def _now(h: Harness, chat: int, message_id: int) -> BotMessage:
    (message,) = [m for m in h.tg.messages(chat) if m.message_id == message_id]
    return message


def _shown(message: BotMessage) -> list[str]:
    return [*message.edits, message.text or ""]


def _texts(h: Harness, chat: int) -> list[str]:
    return [t for m in h.tg.messages(chat) for t in _shown(m)]


def _is_status(message: BotMessage) -> bool:
    """A live status: it carries the ❌."""
    return any(str(b.get("callback_data", "")).startswith("stop:") for b in message.buttons)


def _first_sent(h: Harness, chat: int, holding: str) -> dict[str, Any]:
    """The first message the bot sent to ``chat`` whose request holds ``holding``."""
    return next(c.params for c in h.tg.calls_of("sendMessage")
                if int(c.params["chat_id"]) == chat and holding in str(c.params))


def _stop(message: BotMessage) -> str:
    (button,) = message.buttons
    assert button["text"] == "❌ Cancel"
    data = str(button["callback_data"])
    assert data.startswith("stop:")
    return data


async def _status(h: Harness, chat: int, contains: str, timeout: float = 10) -> BotMessage:
    """The chat's live status once it shows ``contains`` (re-read: its current state)."""
    def find() -> BotMessage | None:
        for m in h.tg.messages(chat):
            if _is_status(m) and contains in (m.text or ""):
                return m
        return None

    return await h.tg.wait_for(find, timeout)


async def test_one_status_from_the_first_second_through_every_stage(tmp_path: Path) -> None:
    async with Harness(tmp_path, telegram_local_mode=True, tg_options={"local_mode": True},
                       **FAST) as h:
        h.backend.upload_chunk_delay = 0.003
        h.backend.render_polls = 5
        h.backend.render_progress = "fraction"
        h.backend.queue_turn(COMPRESSED, draft=make_draft())
        source = tmp_path / "clip.mp4"
        source.write_bytes(_clip(16 * MB))
        await h.tg.send_video(ALICE, b"", file_name="clip.mp4", source_path=source,
                              caption="make it smaller")
        rendering = await _status(h, ALICE, "Rendering", timeout=30)
        _stop(rendering)  # the ❌ stays on every edit
        await h.tg.wait_for_message(ALICE, kind="video", timeout=30)
        await h.idle()
        messages = h.tg.messages(ALICE)
        (status,) = [m for m in messages if m.message_id == rendering.message_id]
        shown = _shown(status)
        assert any(re.match(r"📤 Uploading clip\.mp4… \d+\s?% of", s) for s in shown), shown
        assert any(re.match(r"⏳ Working on it… \d+ sec", s) for s in shown), shown
        assert any(re.match(r"🎬 Rendering… \d+\s?%", s) for s in shown), shown
        assert status.deleted, "the status goes once the video is there"
        others = [t for m in messages if m.message_id != status.message_id for t in _shown(m)]
        stages = "Uploading|Rendering|Still working|Working on it"
        assert not [t for t in others if re.search(stages, t)], others


async def test_a_turn_shows_the_status_at_once_and_takes_it_down_with_the_answer(
    tmp_path: Path,
) -> None:
    async with Harness(tmp_path, **FAST) as h:
        h.backend.queue_turn([adk_call("slow", {}), sleep_frame(1.0), adk_text("All done.")])
        await h.tg.send_text(ALICE, "make it shorter")
        live = await _status(h, ALICE, "", timeout=5)
        _stop(live)
        await h.tg.wait_for_message(ALICE, contains="All done.", timeout=10)
        await h.idle()
        first = _first_sent(h, ALICE, "stop:")
        assert first["text"] == "⏳ Working on it…", first
        status = _now(h, ALICE, live.message_id)
        assert status.deleted
        assert any(re.search(r"\d+ sec", s) for s in _shown(status)), _shown(status)
        others = [t for m in h.tg.messages(ALICE) if m.message_id != status.message_id
                  for t in _shown(m)]
        assert not [t for t in others if "Working on it" in t or "Still working" in t], others


async def test_cancel_stops_the_turn_and_nothing_arrives_later_even_after_a_restart(
    tmp_path: Path,
) -> None:
    async with Harness(tmp_path, **FAST) as h:
        h.backend.queue_turn(HELD)
        await h.tg.send_text(ALICE, "make it shorter")
        status = await _status(h, ALICE, "Working on it")
        await h.tg.wait_for(lambda: h.backend.requests_to("run_sse") or None, 5)
        await h.tg.press_button(ALICE, status.message_id, _stop(status), user=ALICE)
        await h.tg.wait_for(lambda: "Stopped" in (_now(h, ALICE, status.message_id).text or "")
                            or None, 10)
        await h.idle()
        now = _now(h, ALICE, status.message_id)
        assert not now.deleted and not now.buttons, "confirmed in the same message"
        assert now.text == "⏹ Stopped: nothing of it will be sent."
        await h.restart()
        await asyncio.sleep(1.0)
        await h.idle()
        texts = _texts(h, ALICE)
        assert not [t for t in texts if "never seen" in t or "restarted" in t], texts
        assert len(h.backend.requests_to("run_sse")) == 1, "no further turn"
        assert len([m for m in h.tg.messages(ALICE) if not m.deleted]) == 1


async def test_cancel_on_a_render_forgets_it_and_a_restart_resumes_nothing(
    tmp_path: Path,
) -> None:
    async with Harness(tmp_path, **FAST) as h:
        h.backend.render_polls = 10_000
        h.backend.queue_turn(COMPRESSED, draft=make_draft())
        await h.tg.send_text(ALICE, "compress it")
        status = await _status(h, ALICE, "Rendering", timeout=15)
        await h.tg.press_button(ALICE, status.message_id, _stop(status), user=ALICE)
        await h.tg.wait_for(lambda: "Stopped" in (_now(h, ALICE, status.message_id).text or "")
                            or None, 10)
        await h.idle()
        topic = await h.runtime.svc.store.get_topic(ALICE, 0)
        assert topic is not None and topic.render_id is None
        polls = len(h.backend.requests_to("render_status"))
        await h.restart()
        await asyncio.sleep(1.5)
        await h.idle()
        assert len(h.backend.requests_to("render_status")) == polls, "the render is not polled"
        assert not [m for m in h.tg.messages(ALICE) if m.kind in {"video", "document"}]
        assert "Stopped" in (_now(h, ALICE, status.message_id).text or "")
        answers = [m for m in h.tg.messages(ALICE) if m.text == "Compressed."]
        assert answers and not answers[0].deleted, "the agent's answer stays"


async def test_cancel_during_the_upload_sends_no_turn(tmp_path: Path) -> None:
    async with Harness(tmp_path, telegram_local_mode=True, tg_options={"local_mode": True},
                       **FAST) as h:
        h.backend.upload_chunk_delay = 0.05
        source = tmp_path / "clip.mp4"
        source.write_bytes(_clip(8 * MB))
        await h.tg.send_video(ALICE, b"", file_name="clip.mp4", source_path=source,
                              caption="make it smaller")
        status = await _status(h, ALICE, "Uploading", timeout=15)
        await h.tg.press_button(ALICE, status.message_id, _stop(status), user=ALICE)
        await h.tg.wait_for(lambda: "Stopped" in (_now(h, ALICE, status.message_id).text or "")
                            or None, 10)
        await h.idle()
        await h.restart()
        await asyncio.sleep(1.0)
        await h.idle()
        assert h.backend.requests_to("run_sse") == []
        assert len(h.backend.requests_to("upload")) == 1, "not uploaded again after a restart"
        assert not any("Received" in t for t in _texts(h, ALICE))


async def test_in_a_group_only_who_asked_or_an_admin_may_cancel(tmp_path: Path) -> None:
    async with Harness(tmp_path, **FAST) as h:
        h.tg.set_admins(GROUP, [CAROL])
        h.backend.queue_turn(HELD)
        await h.tg.send_text(GROUP, "@rtk_compressor_bot make it shorter",
                             user=h.tg.user(ALICE), chat_type="supergroup")
        status = await _status(h, GROUP, "Working on it")
        data = _stop(status)
        await h.tg.press_button(GROUP, status.message_id, data, user=BOB)
        refusal = await h.tg.wait_for_call("answerCallbackQuery")
        assert refusal.params.get("show_alert") is True
        await asyncio.sleep(0.5)
        assert h.runtime.queue.running(GROUP, 0) is not None, "a bystander stops nothing"
        await h.tg.press_button(GROUP, status.message_id, data, user=CAROL)
        await h.tg.wait_for(lambda: "Stopped" in (_now(h, GROUP, status.message_id).text or "")
                            or None, 10)
        await h.idle()
        assert not any("never seen" in t for t in _texts(h, GROUP))


async def test_slash_cancel_turns_the_status_into_stopped(tmp_path: Path) -> None:
    async with Harness(tmp_path, **FAST) as h:
        h.backend.queue_turn(HELD)
        await h.tg.send_text(ALICE, "make it shorter")
        status = await _status(h, ALICE, "Working on it")
        await h.tg.send_text(ALICE, "/cancel")
        await h.tg.wait_for_message(ALICE, contains="request was cancelled", timeout=10)
        await h.idle()
        now = _now(h, ALICE, status.message_id)
        assert "Stopped" in (now.text or "") and not now.buttons


async def test_a_restart_mid_turn_leaves_no_dead_status(tmp_path: Path) -> None:
    async with Harness(tmp_path, **FAST) as h:
        h.backend.queue_turn(HELD)
        await h.tg.send_text(ALICE, "make it shorter")
        status = await _status(h, ALICE, "Working on it")
        await h.tg.wait_for(lambda: h.backend.requests_to("run_sse") or None, 5)
        await h.restart()
        await h.tg.wait_for_message(ALICE, contains="I was restarted", timeout=10)
        await h.idle()
        assert _now(h, ALICE, status.message_id).deleted, "the resumed job took it down"
        statuses = [m for m in h.tg.messages(ALICE) if "Working on it" in _shown(m)[0]]
        assert len(statuses) == 1, "the same status, not a second one"


async def test_a_resumed_render_shows_in_the_same_status(tmp_path: Path) -> None:
    async with Harness(tmp_path, **FAST) as h:
        h.backend.render_polls = 8
        h.backend.queue_turn(COMPRESSED, draft=make_draft())
        await h.tg.send_text(ALICE, "compress it")
        status = await _status(h, ALICE, "Rendering", timeout=15)
        await h.restart()
        await h.tg.wait_for_message(ALICE, kind="video", timeout=20)
        await h.idle()
        assert _now(h, ALICE, status.message_id).deleted
        statuses = [m for m in h.tg.messages(ALICE) if "Working on it" in _shown(m)[0]]
        assert len(statuses) == 1, [_shown(m) for m in statuses]
        assert len(h.backend.requests_to("render")) == 1, "polled again, not rendered again"


async def test_a_quick_answer_needs_no_status(h: Harness) -> None:
    await h.tg.send_text(ALICE, "hello")
    await h.tg.wait_for_message(ALICE, contains="hello", timeout=10)
    await h.idle()
    assert not [c for c in h.tg.calls_of("sendMessage") if "stop:" in str(c.params)], \
        "nothing flickers for an answer that comes within half a second"


async def test_several_jobs_in_one_group_share_its_edit_budget(tmp_path: Path) -> None:
    forum = -100581
    every = 0.6  # in a group: 1.2 s between edits; two statuses open: 2.4 s each
    async with Harness(tmp_path, transfer_progress_seconds=every) as h:
        h.backend.queue_turn(HELD)
        h.backend.queue_turn(HELD)
        for topic in (11, 12):
            await h.tg.send_text(forum, "@rtk_compressor_bot make it shorter",
                                 user=h.tg.user(ALICE), chat_type="supergroup", is_forum=True,
                                 message_thread_id=topic)
        await h.tg.wait_for(lambda: len([m for m in h.tg.messages(forum) if _is_status(m)]) == 2
                            or None, 10)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.sleep(7)
        window = loop.time() - started
        edits = [c for c in h.tg.calls_of("editMessageText") if int(c.params["chat_id"]) == forum]
        # Ticking every second would make ~2 × 7 edits; sharing allows 2 × (7 / 2.4 + 1).
        assert len(edits) <= 2 * (window / (every * 2 * 2) + 1.5), len(edits)
        assert len(edits) >= 2, "the statuses do count the agent's time"
