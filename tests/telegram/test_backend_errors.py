"""Each backend error code as the person sees it: plain words, what to do, no internals."""

from __future__ import annotations

from typing import Any

import pytest

from bot.sandbox.harness import Harness

ALICE = 4001
VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(10_000)


def assert_clean(text: str) -> None:
    for leak in ("Traceback", "nmv_usr_", '{"', "code", "Bearer"):
        assert leak not in text


async def test_no_credits_anonymous_shows_the_register_link(h: Harness) -> None:
    await h.tg.send_text(ALICE, "hello")
    await h.tg.wait_for_message(ALICE)
    await h.idle()
    record = await h.runtime.svc.store.get_chat(ALICE)
    assert record is not None and record.anon_user_id
    h.backend.fail("run_sse", 2001, message="insufficient credits")
    before = len(h.tg.messages(ALICE))
    await h.tg.send_text(ALICE, "make it smaller")
    reply = await h.tg.wait_for_message(ALICE, after=before)
    assert f"https://nemovideo.com/register?bind={record.anon_user_id}" in (reply.text or "")


async def test_no_credits_with_operator_token_says_top_up(tmp_path: Any) -> None:
    async with Harness(tmp_path, nemo_token="placeholder") as h:
        token = h.backend.issue_token("operator").token
        await h.stop_bot()
        h.overrides["nemo_token"] = token
        await h.start_bot()
        h.backend.fail("run_sse", 2001, message="insufficient credits")
        await h.tg.send_text(ALICE, "make it smaller")
        reply = await h.tg.wait_for_message(ALICE, contains="credits")
        assert "top up credits" in (reply.text or "")
        assert "register?bind" not in (reply.text or "")
        assert h.backend.requests_to("anonymous_token") == []
        assert h.backend.requests_to("run_sse")[0].headers["authorization"] == f"Bearer {token}"


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        (4001, 200, "mp4, mov, avi, webm, mkv"),
        (4002, 200, "couldn't be added"),
        (429, 429, "try again in a few minutes"),
        (500, 502, "unavailable right now"),
    ],
)
async def test_upload_errors(h: Harness, code: int, status: int, expected: str) -> None:
    h.backend.fail("upload", code, http_status=status, times=2)
    await h.tg.send_video(ALICE, VIDEO)
    reply = await h.tg.wait_for_message(ALICE, contains=expected)
    assert_clean(reply.text or "")
    await h.idle()
    # The first contact's setup line went once the failure was told.
    assert [m.text for m in h.tg.messages(ALICE) if not m.deleted] == [reply.text]


async def test_rate_limit_is_retried_once_after_the_wait(h: Harness) -> None:
    h.backend.fail("run_sse", 429, http_status=429, times=1)
    await h.tg.send_text(ALICE, "hello")
    await h.tg.wait_for_message(ALICE, contains="hello")
    assert len(h.backend.requests_to("run_sse")) == 2


async def test_free_plan_export_block_is_a_plan_issue(h: Harness) -> None:
    h.backend.force_402 = True
    await h.tg.send_video(ALICE, VIDEO, caption="compress this")
    reply = await h.tg.wait_for_message(ALICE, contains="upgrade", timeout=15)
    assert "Register or upgrade your plan to unlock export" in (reply.text or "")
    assert "credit" not in (reply.text or "").lower()
    await h.idle()
    assert not any("Rendering" in (m.text or "") for m in h.tg.messages(ALICE) if not m.deleted)
    topic = await h.runtime.svc.store.get_topic(ALICE, 0)
    assert topic is not None and topic.render_id is None


async def test_duplicate_render_id_is_retried_with_a_fresh_one(h: Harness) -> None:
    h.backend.fail("render", 409, http_status=409, message="duplicate render id")
    await h.tg.send_video(ALICE, VIDEO, caption="compress this")
    await h.tg.wait_for_message(ALICE, kind="video", timeout=15)
    first, second = (r.json["id"] for r in h.backend.requests_to("render"))
    assert first != second


async def test_render_poll_lasting_failure_is_reported(h: Harness) -> None:
    h.backend.fail("render_status", 402, http_status=402, times=2)  # not transient
    await h.tg.send_video(ALICE, VIDEO, caption="compress this")
    reply = await h.tg.wait_for_message(ALICE, contains="upgrade", timeout=15)
    assert_clean(reply.text or "")
