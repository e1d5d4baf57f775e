"""The chat store on a real SQLite file."""

from __future__ import annotations

import stat
from pathlib import Path

from bot.store import Store
from bot.store.migrations import MIGRATIONS


async def test_file_is_private_and_migrations_run_once(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "bot.db"
    store = await Store.open(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert await store.schema_version() == len(MIGRATIONS)
    record = await store.ensure_chat(1)
    await store.close()

    store = await Store.open(path)  # reopening applies nothing twice and keeps the data
    assert await store.schema_version() == len(MIGRATIONS)
    again = await store.ensure_chat(1)
    assert again.client_id == record.client_id
    await store.close()


async def test_chat_identity_and_topics(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "bot.db")
    await store.ensure_chat(-100)
    await store.save_token(-100, client_id="c", token="nmv_usr_x", expires_at=123.0,
                           anon_user_id="anon_1")
    await store.save_session(-100, 0, "s0", "en")
    await store.save_session(-100, 7, "s7", "zh")
    await store.set_language(-100, "zh_Hant")
    chat = await store.get_chat(-100)
    assert chat is not None
    assert (chat.token, chat.anon_user_id, chat.language) == ("nmv_usr_x", "anon_1", "zh_Hant")
    general, topic = await store.get_topic(-100, 0), await store.get_topic(-100, 7)
    assert general is not None and topic is not None
    assert (general.session_id, topic.session_id, topic.session_language) == ("s0", "s7", "zh")
    await store.set_render(-100, 7, "render_1", 55)
    assert [t.render_id for t in await store.renders_in_flight()] == ["render_1"]
    await store.set_render(-100, 7, None)
    assert await store.renders_in_flight() == []
    await store.close()


async def test_jobs_are_ordered_deduplicated_and_albums_claimed(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "bot.db")
    first = await store.add_job(1, 0, "media", {"media_group_id": "g", "n": 1}, "update:1")
    assert first is not None
    assert await store.add_job(1, 0, "media", {"n": 1}, "update:1") is None  # repeated
    await store.add_job(1, 0, "media", {"media_group_id": "g", "n": 2}, "update:2")
    await store.add_job(1, 0, "turn", {"text": "hi"}, "update:3")
    await store.add_job(2, 0, "turn", {"text": "other chat"}, "update:4")
    job = await store.next_job(1, 0)
    assert job is not None and job.id == first
    album = await store.take_album(1, 0, "g", first)
    assert [j.payload["n"] for j in album] == [2]
    assert await store.start_job(first)
    await store.finish_job(first)
    nxt = await store.next_job(1, 0)
    assert nxt is not None and nxt.kind == "turn"
    assert sorted(await store.chats_with_work()) == [(1, 0), (2, 0)]
    assert await store.cancel_jobs(1, 0) == 1
    assert await store.next_job(1, 0) is None
    await store.prune_jobs(older_than_seconds=-1)
    # pruned jobs no longer block their key: the update id is only remembered for a week
    assert await store.add_job(1, 0, "turn", {}, "update:3") is not None
    await store.close()
