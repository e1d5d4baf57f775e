"""Groups share the bot without it talking over people; forum topics are separate projects."""

from __future__ import annotations

from bot.sandbox.harness import Harness

GROUP = -100500
FORUM = -100600
ADMIN = 3001
MEMBER = 3002


async def group_text(h: Harness, text: str, user: int = MEMBER, **kwargs: object) -> None:
    await h.tg.send_text(GROUP, text, user=h.tg.user(user), chat_type="supergroup",
                         chat_title="Video club", **kwargs)  # type: ignore[arg-type]


async def test_unaddressed_group_chatter_is_ignored(h: Harness) -> None:
    await group_text(h, "anyone seen my charger?")
    await h.tg.send_video(GROUP, b"\x00" * 1000, user=h.tg.user(MEMBER), chat_type="supergroup")
    await h.tg.send_sticker(GROUP, user=h.tg.user(MEMBER), chat_type="supergroup")
    await group_text(h, "/start@some_other_bot")
    await h.idle()
    assert h.backend.requests == []
    assert h.tg.messages(GROUP) == []


async def test_mention_reply_and_captioned_media_are_answered(h: Harness) -> None:
    await group_text(h, "@rtk_compressor_bot what can you do?")
    first = await h.tg.wait_for_message(GROUP, contains="what can you do?")
    assert h.backend.sessions and next(iter(h.backend.sessions.values())).messages == [
        "what can you do?"
    ]
    before = len(h.tg.messages(GROUP))
    await group_text(h, "and faster?", reply_to_message_id=first.message_id)
    await h.tg.wait_for_message(GROUP, after=before, contains="and faster?")
    await h.tg.send_video(GROUP, b"\x00" * 1000, user=h.tg.user(ADMIN), chat_type="supergroup",
                          caption="@rtk_compressor_bot compress this")
    await h.tg.wait_for_message(GROUP, kind="video", timeout=15)
    # one token and one session for the whole group
    assert len(h.backend.requests_to("anonymous_token")) == 1
    assert len(h.backend.requests_to("create_session")) == 1
    assert h.backend.requests_to("run_sse")[-1].json["new_message"]["parts"][0]["text"] == (
        "compress this"
    )


async def test_admin_only_commands(h: Harness) -> None:
    h.tg.set_admins(GROUP, [ADMIN])
    await group_text(h, "/new", user=MEMBER)
    refusal = await h.tg.wait_for_message(GROUP)
    assert "Only group admins" in (refusal.text or "")
    for command in ("/cancel", "/language"):
        before = len(h.tg.messages(GROUP))
        await group_text(h, command, user=MEMBER)
        reply = await h.tg.wait_for_message(GROUP, after=before)
        assert "Only group admins" in (reply.text or "")
    before = len(h.tg.messages(GROUP))
    await group_text(h, "/new", user=ADMIN)
    ask = await h.tg.wait_for_message(GROUP, after=before)
    assert "fresh project?" in (ask.text or "")
    # a member cannot press the admin's confirmation either
    before = len(h.tg.messages(GROUP))
    await h.tg.press_button(GROUP, ask.message_id, "new:yes", user=MEMBER)
    await h.tg.wait_for_message(GROUP, after=before, contains="Only group admins")
    assert h.backend.requests_to("create_session") == []


async def test_forum_topics_have_their_own_sessions_and_replies_stay_in_topic(
    h: Harness,
) -> None:
    h.backend.frame_delay = 0.15  # turns longer than the typing delay, so "typing" is sent
    for topic in (11, 22):
        await h.tg.send_text(
            FORUM, f"@rtk_compressor_bot hello from topic {topic}", user=h.tg.user(MEMBER),
            chat_type="supergroup", is_forum=True, message_thread_id=topic,
        )
    await h.tg.wait_for_message(FORUM, contains="topic 11", message_thread_id=11)
    await h.tg.wait_for_message(FORUM, contains="topic 22", message_thread_id=22)
    await h.idle()
    assert len(h.backend.requests_to("anonymous_token")) == 1
    assert len(h.backend.requests_to("create_session")) == 2
    sessions = {s.messages[0]: s.session_id for s in h.backend.sessions.values()}
    assert len(set(sessions.values())) == 2
    for message in h.tg.messages(FORUM):
        assert message.message_thread_id in (11, 22)
    actions = [c for c in h.tg.calls_of("sendChatAction") if c.chat_id == FORUM]
    assert actions and all(c.params.get("message_thread_id") in (11, 22) for c in actions)


async def test_group_album_addressed_by_its_caption_is_one_upload(h: Harness) -> None:
    for index in range(3):
        await h.tg.send_video(
            GROUP, b"\x00" * 1000, file_name=f"part{index}.mp4", media_group_id="alb",
            caption="@rtk_compressor_bot compress these" if index == 0 else None,
            user=h.tg.user(MEMBER), chat_type="supergroup",
        )
    await h.tg.wait_for_message(GROUP, kind="video", timeout=15)
    await h.idle()
    uploads = h.backend.requests_to("upload")
    assert len(uploads) == 1 and len(uploads[0].files) == 3
    assert len(h.backend.requests_to("run_sse")) == 1


async def test_group_answers_quote_the_question(h: Harness) -> None:
    asked = await h.tg.send_text(GROUP, "@rtk_compressor_bot hi", user=h.tg.user(MEMBER),
                                 chat_type="supergroup")
    answer = await h.tg.wait_for_message(GROUP)
    assert answer.params["reply_parameters"]["message_id"] == asked["message_id"]
    # private chats stay uncluttered
    await h.tg.send_text(ADMIN, "hi")
    private = await h.tg.wait_for_message(ADMIN)
    assert "reply_parameters" not in private.params
