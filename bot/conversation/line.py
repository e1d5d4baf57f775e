"""A chat's line: one notice listing what waits behind the running request, each with its
place ("#1 “step 1”"), edited as the line moves and removed when it is empty.

One notice per chat rather than one per message: a burst of twelve messages gets one line,
not eleven notices. Its message id is stored with the chat's topic, so the line keeps moving
after a restart (and with replicas, whichever holds the chat moves it).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from bot.conversation import local_messages as lm
from bot.conversation.chat import Chat
from bot.i18n import Translator
from bot.store import ChatStore, Job

log = logging.getLogger(__name__)

LABEL_CHARS = 40


def label(t: Translator, job: Job) -> str:
    """How a waiting request is named in the line: its words, else what it is."""
    words = str(job.payload.get("text") or job.payload.get("caption") or "").strip()
    if words and not job.payload.get("preset"):
        short = words if len(words) <= LABEL_CHARS else words[: LABEL_CHARS - 1] + "…"
        return f"“{short}”"
    return lm.your_video(t) if job.kind == "media" else lm.your_request(t)


class Line:
    def __init__(
        self, store: ChatStore, chat_for: Callable[[int, int], Chat],
        translator_for: Callable[[int, str | None], Awaitable[Translator]],
    ) -> None:
        self.store = store
        self.chat_for = chat_for
        self.translator_for = translator_for

    async def joined(self, chat: Chat, t: Translator) -> None:
        """A request was queued behind running work: show (or update) the chat's line."""
        key = (chat.chat_id, chat.thread_id)
        waiting = await self.store.waiting_jobs(*key)
        if not waiting:
            return
        text = lm.line(t, [label(t, job) for job in waiting])
        topic = await self.store.get_topic(*key)
        if topic is not None and topic.line_message_id is not None:
            await self._edit(chat, topic.line_message_id, text)
            return
        await self.store.set_line(*key, await chat.send(text))

    async def moved(self, chat_id: int, thread_id: int, starting: Job) -> None:
        """``starting`` leaves the line: the others move up, or the notice goes."""
        topic = await self.store.get_topic(chat_id, thread_id)
        if topic is None or topic.line_message_id is None:
            return
        chat = self.chat_for(chat_id, thread_id)
        waiting = [job for job in await self.store.waiting_jobs(chat_id, thread_id)
                   if job.id != starting.id]
        if not waiting:
            await self.store.set_line(chat_id, thread_id, None)
            try:
                await chat.delete(topic.line_message_id)
            except Exception:
                log.info("chat %s: line not removed", chat_id, exc_info=True)
            return
        user_language = waiting[0].payload.get("user_language")
        t = await self.translator_for(chat_id, user_language if isinstance(user_language, str)
                                      else None)
        await self._edit(chat, topic.line_message_id, lm.line(t, [label(t, j) for j in waiting]))

    async def _edit(self, chat: Chat, message_id: int, text: str) -> None:
        try:
            await chat.edit(message_id, text)
        except Exception:  # a lost edit (or "not modified") is no reason to stop the work
            log.info("chat %s: line not edited", chat.chat_id, exc_info=True)
