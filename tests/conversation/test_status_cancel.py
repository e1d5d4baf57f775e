"""A cancellation that lands while a status message's tasks are being stopped reaches the
job (issue 23 item 10a): it used to be swallowed, and the cancelled job ran on."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from bot.conversation.context import Ctx
from bot.conversation.progress import _Status


async def test_a_cancel_during_stop_is_not_swallowed() -> None:
    # No real boundary makes a progress task slow to wind down (an HTTP call closing its
    # connection does it for a moment), so the task here takes a while to end once cancelled.
    status = _Status(cast(Ctx, cast(Any, object())))
    winding_down = asyncio.Event()

    async def slow_to_end() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            winding_down.set()
            await asyncio.sleep(0.5)

    status._tasks.append(asyncio.create_task(slow_to_end()))
    await asyncio.sleep(0)
    ran_on = False

    async def job() -> None:
        nonlocal ran_on
        await status.stop()
        ran_on = True  # the rest of a job that was cancelled

    task = asyncio.create_task(job())
    await winding_down.wait()
    task.cancel()  # /cancel, while stop() waits for its task
    done, _ = await asyncio.wait([task], timeout=5)
    assert done and task.cancelled()
    assert not ran_on
