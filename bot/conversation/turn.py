"""One agent turn: relay the instruction over SSE, keep the person informed, then reply.

After the stream the session state is read: it tells whether the draft changed (the answer
may be empty, or the stream may have broken after the edit was applied) and whether the
result can be exported.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from bot import metrics
from bot.backend.errors import AgentError, BackendError, Unavailable, stream_error
from bot.backend.events import AnswerBuilder, End, StreamError, TextChunk, ToolActivity
from bot.conversation import callbacks, local_messages, messages, rich, status
from bot.conversation.accounts import Identity
from bot.conversation.chat import Button
from bot.conversation.context import Ctx
from bot.conversation.errors import report_error
from bot.conversation.export import export, tip_if_long
from bot.conversation.gui import asks_to_export, read_gui
from bot.conversation.intent import holds_export
from bot.conversation.outbox import unrecorded
from bot.conversation.progress import progress
from bot.conversation.text import split_text
from bot.conversation.timeline import exportable, fingerprint, summarize
from bot.i18n import Translator, backend_language

log = logging.getLogger(__name__)



@dataclass(frozen=True, slots=True)
class DraftCheck:
    draft: dict[str, Any] | None
    changed: bool
    uploads: int = 0


@dataclass(slots=True)
class Seen:
    tools: bool = False  # the agent ran a tool: the draft may have changed


async def stream_answer(ctx: Ctx, instruction: str, seen: Seen | None = None) -> str:
    """The agent's final text for ``instruction`` ('' when it sent none); ``seen`` notes
    whether a tool ran, even when the stream then fails."""
    svc = ctx.svc

    async def stream(ident: Identity) -> str:
        answer = AnswerBuilder()
        async with svc.client.run(ident.token, ident.session_id, instruction) as events:
            async for event in events:
                if isinstance(event, TextChunk):
                    answer.add(event)
                elif isinstance(event, ToolActivity):
                    if seen is not None:
                        seen.tools = True
                    log.debug("chat %s: agent %s %s", ctx.chat.chat_id, event.kind, event.name)
                elif isinstance(event, StreamError):
                    # 1001/1002 raised here are recovered by accounts.call like HTTP ones.
                    raise stream_error(event.message, event.backend_code)
                elif isinstance(event, End):
                    break
        return answer.text

    return await svc.accounts.call(
        ctx.chat.chat_id, ctx.chat.thread_id, ctx.language, stream,
        on_session_lost=ctx.tell_session_lost,
    )


async def check_draft(ctx: Ctx) -> DraftCheck | None:
    """Read the session state and store its draft's fingerprint (a write) so the next check
    can tell a change; ``None`` if the state can't be read."""
    svc, chat = ctx.svc, ctx.chat
    try:
        state = await svc.accounts.state(chat.chat_id, chat.thread_id, ctx.language)
    except BackendError:
        log.warning("chat %s: state check failed", chat.chat_id, exc_info=True)
        return None
    draft = state.state.draft
    topic = await svc.store.get_topic(chat.chat_id, chat.thread_id)
    new = fingerprint(draft)
    changed = new is not None and new != (topic.draft_hash if topic else None)
    if topic is None or new != topic.draft_hash:
        await svc.store.set_draft_hash(chat.chat_id, chat.thread_id, new)
    return DraftCheck(draft=draft, changed=changed, uploads=len(state.state.video_infos))


# Said to the agent (not to the person) once, when the chat's language changed after its
# session was created: the session's own language is fixed at creation.
ANSWER_IN = {
    "en": "(Please answer in English from now on.)",
    "zh_Hans": "（从现在起请用简体中文回答。）",
    "zh_Hant": "（從現在起請用繁體中文回答。）",
}


def _spoken(language: str) -> str:
    """The chat locale an agent session speaks: a session created in ``zh`` answers in
    Simplified Chinese; after a note, the locale it was asked for is stored."""
    return {"zh": "zh_Hans"}.get(language, language)


async def align_language(ctx: Ctx) -> str | None:
    """The agent must speak the chat's language: after /language an empty project gets a new
    session in it; otherwise (and for Traditional Chinese, which the backend's ``zh`` sessions
    do not speak by themselves) the note to prefix this turn with (``None`` when none is due)."""
    svc, chat = ctx.svc, ctx.chat
    topic = await svc.store.get_topic(chat.chat_id, chat.thread_id)
    if not topic or not topic.session_id or topic.session_language is None:
        return None
    spoken = _spoken(topic.session_language)
    if spoken == ctx.t.locale:
        return None
    if backend_language(spoken) == ctx.language:
        return ANSWER_IN.get(ctx.t.locale, ANSWER_IN["en"])  # same session language, other script
    try:
        state = await svc.accounts.state(chat.chat_id, chat.thread_id, ctx.language)
        if not exportable(state.state.draft) and not state.state.video_infos:
            await svc.accounts.new_session(chat.chat_id, chat.thread_id, ctx.language)
            if _spoken(ctx.language) == ctx.t.locale:
                return None
    except BackendError:
        log.warning("chat %s: state check before a language switch failed", chat.chat_id,
                    exc_info=True)
    return ANSWER_IN.get(ctx.t.locale, ANSWER_IN["en"])


def _state_block(t: Translator, check: DraftCheck | None) -> str:
    """What "open the … panel" would have shown: the project, in the same reply."""
    draft = check.draft if check else None
    if summary := summarize(draft, t):
        return messages.timeline(t, summary)
    if check and check.uploads:
        return messages.uploads_only(t, check.uploads)
    return messages.empty_project(t)


async def run_turn(
    ctx: Ctx,
    instruction: str,
    *,
    export_when_done: bool = False,
    reuse: int | None = None,
    follow_up: bool = True,
) -> None:
    """Relay ``instruction`` and answer. ``export_when_done``: the person asked for the video
    (a preset); ``reuse``: a message ("Setting up…") the first answer replaces;
    ``follow_up``: whether the agent's "drag …" may be sent back to it as one more turn."""
    t, chat, svc = ctx.t, ctx.chat, ctx.svc
    error: BackendError | None = None
    text = ""
    started = time.monotonic()
    seen = Seen()
    live = status.current(ctx)
    # The job's live status counts the agent's time; without one, "still working" appears.
    still = None if live is not None else (lambda elapsed: messages.still_working(t, elapsed))
    ticking = contextlib.nullcontext() if live is None else live.ticking(
        local_messages.starting(t), lambda elapsed: local_messages.working(t, elapsed))
    async with progress(ctx, still), ticking:
        try:
            note = await align_language(ctx)
            text = await stream_answer(
                ctx, f"{note}\n{instruction}" if note else instruction, seen
            )
            if note:
                await svc.store.set_session_language(chat.chat_id, chat.thread_id,
                                                     ctx.t.locale)
        except BackendError as exc:
            error = exc
        except asyncio.CancelledError:
            # ❌ or /cancel before the answer: no "Setting up…" left hanging for good.
            if reuse is not None and ctx.job is not None and (
                    await svc.store.cancelled_among([ctx.job.id])):
                with contextlib.suppress(Exception):
                    await chat.delete(reuse)
            raise
        metrics.TURN_SECONDS.observe(time.monotonic() - started)
        metrics.TURNS.labels("error" if error else "ok").inc()
        # Words without a tool call cannot have changed the draft: no state read, unless
        # the answer or the person asks for the video (or the answer shows the project).
        words_only = (error is None and bool(text) and not seen.tools
                      and not export_when_done and not asks_to_export(text))
        check = None if words_only else await check_draft(ctx)
    draft = check.draft if check else None
    changed = bool(check and check.changed)

    if error is not None:
        if reuse is not None:
            await chat.delete(reuse)
        await report_error(ctx, error)
        if changed and (summary := summarize(draft, t)):
            await chat.send(messages.applied_anyway(t, summary))
        if isinstance(error, Unavailable | AgentError) and draft is not None:
            await tip_if_long(ctx, draft)  # a long video that failed or timed out
        return

    can_export = exportable(draft) and not holds_export(instruction)
    asked = asks_to_export(text)
    # AUTO_EXPORT=0 is the operator's word: the agent's "click Export" only offers the button.
    wants_export = can_export and (
        export_when_done or (svc.auto_export and (asked or changed))
    )
    offer = exportable(draft) and not wants_export and (changed or asked)
    gui = read_gui(text, t, exporting=wants_export, button=offer, act=follow_up)
    if words_only and gui.show_state:
        check = await check_draft(ctx)
    export_after_move = wants_export
    if gui.moves:
        wants_export = offer = False  # the follow-up turn decides once the move is made
    if text:
        tail = rich.escaped(_state_block(t, check)) if gui.show_state else None
        chunks = rich.split_rich(gui.text, tail)
    elif changed and (summary := summarize(draft, t)):
        chunks = [rich.escaped(c) for c in split_text(messages.done_with_summary(t, summary))]
    else:
        chunks = [rich.escaped(c) for c in split_text(messages.no_answer(t))]
    # A turn never runs twice (its job is marked turn_sent first), so its answer needs no
    # records against a restart (bot/conversation/outbox.py).
    with unrecorded():
        for index, chunk in enumerate(chunks):
            last = index == len(chunks) - 1
            buttons = [[Button(messages.export_button(t), data=callbacks.EXPORT)]] if (
                last and offer
            ) else None
            if index == 0 and reuse is not None:
                await chat.edit(reuse, chunk.plain, html=chunk.html, buttons=buttons)
            else:
                await chat.send(chunk.plain, html=chunk.html, buttons=buttons)
    if gui.moves:
        await run_turn(
            ctx, " ".join(gui.moves),
            export_when_done=export_after_move,
            follow_up=False,
        )
    elif wants_export:
        await export(ctx, draft)
