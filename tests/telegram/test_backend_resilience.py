"""Backend trouble the person should never pay for (issues 10 and 13), through the real
Application against the fakes: failed polls, errors inside the stream, silent turns, strange
states."""

from __future__ import annotations

from typing import Any

import pytest

from bot.sandbox.backend import (
    adk_call,
    adk_error_code,
    adk_text,
    expire_token_frame,
    forget_session_frame,
    make_draft,
    sleep_frame,
    typed_heartbeat,
)
from bot.sandbox.harness import Harness

ALICE = 5001
VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(20_000)
COMPRESS = "compress this video to a smaller file size without losing quality"


def texts(h: Harness, chat: int = ALICE) -> list[str]:
    return [m.text or "" for m in h.tg.messages(chat) if not m.deleted]


# -- 1. a failed poll is not a failed render ----------------------------------------------------


async def test_transient_poll_failures_keep_polling_the_same_render(h: Harness) -> None:
    h.backend.render_polls = 3
    h.backend.fault("render_status", "html", http_status=502)  # a proxy's error page
    h.backend.fail("render_status", 500, http_status=503, times=2)  # 5xx
    h.backend.fault("render_status", "html", http_status=200)  # an HTML page with 200
    h.backend.fail("render_status", 429, http_status=429, times=2)  # rate limited, twice
    h.backend.fault("render_status", "drop")  # the connection cut
    await h.tg.send_video(ALICE, VIDEO, file_name="clip.mp4", caption=COMPRESS)
    video = await h.tg.wait_for_message(ALICE, kind="video", timeout=20)
    assert "Here is your video" in (video.text or "")
    assert len(h.backend.requests_to("render")) == 1
    assert {r.path for r in h.backend.requests_to("render_status")} == {
        f"/api/render/proxy/lambda/{next(iter(h.backend.renders))}"
    }
    assert not any("unavailable" in t or "busy" in t for t in texts(h))
    await h.idle()
    topic = await h.runtime.svc.store.get_topic(ALICE, 0)
    assert topic is not None and topic.render_id is None


@pytest.mark.parametrize("harness_options", [{"render_timeout_seconds": 0.6}])
async def test_polls_failing_past_the_give_up_time_end_the_wait(h: Harness) -> None:
    h.backend.fault("render_status", "html", http_status=502, times=1000)
    await h.tg.send_video(ALICE, VIDEO, file_name="clip.mp4", caption=COMPRESS)
    reply = await h.tg.wait_for_message(ALICE, contains="far longer", timeout=20)
    assert "/export" in (reply.text or "")
    assert len(h.backend.requests_to("render_status")) >= 2  # retried, not abandoned at once


async def test_a_render_id_survives_failed_polls_across_a_restart(h: Harness) -> None:
    h.backend.fault("render_status", "html", http_status=502, times=1000)
    await h.tg.send_video(ALICE, VIDEO, file_name="clip.mp4", caption=COMPRESS)
    await h.tg.wait_for(lambda: len(h.backend.requests_to("render_status")) >= 3, timeout=15)
    await h.stop_bot()
    topic = await _topic_after_stop(h)
    assert topic == next(iter(h.backend.renders))
    h.backend._failures.clear()
    await h.start_bot()
    await h.tg.wait_for_message(ALICE, kind="video", timeout=20)
    assert len(h.backend.requests_to("render")) == 1


async def _topic_after_stop(h: Harness) -> str | None:
    from bot.store import SqliteStore

    store = await SqliteStore.open(h.workdir / "bot.db")
    try:
        topic = await store.get_topic(ALICE, 0)
        return topic.render_id if topic else None
    finally:
        await store.close()


# -- 4. a strange state never drops the agent's answer ---------------------------------------


@pytest.mark.parametrize(
    "patch",
    [
        {"video_infos": None},
        {"draft": "not a draft"},
        {"generated_media": None, "video_infos": {"filename": "a.mp4"}},
    ],
    ids=["video_infos-null", "draft-string", "odd-lists"],
)
async def test_a_strange_state_keeps_the_answer(h: Harness, patch: dict[str, Any]) -> None:
    h.backend.state_patch = patch
    h.backend.queue_turn([adk_text("Here is what I found about your project.")])
    await h.tg.send_text(ALICE, "what do you think")
    reply = await h.tg.wait_for_message(ALICE, contains="what I found")
    assert reply.text
    await h.idle()
    assert not any("went wrong" in t for t in texts(h))


async def test_a_draft_sent_as_a_json_string_is_read(h: Harness) -> None:
    import json

    h.backend.state_patch = {"draft": json.dumps(make_draft())}
    h.backend.queue_turn([])  # no text: the bot summarises the (changed) draft
    await h.tg.send_text(ALICE, "trim it")
    reply = await h.tg.wait_for_message(ALICE, contains="1. Video: clip.mp4")
    assert reply.text


# -- 6. errors inside the stream keep their code ------------------------------------------


@pytest.mark.parametrize("where", ["errorCode", "details", "typed"])
async def test_no_credits_inside_the_stream_shows_the_register_link(
    h: Harness, where: Any
) -> None:
    h.backend.queue_turn([adk_call("compress", {}), adk_error_code(2001, "no credits",
                                                                   where=where)])
    await h.tg.send_text(ALICE, "make it smaller")
    reply = await h.tg.wait_for_message(ALICE, contains="credits")
    record = await h.runtime.svc.store.get_chat(ALICE)
    assert record is not None and record.anon_user_id
    assert f"https://nemovideo.com/register?bind={record.anon_user_id}" in (reply.text or "")
    assert "couldn't complete" not in (reply.text or "")


async def test_no_credits_inside_the_stream_with_operator_token_says_top_up(
    tmp_path: Any,
) -> None:
    async with Harness(tmp_path, nemo_token="placeholder") as h:
        token = h.backend.issue_token("operator").token
        await h.stop_bot()
        h.overrides["nemo_token"] = token
        await h.start_bot()
        h.backend.queue_turn([adk_error_code(2001, "insufficient credits")])
        await h.tg.send_text(ALICE, "make it smaller")
        reply = await h.tg.wait_for_message(ALICE, contains="credits")
        assert "top up credits" in (reply.text or "")
        assert "register?bind" not in (reply.text or "")


async def test_expired_token_inside_the_stream_is_renewed_and_the_turn_retried(
    h: Harness,
) -> None:
    await h.tg.send_text(ALICE, "hello")
    await h.tg.wait_for_message(ALICE, contains="hello")
    await h.idle()
    h.backend.queue_turn([expire_token_frame(), adk_error_code(1001, "token expired")])
    h.backend.queue_turn([adk_text("Second try worked.")])
    before = len(h.tg.messages(ALICE))
    await h.tg.send_text(ALICE, "do it")
    reply = await h.tg.wait_for_message(ALICE, after=before, contains="Second try")
    assert reply.text
    assert len(h.backend.requests_to("anonymous_token")) == 2
    assert len(h.backend.requests_to("run_sse")) == 3
    assert not any("couldn't complete" in t for t in texts(h))


async def test_lost_session_inside_the_stream_gets_a_new_session(h: Harness) -> None:
    await h.tg.send_text(ALICE, "hello")
    await h.tg.wait_for_message(ALICE, contains="hello")
    await h.idle()
    h.backend.queue_turn([forget_session_frame(), adk_error_code(1002, "session not found")])
    h.backend.queue_turn([adk_text("Fresh session answer.")])
    before = len(h.tg.messages(ALICE))
    await h.tg.send_text(ALICE, "do it")
    await h.tg.wait_for_message(ALICE, after=before, contains="expired on the server")
    await h.tg.wait_for_message(ALICE, after=before, contains="Fresh session answer")
    assert len(h.backend.requests_to("create_session")) == 2


# -- 7. the turn budget is SSE_TIMEOUT_SECONDS, not a read timeout ---------------------------


@pytest.mark.parametrize(
    "harness_options", [{"backend_timeout_seconds": 0.3, "sse_timeout_seconds": 10}]
)
async def test_a_silent_turn_longer_than_the_read_timeout_is_answered(h: Harness) -> None:
    h.backend.queue_turn(
        [adk_call("compress", {}), sleep_frame(1.0), typed_heartbeat(), sleep_frame(0.8),
         adk_text("Finished after a long think.")]
    )
    await h.tg.send_text(ALICE, "slow thing")
    reply = await h.tg.wait_for_message(ALICE, contains="long think", timeout=10)
    assert reply.text
    assert not any("lost the connection" in t for t in texts(h))


# -- 2. a delivery timeout never loses the finished video ---------------------------------


async def test_a_video_upload_timing_out_falls_back_to_the_link(h: Harness) -> None:
    h.tg.stall_next("sendVideo", 7)  # sent, but answered past python-telegram-bot's 5 s
    await h.tg.send_video(ALICE, VIDEO, file_name="clip.mp4", caption=COMPRESS)
    link = await h.tg.wait_for_message(ALICE, contains="didn't confirm", timeout=25)
    assert link.buttons and link.buttons[0]["url"].endswith(".mp4")
    assert len(h.tg.calls_of("sendVideo")) == 1
    assert h.tg.calls_of("sendDocument") == []


# -- 3. render links are fetched only from safe places --------------------------------------


async def test_a_render_link_on_a_private_host_is_sent_not_fetched(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    h.backend.render_host = "localhost"  # loopback, and not NEMO_API_URL's host (127.0.0.1)
    await h.tg.send_video(ALICE, VIDEO, file_name="clip.mp4", caption=COMPRESS)
    link = await h.tg.wait_for_message(ALICE, contains="Download it here", timeout=20)
    assert "http://localhost:" in (link.text or "")
    assert "larger than Telegram" not in (link.text or "")
    assert h.tg.calls_of("sendVideo") == []
    assert not [r for r in h.backend.requests_to("cdn") if r.path.startswith("/cdn/render_")]
    assert any("refused to fetch the render link" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("harness_options", [{"allow_private_urls": True}])
async def test_allow_private_urls_fetches_a_private_render_link(h: Harness) -> None:
    h.backend.render_host = "localhost"
    await h.tg.send_video(ALICE, VIDEO, file_name="clip.mp4", caption=COMPRESS)
    video = await h.tg.wait_for_message(ALICE, kind="video", timeout=20)
    assert "Here is your video" in (video.text or "")


async def test_a_redirect_to_a_private_host_is_refused(h: Harness) -> None:
    port = h.backend.url.rsplit(":", 1)[1]
    h.backend.render_redirect_to = f"http://localhost:{port}/cdn/elsewhere.mp4"
    await h.tg.send_video(ALICE, VIDEO, file_name="clip.mp4", caption=COMPRESS)
    link = await h.tg.wait_for_message(ALICE, contains="Download it here", timeout=20)
    assert f"{h.backend.url}/cdn/render_" in (link.text or "")
    assert h.tg.calls_of("sendVideo") == []
    assert not [r for r in h.backend.requests_to("cdn") if r.path == "/cdn/elsewhere.mp4"]


# -- 8. the register link finds the user id wherever the backend gave it ---------------------


@pytest.mark.parametrize(
    "omitted",
    [{"anonymous_token"}, {"anonymous_token", "create_session"}],
    ids=["from-session", "from-state"],
)
async def test_register_link_user_id_from_session_or_state(
    h: Harness, omitted: set[str]
) -> None:
    h.backend.omit_user_id = omitted
    h.backend.queue_turn([adk_error_code(2001, "no credits")])
    await h.tg.send_text(ALICE, "make it smaller")
    reply = await h.tg.wait_for_message(ALICE, contains="credits")
    (user_id,) = {t.user_id for t in h.backend.tokens.values()}
    assert f"https://nemovideo.com/register?bind={user_id}" in (reply.text or "")
    record = await h.runtime.svc.store.get_chat(ALICE)
    assert record is not None and record.anon_user_id == user_id


async def test_without_any_user_id_the_credits_message_names_no_link(h: Harness) -> None:
    h.backend.omit_user_id = {"anonymous_token", "create_session", "state"}
    h.backend.queue_turn([adk_error_code(2001, "no credits")])
    await h.tg.send_text(ALICE, "make it smaller")
    reply = await h.tg.wait_for_message(ALICE, contains="credits")
    assert "register?bind" not in (reply.text or "")
    assert "None" not in (reply.text or "")


# -- 9. a 429 on the anonymous token waits and retries with the same client id -------------


async def test_anonymous_token_429_waits_and_retries_the_same_client_id(h: Harness) -> None:
    h.backend.fail("anonymous_token", 429, http_status=429)
    await h.tg.send_text(ALICE, "hello")
    await h.tg.wait_for_message(ALICE, contains="hello")
    client_ids = [r.headers["x-client-id"] for r in h.backend.requests_to("anonymous_token")]
    assert len(client_ids) == 2 and client_ids[0] == client_ids[1]


async def test_a_token_issued_but_never_saved_does_not_lock_the_chat_out(h: Harness) -> None:
    """A replica died after the backend issued this chat's token and before it was saved
    (SIGKILL, or its lease lost mid-call). The backend then refuses that client id for 7
    days (429, past the one retry): the chat gets a fresh client id instead of an error."""
    record = await h.runtime.svc.store.ensure_chat(ALICE)
    h.backend.issue_token(record.client_id)  # the token nobody kept
    await h.tg.send_text(ALICE, "hello")
    await h.tg.wait_for_message(ALICE, contains="hello")
    client_ids = [r.headers["x-client-id"] for r in h.backend.requests_to("anonymous_token")]
    assert client_ids[0] == record.client_id and client_ids[-1] != record.client_id
    saved = await h.runtime.svc.store.get_chat(ALICE)
    assert saved is not None and saved.client_id == client_ids[-1] and saved.token


# -- 10. long videos that fail get the "shorter clips" tip -----------------------------------

LONG = make_draft([("long.mp4", "", 300_000)])  # five minutes
COMPRESSED = [adk_call("compress_video", {}), adk_text("Compressed.")]


async def test_a_long_video_whose_render_fails_gets_the_tip(h: Harness) -> None:
    h.backend.render_fail = True
    h.backend.queue_turn(COMPRESSED, draft=LONG)
    await h.tg.send_text(ALICE, "compress it")
    await h.tg.wait_for_message(ALICE, contains="render failed", timeout=15)
    tip = await h.tg.wait_for_message(ALICE, contains="shorter clips", timeout=10)
    assert "Tip" in (tip.text or "")


async def test_a_long_video_whose_turn_breaks_gets_the_tip(h: Harness) -> None:
    h.backend.queue_turn([adk_call("compress", {}), adk_text("Work")], break_after=1, draft=LONG)
    await h.tg.send_text(ALICE, "compress it")
    await h.tg.wait_for_message(ALICE, contains="lost the connection")
    await h.tg.wait_for_message(ALICE, contains="shorter clips")


async def test_a_short_video_that_fails_gets_no_tip(h: Harness) -> None:
    h.backend.render_fail = True
    h.backend.queue_turn(COMPRESSED, draft=make_draft())
    await h.tg.send_text(ALICE, "compress it")
    await h.tg.wait_for_message(ALICE, contains="render failed", timeout=15)
    await h.idle()
    assert not any("shorter clips" in t for t in texts(h))


def test_tip_is_localized() -> None:
    from bot.conversation import messages
    from bot.i18n import translator

    assert "影片" in messages.shorter_clips_tip(translator("zh_Hant"))
    assert "视频" in messages.shorter_clips_tip(translator("zh_Hans"))


# -- 11. render progress with an estimate of the time left -----------------------------------


@pytest.mark.parametrize("style", ["fraction", "percent", "data_percent"])
async def test_render_progress_is_shown_with_the_time_left(tmp_path: Any, style: Any) -> None:
    # The job's live status edits at most every TRANSFER_PROGRESS_SECONDS: below the poll.
    async with Harness(tmp_path, render_poll_seconds=0.3, transfer_progress_seconds=0.1) as h:
        h.backend.render_polls = 5
        h.backend.render_progress = style
        h.backend.queue_turn(COMPRESSED, draft=make_draft())
        await h.tg.send_text(ALICE, "compress it")
        await h.tg.wait_for_message(ALICE, kind="video", timeout=20)
        status = next(m for m in h.tg.messages(ALICE) if "Rendering" in (m.text or "")
                      or any("Rendering" in e for e in m.edits))
        shown = " | ".join([*status.edits, status.text or ""])
        assert "20%" in shown and "40%" in shown and "60%" in shown
        assert "left" in shown


async def test_render_without_progress_shows_the_elapsed_time(tmp_path: Any) -> None:
    async with Harness(tmp_path, render_poll_seconds=0.3, transfer_progress_seconds=0.1) as h:
        h.backend.render_polls = 4
        h.backend.queue_turn(COMPRESSED, draft=make_draft())
        await h.tg.send_text(ALICE, "compress it")
        await h.tg.wait_for_message(ALICE, kind="video", timeout=20)
        await h.idle()
        status = next(m for m in h.tg.messages(ALICE)
                      if any("Rendering" in t for t in [*m.edits, m.text or ""]))
        rendering = [t for t in [*status.edits, status.text or ""] if "Rendering…" in t]
        assert len(rendering) >= 2 and all("%" not in e and "sec" in e for e in rendering)
