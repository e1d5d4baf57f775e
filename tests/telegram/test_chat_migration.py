"""A group upgraded to a supergroup (issue 23, item 8): Telegram answers every call naming the
old id with ``migrate_to_chat_id``. The chat's project, queue and token move to the new id,
the answer that failed is given there, and the new id goes on with the same backend session.
On both store engines, through the real Application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.sandbox.backend import adk_text, sleep_frame
from bot.sandbox.harness import Harness

GROUP = -4101
SUPERGROUP = -1004101
BOT = "@rtk_compressor_bot"


@pytest.fixture(params=["sqlite", "postgresql"])
async def hm(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    options: dict[str, Any] = {}
    if request.param == "postgresql":
        options["database_url"] = request.getfixturevalue("pg_url")
    harness = Harness(tmp_path, **options)
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()


def texts(h: Harness, chat: int) -> list[str]:
    return [m.text or "" for m in h.tg.messages(chat) if not m.deleted]


async def test_a_group_upgraded_mid_job_goes_on_in_the_supergroup(hm: Harness) -> None:
    h = hm
    h.backend.queue_turn([adk_text("First answer.")])
    await h.tg.send_text(GROUP, f"{BOT} tell me about the pacing", chat_type="group")
    await h.tg.wait_for(lambda: any("First answer" in t for t in texts(h, GROUP)), timeout=20)
    await h.idle()
    (session,) = h.backend.sessions

    # A turn that takes a while, and one more request waiting behind it.
    h.backend.queue_turn([sleep_frame(1.5), adk_text("Second answer.")])
    h.backend.queue_turn([adk_text("Third answer.")])
    await h.tg.send_text(GROUP, f"{BOT} make it shorter", chat_type="group")
    await h.tg.wait_for(lambda: len(h.backend.requests_to("run_sse")) == 2, timeout=20)
    await h.tg.send_text(GROUP, f"{BOT} and louder", chat_type="group")
    await h.tg.wait_for(lambda: h.tg.pending_updates() == [] or None, timeout=20)
    h.tg.migrate_chat(GROUP, SUPERGROUP)

    # The answer that could not go to the old group arrives in the supergroup; so does the
    # request that was waiting.
    await h.tg.wait_for(lambda: any("Second answer" in t for t in texts(h, SUPERGROUP)),
                        timeout=30)
    await h.tg.wait_for(lambda: any("Third answer" in t for t in texts(h, SUPERGROUP)),
                        timeout=30)
    await h.idle(timeout=20)

    # The supergroup's next message goes on with the same project (backend session).
    h.backend.queue_turn([adk_text("Fourth answer.")])
    await h.tg.send_text(SUPERGROUP, f"{BOT} now crop it", chat_type="supergroup")
    await h.tg.wait_for(lambda: any("Fourth answer" in t for t in texts(h, SUPERGROUP)),
                        timeout=30)
    await h.idle()
    runs = h.backend.requests_to("run_sse")
    assert len(runs) == 4
    assert {r.json["session_id"] for r in runs} == {session}
    assert len(h.backend.requests_to("create_session")) == 1
    assert len(h.backend.requests_to("anonymous_token")) == 1  # the same token moved too
    for chat in (GROUP, SUPERGROUP):
        assert not any("went wrong" in t for t in texts(h, chat))
    assert await h.runtime.svc.store.count_unfinished() == 0
