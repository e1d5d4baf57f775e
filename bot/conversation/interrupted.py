"""A job that was running when the bot stopped: what it may do again and what it must not."""

from __future__ import annotations

from bot.conversation import messages
from bot.conversation.context import Ctx
from bot.conversation.export import resume
from bot.conversation.outbox import delivery_before
from bot.conversation.timeline import summarize
from bot.conversation.turn import check_draft
from bot.store import Job


async def interrupted(ctx: Ctx, job: Job) -> bool:
    """The one guard for a job that was running when the bot stopped; ``True`` when it is
    dealt with here. A render in flight is polled again; an instruction that already reached
    the agent is never re-sent (the edit could apply twice): the person is told and the
    project's state is checked. Anything else (an upload not finished, a turn not yet sent)
    runs on; a completed upload is not repeated (the job carries its result)."""
    topic = await ctx.svc.store.get_topic(ctx.chat.chat_id, ctx.chat.thread_id)
    if topic and topic.render_id:
        await resume(ctx)
        return True
    if await delivery_before(ctx.chat) == "sent":
        return True  # the turn's video was delivered: the job had only to be marked done
    if not job.turn_sent:
        return False
    instruction = str(job.payload.get("text") or job.payload.get("caption") or "")
    await ctx.chat.send(messages.interrupted(ctx.t, instruction))
    check = await check_draft(ctx)
    if check and check.changed and (summary := summarize(check.draft, ctx.t)):
        await ctx.chat.send(messages.applied_anyway(ctx.t, summary))
    return True
