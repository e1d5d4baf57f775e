"""The whole conversation through the real Application against the fakes (issue: media in,
instructions relayed, progress shown, the finished video out)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from bot.sandbox.backend import adk_call, adk_error, adk_response, adk_text, make_draft, sleep_frame
from bot.sandbox.harness import Harness

ALICE = 2001
BOB = 2002
VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(300_000)
COMPRESS = "compress this video to a smaller file size without losing quality"


async def send_clip(h: Harness, chat: int = ALICE, **kwargs: Any) -> None:
    await h.tg.send_video(chat, VIDEO, file_name="clip.mp4", duration=12, **kwargs)


def texts(h: Harness, chat: int = ALICE) -> list[str]:
    return [m.text or "" for m in h.tg.messages(chat) if not m.deleted]


# -- media in --------------------------------------------------------------------------------


async def test_video_then_instruction_delivers_the_finished_video(h: Harness) -> None:
    await send_clip(h)
    ack = await h.tg.wait_for_message(ALICE, contains="Received")
    assert "clip.mp4" in (ack.text or "") and "12 sec" in (ack.text or "")
    assert "300" in (ack.text or "")  # size, e.g. "300.0 kB"
    upload = h.backend.requests_to("upload")[0]
    assert [(f.field, f.filename, f.size) for f in upload.files] == [
        ("files", "clip.mp4", len(VIDEO))
    ]

    await h.tg.send_text(ALICE, COMPRESS)
    video = await h.tg.wait_for_message(ALICE, kind="video", timeout=15)
    assert video.supports_streaming is True
    answer = next(t for t in texts(h) if "compressed" in t)
    assert "Click Export" not in answer and "top right" not in answer
    assert "exporting the video for you now" in answer
    render = h.backend.requests_to("render")[0].json
    assert re.fullmatch(r"render_\d{13}_[0-9a-f]+", render["id"])
    assert render["draft"]["t"][0]["sg"]
    assert render["output"] == {"format": "mp4", "quality": "high"}


async def test_caption_is_the_instruction_after_the_upload(h: Harness) -> None:
    await send_clip(h, caption=COMPRESS)
    await h.tg.wait_for_message(ALICE, kind="video", timeout=15)
    endpoints = [r.endpoint for r in h.backend.requests if r.endpoint in {"upload", "run_sse"}]
    assert endpoints == ["upload", "run_sse"]
    session = next(iter(h.backend.sessions.values()))
    assert session.messages == [COMPRESS]


async def test_album_is_one_upload_and_one_turn(h: Harness) -> None:
    for index in range(3):
        await h.tg.send_video(
            ALICE, VIDEO, file_name=f"part{index}.mp4", media_group_id="album-1",
            caption=COMPRESS if index == 0 else None,
        )
    await h.tg.wait_for_message(ALICE, kind="video", timeout=15)
    await h.idle()
    uploads = h.backend.requests_to("upload")
    assert len(uploads) == 1
    assert [f.filename for f in uploads[0].files] == ["part0.mp4", "part1.mp4", "part2.mp4"]
    assert len(h.backend.requests_to("run_sse")) == 1
    assert sum("Received 3 files" in t for t in texts(h)) == 1


@pytest.mark.parametrize(
    ("sender", "expected_name"),
    [
        ("photo", "photo.jpg"),
        ("video_note", "video_note.mp4"),
        ("animation", "animation.mp4"),
        ("audio", "track.mp3"),
        ("document", "holiday.mov"),
    ],
)
async def test_every_media_kind_is_uploaded(h: Harness, sender: str, expected_name: str) -> None:
    send = getattr(h.tg, f"send_{sender}")
    if sender == "document":
        await send(ALICE, VIDEO, file_name="holiday.mov", mime_type="video/quicktime")
    else:
        await send(ALICE, VIDEO)
    await h.tg.wait_for_message(ALICE, contains="Received")
    assert h.backend.requests_to("upload")[0].files[0].filename == expected_name


async def test_link_is_uploaded_by_url_and_the_words_run_as_a_turn(h: Harness) -> None:
    await h.tg.send_text(ALICE, "https://example.com/videos/trip.mp4 compress it please")
    await h.tg.wait_for_message(ALICE, contains="Added 1 link")
    await h.tg.wait_for_message(ALICE, kind="video", timeout=15)
    upload = h.backend.requests_to("upload")[0]
    assert upload.json == {"urls": ["https://example.com/videos/trip.mp4"], "source_type": "url"}
    assert next(iter(h.backend.sessions.values())).messages == ["compress it please"]


@pytest.mark.parametrize("kind", ["sticker", "voice", "location", "contact"])
async def test_unsupported_kinds_get_a_friendly_line(h: Harness, kind: str) -> None:
    if kind == "sticker":
        await h.tg.send_sticker(ALICE)
    elif kind == "voice":
        await h.tg.send_voice(ALICE, b"OggS" + bytes(100))
    elif kind == "location":
        await h.tg.send_location(ALICE, 48.85, 2.35)
    else:
        await h.tg.send_contact(ALICE, "+100000", "Carol")
    reply = await h.tg.wait_for_message(ALICE)
    assert "videos, photos, audio files and links" in (reply.text or "")
    assert h.backend.requests == []


async def test_unsupported_extension_is_refused_before_upload(h: Harness) -> None:
    await h.tg.send_document(ALICE, VIDEO, file_name="movie.3gp", mime_type="video/3gpp")
    reply = await h.tg.wait_for_message(ALICE)
    assert "movie.3gp" in (reply.text or "") and "mp4, mov, avi, webm, mkv" in (reply.text or "")
    await h.idle()
    assert h.backend.requests_to("upload") == []


async def test_file_over_telegram_download_limit_is_explained(h: Harness) -> None:
    await h.tg.send_video(ALICE, VIDEO, declared_size=300 * 1024 * 1024)
    reply = await h.tg.wait_for_message(ALICE)
    assert "20 MB" in (reply.text or "") and "link" in (reply.text or "")
    await h.idle()
    assert h.backend.requests_to("upload") == []


# -- routing ---------------------------------------------------------------------------------


async def test_export_intent_skips_the_agent(h: Harness) -> None:
    await send_clip(h, caption=COMPRESS)
    await h.tg.wait_for_message(ALICE, kind="video", timeout=15)
    runs = len(h.backend.requests_to("run_sse"))
    before = len(h.tg.messages(ALICE))
    await h.tg.send_text(ALICE, "send me the video")
    await h.tg.wait_for_message(ALICE, kind="video", after=before, timeout=15)
    assert len(h.backend.requests_to("run_sse")) == runs
    assert len(h.backend.requests_to("render")) == 2


@pytest.mark.parametrize("words", ["credits", "积分", "余额", "balance", "積分"])
async def test_credits_intent(h: Harness, words: str) -> None:
    await h.tg.send_text(ALICE, words)
    reply = await h.tg.wait_for_message(ALICE)
    assert re.search(r"100|积分|積分", reply.text or "")
    assert h.backend.requests_to("credits") and not h.backend.requests_to("run_sse")


@pytest.mark.parametrize("words", ["status", "状态", "show tracks", "狀態"])
async def test_status_intent(h: Harness, words: str) -> None:
    await h.tg.send_text(ALICE, words)
    await h.tg.wait_for_message(ALICE)
    assert h.backend.requests_to("state") and not h.backend.requests_to("run_sse")


async def test_upload_intent_asks_for_the_file(h: Harness) -> None:
    await h.tg.send_text(ALICE, "upload")
    reply = await h.tg.wait_for_message(ALICE)
    assert "send the video" in (reply.text or "").lower()
    assert h.backend.requests == []


async def test_negated_export_is_an_instruction_and_holds_the_auto_export(h: Harness) -> None:
    await h.tg.send_text(ALICE, "don't export yet, first make it smaller")
    reply = await h.tg.wait_for_message(ALICE)
    await h.idle()
    assert len(h.backend.requests_to("run_sse")) == 1
    assert h.backend.requests_to("render") == []
    assert "Export button below" in (reply.text or "")
    assert [b["callback_data"] for b in reply.buttons] == ["export"]


# -- a turn ----------------------------------------------------------------------------------


@pytest.mark.parametrize("harness_options", [{"transfer_progress_seconds": 0.3}])
async def test_the_agents_time_is_one_status_edited_then_removed(h: Harness) -> None:
    # The job's live status (issue 22) counts the agent's time; no "still working" besides.
    h.backend.queue_turn([adk_call("compress", {}), sleep_frame(1.6), adk_text("All done.")])
    await h.tg.send_text(ALICE, "make it smaller")
    await h.tg.wait_for_message(ALICE, contains="All done.", timeout=10)
    await h.idle()
    assert not any("Still working" in t for m in h.tg.messages(ALICE)
                   for t in [*m.edits, m.text or ""])
    status = [m for m in h.tg.messages(ALICE) if "Working on it" in (m.text or "")
              or any("Working on it" in e for e in m.edits)]
    assert len(status) == 1
    assert status[0].deleted
    assert status[0].edits  # edited in place with the elapsed time
    assert any(re.search(r"\d+ sec", e) for e in [*status[0].edits, status[0].text or ""])


@pytest.mark.parametrize("harness_options", [{"typing_per_second": 0.4}])
async def test_typing_refresh_keeps_to_a_global_budget(h: Harness) -> None:
    """Four long turns at 0.4 refreshes a second: each chat's next "typing" is due after
    4 / 0.4 = 10 s instead of 4.5 s, so a 6.5 s turn shows its first one only (each chat
    still sees "typing" at once; without the budget each would get a second at 5 s)."""
    chats = [3001, 3002, 3003, 3004]
    for chat in chats:  # first contact (token, session) out of the way
        await h.tg.send_text(chat, "hello")
        await h.tg.wait_for_message(chat, contains="hello")
    await h.idle()
    before = {chat: h.tg.chat_actions(chat).count("typing") for chat in chats}
    for _ in chats:
        h.backend.queue_turn([adk_call("compress", {}), sleep_frame(6.5), adk_text("All done.")])
    for chat in chats:
        await h.tg.send_text(chat, "make it smaller")
    for chat in chats:
        await h.tg.wait_for_message(chat, contains="All done.", timeout=20)
    await h.idle()
    for chat in chats:
        assert h.tg.chat_actions(chat).count("typing") - before[chat] == 1


async def test_gui_instructions_are_rewritten(h: Harness) -> None:
    h.backend.queue_turn([adk_text(
        "You can preview it in the timeline, or drag the clip to reorder. "
        "Then click Export in the top right corner."
    )])
    await h.tg.send_text(ALICE, "what next?")
    reply = await h.tg.wait_for_message(ALICE, contains="project")
    text = reply.text or ""
    # the timeline is shown right here (an empty project), not sent off to /status
    assert "Your project is empty" in text and "drag" not in text.lower()
    assert "top right" not in text and "/export" in text


async def test_chinese_gui_words_are_rewritten(h: Harness) -> None:
    h.backend.queue_turn([adk_text("已完成。打开时间线查看，拖拽片段调整顺序，然后点击右上角的导出按钮。")])
    await h.tg.send_text(ALICE, "下一步？")
    reply = await h.tg.wait_for_message(ALICE)
    text = reply.text or ""
    for word in ("点击", "打开", "拖拽", "导出按钮"):
        assert word not in text


async def test_turn_without_text_summarises_the_changed_draft(h: Harness) -> None:
    h.backend.queue_turn(
        [adk_call("add_music", {}), adk_response("add_music", {"ok": True})],
        draft=make_draft(bgm=("Lo-fi", 0.35)),
    )
    await h.tg.send_text(ALICE, "add some lo-fi music")
    reply = await h.tg.wait_for_message(ALICE, contains="1. Video: clip.mp4 (0–10 s)")
    assert "2. Music: Lo-fi (0–10 s, 35%)" in (reply.text or "")


async def test_long_answers_are_split_and_shown_as_text(h: Harness) -> None:
    paragraphs = [f"Paragraph {i}: " + "word " * 150 + "<b>not bold</b> & co." for i in range(15)]
    h.backend.queue_turn([adk_text("\n\n".join(paragraphs))])
    await h.tg.send_text(ALICE, "explain")
    await h.tg.wait_for(lambda: any("Paragraph 14" in t for t in texts(h)), timeout=10)
    await h.idle()
    parts = texts(h)
    assert len(parts) >= 3 and all(len(p) <= 4096 for p in parts)
    joined = " ".join(parts)
    for i in range(15):
        assert f"Paragraph {i}:" in joined
    assert "<b>not bold</b> & co." in joined


async def test_error_frame_is_told_plainly_and_the_chat_keeps_working(h: Harness) -> None:
    h.backend.queue_turn([adk_error("internal tool failure: KeyError 'x'")])
    await h.tg.send_text(ALICE, "do something")
    reply = await h.tg.wait_for_message(ALICE, contains="complete")
    assert "couldn't complete" in (reply.text or "") and "KeyError" not in (reply.text or "")
    await h.idle()
    assert h.backend.requests_to("state")  # the state was checked
    before = len(h.tg.messages(ALICE))
    await h.tg.send_text(ALICE, "hello again")
    await h.tg.wait_for_message(ALICE, after=before, contains="hello again")


async def test_broken_stream_checks_whether_the_edit_applied(h: Harness) -> None:
    h.backend.queue_turn(
        [adk_call("compress", {}), adk_text("Work", partial=True), adk_text("ing")],
        break_after=2, draft=make_draft(),
    )
    await h.tg.send_text(ALICE, "compress it")
    reply = await h.tg.wait_for_message(ALICE, contains="lost the connection")
    assert reply.text
    applied = await h.tg.wait_for_message(ALICE, contains="applied anyway")
    assert "1. Video: clip.mp4" in (applied.text or "")


@pytest.mark.parametrize("harness_options", [{"sse_timeout_seconds": 0.5}])
async def test_stream_past_the_timeout_is_ended(h: Harness) -> None:
    h.backend.queue_turn([adk_call("slow", {})], hold=5)
    await h.tg.send_text(ALICE, "slow thing")
    await h.tg.wait_for_message(ALICE, contains="lost the connection", timeout=5)
    before = len(h.tg.messages(ALICE))
    await h.tg.send_text(ALICE, "next")
    await h.tg.wait_for_message(ALICE, after=before, contains="next")


# -- export and delivery ---------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["code", "success", "bare", "outputUrl", "top_output"])
async def test_every_render_shape_is_delivered(h: Harness, shape: str) -> None:
    h.backend.render_shape = shape  # type: ignore[assignment]
    await send_clip(h, caption=COMPRESS)
    video = await h.tg.wait_for_message(ALICE, kind="video", timeout=15)
    assert "Here is your video" in (video.text or "")


async def test_rendering_status_is_edited_in_place(tmp_path: Any) -> None:
    async with Harness(tmp_path, render_poll_seconds=0.3) as h:
        h.backend.render_polls = 5
        await send_clip(h, caption=COMPRESS)
        await h.tg.wait_for_message(ALICE, kind="video", timeout=20)
        await h.idle()
        status = [m for m in h.tg.messages(ALICE)
                  if any("Rendering" in t for t in [*m.edits, m.text or ""])]
        assert len(status) == 1 and status[0].edits and status[0].deleted


async def test_no_message_or_edit_unfurls_a_link_preview(tmp_path: Any) -> None:
    """Download links and the agent's links stay links: the bot's Defaults ask Telegram for
    no preview on every message it sends and every text it edits."""
    async with Harness(tmp_path, render_poll_seconds=0.3) as h:
        h.backend.render_polls = 3
        h.backend.render_size = 51 * 1024 * 1024
        await send_clip(h, caption=COMPRESS)
        await h.tg.wait_for_message(ALICE, contains="Download it here", timeout=20)
        sent, edits = h.tg.calls_of("sendMessage"), h.tg.calls_of("editMessageText")
    assert sent and edits
    assert all(c.params.get("link_preview_options") == {"is_disabled": True}
               for c in sent + edits)


async def test_video_refused_as_video_is_sent_as_document(h: Harness) -> None:
    h.tg.fail_next("sendVideo", 400, "Bad Request: wrong type of the web page content")
    await send_clip(h, caption=COMPRESS)
    document = await h.tg.wait_for_message(ALICE, kind="document", timeout=15)
    assert "Here is your video" in (document.text or "")


async def test_export_too_big_for_telegram_is_a_link(h: Harness) -> None:
    h.backend.render_size = 51 * 1024 * 1024
    await send_clip(h, caption=COMPRESS)
    link = await h.tg.wait_for_message(ALICE, contains="Download it here", timeout=20)
    assert link.buttons and link.buttons[0]["url"].endswith(".mp4")
    assert h.tg.calls_of("sendVideo") == []


async def test_failed_render_says_what_to_do(h: Harness) -> None:
    h.backend.render_fail = True
    await send_clip(h, caption=COMPRESS)
    reply = await h.tg.wait_for_message(ALICE, contains="render failed", timeout=15)
    assert "/export" in (reply.text or "")


async def test_nothing_to_export(h: Harness) -> None:
    await h.tg.send_text(ALICE, "/export")
    reply = await h.tg.wait_for_message(ALICE)
    assert "nothing to export" in (reply.text or "").lower()
    assert h.backend.requests_to("render") == []


@pytest.mark.parametrize("harness_options", [{"auto_export": False}])
async def test_without_auto_export_an_export_button_is_offered(h: Harness) -> None:
    h.backend.queue_turn(
        [adk_call("compress_video", {}), adk_text("Compressed it for you.")], draft=make_draft()
    )
    await h.tg.send_text(ALICE, "compress")
    offer = await h.tg.wait_for_message(ALICE, contains="Compressed it")
    await h.idle()
    assert h.backend.requests_to("render") == []
    assert [b["callback_data"] for b in offer.buttons] == ["export"]
    await h.tg.press_button(ALICE, offer.message_id, "export")
    await h.tg.wait_for_message(ALICE, kind="video", timeout=15)


async def test_render_in_flight_resumes_after_restart(h: Harness) -> None:
    h.backend.render_polls = 1000
    await send_clip(h, caption=COMPRESS)
    await h.tg.wait_for(lambda: h.backend.renders, timeout=15)
    render_id = next(iter(h.backend.renders))
    await asyncio.sleep(0.3)
    await h.stop_bot()
    topic = None
    h.backend.render_polls = 1
    await h.start_bot()
    await h.tg.wait_for_message(ALICE, kind="video", timeout=15)
    assert len(h.backend.requests_to("render")) == 1
    assert topic is None and list(h.backend.renders) == [render_id]


# -- order and concurrency -------------------------------------------------------------------


async def test_messages_in_one_chat_are_queued_in_order(h: Harness) -> None:
    h.backend.queue_turn([adk_call("slow", {}), sleep_frame(0.8), adk_text("first answer")])
    h.backend.queue_turn([adk_text("second answer")])
    await h.tg.send_text(ALICE, "one")
    await h.tg.wait_for(lambda: h.backend.requests_to("run_sse"), timeout=5)
    await h.tg.send_text(ALICE, "two")
    await h.tg.wait_for_message(ALICE, contains="as soon as I finish")
    await h.tg.wait_for_message(ALICE, contains="second answer", timeout=10)
    order = [t for t in texts(h) if "answer" in t]
    assert order == ["first answer", "second answer"]
    assert next(iter(h.backend.sessions.values())).messages == ["one", "two"]


async def test_a_slow_chat_never_delays_another(h: Harness) -> None:
    h.backend.queue_turn([adk_call("slow", {}), sleep_frame(3), adk_text("slow answer")])
    await h.tg.send_text(ALICE, "slow please")
    await h.tg.wait_for(lambda: h.backend.requests_to("run_sse"), timeout=5)
    await h.tg.send_text(BOB, "quick one")
    await h.tg.wait_for_message(BOB, contains="quick one", timeout=2.5)
    assert not any("slow answer" in t for t in texts(h, ALICE))


async def test_cancel_stops_the_running_turn(h: Harness) -> None:
    h.backend.queue_turn([adk_call("slow", {}), sleep_frame(5), adk_text("too late")])
    await h.tg.send_text(ALICE, "slow please")
    await h.tg.wait_for(lambda: h.backend.requests_to("run_sse"), timeout=5)
    await h.tg.send_text(ALICE, "/cancel")
    await h.tg.wait_for_message(ALICE, contains="Stopped")
    before = len(h.tg.messages(ALICE))
    await h.tg.send_text(ALICE, "next thing")
    await h.tg.wait_for_message(ALICE, after=before, contains="next thing")
    assert not any("too late" in t for t in texts(h))


async def test_repeated_update_is_handled_once(h: Harness) -> None:
    update = await h.tg.send_text(ALICE, "only once")
    await h.tg.wait_for_message(ALICE)
    await h.idle()
    # Telegram re-sends an update the bot had not confirmed when it stopped.
    message = update.get("message", update)
    h.tg.enqueue_update({"update_id": 9000, "message": {**message, "message_id": 900}})
    h.tg.enqueue_update({"update_id": 9000, "message": {**message, "message_id": 900}})
    await h.tg.wait_for(lambda: len(h.backend.requests_to("run_sse")) == 2, timeout=5)
    await asyncio.sleep(0.5)
    await h.idle()
    assert len(h.backend.requests_to("run_sse")) == 2


async def test_new_asks_first_then_starts_a_fresh_session(h: Harness) -> None:
    await h.tg.send_text(ALICE, "hello")
    await h.tg.wait_for_message(ALICE, contains="hello")
    await h.tg.send_text(ALICE, "/new")
    ask = await h.tg.wait_for_message(ALICE, contains="fresh project?")
    assert len(h.backend.requests_to("create_session")) == 1
    await h.tg.press_button(ALICE, ask.message_id, "new:yes")
    await h.tg.wait_for_message(ALICE, contains="Started a fresh project")
    assert len(h.backend.requests_to("create_session")) == 2


async def test_queued_work_survives_a_restart(h: Harness) -> None:
    h.backend.queue_turn([adk_call("slow", {}), sleep_frame(5), adk_text("never seen")])
    await h.tg.send_text(ALICE, "one")
    await h.tg.wait_for(lambda: h.backend.requests_to("run_sse"), timeout=5)
    await h.tg.send_text(ALICE, "two")
    await h.tg.wait_for_message(ALICE, contains="as soon as I finish")
    await h.stop_bot()  # the process dies with "one" running and "two" waiting
    await h.start_bot()
    notice = await h.tg.wait_for_message(ALICE, contains="restarted while working on “one”")
    assert "/status" in (notice.text or "")
    await h.tg.wait_for_message(ALICE, contains='"two"', timeout=10)
    assert next(iter(h.backend.sessions.values())).messages == ["one", "two"]


async def test_editing_a_message_does_not_run_it_again(h: Harness) -> None:
    sent = await h.tg.send_text(ALICE, "hello")
    await h.tg.wait_for_message(ALICE)
    await h.idle()
    h.tg.enqueue_update({"edited_message": {**sent, "text": "hello (edited)",
                                            "edit_date": sent["date"] + 5}})
    await asyncio.sleep(0.5)
    await h.idle()
    assert len(h.backend.requests_to("run_sse")) == 1


async def test_cancel_during_a_render_stops_its_status(h: Harness) -> None:
    h.backend.render_polls = 1000
    await send_clip(h, caption=COMPRESS)
    status = await h.tg.wait_for_message(ALICE, contains="Rendering", timeout=15)
    await h.tg.send_text(ALICE, "/cancel")
    await h.tg.wait_for_message(ALICE, contains="request was cancelled")
    # The job's live status says it stopped, without its ❌ (issue 22).
    await h.tg.wait_for(lambda: (lambda m: "Stopped" in (m.text or "") and not m.buttons)(
        next(m for m in h.tg.messages(ALICE) if m.message_id == status.message_id)))
    topic = await h.runtime.svc.store.get_topic(ALICE, 0)
    assert topic is not None and topic.render_id is None
    await h.restart()
    await asyncio.sleep(0.5)
    assert not any(m.kind == "video" for m in h.tg.messages(ALICE))


async def test_a_burst_of_messages_keeps_its_order(h: Harness) -> None:
    words = [f"step {i}" for i in range(12)]
    for word in words:
        await h.tg.send_text(ALICE, word)
    await h.tg.wait_for(lambda: any("step 11" in t for t in texts(h)), timeout=20)
    await h.idle()
    assert next(iter(h.backend.sessions.values())).messages == words
    assert sum("as soon as I finish" in t for t in texts(h)) <= 1  # no flood of notices


async def test_local_bot_api_mode_takes_big_files_and_exports_by_path(tmp_path: Any) -> None:
    async with Harness(tmp_path, telegram_local_mode=True, tg_options={"local_mode": True}) as h:
        h.backend.render_size = 60 * 1024 * 1024  # over the public API's 50 MB
        await h.tg.send_video(ALICE, VIDEO, declared_size=300 * 1024 * 1024, caption=COMPRESS)
        video = await h.tg.wait_for_message(ALICE, kind="video", timeout=30)
        assert h.backend.requests_to("upload")[0].files[0].size == 300 * 1024 * 1024
        sent = h.tg.calls_of("sendVideo")[-1].params["video"]
        assert isinstance(sent, str) and sent.startswith("file://")
        assert "62.9 MB" in (video.text or "")


async def test_a_draft_made_by_the_upload_alone_is_not_exported(h: Harness) -> None:
    await send_clip(h)
    await h.tg.wait_for_message(ALICE, contains="Received")
    await h.idle()
    session = next(iter(h.backend.sessions.values()))
    h.backend.set_draft(session.session_id, make_draft())  # as if the backend drafted it
    await h.tg.send_photo(ALICE, b"\xff\xd8" + bytes(1000))
    await h.tg.wait_for_message(ALICE, contains="Photo")
    await h.idle()
    h.backend.queue_turn([adk_text("It is a 12 second clip in 720p.")])
    await h.tg.send_text(ALICE, "what resolution is it?")
    await h.tg.wait_for_message(ALICE, contains="720p")
    await h.idle()
    assert h.backend.requests_to("render") == []


async def test_a_turn_in_a_known_chat_reads_no_chat_or_topic_row(h: Harness) -> None:
    """A job reads its chat (language, token) and topic (session) several times; once seen
    they come from memory, so the turn's database work is its job's own rows (issue 16)."""
    await h.tg.send_text(ALICE, "hello")
    await h.tg.wait_for_message(ALICE, contains="hello")
    await h.idle()
    statements: list[str] = []
    await h.runtime.svc.store._db.set_trace_callback(statements.append)  # type: ignore[attr-defined]
    await h.tg.send_text(ALICE, "and the colours")
    await h.tg.wait_for_message(ALICE, contains="colours")
    await h.idle()
    assert any("INSERT INTO jobs" in s for s in statements)
    assert not [s for s in statements if re.search(r"FROM (chats|topics)\b", s)]
    answers = [m for m in h.tg.messages(ALICE) if "colours" in (m.text or "")]
    assert len(answers) == 1


async def test_an_answer_in_words_only_skips_the_state_read(h: Harness) -> None:
    """No tool ran, so the draft cannot have changed: no state read after the turn (issue 16).
    A turn that ran a tool, or ended without text, still reads it."""
    h.backend.queue_turn([adk_text("Hi ", partial=True), adk_text("Hi there.")])
    await h.tg.send_text(ALICE, "hello")
    await h.tg.wait_for_message(ALICE, contains="Hi there.")
    await h.idle()
    assert h.backend.requests_to("state") == []
    h.backend.queue_turn([adk_call("inspect_timeline", {}), adk_text("Nothing to change.")])
    await h.tg.send_text(ALICE, "anything to fix?")
    await h.tg.wait_for_message(ALICE, contains="Nothing to change.")
    await h.idle()
    assert len(h.backend.requests_to("state")) == 1
    h.backend.queue_turn([])
    before = len(h.tg.messages(ALICE))
    await h.tg.send_text(ALICE, "and now?")
    await h.tg.wait_for_message(ALICE, after=before)
    await h.idle()
    assert len(h.backend.requests_to("state")) == 2
