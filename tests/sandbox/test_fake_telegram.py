"""The fake Telegram server, exercised through the real python-telegram-bot client."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllPrivateChats,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    MessageEntity,
    Update,
)
from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)
from telegram.ext import Application, ApplicationBuilder, CommandHandler, ContextTypes

from bot.sandbox.telegram import (
    BOT_USER_ID,
    ERR_NOT_MODIFIED,
    ApiCall,
    FakeTelegram,
    UploadedFile,
    parse_html,
)

TOKEN = "123456:TEST-TOKEN"
USER = 4242


def disk_file(path: str | None) -> tuple[bool, int, bytes]:
    """(absolute and exists, size, first bytes) of a path getFile returned in local mode."""
    assert path is not None
    file = Path(path)
    if not (file.is_absolute() and file.is_file()):
        return False, 0, b""
    with file.open("rb") as handle:
        return True, file.stat().st_size, handle.read(16)


def make_bot(fake: FakeTelegram, *, local_mode: bool = False) -> Bot:
    return Bot(
        fake.token,
        base_url=fake.base_url,
        base_file_url=fake.base_file_url,
        local_mode=local_mode,
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(TOKEN) as server:
        yield server


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    client = make_bot(fake)
    await client.initialize()
    yield client
    await client.shutdown()


async def raw_post(
    fake: FakeTelegram, method: str, *, token: str | None = None, **kwargs: Any
) -> tuple[int, dict[str, Any]]:
    """A request built by hand, to check decoding paths PTB does not use."""
    url = f"{fake.url}/bot{token or fake.token}/{method}"
    async with aiohttp.ClientSession() as session, session.post(url, **kwargs) as response:
        body: dict[str, Any] = await response.json()
        return response.status, body


# -- basics ------------------------------------------------------------------------------------


async def test_get_me_is_the_bot_user(fake: FakeTelegram, bot: Bot) -> None:
    assert bot.id == BOT_USER_ID
    assert bot.username == "rtk_compressor_bot"
    assert bot.first_name == "RTK Compressor"
    assert fake.calls[0].method == "getMe"


async def test_wrong_token_is_unauthorized(fake: FakeTelegram) -> None:
    intruder = Bot("999:WRONG", base_url=fake.base_url, base_file_url=fake.base_file_url)
    with pytest.raises(InvalidToken):
        await intruder.initialize()
    status, body = await raw_post(fake, "getMe", token="999:WRONG")
    assert status == 401
    assert body == {"ok": False, "error_code": 401, "description": "Unauthorized"}


async def test_unknown_method_is_404(fake: FakeTelegram) -> None:
    status, body = await raw_post(fake, "sendTelepathy", data={"chat_id": "1"})
    assert status == 404
    assert body == {"ok": False, "error_code": 404, "description": "Not Found"}


async def test_json_and_urlencoded_bodies_are_decoded(fake: FakeTelegram) -> None:
    markup = {"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]}
    status, body = await raw_post(
        fake, "sendMessage", json={"chat_id": USER, "text": "json", "reply_markup": markup}
    )
    assert status == 200 and body["ok"]
    assert body["result"]["reply_markup"] == markup
    form = {"chat_id": str(USER), "text": "123", "reply_markup": json.dumps(markup)}
    status, body = await raw_post(fake, "sendMessage", data=form)
    assert status == 200
    call = fake.calls[-1]
    assert call.params == {"chat_id": USER, "text": "123", "reply_markup": markup}
    assert call.chat_id == USER


# -- sending and editing -------------------------------------------------------------------------


async def test_send_message_records_call_and_message(fake: FakeTelegram, bot: Bot) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data="yes")]])
    sent = await bot.send_message(USER, "Hello", reply_markup=markup)
    assert sent.text == "Hello"
    assert sent.from_user is not None and sent.from_user.id == BOT_USER_ID
    assert sent.chat.type == "private"
    assert sent.reply_markup == markup

    call = fake.calls_of("sendMessage")[0]
    assert isinstance(call, ApiCall)
    assert call.params["chat_id"] == USER
    assert call.params["reply_markup"] == markup.to_dict()

    [message] = fake.messages(USER)
    assert (message.kind, message.text, message.message_id) == ("text", "Hello", sent.message_id)
    assert message.buttons == [{"text": "Yes", "callback_data": "yes"}]


async def test_edit_message_text_and_not_modified(fake: FakeTelegram, bot: Bot) -> None:
    sent = await bot.send_message(USER, "Working…")
    edited = await bot.edit_message_text("Done", chat_id=USER, message_id=sent.message_id)
    assert not isinstance(edited, bool) and edited.text == "Done"
    with pytest.raises(BadRequest, match=r"(?i)message is not modified") as info:
        await bot.edit_message_text("Done", chat_id=USER, message_id=sent.message_id)
    assert fake.calls[-1].description == ERR_NOT_MODIFIED
    assert "exactly the same" in info.value.message

    [message] = fake.messages(USER)
    assert message.text == "Done"
    assert message.edits == ["Working…"]

    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("x", chat_id=USER, message_id=999)


async def test_edit_reply_markup_and_delete(fake: FakeTelegram, bot: Bot) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="a")]])
    sent = await bot.send_message(USER, "Pick", reply_markup=markup)
    await bot.edit_message_reply_markup(USER, sent.message_id, reply_markup=None)
    assert fake.messages(USER)[0].reply_markup is None
    with pytest.raises(BadRequest, match=r"(?i)not modified"):
        await bot.edit_message_reply_markup(USER, sent.message_id, reply_markup=None)

    assert await bot.delete_message(USER, sent.message_id)
    assert fake.messages(USER)[0].deleted
    with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
        await bot.delete_message(USER, sent.message_id)


async def test_text_limits(bot: Bot) -> None:
    await bot.send_message(USER, "x" * 4096)
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(USER, "x" * 4097)
    with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
        await bot.send_message(USER, "   ")
    with pytest.raises(BadRequest, match=r"(?i)message caption is too long"):
        await bot.send_document(USER, b"data", caption="c" * 1025, filename="a.txt")


async def test_html_parse_mode(fake: FakeTelegram, bot: Bot) -> None:
    sent = await bot.send_message(
        USER, '<b>Done</b> — <a href="https://x.org">link</a> &lt;3', parse_mode="HTML"
    )
    assert sent.text == "Done — link <3"
    assert [e.type for e in sent.entities] == [MessageEntity.BOLD, MessageEntity.TEXT_LINK]
    assert fake.messages(USER)[0].text == "Done — link <3"

    with pytest.raises(BadRequest, match=r"(?i)can't parse entities: unsupported start tag"):
        await bot.send_message(USER, "size <100 MB>", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)can't find end tag corresponding to start tag b"):
        await bot.send_message(USER, "<b>bold", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)unmatched end tag at byte offset 7"):
        await bot.send_message(USER, "<b><i>x</b></i>", parse_mode="HTML")


def test_parse_html_offsets_are_utf16() -> None:
    text, entities = parse_html('👍 <i>ok</i> <pre><code class="language-py">x</code></pre>')
    assert text == "👍 ok x"
    assert entities == [
        {"type": "italic", "offset": 3, "length": 2},
        {"type": "pre", "offset": 6, "length": 1, "language": "py"},
    ]
    with pytest.raises(ValueError, match='Unsupported start tag "foo" at byte offset 5'):
        parse_html("👍 <foo>")


async def test_chat_action_and_commands(fake: FakeTelegram, bot: Bot) -> None:
    await bot.send_chat_action(USER, "upload_video")
    assert fake.chat_actions(USER) == ["upload_video"]

    commands = [BotCommand("start", "Start"), BotCommand("help", "Help")]
    scope = BotCommandScopeAllPrivateChats()
    await bot.set_my_commands(commands, scope=scope, language_code="ru")
    assert await bot.get_my_commands() == ()
    got = await bot.get_my_commands(scope=scope, language_code="ru")
    assert [c.command for c in got] == ["start", "help"]
    assert fake.commands(scope.to_dict(), "ru")[1] == {"command": "help", "description": "Help"}
    await bot.delete_my_commands(scope=scope, language_code="ru")
    assert fake.commands(scope.to_dict(), "ru") == []
    with pytest.raises(BadRequest, match=r"(?i)bot_command_invalid"):
        await bot.set_my_commands([BotCommand("Bad-Name", "x")])


async def test_reply_to_bot_message_and_forum_topics(fake: FakeTelegram, bot: Bot) -> None:
    group = -1001234567890
    first = await fake.send_text(
        group, "hi", chat_type="supergroup", chat_title="Team", is_forum=True, message_thread_id=7
    )
    assert first["is_topic_message"] is True and first["message_thread_id"] == 7
    sent = await bot.send_message(group, "answer", message_thread_id=7)
    assert sent.message_thread_id == 7 and sent.is_topic_message
    assert sent.chat.title == "Team" and sent.chat.is_forum

    reply = await fake.send_text(group, "thanks", reply_to_message_id=sent.message_id)
    assert reply["reply_to_message"]["text"] == "answer"
    assert reply["reply_to_message"]["from"]["id"] == BOT_USER_ID
    assert reply["message_thread_id"] == 7
    assert fake.messages(group, message_thread_id=7)[0].text == "answer"
    assert fake.messages(group, message_thread_id=8) == []


async def test_user_media_and_group_defaults(fake: FakeTelegram, bot: Bot) -> None:
    photo = await fake.send_photo(USER, b"jpeg" * 100, caption="see @bob")
    assert photo["photo"][-1]["file_size"] == 400 and len(photo["photo"]) > 1
    assert photo["caption_entities"] == [{"offset": 4, "length": 4, "type": "mention"}]
    doc = await fake.send_document(USER, b"%PDF", file_name="a.pdf", mime_type="application/pdf")
    assert doc["document"]["file_name"] == "a.pdf"
    group = await fake.send_text(-100777, "/help@rtk_compressor_bot")
    assert group["chat"]["type"] == "supergroup" and group["from"]["id"] != -100777
    updates = await bot.get_updates(timeout=0)
    assert updates[0].message is not None and updates[0].message.photo[-1].file_size == 400
    assert updates[2].message is not None and updates[2].message.text == "/help@rtk_compressor_bot"
    assert fake.transcript(USER) == ["user: [photo, 400 B] see @bob", "user: [document a.pdf, 4 B]"]


async def test_chat_members(fake: FakeTelegram, bot: Bot) -> None:
    group = -100555
    fake.user(1, "Owner")
    fake.user(2, "Admin")
    fake.user(3, "Member")
    fake.set_admins(group, [2], creator=1)
    assert (await bot.get_chat_member(group, 1)).status == "creator"
    assert (await bot.get_chat_member(group, 2)).status == "administrator"
    assert (await bot.get_chat_member(group, 3)).status == "member"
    admins = await bot.get_chat_administrators(group)
    assert [a.user.id for a in admins] == [1, 2]


# -- files -------------------------------------------------------------------------------------


async def test_send_video_upload_and_download_roundtrip(fake: FakeTelegram, bot: Bot) -> None:
    content = b"\x00\x00\x00\x18ftypmp42" + b"v" * 5000
    sent = await bot.send_video(
        USER,
        InputFile(content, filename="out.mp4"),
        caption="<b>smaller</b>",
        parse_mode="HTML",
        supports_streaming=True,
        width=640,
        height=360,
        duration=12,
    )
    assert sent.video is not None and sent.video.file_size == len(content)
    assert sent.caption == "smaller"
    call = fake.calls_of("sendVideo")[0]
    assert call.files["video"] == UploadedFile("out.mp4", "video/mp4", len(content))

    [message] = fake.messages(USER)
    assert message.kind == "video"
    assert message.supports_streaming is True
    assert message.file == UploadedFile("out.mp4", "video/mp4", len(content))
    assert message.text == "smaller"

    file = await bot.get_file(sent.video.file_id)
    assert file.file_path is not None and file.file_path.startswith(fake.base_file_url)
    out = io.BytesIO()
    await file.download_to_memory(out)
    assert out.getvalue() == content

    again = await bot.send_video(USER, sent.video.file_id)
    assert again.video is not None and again.video.file_size == len(content)
    assert fake.messages(USER)[1].file == sent.video.file_id


async def test_user_video_get_file_and_limits(fake: FakeTelegram, bot: Bot) -> None:
    small = await fake.send_video(USER, b"abc" * 100, caption="compress")
    file = await bot.get_file(small["video"]["file_id"])
    assert file.file_size == 300
    assert await file.download_as_bytearray() == bytearray(b"abc" * 100)

    big = await fake.send_video(USER, b"", declared_size=300 * 1024 * 1024)
    assert big["video"]["file_size"] == 300 * 1024 * 1024
    with pytest.raises(BadRequest, match=r"(?i)file is too big"):
        await bot.get_file(big["video"]["file_id"])
    with pytest.raises(BadRequest, match=r"(?i)invalid file_id"):
        await bot.get_file("nope")


async def test_upload_limit_is_413() -> None:
    async with FakeTelegram(TOKEN, upload_limit=1000) as fake:
        client = make_bot(fake)
        await client.initialize()
        try:
            with pytest.raises(NetworkError, match="Request Entity Too Large"):
                await client.send_document(USER, b"x" * 1001, filename="big.bin")
            call = fake.calls_of("sendDocument")[0]
            assert call.error_code == 413
            assert fake.messages(USER) == []
            await client.send_document(USER, b"x" * 1000, filename="ok.bin")
        finally:
            await client.shutdown()


async def test_url_media_is_recorded_not_fetched(fake: FakeTelegram, bot: Bot) -> None:
    url = "https://cdn.example.com/render/out.mp4?sig=1"
    sent = await bot.send_video(USER, url, supports_streaming=True)
    assert sent.video is not None
    assert fake.messages(USER)[0].file == url
    with pytest.raises(BadRequest, match=r"(?i)wrong file identifier"):
        await bot.send_document(USER, "not-a-file-id")


async def test_local_mode_get_file_returns_real_absolute_path() -> None:
    async with FakeTelegram(TOKEN, local_mode=True) as fake:
        client = make_bot(fake, local_mode=True)
        await client.initialize()
        try:
            big = await fake.send_video(USER, b"", declared_size=300 * 1024 * 1024)
            file = await client.get_file(big["video"]["file_id"])
            assert disk_file(file.file_path)[:2] == (True, 300 * 1024 * 1024)
            path = Path(str(file.file_path))

            small = await fake.send_document(USER, b"hello", file_name="a.txt")
            file = await client.get_file(small["document"]["file_id"])
            assert disk_file(file.file_path) == (True, 5, b"hello")
            assert await file.download_as_bytearray() == bytearray(b"hello")
        finally:
            await client.shutdown()
    assert disk_file(str(path)) == (False, 0, b"")  # stop() cleans the files up


# -- updates -----------------------------------------------------------------------------------


async def test_get_updates_parses_entities(fake: FakeTelegram, bot: Bot) -> None:
    fake.user(USER, "Alice", username="alice")
    text = "/start@rtk_compressor_bot hi @bob 👍 https://example.com/v.mp4."
    await fake.send_text(USER, text)
    [update] = await bot.get_updates(timeout=0)
    assert update.message is not None
    assert update.message.text == text
    assert update.message.from_user is not None
    assert update.message.from_user.username == "alice"
    types = [e.type for e in update.message.entities]
    assert types == [MessageEntity.BOT_COMMAND, MessageEntity.MENTION, MessageEntity.URL]
    parsed = update.message.parse_entities()
    assert list(parsed.values()) == [
        "/start@rtk_compressor_bot",
        "@bob",
        "https://example.com/v.mp4",
    ]
    assert (
        update.message.entities[2].offset == len("/start@rtk_compressor_bot hi @bob ") + 3
    )  # 👍 is 2 UTF-16 units


async def test_get_updates_long_poll_and_offset(fake: FakeTelegram, bot: Bot) -> None:
    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.1)
    assert not poll.done()
    await fake.send_text(USER, "hello")
    updates = await asyncio.wait_for(poll, 2)
    assert time.monotonic() - started < 1.5
    assert [u.message.text for u in updates if u.message] == ["hello"]

    assert len(await bot.get_updates(timeout=0)) == 1  # not confirmed yet
    assert await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0) == ()
    assert fake.pending_updates() == []

    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == ()
    assert time.monotonic() - started >= 0.9


async def test_allowed_updates_filter(fake: FakeTelegram, bot: Bot) -> None:
    sent = await bot.send_message(
        USER,
        "Pick",
        reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="a")]]),
    )
    await fake.send_text(USER, "text")
    await fake.press_button(USER, sent.message_id, "a")
    updates = await bot.get_updates(timeout=0, allowed_updates=["callback_query"])
    assert [bool(u.callback_query) for u in updates] == [True]


async def test_newer_get_updates_terminates_older(fake: FakeTelegram, bot: Bot) -> None:
    older = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.1)
    other = make_bot(fake)
    await other.initialize()
    try:
        newer = asyncio.create_task(other.get_updates(timeout=5))
        with pytest.raises(Conflict, match="terminated by other getUpdates"):
            await asyncio.wait_for(older, 2)
        await fake.send_text(USER, "x")
        assert len(await asyncio.wait_for(newer, 2)) == 1
    finally:
        await other.shutdown()


async def test_press_button_and_answer(fake: FakeTelegram, bot: Bot) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Compress", callback_data="go")]])
    sent = await bot.send_message(USER, "Ready?", reply_markup=markup)
    update = await fake.press_button(USER, sent.message_id, "go")
    query_id = update["callback_query"]["id"]
    [got] = await bot.get_updates(timeout=0)
    assert got.callback_query is not None
    assert got.callback_query.data == "go"
    assert got.callback_query.message is not None
    assert got.callback_query.message.message_id == sent.message_id
    assert await got.callback_query.answer("ok")
    assert fake.callback_answers[query_id]["text"] == "ok"
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await got.callback_query.answer("again")
    with pytest.raises(AssertionError, match="no button"):
        await fake.press_button(USER, sent.message_id, "nope")


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_retry_after_and_fail_next(fake: FakeTelegram, bot: Bot) -> None:
    fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 3", retry_after=3)
    with pytest.raises(RetryAfter, match=r"Retry in (3 seconds|0:00:03)"):
        await bot.send_message(USER, "hi")
    assert fake.calls[-1].error_code == 429
    await bot.send_message(USER, "hi")  # only the next call fails
    fake.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
    with pytest.raises(Exception, match="blocked"):
        await bot.send_message(USER, "hi")
    assert [m.text for m in fake.messages(USER)] == ["hi"]


# -- observing helpers ---------------------------------------------------------------------------


async def test_wait_for_message_and_transcript(fake: FakeTelegram, bot: Bot) -> None:
    await fake.send_text(USER, "/start")
    await fake.send_video(USER, b"v" * (1024 * 1024 + 300_000), caption="please")

    async def reply_later() -> None:
        await asyncio.sleep(0.05)
        sent = await bot.send_message(USER, "Working…")
        await asyncio.sleep(0.05)
        await bot.edit_message_text("Done!", chat_id=USER, message_id=sent.message_id)
        await bot.send_video(USER, InputFile(b"o" * 2048, filename="small.mp4"), caption="here")

    task = asyncio.create_task(reply_later())
    first = await fake.wait_for_message(USER, contains="Done", timeout=2)
    assert first.edits == ["Working…"]
    video = await fake.wait_for_message(USER, kind="video", after=1, timeout=2)
    assert video.text == "here"
    await task
    assert fake.transcript(USER) == [
        "user: /start",
        "user: [video clip.mp4, 1.3 MB] please",
        "bot: Done! (edited)",
        "bot: [video small.mp4, 2.0 KB] here",
    ]
    with pytest.raises(AssertionError, match="sendMessage"):
        await fake.wait_for_message(USER, contains="never", timeout=0.1)


async def test_stop_is_prompt_during_long_poll() -> None:
    fake = FakeTelegram(TOKEN)
    await fake.start()
    client = make_bot(fake)
    await client.initialize()
    poll = asyncio.create_task(client.get_updates(timeout=30, read_timeout=40))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    await fake.stop()
    assert time.monotonic() - started < 1.5
    assert await asyncio.wait_for(poll, 1) == ()
    await client.shutdown()


async def test_real_application_polls_the_fake(fake: FakeTelegram) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(f"Hi {context.args}")

    app: Application[Any, Any, Any, Any, Any, Any] = (
        ApplicationBuilder()
        .token(fake.token)
        .base_url(fake.base_url)
        .base_file_url(fake.base_file_url)
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        await fake.send_text(USER, "/start now")
        message = await fake.wait_for_message(USER, contains="Hi", timeout=5)
        assert message.text == "Hi ['now']"
        await app.updater.stop()
        await app.stop()


# -- injected faults (the soak) ------------------------------------------------------------


async def test_no_faults_unless_injected(fake: FakeTelegram, bot: Bot) -> None:
    for _ in range(50):
        await bot.send_message(1, "x")
    assert not fake.faults_injected and all(c.ok for c in fake.calls)


async def test_injected_faults_are_seeded_counted_and_real_shaped(
    fake: FakeTelegram, bot: Bot
) -> None:
    fake.inject_faults(0.5, seed=7, blocked_chats=[-100, 5])
    seen: set[str] = set()
    for _ in range(60):
        try:
            await bot.send_message(1, "x")
        except RetryAfter as exc:
            assert exc.retry_after in (1, timedelta(seconds=1))
            seen.add("429")
        except NetworkError as exc:
            seen.add("html" if "<html>" in str(exc) or "Invalid server" in str(exc) else "5xx")
    assert seen == {"429", "5xx", "html"}
    assert sum(fake.faults_injected.values()) == sum(1 for c in fake.calls if not c.ok) > 10
    with pytest.raises(Forbidden, match="blocked by the user"):
        await bot.send_message(5, "x")
    with pytest.raises(Forbidden, match="kicked"):
        await bot.send_message(-100, "x")
    assert fake.faults_injected["403"] == 2
    await bot.get_me()  # startup methods never fail
    fake.inject_faults(0)
    await bot.send_message(1, "after")
