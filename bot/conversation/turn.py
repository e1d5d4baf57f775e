"""One agent turn: relay the instruction over SSE, keep the person informed, then reply.

After the stream the session state is read: it tells whether the draft changed (the answer
may be empty, or the stream may have broken after the edit was applied) and whether the
result can be exported.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from bot import metrics
from bot.backend.errors import AgentError, BackendError
from bot.backend.events import AnswerBuilder, End, StreamError, TextChunk, ToolActivity
from bot.conversation import messages
from bot.conversation.accounts import Identity
from bot.conversation.chat import Button
from bot.conversation.context import Ctx
from bot.conversation.errors import report_error
from bot.conversation.export import export
from bot.conversation.gui import asks_to_export, translate_gui
from bot.conversation.intent import holds_export
from bot.conversation.progress import progress
from bot.conversation.text import split_text
from bot.conversation.timeline import exportable, fingerprint, summarize

log = logging.getLogger(__name__)

EXPORT_BUTTON = "export"


@dataclass(frozen=True, slots=True)
class DraftCheck:
    draft: dict[str, Any] | None
    changed: bool


async def stream_answer(ctx: Ctx, instruction: str) -> str:
    """The agent's final text for ``instruction`` ('' when it sent none)."""
    svc = ctx.svc

    async def session_lost() -> None:
        await ctx.chat.send(messages.session_lost(ctx.t))

    async def stream(ident: Identity) -> str:
        answer = AnswerBuilder()
        async with svc.client.run(ident.token, ident.session_id, instruction) as events:
            async for event in events:
                if isinstance(event, TextChunk):
                    answer.add(event)
                elif isinstance(event, ToolActivity):
                    log.debug("chat %s: agent %s %s", ctx.chat.chat_id, event.kind, event.name)
                elif isinstance(event, StreamError):
                    raise AgentError(event.message)
                elif isinstance(event, End):
                    break
        return answer.text

    return await svc.accounts.call(
        ctx.chat.chat_id, ctx.chat.thread_id, ctx.language, stream, on_session_lost=session_lost
    )


async def check_draft(ctx: Ctx) -> DraftCheck | None:
    """Read the session state and remember its fingerprint; ``None`` if it can't be read."""
    svc, chat = ctx.svc, ctx.chat
    try:
        state = await svc.accounts.call(
            chat.chat_id, chat.thread_id, ctx.language,
            lambda ident: svc.client.state(ident.token, ident.session_id),
        )
    except BackendError:
        log.warning("chat %s: state check failed", chat.chat_id, exc_info=True)
        return None
    draft = state.state.draft
    topic = await svc.store.get_topic(chat.chat_id, chat.thread_id)
    new = fingerprint(draft)
    changed = new is not None and new != (topic.draft_hash if topic else None)
    if topic is None or new != topic.draft_hash:
        await svc.store.set_draft_hash(chat.chat_id, chat.thread_id, new)
    return DraftCheck(draft=draft, changed=changed)


async def run_turn(ctx: Ctx, instruction: str) -> None:
    t, chat = ctx.t, ctx.chat
    error: BackendError | None = None
    text = ""
    started = time.monotonic()
    async with progress(ctx, lambda elapsed: messages.still_working(t, elapsed)):
        try:
            text = await stream_answer(ctx, instruction)
        except BackendError as exc:
            error = exc
        metrics.TURN_SECONDS.observe(time.monotonic() - started)
        metrics.TURNS.labels("error" if error else "ok").inc()
        check = await check_draft(ctx)
    draft = check.draft if check else None
    changed = bool(check and check.changed)

    if error is not None:
        await report_error(ctx, error)
        if changed and (summary := summarize(draft, t)):
            await chat.send(messages.applied_anyway(t, summary))
        return

    can_export = exportable(draft)
    wants_export = (
        can_export
        and not holds_export(instruction)
        and (asks_to_export(text) or (ctx.svc.timing.auto_export and changed))
    )
    if text:
        reply = translate_gui(text, t, exporting=wants_export)
    elif changed and (summary := summarize(draft, t)):
        reply = messages.done_with_summary(t, summary)
    else:
        reply = messages.no_answer(t)
    chunks = split_text(reply)
    offer = can_export and not wants_export and changed
    for index, chunk in enumerate(chunks):
        last = index == len(chunks) - 1
        buttons = [[Button(messages.export_button(t), data=EXPORT_BUTTON)]] if (
            last and offer
        ) else None
        await chat.send(chunk, buttons=buttons)
    if wants_export:
        await export(ctx, draft)
