"""The store contract, on a real SQLite file and on a real PostgreSQL server."""

from __future__ import annotations

import asyncio
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from bot.store import ChatStore, SqliteStore, open_store
from bot.store.migrations import MIGRATIONS
from bot.store.pg_migrations import PG_MIGRATIONS

Opener = Callable[[], Awaitable[ChatStore]]


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if engine == "sqlite":
        return f"sqlite:///{tmp_path / 'bot.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def reopen(database_url: str) -> Opener:
    """Open the same database again, as a restart would."""
    return lambda: open_store(database_url)


@pytest.fixture
def replica(pg_url: str) -> Opener:
    """Another replica's store on the same PostgreSQL database. (A SQLite file serves one
    process, so what replicas share is PostgreSQL's contract only.)"""
    return lambda: open_store(pg_url)


async def test_sqlite_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "bot.db"
    store = await SqliteStore.open(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    await store.close()


async def test_migrations_run_once_and_keep_data(engine: str, reopen: Opener) -> None:
    latest = len(MIGRATIONS) if engine == "sqlite" else len(PG_MIGRATIONS)
    store = await reopen()
    assert await store.schema_version() == latest
    record = await store.ensure_chat(1)
    await store.close()

    store = await reopen()  # reopening applies nothing twice and keeps the data
    assert await store.schema_version() == latest
    again = await store.ensure_chat(1)
    assert again.client_id == record.client_id
    await store.close()


async def test_replicas_starting_together_migrate_once(replica: Opener) -> None:
    stores = await asyncio.gather(*(replica() for _ in range(3)))
    assert {await store.schema_version() for store in stores} == {len(PG_MIGRATIONS)}
    for store in stores:
        await store.close()


async def test_chat_identity_and_topics(reopen: Opener) -> None:
    store = await reopen()
    await store.ensure_chat(-100)
    await store.save_token(-100, client_id="c", token="nmv_usr_x", expires_at=123.0,
                           anon_user_id="anon_1")
    await store.save_session(-100, 0, "s0", "en")
    await store.save_session(-100, 7, "s7", "zh")
    await store.set_language(-100, "zh_Hant")
    chat = await store.get_chat(-100)
    assert chat is not None
    assert (chat.client_id, chat.token, chat.token_expires_at) == ("c", "nmv_usr_x", 123.0)
    assert (chat.anon_user_id, chat.language) == ("anon_1", "zh_Hant")
    general, topic = await store.get_topic(-100, 0), await store.get_topic(-100, 7)
    assert general is not None and topic is not None
    assert (general.session_id, topic.session_id, topic.session_language) == ("s0", "s7", "zh")
    await store.set_session_language(-100, 7, "en")
    topic = await store.get_topic(-100, 7)
    assert topic is not None and (topic.session_id, topic.session_language) == ("s7", "en")
    assert await store.get_topic(-100, 8) is None
    await store.set_draft_hash(-100, 7, "h1")
    await store.set_render(-100, 7, "render_1", 55)
    topic = await store.get_topic(-100, 7)
    assert topic is not None
    assert (topic.render_id, topic.render_message_id, topic.draft_hash) == ("render_1", 55, "h1")
    assert topic.render_started_at is not None
    await store.set_render(-100, 7, None)
    topic = await store.get_topic(-100, 7)
    assert topic is not None and (topic.render_id, topic.render_started_at) == (None, None)
    await store.save_session(-100, 7, "s7b", "en")  # a new session forgets the old draft
    topic = await store.get_topic(-100, 7)
    assert topic is not None and (topic.session_id, topic.draft_hash) == ("s7b", None)
    # a language chosen before the chat was ever seen creates the chat
    await store.set_language(55, "en")
    fresh = await store.get_chat(55)
    assert fresh is not None and fresh.language == "en" and fresh.client_id
    await store.close()


async def test_first_sight_of_a_chat_gives_it_one_identity(replica: Opener) -> None:
    """Two replicas (or two tasks) meeting a new chat at once agree on its client id."""
    first, second = await replica(), await replica()
    records = await asyncio.gather(*(s.ensure_chat(9) for s in (first, second) for _ in range(5)))
    assert len({r.client_id for r in records}) == 1
    await first.close()
    await second.close()


async def test_the_quality_hint_is_claimed_once_per_chat_across_restarts(
    reopen: Opener,
) -> None:
    store = await reopen()
    assert await store.claim_quality_hint(7) is True
    assert await store.claim_quality_hint(7) is False
    assert await store.claim_quality_hint(8) is True
    await store.close()
    store = await reopen()
    assert await store.claim_quality_hint(7) is False
    await store.close()


async def test_jobs_are_ordered_deduplicated_and_albums_claimed(reopen: Opener) -> None:
    store = await reopen()
    first = await store.add_job(1, 0, "media", {"media_group_id": "g", "n": 1}, "update:1")
    assert first is not None
    assert await store.add_job(1, 0, "media", {"n": 1}, "update:1") is None  # repeated
    await store.add_job(1, 0, "media", {"media_group_id": "g", "n": 2}, "update:2")
    await store.add_job(1, 0, "turn", {"text": "hi", "nested": {"a": [1, 2]}}, "update:3")
    await store.add_job(2, 0, "turn", {"text": "other chat"}, "update:4")
    assert await store.add_job(2, 0, "turn", {}) is not None  # no key: never a repeat
    assert await store.add_job(2, 0, "turn", {}) is not None
    job = await store.next_job(1, 0)
    assert job is not None and job.id == first and job.state == "pending"
    assert job.payload == {"media_group_id": "g", "n": 1}
    assert await store.count_waiting(1, 0) == 3
    album = await store.take_album(1, 0, "g", first)
    assert [j.payload["n"] for j in album] == [2]
    # claimed, not done: the same job gets its items back after a restart
    assert [j.payload["n"] for j in await store.take_album(1, 0, "g", first)] == [2]
    assert await store.start_job(first)
    assert not await store.start_job(first)  # only a pending job starts
    running = await store.next_job(1, 0)
    assert running is not None and running.id == first and running.state == "running"
    await store.mark_uploaded(first, {"files": [{"filename": "a.mp4"}]})
    assert await store.mark_turn_sent(first)
    assert not await store.mark_turn_sent(first)  # one sender: a replica taking over loses
    running = await store.next_job(1, 0)
    assert running is not None and running.turn_sent
    assert running.uploaded == {"files": [{"filename": "a.mp4"}]}
    await store.finish_job(first)
    nxt = await store.next_job(1, 0)
    assert nxt is not None and nxt.kind == "turn"
    assert nxt.payload == {"text": "hi", "nested": {"a": [1, 2]}}
    assert sorted(await store.chats_with_work()) == [(1, 0), (2, 0)]
    assert await store.count_unfinished() == 4
    assert await store.cancel_jobs(1, 0) == 1
    assert await store.next_job(1, 0) is None
    assert await store.count_waiting(1, 0) == 0
    await store.prune_jobs()  # a week's grace: the key still recognises a repeat
    assert await store.add_job(1, 0, "turn", {}, "update:3") is None
    await store.prune_jobs(older_than_seconds=-1)
    # pruned jobs no longer block their key: the update id is only remembered for a week
    assert await store.add_job(1, 0, "turn", {}, "update:3") is not None
    await store.close()


async def test_a_repeated_update_is_queued_once_under_concurrency(replica: Opener) -> None:
    """The same update delivered to two replicas at once becomes one job."""
    first, second = await replica(), await replica()
    ids = await asyncio.gather(
        *(s.add_job(3, 0, "turn", {"text": "x"}, "update:77") for s in (first, second) * 4)
    )
    assert len([i for i in ids if i is not None]) == 1
    assert await first.count_waiting(3, 0) == 1
    await first.close()
    await second.close()


async def test_an_album_item_is_claimed_once(replica: Opener) -> None:
    """Two workers collecting the same album never both take an item; a job asking again (after
    a restart) gets the same items back."""
    first, second = await replica(), await replica()
    ids = [await first.add_job(4, 0, "media", {"media_group_id": "a", "n": n}) for n in range(20)]
    head, other = ids[0], ids[10]
    assert head is not None and other is not None
    taken = await asyncio.gather(
        *(s.take_album(4, 0, "a", h) for s, h in ((first, head), (second, other)) * 2)
    )
    batches = [{job.id for job in batch} for batch in taken]
    assert batches[0] == batches[2] and batches[1] == batches[3]  # the same items again
    assert not batches[0] & batches[1]  # never both
    assert batches[0] | batches[1] | {head, other} == set(ids)
    await first.close()
    await second.close()


async def test_sources_and_exports_survive_a_restart(reopen: Opener) -> None:
    from bot.store import VideoInfo

    store = await reopen()
    before = VideoInfo(size=48_200_000, width=1920, height=1080, duration=134.0)
    await store.save_source(-100, 7, 42, "clip.mp4", before)
    await store.save_source(-100, 7, 43, "second.mp4", VideoInfo(size=1, duration=2.0))
    first = await store.add_export(-100, 7, "file-a", False, VideoInfo(size=12_100_000))
    second = await store.add_export(-100, 7, "file-b", True, VideoInfo(size=9_000_000))
    await store.add_export(-100, 0, "other-topic", False, VideoInfo())
    await store.close()

    store = await reopen()
    source = await store.get_source(-100, 7)
    assert source is not None and source.user_id == 43 and source.name == "second.mp4"
    assert source.video == VideoInfo(size=1, duration=2.0)
    assert await store.get_source(-100, 0) is None
    latest = await store.exports(-100, 7)
    assert [(e.id, e.file_id, e.as_document) for e in latest] == [
        (second, "file-b", True), (first, "file-a", False)
    ]
    assert latest[1].video.size == 12_100_000 and latest[1].created_at > 0
    found = await store.get_export(-100, first)
    assert found is not None and found.file_id == "file-a"
    assert await store.get_export(-200, first) is None  # another chat's export is not yours
    await store.close()


async def test_a_jobs_sends_survive_a_restart_and_are_pruned(reopen: Opener) -> None:
    from bot.store import SendRecord

    store = await reopen()
    await store.begin_send("job:1", "ack")
    await store.begin_send("job:1", "delivery")
    await store.end_send("job:1", "delivery", 77)
    await store.begin_send("job:1", "delivery")  # a later attempt keeps the confirmation
    await store.end_send("job:2", "setup", None)
    await store.close()

    store = await reopen()
    assert await store.sends("job:1") == {
        "ack": SendRecord(False, None), "delivery": SendRecord(True, 77)
    }
    assert await store.sends("job:2") == {"setup": SendRecord(True, None)}
    assert await store.sends("job:3") == {}
    await store.prune_jobs(older_than_seconds=0)
    assert await store.sends("job:1") == {}
    await store.close()


async def test_one_poller_per_database(engine: str, reopen: Opener) -> None:
    """Two long-polling processes on one PostgreSQL would split Telegram's updates
    between them; the second is refused until the first is gone."""
    first = await reopen()
    assert await first.hold_polling()
    assert await first.hold_polling()  # holding it again is not a conflict
    if engine == "postgresql":
        second = await reopen()
        assert not await second.hold_polling()
        await first.close()
        assert await second.hold_polling()
        await second.close()
    else:
        await first.close()


async def test_a_chat_is_worked_by_one_replica_until_its_lease_expires(
    replica: Opener,
) -> None:
    a, b = await replica(), await replica()
    assert a.shared and b.shared
    job = await a.add_job(5, 0, "turn", {"text": "x"})
    assert job is not None
    assert await a.unclaimed_work() == [(5, 0)]
    assert await a.claim_chat(5, 0, "replica-a", ttl=0.5)
    assert await a.claim_chat(5, 0, "replica-a", ttl=0.5)  # its own: renewed
    assert not await b.claim_chat(5, 0, "replica-b", ttl=30)  # alive elsewhere
    assert await b.unclaimed_work() == []
    assert await a.renew_claims("replica-a", ttl=0.5) == {(5, 0)}
    await asyncio.sleep(0.7)  # replica-a died: no renewal
    assert await b.unclaimed_work() == [(5, 0)]
    assert await b.claim_chat(5, 0, "replica-b", ttl=30)
    assert await a.renew_claims("replica-a", ttl=30) == set()  # a learns it lost the chat
    await b.release_chat(5, 0, "replica-a")  # only the holder can release
    assert not await a.claim_chat(5, 0, "replica-a", ttl=30)
    await b.release_chat(5, 0, "replica-b")
    assert await a.claim_chat(5, 0, "replica-a", ttl=30)
    assert await b.cancelled_among([job]) == set()
    assert await b.cancel_jobs(5, 0) == 1
    assert await a.cancelled_among([job, 10**9]) == {job}  # the running replica's check
    await a.close()
    await b.close()


async def test_racing_replicas_claim_a_chat_once(replica: Opener) -> None:
    stores = [await replica() for _ in range(3)]
    won = await asyncio.gather(
        *(s.claim_chat(6, 0, f"r{i}", ttl=30) for i, s in enumerate(stores) for _ in range(3))
    )
    assert sum(won) == 3  # one owner, who claimed it three times
    assert len({i // 3 for i, ok in enumerate(won) if ok}) == 1
    for store in stores:
        await store.close()


async def test_one_process_holds_every_chat_of_its_sqlite_file(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 'bot.db'}")
    assert not store.shared
    job = await store.add_job(5, 0, "turn", {})
    assert job is not None
    assert await store.claim_chat(5, 0, "any", ttl=1)
    assert await store.unclaimed_work() == [(5, 0)]
    assert await store.cancelled_among([job]) == set()
    assert await store.cancelled_among([]) == set()
    await store.close()


async def test_a_chat_identity_is_renewed_by_one_replica_at_a_time(replica: Opener) -> None:
    a, b = await replica(), await replica()
    order: list[str] = []

    async def renew(store: ChatStore, name: str, hold: float) -> None:
        async with store.identity_lock(8):
            order.append(f"{name} in")
            await asyncio.sleep(hold)
            order.append(f"{name} out")

    first = asyncio.create_task(renew(a, "a", 0.5))
    await asyncio.sleep(0.2)
    await renew(b, "b", 0)
    await first
    assert order == ["a in", "a out", "b in", "b out"]
    async with a.identity_lock(9), b.identity_lock(10):  # other chats do not wait
        pass
    await a.close()
    await b.close()


async def test_sqlite_keeps_chat_and_topic_records_and_drops_what_changes(
    tmp_path: Path,
) -> None:
    """Records read once are served from memory (a job reads them several times); every
    write drops the one it changes, also when a read was in flight meanwhile."""
    store = await SqliteStore.open(tmp_path / "bot.db")
    statements: list[str] = []
    await store._db.set_trace_callback(statements.append)
    first = await store.ensure_chat(1)
    await store.save_session(1, 0, "s0", "en")
    assert await store.get_chat(1) == first and await store.get_topic(1, 0) is not None
    statements.clear()
    assert await store.get_chat(1) == first
    assert (await store.ensure_chat(1)) == first
    assert (topic := await store.get_topic(1, 0)) is not None and topic.session_id == "s0"
    assert statements == []  # nothing read again
    await store.save_token(1, client_id="c", token="t1", expires_at=9.0, anon_user_id="a")
    assert (chat := await store.get_chat(1)) is not None and chat.token == "t1"
    await store.set_language(1, "zh_Hant")
    assert (chat := await store.get_chat(1)) is not None and chat.language == "zh_Hant"
    assert await store.claim_quality_hint(1)
    assert (chat := await store.get_chat(1)) is not None and chat.quality_hint_at is not None
    for change, field, value in [
        (store.set_session_language(1, 0, "zh"), "session_language", "zh"),
        (store.set_draft_hash(1, 0, "h"), "draft_hash", "h"),
        (store.set_render(1, 0, "r1", 5), "render_id", "r1"),
        (store.save_session(1, 0, "s1", "en"), "session_id", "s1"),
    ]:
        await change
        assert getattr(await store.get_topic(1, 0), field) == value
    # A read that overlaps a write may see the old row: it must not be kept.
    store._chats.clear()
    read = asyncio.create_task(store.get_chat(1))
    await store.save_token(1, client_id="c", token="t2", expires_at=9.0, anon_user_id="a")
    await read
    assert (chat := await store.get_chat(1)) is not None and chat.token == "t2"
    await store.close()


async def test_a_write_cancelled_midway_leaves_later_writes_durable(reopen: Opener) -> None:
    """Stopping the bot cancels its polling task, which may be inside ``keep_updates``'s
    transaction. A cancel that fell on the transaction's BEGIN left it open on SQLite: every
    later write (a job's sends during the SIGTERM grace) joined it and was rolled back at
    close, so the restart delivered those videos again (found by the in-suite soak)."""
    store = await reopen()
    for _ in range(20):  # the cancel lands at a different await of the transaction each time
        task = asyncio.create_task(store.keep_updates([(1, "{}"), (2, "{}")]))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    await store.end_send("job:1", "delivery", 99)
    await store.close()

    store = await reopen()
    try:
        sends = await store.sends("job:1")
        assert "delivery" in sends and sends["delivery"].message_id == 99
    finally:
        await store.close()


async def test_a_source_keeps_what_fetches_the_original_again(reopen: Opener) -> None:
    """Local compression downloads the original again, perhaps after a restart."""
    from bot.store import SourceFile, VideoInfo

    store = await reopen()
    file = SourceFile(file_id="BAAC-original", file_name="holiday.mov",
                      mime_type="video/quicktime", kind="video")
    await store.save_source(-100, 7, 42, "holiday.mov", VideoInfo(size=48_200_000), file=file)
    await store.save_source(-100, 8, 42, "plain.mp4", VideoInfo(size=1))
    await store.close()

    store = await reopen()
    source = await store.get_source(-100, 7)
    assert source is not None and source.file == file
    assert source.video.size == 48_200_000
    plain = await store.get_source(-100, 8)
    assert plain is not None and plain.file is None
    await store.close()


async def test_a_chats_settings_survive_a_restart_per_topic(reopen: Opener) -> None:
    """/settings (issue 22): one row per chat or forum topic; a topic's never leaks."""
    from bot.store import ChatSettings

    store = await reopen()
    assert await store.get_settings(-100, 7) == ChatSettings()  # nothing chosen yet
    await store.save_settings(-100, 7, ChatSettings(preset="16", codec="h265",
                                                    max_short_side=720))
    await store.save_settings(-100, 8, ChatSettings(preset="small"))
    await store.save_settings(-100, 8, ChatSettings(preset=None, max_short_side=480))
    await store.close()

    store = await reopen()
    try:
        assert await store.get_settings(-100, 7) == ChatSettings("16", "h265", 720)
        assert await store.get_settings(-100, 8) == ChatSettings(None, "h264", 480)
        assert await store.get_settings(-100, 0) == ChatSettings()
        assert await store.get_settings(-200, 7) == ChatSettings()
    finally:
        await store.close()


async def test_a_chat_moves_to_its_new_id_with_everything_keyed_by_it(reopen: Opener) -> None:
    """A group upgraded to a supergroup (issue 23, item 8): token, language, session,
    settings and queue move; a fresh row the new id got meanwhile gives way to the old's."""
    from bot.store import ChatSettings

    store = await reopen()
    try:
        await store.ensure_chat(-1)
        await store.save_token(-1, client_id="c1", token="t1", expires_at=None,
                               anon_user_id="u1")
        await store.set_language(-1, "zh_Hans")
        await store.save_session(-1, 0, "session-1", "zh_Hans")
        await store.save_settings(-1, 0, ChatSettings(preset="16"))
        job = await store.add_job(-1, 0, "turn", {"text": "hi"}, "update:1")
        await store.ensure_chat(-100)  # the supergroup wrote before the bot noticed
        await store.save_session(-100, 0, "fresh", None)
        assert await store.move_chat(-1, -100) > 0
        chat, topic = await store.get_chat(-100), await store.get_topic(-100, 0)
        assert chat is not None and chat.token == "t1" and chat.language == "zh_Hans"
        assert topic is not None and topic.session_id == "session-1"
        assert await store.get_settings(-100, 0) == ChatSettings(preset="16")
        assert await store.get_chat(-1) is None and await store.get_topic(-1, 0) is None
        pending = await store.next_job(-100, 0)
        assert pending is not None and pending.id == job
        assert await store.move_chat(-1, -100) == 0  # once is enough
    finally:
        await store.close()
