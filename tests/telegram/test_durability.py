"""Nothing lost, nothing doubled (issue 10): the queue's hand-offs, restarts at every step of
a job, store-first handling, conditional state changes, and the protections against floods.
Everything through the real Application against the fakes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sqlite3
import stat
from typing import Any

import pytest

from bot.sandbox.backend import adk_call, adk_text, make_draft, sleep_frame
from bot.sandbox.harness import Harness

ALICE = 3001
BOB = 3002


def texts(h: Harness, chat: int = ALICE) -> list[str]:
    return [m.text or "" for m in h.tg.messages(chat) if not m.deleted]


# -- 1. no job stranded between a worker's last empty read and its exit ---------------------


async def test_a_burst_over_many_chats_answers_every_message(h: Harness) -> None:
    h.backend.frame_delay = 0  # instant turns: workers empty their queues and exit constantly
    chats = [4000 + n for n in range(20)]
    words = {chat: [f"m{chat}-{i}" for i in range(10)] for chat in chats}
    rng = random.Random(10)
    def answering(method: str) -> None:
        name, handle = h.tg._handlers[method]

        async def hook(req: Any) -> Any:
            # The person writes again while an answer reaches them, so the next update
            # arrives just as the chat's worker finishes, reads an empty queue and exits.
            result = await handle(req)
            chat, text = int(req.params["chat_id"]), str(req.params.get("text"))
            if "I can help with that" in text:
                index = next(i for i, w in enumerate(words[chat]) if f'"{w}"' in text) + 1
                if index < len(words[chat]):
                    await h.tg.send_text(chat, words[chat][index])
                    await asyncio.sleep(rng.uniform(0, 0.012))
            return result

        h.tg._handlers[method] = (name, hook)

    answering("sendmessage")
    answering("editmessagetext")  # a chat's first answer replaces its "Setting up…"
    for chat in chats:
        await h.tg.send_text(chat, words[chat][0])

    def all_answered() -> bool:
        return all(
            any(f'"{word}"' in t for t in texts(h, chat)) for chat in chats for word in words[chat]
        )

    await h.tg.wait_for(all_answered, timeout=60)
    await h.idle(timeout=20)
    for chat in chats:
        answers = [t for t in texts(h, chat) if "I can help with that" in t]
        assert len(answers) == len(words[chat])  # each once, none twice


# -- 4. a cancelled job never comes back -----------------------------------------------------


async def test_a_job_cancelled_as_its_worker_takes_it_stays_cancelled(h: Harness) -> None:
    queue, store = h.runtime.queue, h.runtime.svc.store
    translator_for, cancel_jobs = queue.translator_for, store.cancel_jobs
    cancelled = asyncio.Event()

    # A worker reads the pending job, then /cancel marks it cancelled before the worker
    # moves it on. That window has no real boundary to stretch, so the worker is held
    # between the two (after its read) until the cancellation is written.
    async def held_worker(chat_id: int, language: str | None) -> Any:
        result = await translator_for(chat_id, language)
        task = asyncio.current_task()
        if task is not None and task.get_name().startswith("chat-"):
            await cancelled.wait()
        return result

    async def cancel_then_let_go(chat_id: int, thread_id: int) -> int:
        count = await cancel_jobs(chat_id, thread_id)
        cancelled.set()
        await asyncio.sleep(0.2)
        return count

    queue.translator_for = held_worker  # type: ignore[method-assign]
    store.cancel_jobs = cancel_then_let_go  # type: ignore[method-assign]
    await h.tg.send_text(ALICE, "two")
    await h.tg.send_text(ALICE, "/cancel")
    await h.tg.wait_for_message(ALICE, contains="Stopped")
    await h.idle()
    await h.restart()
    await asyncio.sleep(0.5)
    await h.idle()
    assert not any("two" in t for t in texts(h))
    assert h.backend.requests_to("run_sse") == []
    assert await h.runtime.svc.store.count_waiting(ALICE, 0) == 0


# -- 2. a restart at any step of a job neither repeats nor loses it --------------------------

VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(50_000)
COMPRESS = "compress this video to a smaller file size without losing quality"


def completed_uploads(h: Harness) -> list[str]:
    return [str(u["filename"]) for s in h.backend.sessions.values() for u in s.uploads]


async def test_restart_mid_caption_turn_neither_uploads_nor_instructs_again(h: Harness) -> None:
    h.backend.queue_turn([adk_call("slow", {}), sleep_frame(5), adk_text("never seen")])
    await h.tg.send_video(ALICE, VIDEO, file_name="clip.mp4", caption="make it shorter")
    await h.tg.wait_for(lambda: h.backend.requests_to("run_sse"), timeout=10)
    await h.stop_bot()  # killed while the caption's instruction runs
    await h.start_bot()
    notice = await h.tg.wait_for_message(ALICE, contains="restarted while working on")
    assert "make it shorter" in (notice.text or "")
    await h.idle()
    assert completed_uploads(h) == ["clip.mp4"]
    assert len(h.backend.requests_to("upload")) == 1
    assert next(iter(h.backend.sessions.values())).messages == ["make it shorter"]


async def test_restart_after_the_upload_completed_does_not_upload_again(h: Harness) -> None:
    h.backend.delays["state"] = 5  # the upload is done; the bot is checking the project
    await h.tg.send_video(ALICE, VIDEO, file_name="clip.mp4", caption=COMPRESS)
    await h.tg.wait_for(lambda: h.backend.requests_to("state"), timeout=10)
    await h.stop_bot()
    h.backend.delays.clear()
    await h.start_bot()
    await h.tg.wait_for_message(ALICE, kind="video", timeout=20)
    await h.idle()
    assert len(h.backend.requests_to("upload")) == 1
    assert completed_uploads(h) == ["clip.mp4"]
    assert next(iter(h.backend.sessions.values())).messages == [COMPRESS]
    assert sum("Received" in t for t in texts(h)) == 1


async def test_restart_mid_upload_uploads_once(h: Harness) -> None:
    h.backend.delays["upload"] = 5
    await h.tg.send_video(ALICE, VIDEO, file_name="clip.mp4", caption=COMPRESS)
    await h.tg.wait_for(lambda: h.backend.requests_to("upload"), timeout=10)
    await h.stop_bot()  # the upload never completed
    h.backend.delays.clear()
    await h.start_bot()
    await h.tg.wait_for_message(ALICE, kind="video", timeout=20)
    await h.idle()
    assert completed_uploads(h) == ["clip.mp4"]
    assert next(iter(h.backend.sessions.values())).messages == [COMPRESS]


async def test_restart_mid_queue_runs_the_waiting_media_once(h: Harness) -> None:
    h.backend.queue_turn([adk_call("slow", {}), sleep_frame(5), adk_text("never seen")])
    await h.tg.send_text(ALICE, "one")
    await h.tg.wait_for(lambda: h.backend.requests_to("run_sse"), timeout=10)
    await h.tg.send_video(ALICE, VIDEO, file_name="clip.mp4", caption=COMPRESS)
    await h.tg.wait_for_message(ALICE, contains="as soon as I finish")
    await h.stop_bot()
    await h.start_bot()
    await h.tg.wait_for_message(ALICE, contains="restarted while working on “one”")
    await h.tg.wait_for_message(ALICE, kind="video", timeout=20)
    await h.idle()
    assert completed_uploads(h) == ["clip.mp4"]
    assert next(iter(h.backend.sessions.values())).messages == ["one", COMPRESS]


# -- 5. an album's items are claimed together and finished together --------------------------


async def test_album_killed_mid_upload_is_uploaded_whole_after_restart(h: Harness) -> None:
    h.backend.delays["upload"] = 5
    for index in range(3):
        await h.tg.send_video(
            ALICE, VIDEO, file_name=f"part{index}.mp4", media_group_id="album-1",
            caption=COMPRESS if index == 0 else None,
        )
    await h.tg.wait_for(lambda: h.backend.requests_to("upload"), timeout=10)
    await h.stop_bot()
    h.backend.delays.clear()
    await h.start_bot()
    await h.tg.wait_for_message(ALICE, kind="video", timeout=20)
    await h.idle()
    assert completed_uploads(h) == ["part0.mp4", "part1.mp4", "part2.mp4"]
    assert len(h.backend.requests_to("run_sse")) == 1
    assert sum("Received 3 files" in t for t in texts(h)) == 1


# -- 3/8. a button press is stored before it is answered, and a failed answer keeps it --------


@pytest.mark.parametrize("harness_options", [{"auto_export": False}])
async def test_a_too_old_press_whose_answer_fails_still_exports(h: Harness) -> None:
    h.backend.queue_turn(
        [adk_call("compress_video", {}), adk_text("Compressed it for you.")], draft=make_draft()
    )
    await h.tg.send_text(ALICE, "compress")
    offer = await h.tg.wait_for_message(ALICE, contains="Compressed it")
    await h.idle()
    h.tg.fail_next("answerCallbackQuery", 400,
                   "Bad Request: query is too old and response timeout expired or query ID is "
                   "invalid")
    await h.tg.press_button(ALICE, offer.message_id, "export")
    await h.tg.wait_for_message(ALICE, kind="video", timeout=15)
    assert not any("went wrong" in t for t in texts(h))


# -- protections ------------------------------------------------------------------------------


async def test_a_database_file_left_readable_is_tightened_with_a_warning(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    db = h.workdir / "bot.db"
    await h.stop_bot()
    db.chmod(0o644)  # e.g. restored from a backup by hand
    with caplog.at_level(logging.WARNING):
        await h.start_bot()
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert any("0600" in r.getMessage() and r.levelno == logging.WARNING
               for r in caplog.records)
    await h.tg.send_text(ALICE, "hello")
    await h.tg.wait_for_message(ALICE, contains="hello")


async def test_the_databases_wal_and_shm_files_are_tightened_too(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """The -wal file holds the latest writes (backend tokens among them) until a checkpoint:
    files left readable by an earlier run are tightened like the database itself."""
    db = h.workdir / "bot.db"
    await h.tg.send_text(ALICE, "hello")
    await h.tg.wait_for_message(ALICE, contains="hello")
    await h.stop_bot()
    side = [db.with_name("bot.db-wal"), db.with_name("bot.db-shm")]
    for file in side:  # as a crashed run under a lax umask leaves them
        file.touch()
        file.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        await h.start_bot()
    for file in side:
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
    assert sum("readable by others" in r.getMessage() for r in caplog.records) == 2
    await h.tg.send_text(ALICE, "and again")
    await h.tg.wait_for_message(ALICE, contains="and again")
    for file in (db, *side):
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file


def agent_messages(h: Harness) -> list[str]:
    return [m for s in h.backend.sessions.values() for m in s.messages]


@pytest.mark.parametrize("harness_options", [{"turn_rate_limit": 3}])
async def test_a_chat_over_its_turn_rate_is_told_when_to_retry_and_slows_no_one_else(
    h: Harness,
) -> None:
    for index in range(10):
        await h.tg.send_text(ALICE, f"edit {index}")
    refusal = await h.tg.wait_for_message(ALICE, contains="please try again in", timeout=10)
    assert "still queued" in (refusal.text or "")
    await h.tg.send_text(BOB, "bob here")
    await h.tg.wait_for_message(BOB, contains="bob here", timeout=10)
    await h.idle(timeout=30)
    assert sorted(m for m in agent_messages(h) if m.startswith("edit")) == [
        "edit 0", "edit 1", "edit 2"]  # nothing queued was dropped, nothing over it ran
    # Seven refused messages, one notice: it covers the rest until its retry time.
    assert sum("please try again in" in t for t in texts(h)) == 1


@pytest.mark.parametrize("harness_options", [{"max_pending_jobs": 2}])
async def test_a_chat_with_too_much_waiting_is_told_and_keeps_what_is_queued(h: Harness) -> None:
    h.backend.queue_turn([adk_call("slow", {}), sleep_frame(2), adk_text("First done.")])
    await h.tg.send_text(ALICE, "first")
    await h.tg.wait_for(lambda: h.backend.requests_to("run_sse"), timeout=10)
    for word in ("second", "third", "fourth", "fifth"):
        await h.tg.send_text(ALICE, word)
    await h.tg.wait_for_message(ALICE, contains="already waiting", timeout=10)
    await h.idle(timeout=30)
    assert agent_messages(h) == ["first", "second"]
    # Three refused messages, one notice.
    assert sum("already waiting" in t for t in texts(h)) == 1
    # Once a message is accepted again, the next overflow is a new run and is told again.
    h.backend.queue_turn([adk_call("slow", {}), sleep_frame(2), adk_text("Sixth done.")])
    await h.tg.send_text(ALICE, "sixth")
    await h.tg.wait_for(lambda: len(h.backend.requests_to("run_sse")) == 3, timeout=10)
    for word in ("seventh", "eighth", "ninth"):
        await h.tg.send_text(ALICE, word)
    await h.idle(timeout=30)
    assert agent_messages(h) == ["first", "second", "sixth", "seventh"]
    assert sum("already waiting" in t for t in texts(h)) == 2


@pytest.mark.parametrize("harness_options", [{"prune_interval_seconds": 0.3}])
async def test_old_job_rows_are_pruned_while_the_bot_runs(h: Harness) -> None:
    await h.tg.send_text(ALICE, "hello")
    await h.tg.wait_for_message(ALICE, contains="hello")
    await h.idle()
    path = h.workdir / "bot.db"

    def rows() -> int:
        with contextlib.closing(sqlite3.connect(path)) as db:
            return int(db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0])

    assert rows() == 1  # kept a week, to recognise a repeated update
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("UPDATE jobs SET updated_at = updated_at - 30 * 86400")
        db.commit()
    await h.tg.wait_for(lambda: rows() == 0, timeout=10)


# -- 3. /status and /credits never hold up a chat's other updates -----------------------------


@pytest.mark.parametrize(("command", "endpoint", "answer"), [
    ("/status", "state", "Your project"), ("/credits", "credits", "Credits available"),
    # typed as words they are the same direct answers (issue 23 item 18a)
    ("status", "state", "Your project"), ("credits left", "credits", "Credits available")])
async def test_a_slow_status_holds_up_neither_cancel_nor_the_next_message(
    h: Harness, command: str, endpoint: str, answer: str
) -> None:
    await h.tg.send_text(ALICE, "hello")  # a token and a session exist
    await h.tg.wait_for_message(ALICE, contains="hello")
    await h.idle()
    h.backend.delays[endpoint] = 6
    calls = len(h.backend.requests_to(endpoint))
    before = len(h.tg.messages(ALICE))
    await h.tg.send_text(ALICE, command)
    await h.tg.wait_for(lambda: len(h.backend.requests_to(endpoint)) > calls, timeout=10)
    started = asyncio.get_running_loop().time()
    await h.tg.send_text(ALICE, "/cancel")
    await h.tg.wait_for_message(ALICE, after=before, contains="Nothing is running", timeout=4)
    await h.tg.send_text(ALICE, "and faster")
    await h.tg.wait_for(
        lambda: "and faster" in [m for s in h.backend.sessions.values() for m in s.messages],
        timeout=4,
    )
    assert asyncio.get_running_loop().time() - started < 4
    await h.tg.wait_for_message(ALICE, after=before, contains=answer, timeout=10)
    h.backend.delays.clear()
    await h.idle(timeout=20)
    assert sum(answer in t for t in texts(h)) == 1


@pytest.mark.parametrize("harness_options", [{"turn_rate_limit": 3}])
async def test_the_turn_limiter_forgets_chats_idle_past_its_window(h: Harness) -> None:
    """Issue 23 item 18b: its table held a row for every chat ever served."""
    queue = h.runtime.queue
    queue.turn_window = 0.5  # a minute in production; the sweep runs once a window
    for chat in range(5100, 5110):
        await h.tg.send_text(chat, "hello")
    await h.idle(timeout=30)
    assert queue.rate_table_size == 10
    await asyncio.sleep(0.6)
    await h.tg.send_text(ALICE, "one more")
    await h.tg.wait_for_message(ALICE, contains="one more")
    await h.idle()
    assert queue.rate_table_size == 1  # only the chat of this window
