"""Bot API methods of the fake about the bot and its updates: getMe, webhooks, getUpdates."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import time

from aiohttp import ClientError, ClientSession, ClientTimeout

from bot.sandbox.telegram.api_types import (
    _OPT_IN_UPDATES,
    ERR_CONFLICT,
    JSONDict,
    _ApiError,
    _bool_param,
    _int_param,
    _Request,
)
from bot.sandbox.telegram.state import TelegramState


class UpdateMethods(TelegramState):
    """getMe, setWebhook/deleteWebhook/getWebhookInfo (with delivery), getUpdates."""

    async def _m_ok(self, req: _Request) -> bool:
        return True

    async def _m_get_me(self, req: _Request) -> JSONDict:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _m_set_webhook(self, req: _Request) -> bool:
        self.webhook_url = str(req.params.get("url") or "")
        if _bool_param(req.params, "drop_pending_updates"):
            self._updates.clear()
        self._webhook_configure(req.params)
        return True

    async def _m_delete_webhook(self, req: _Request) -> bool:
        self.webhook_url = ""
        if _bool_param(req.params, "drop_pending_updates"):
            self._updates.clear()
        await self._webhook_stop()
        return True

    async def _m_get_webhook_info(self, req: _Request) -> JSONDict:
        info: JSONDict = {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
            "max_connections": self.webhook_max_connections,
        }
        return self._webhook_info(info)

    # ---- webhook delivery (like Telegram: POST each update until answered 2xx; chats at
    # once, each chat's updates in order)

    def _webhook_configure(self, params: JSONDict) -> None:
        secret = params.get("secret_token")
        self.webhook_secret = str(secret) if secret else None
        connections = _int_param(params, "max_connections")  # 1-100, Telegram's default 40
        self.webhook_max_connections = max(1, min(100, connections)) if connections else 40
        allowed = params.get("allowed_updates")
        if isinstance(allowed, str):
            allowed = json.loads(allowed)
        if isinstance(allowed, list):
            self._allowed_updates = [str(a) for a in allowed]
            self.webhook_allowed_updates = list(self._allowed_updates)
        if self.webhook_url and (self._webhook_task is None or self._webhook_task.done()):
            self._webhook_task = asyncio.create_task(self._webhook_push(), name="fake-webhook")
        self._notify()

    async def _webhook_stop(self) -> None:
        task, self._webhook_task = self._webhook_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _webhook_info(self, info: JSONDict) -> JSONDict:
        if self._webhook_last_error:
            info["last_error_message"] = self._webhook_last_error
            info["last_error_date"] = int(time.time())
        if self.webhook_allowed_updates:
            info["allowed_updates"] = list(self.webhook_allowed_updates)
        return info

    async def _webhook_push(self) -> None:
        """Deliver queued updates like Telegram's Bot API server: up to ``max_connections``
        POSTs at once (setWebhook's parameter, 40 by default), but one chat's updates one at
        a time, in order: the next waits until the previous one was answered 2xx. A refused
        update is retried a little later and holds back only its own chat."""
        in_flight: set[int | str] = set()  # chats (queues) with a POST under way
        retry_at: dict[int | str, float] = {}
        tasks: set[asyncio.Task[None]] = set()
        async with ClientSession(timeout=ClientTimeout(total=60)) as session:
            try:
                while self.webhook_url and not self._stopping:
                    self._updates = [u for u in self._updates if self._update_allowed(u)]
                    now = time.monotonic()
                    heads: set[int | str] = set()
                    for update in list(self._updates):
                        if len(in_flight) >= self.webhook_max_connections:
                            break
                        queue = _queue_of(update)
                        if queue in heads:
                            continue  # not this chat's oldest update
                        heads.add(queue)
                        if queue in in_flight or retry_at.get(queue, 0) > now:
                            continue
                        in_flight.add(queue)
                        task = asyncio.create_task(
                            self._webhook_post(session, update, queue, in_flight, retry_at)
                        )
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                    due = [t - now for t in retry_at.values() if t > now]
                    wakeup = self._wakeup
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wakeup.wait(), min([1.0, *due]))
            finally:
                for task in list(tasks):
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    async def _webhook_post(
        self,
        session: ClientSession,
        update: JSONDict,
        queue: int | str,
        in_flight: set[int | str],
        retry_at: dict[int | str, float],
    ) -> None:
        headers = {"Content-Type": "application/json"}
        if self.webhook_secret:
            headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook_secret
        try:
            try:
                async with session.post(self.webhook_url, data=json.dumps(update),
                                        headers=headers) as response:
                    status = response.status
            except (ClientError, TimeoutError) as exc:
                status, self._webhook_last_error = 0, f"Connection failed: {exc}"
            self.webhook_deliveries.append((int(update["update_id"]), status))
            if 200 <= status < 300:
                with contextlib.suppress(ValueError):
                    self._updates.remove(update)
                retry_at.pop(queue, None)
                self._webhook_last_error = None
            else:
                if status:
                    self._webhook_last_error = f"Wrong response from the webhook: {status}"
                retry_at[queue] = time.monotonic() + 0.1
        finally:
            in_flight.discard(queue)
            self._notify()

    def _update_allowed(self, update: JSONDict) -> bool:
        kinds = [k for k in update if k != "update_id"]
        if not kinds:
            return True
        if self._allowed_updates:
            return kinds[0] in self._allowed_updates
        return kinds[0] not in _OPT_IN_UPDATES

    async def _m_get_updates(self, req: _Request) -> list[JSONDict]:
        self._polls += 1
        try:
            return await self._get_updates(req)
        finally:
            self._polls -= 1

    async def _get_updates(self, req: _Request) -> list[JSONDict]:
        if self.webhook_url:
            raise _ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = _int_param(req.params, "offset")
        limit = min(max(_int_param(req.params, "limit") or 100, 1), 100)
        timeout = max(_int_param(req.params, "timeout") or 0, 0)
        allowed = req.params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = [str(a) for a in allowed]
        if offset is not None:
            if offset > 0:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            elif offset < 0:
                self._updates = self._updates[offset:]
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify()  # a newer getUpdates terminates an older pending one
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self._stopping:
                return []
            self._updates = [u for u in self._updates if self._update_allowed(u)]
            if self._updates:
                return copy.deepcopy(self._updates[:limit])
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            wakeup = self._wakeup
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), remaining)
            if generation != self._poll_generation and not self._stopping:
                raise _ApiError(409, ERR_CONFLICT)



def _queue_of(update: JSONDict) -> int | str:
    """Telegram's delivery queue of an update: its chat (a button press counts for the chat
    of its message), else the update alone."""
    for kind, body in update.items():
        if not isinstance(body, dict):
            continue
        message = body.get("message") if kind == "callback_query" else body
        chat = message.get("chat") if isinstance(message, dict) else None
        if isinstance(chat, dict) and isinstance(chat.get("id"), int):
            return int(chat["id"])
    return f"update-{update.get('update_id')}"
