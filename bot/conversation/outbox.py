"""A job's messages, each sent once across restarts, or replaced by a notice when unsure.

A job that was running when the bot stopped runs again from its start on the next one,
skipping the steps it recorded (an upload, an instruction sent to the agent). Its messages
need the same care, and Telegram has no idempotency key: the bot cannot ask whether a message
arrived. So each message a job sends is recorded twice in the store (``sends``): just before
its request goes to Telegram (in the request layer, after any rate-limit wait:
:func:`about_to_send`) and once Telegram confirmed it. When the job runs again:

- a message confirmed before is not sent again (its id is reused: the "Setting up…" that the
  answer replaces, the "Rendering…" status that is edited);
- a message whose request never went out is sent (it cannot have arrived);
- a message whose request went out unconfirmed (the stop fell between Telegram taking it and
  the record) may or may not be in the chat. Sending it again risks a duplicate, not sending
  it risks a silent gap. Progress ("Setting up…", "Rendering…") is not sent again: at most
  once. A finished video is not sent again either (a second copy of a large file); a notice
  says it may be missing above, with its download link as a button. Any other message is
  replaced by one notice that the answer may be missing above and /status shows the project.
  Never the same message twice, never a request left without a word.

A turn's answer needs none of this: a turn is never re-run once its instruction was sent
(``turn_sent``), so its chunks skip the records (:func:`unrecorded`).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bot.conversation import messages
from bot.conversation.chat import Button, Chat, Keyboard, Sent
from bot.i18n import Translator
from bot.store import ChatStore, SendRecord
from bot.streams import ByteSource

Hook = Callable[[], Awaitable[None]]

_hook: ContextVar[Hook | None] = ContextVar("outbox_hook", default=None)
_name: ContextVar[str | None] = ContextVar("outbox_name", default=None)
_unrecorded: ContextVar[bool] = ContextVar("outbox_unrecorded", default=False)


async def about_to_send(endpoint: str) -> None:
    """Called by the Bot API request layer before each request: the first request that posts
    a message in an :class:`OutboxChat` send records that the message is on its way."""
    hook = _hook.get()
    if hook is not None and endpoint.startswith("send") and endpoint != "sendChatAction":
        await hook()


@contextlib.contextmanager
def named(step: str) -> Iterator[None]:
    """The message sent inside is recorded as ``step`` instead of by its text (for a text
    that can differ when the job runs again, e.g. a one-time hint in it)."""
    token = _name.set(step)
    try:
        yield
    finally:
        _name.reset(token)


@contextlib.contextmanager
def unrecorded() -> Iterator[None]:
    """Messages sent inside are not recorded (a turn's answer: a turn never runs twice)."""
    token = _unrecorded.set(True)
    try:
        yield
    finally:
        _unrecorded.reset(token)


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:16]


@dataclass(slots=True)
class _Once:
    """Records a message as on its way the first time its request goes out; so does the
    step it is part of (``outer``: a delivery that ends up as a link message)."""

    store: ChatStore
    owner: str
    step: str
    outer: Hook | None = None
    fired: bool = False

    async def __call__(self) -> None:
        if self.outer is not None:
            await self.outer()
        if not self.fired:
            self.fired = True
            await self.store.begin_send(self.owner, self.step)


class OutboxChat:
    """A job's chat: its messages go through the job's records (see the module doc)."""

    def __init__(self, chat: Chat, store: ChatStore, owner: str, t: Translator, *,
                 again: bool) -> None:
        """``again``: this job (update) may have run before a restart, so its records are
        read (once, at the first message: most updates only queue a job and send nothing)."""
        self._chat = chat
        self._store = store
        self._owner = owner
        self._records: dict[str, SendRecord] | None = None if again else {}
        self._t = t
        self._texts: Counter[str] = Counter()

    @property
    def chat_id(self) -> int:
        return self._chat.chat_id

    @property
    def thread_id(self) -> int:
        return self._chat.thread_id

    def _step(self, text: str) -> str:
        name = _name.get()
        if name is not None:
            return name
        digest = _digest(text)
        self._texts[digest] += 1
        return f"text:{digest}:{self._texts[digest]}"

    async def records(self) -> dict[str, SendRecord]:
        if self._records is None:
            self._records = await self._store.sends(self._owner)
        return self._records

    async def before(self, step: str) -> SendRecord | None:
        """What the job's earlier run recorded for ``step``."""
        return (await self.records()).get(step)

    @contextlib.asynccontextmanager
    async def recording(self, step: str) -> AsyncIterator[Callable[[int | None], None]]:
        """Records ``step`` as on its way at its first message request and, when the block
        ends normally, as confirmed (with the id passed to the callback it yields)."""
        hook = _Once(self._store, self._owner, step, _hook.get())
        token = _hook.set(hook)
        confirmed: list[int | None] = []
        try:
            yield confirmed.append
        finally:
            _hook.reset(token)
        message_id = confirmed[-1] if confirmed else None
        await self._store.end_send(self._owner, step, message_id)
        (await self.records())[step] = SendRecord(True, message_id)

    async def _recorded(self, step: str, send: Callable[[], Awaitable[int]]) -> int:
        async with self.recording(step) as confirm:
            message_id = await send()
            confirm(message_id)
        return message_id

    async def send(
        self, text: str, *, buttons: Keyboard | None = None, html: str | None = None
    ) -> int:
        if _unrecorded.get():
            return await self._chat.send(text, buttons=buttons, html=html)
        step = self._step(text)
        before = await self.before(step)
        if before is not None and before.sent and before.message_id is not None:
            return before.message_id
        if before is not None and not before.sent:
            return await self._maybe_missing(step)
        return await self._recorded(
            step, lambda: self._chat.send(text, buttons=buttons, html=html)
        )

    async def _maybe_missing(self, step: str) -> int:
        """The one notice in place of a message that may or may not have arrived."""
        notice = f"unsure:{step}"
        before = await self.before(notice)
        if before is not None and before.sent and before.message_id is not None:
            return before.message_id
        return await self._recorded(
            notice, lambda: self._chat.send(messages.maybe_missing(self._t))
        )

    async def send_progress(self, step: str, text: str,
                            buttons: Keyboard | None = None) -> int | None:
        """A progress message, at most once: ``None`` when an earlier run may have sent it."""
        before = await self.before(step)
        if before is not None:
            return before.message_id if before.sent else None
        return await self._recorded(step, lambda: self._chat.send(text, buttons=buttons))

    async def edit(self, message_id: int, text: str, *, buttons: Keyboard | None = None,
                   html: str | None = None) -> None:
        await self._chat.edit(message_id, text, buttons=buttons, html=html)

    async def delete(self, message_id: int) -> None:
        await self._chat.delete(message_id)

    async def action(self, action: str = "typing") -> None:
        await self._chat.action(action)

    async def send_video(self, source: Path | str, *, caption: str | None = None,
                         filename: str = "video.mp4", as_document: bool = False,
                         buttons: Keyboard | None = None) -> Sent:
        return await self._chat.send_video(source, caption=caption, filename=filename,
                                           as_document=as_document, buttons=buttons)

    async def open_file(self, file_id: str) -> ByteSource:
        return await self._chat.open_file(file_id)

    async def is_admin(self, user_id: int) -> bool:
        return await self._chat.is_admin(user_id)


# -- what flows call (any Chat: outside a job these just send) ---------------------------

DELIVERY = "delivery"

Delivery = Literal["new", "sent", "unsure"]


async def send_progress(chat: Chat, step: str, text: str,
                        buttons: Keyboard | None = None) -> int | None:
    """Send a progress message at most once per job (``None``: maybe sent before)."""
    if isinstance(chat, OutboxChat):
        return await chat.send_progress(step, text, buttons)
    return await chat.send(text, buttons=buttons)


async def progress_before(chat: Chat, step: str) -> int | None:
    """The progress message an earlier run of this job confirmed, if any."""
    record = await chat.before(step) if isinstance(chat, OutboxChat) else None
    return record.message_id if record is not None and record.sent else None


async def delivery_before(chat: Chat) -> Delivery:
    """Whether an earlier run of this job delivered its video (``unsure``: a request went
    out and the stop came before Telegram's answer was recorded)."""
    record = await chat.before(DELIVERY) if isinstance(chat, OutboxChat) else None
    if record is None:
        return "new"
    return "sent" if record.sent else "unsure"


@contextlib.asynccontextmanager
async def delivering(chat: Chat) -> AsyncIterator[Callable[[int | None], None]]:
    """The job's video delivery, recorded as one step whatever form it takes (video,
    document, link): on its way at its first message request, done when the block ends."""
    if isinstance(chat, OutboxChat):
        async with chat.recording(DELIVERY) as confirm:
            yield confirm
    else:
        yield lambda _message_id: None


async def maybe_missing_video(chat: Chat, t: Translator, url: str) -> None:
    """In place of a video that may or may not have arrived before a restart."""
    await chat.send(messages.video_maybe_missing(t),
                    buttons=[[Button(t._("⬇️ Download the video"), url=url)]])
