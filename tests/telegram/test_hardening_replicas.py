"""Issue 23, items 3 and 4, through the real Application on SQLite and on PostgreSQL.

An album (one media_group_id) is one request whatever replica or process receives its
items: in a group only the first item mentions the bot, the others belong to it because of
the album, which used to be remembered in one process's memory. And a chat's first backend
session is one session even when two replicas need it at the same moment."""

from __future__ import annotations

from pathlib import Path

from bot.sandbox.harness import Harness
from tests.telegram.test_replicas import replicas

GROUP = -100777
MEMBER = 4101
VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(50_000)
CAPTION = "@rtk_compressor_bot compress these"


async def send_item(h: Harness, index: int) -> None:
    await h.tg.send_video(
        GROUP, VIDEO, file_name=f"part{index}.mp4", media_group_id="alb-1",
        caption=CAPTION if index == 0 else None, user=h.tg.user(MEMBER),
        chat_type="supergroup",
    )


def completed_uploads(h: Harness) -> list[str]:
    return [str(u["filename"]) for s in h.backend.sessions.values() for u in s.uploads]


async def test_half_an_album_before_a_restart_and_half_after_is_one_request(h: Harness) -> None:
    h.backend.delays["upload"] = 5  # the first process stops mid-upload
    for index in (0, 1):
        await send_item(h, index)
    await h.tg.wait_for(lambda: h.backend.requests_to("upload"), timeout=10)
    await h.stop_bot()
    h.backend.delays.clear()
    await h.start_bot()
    for index in (2, 3):  # no mention: they belong to the album the bot was asked about
        await send_item(h, index)
    await h.tg.wait_for_message(GROUP, kind="video", timeout=20)
    await h.idle()
    assert sorted(completed_uploads(h)) == [f"part{i}.mp4" for i in range(4)]
    assert len(h.backend.requests_to("run_sse")) == 1
    texts = [m.text or "" for m in h.tg.messages(GROUP) if not m.deleted]
    assert sum("Received 4 files" in t for t in texts) == 1, texts


async def test_an_album_split_across_two_replicas_is_handled_once_and_whole(
    tmp_path: Path, pg_url: str
) -> None:
    async with replicas(tmp_path, pg_url, lease=30) as (a, b):
        await b.start_bot()
        a.tg.webhook_url = a.webhook_url  # the mention reaches A
        await send_item(a, 0)
        await a.tg.wait_for(lambda: any(200 <= status < 300
                                        for _u, status in a.tg.webhook_deliveries))
        a.tg.webhook_url = b.webhook_url  # the rest of the album reaches B
        for index in (1, 2):
            await send_item(a, index)
        await a.tg.wait_for_message(GROUP, kind="video", timeout=20)
        await a.idle()
        await b.idle()
        uploads = a.backend.requests_to("upload")
        assert len(uploads) == 1 and len(uploads[0].files) == 3
        assert len(a.backend.requests_to("run_sse")) == 1


async def test_two_replicas_starting_a_chats_first_session_use_one(
    tmp_path: Path, pg_url: str
) -> None:
    """Issue 23, item 3, through the Application: A's worker uploads the chat's first video
    while B answers its /status; both need the chat's first session at the same moment.
    Everything the chat does must go to one session, the one kept in the store."""
    chat = 4201
    async with replicas(tmp_path, pg_url, lease=30) as (a, b):
        await b.start_bot()
        a.backend.delays["create_session"] = 0.5
        a.tg.webhook_url = a.webhook_url
        await a.tg.send_video(chat, VIDEO, file_name="clip.mp4")
        await a.tg.wait_for(lambda: a.tg.webhook_deliveries)
        a.tg.webhook_url = b.webhook_url
        await a.tg.send_text(chat, "/status")
        await a.tg.wait_for(lambda: a.backend.requests_to("upload"), timeout=15)
        await a.tg.wait_for(lambda: a.backend.requests_to("state"), timeout=15)
        await a.idle()
        await b.idle()
        topic = await a.runtime.svc.store.get_topic(chat, 0)
        assert topic is not None and topic.session_id
        used = {r.path.split("/")[5] for r in a.backend.requests_to("upload")}
        used |= {r.path.split("/")[5] for r in a.backend.requests_to("state")}
        assert used == {topic.session_id}
