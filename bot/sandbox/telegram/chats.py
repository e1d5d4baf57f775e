"""Bot API methods of the fake about commands, callback answers, chats and their members."""

from __future__ import annotations

import json
import re
from typing import Any

from bot.sandbox.telegram.api_types import (
    BOT_USER_ID,
    ERR_COMMAND_INVALID,
    ERR_COMMANDS_TOO_MUCH,
    ERR_PRIVATE_ADMINS,
    ERR_QUERY_INVALID,
    JSONDict,
    _ApiError,
    _as_chat_id,
    _Handler,
    _int_param,
    _Request,
)
from bot.sandbox.telegram.messages import MessageMethods


class ChatMethods(MessageMethods):
    """Commands, answerCallbackQuery, getChat*, menu buttons, the bot's texts."""

    @staticmethod
    def _commands_key(scope: Any, language_code: Any) -> tuple[str, str]:
        if not isinstance(scope, dict) or not scope:
            scope = {"type": "default"}
        if "chat_id" in scope:
            scope = {**scope, "chat_id": _as_chat_id(scope["chat_id"])}
        return json.dumps(scope, sort_keys=True), str(language_code or "")

    async def _m_set_my_commands(self, req: _Request) -> bool:
        commands = req.params.get("commands")
        if not isinstance(commands, list):
            raise _ApiError(400, 'Bad Request: parameter "commands" is required')
        if len(commands) > 100:
            raise _ApiError(400, ERR_COMMANDS_TOO_MUCH)
        cleaned: list[JSONDict] = []
        for command in commands:
            if not isinstance(command, dict):
                raise _ApiError(400, ERR_COMMAND_INVALID)
            name = str(command.get("command", "")).lstrip("/")
            description = str(command.get("description", ""))
            if not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise _ApiError(400, ERR_COMMAND_INVALID)
            if not description.strip() or len(description) > 256:
                raise _ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
            cleaned.append({"command": name, "description": description})
        key = self._commands_key(req.params.get("scope"), req.params.get("language_code"))
        if cleaned:
            self._commands[key] = cleaned
        else:
            self._commands.pop(key, None)
        return True

    async def _m_get_my_commands(self, req: _Request) -> list[JSONDict]:
        key = self._commands_key(req.params.get("scope"), req.params.get("language_code"))
        return list(self._commands.get(key, []))

    async def _m_delete_my_commands(self, req: _Request) -> bool:
        key = self._commands_key(req.params.get("scope"), req.params.get("language_code"))
        self._commands.pop(key, None)
        return True

    async def _m_answer_callback_query(self, req: _Request) -> bool:
        query_id = str(req.params.get("callback_query_id") or "")
        if query_id not in self._callbacks or query_id in self.callback_answers:
            raise _ApiError(400, ERR_QUERY_INVALID)
        self.callback_answers[query_id] = dict(req.params)
        return True

    async def _m_get_chat(self, req: _Request) -> JSONDict:
        chat = self._chat_from_params(req.params)
        return {**chat, "accent_color_id": 0, "max_reaction_count": 11}

    def _member(self, chat_id: int, user_id: int) -> JSONDict:
        if user_id == BOT_USER_ID:
            user: JSONDict = dict(self.bot_user)
        else:
            user = dict(
                self._users.get(user_id)
                or {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}
            )
        if self._creators.get(chat_id) == user_id:
            return {"status": "creator", "user": user, "is_anonymous": False}
        if user_id in self._admins.get(chat_id, set()):
            rights = dict.fromkeys(
                (
                    "can_manage_chat",
                    "can_delete_messages",
                    "can_manage_video_chats",
                    "can_restrict_members",
                    "can_change_info",
                    "can_invite_users",
                    "can_post_stories",
                    "can_edit_stories",
                    "can_delete_stories",
                    "can_pin_messages",
                    "can_manage_topics",
                ),
                True,
            )
            return {
                "status": "administrator",
                "user": user,
                "can_be_edited": False,
                "is_anonymous": False,
                "can_promote_members": False,
                **rights,
            }
        return {"status": "member", "user": user}

    async def _m_get_chat_member(self, req: _Request) -> JSONDict:
        chat = self._chat_from_params(req.params)
        user_id = _int_param(req.params, "user_id")
        if user_id is None:
            raise _ApiError(400, "Bad Request: user_id is empty")
        return self._member(int(chat["id"]), user_id)

    async def _m_get_chat_administrators(self, req: _Request) -> list[JSONDict]:
        chat = self._chat_from_params(req.params)
        chat_id = int(chat["id"])
        if chat["type"] == "private":
            raise _ApiError(400, ERR_PRIVATE_ADMINS)
        ids: list[int] = []
        if chat_id in self._creators:
            ids.append(self._creators[chat_id])
        ids.extend(sorted(self._admins.get(chat_id, set()) - set(ids)))
        return [self._member(chat_id, user_id) for user_id in ids]

    async def _m_set_chat_menu_button(self, req: _Request) -> bool:
        button = req.params.get("menu_button")
        chat_id = _int_param(req.params, "chat_id")
        self.menu_buttons[chat_id] = button if isinstance(button, dict) else {"type": "default"}
        return True

    async def _m_get_chat_menu_button(self, req: _Request) -> JSONDict:
        chat_id = _int_param(req.params, "chat_id")
        return self.menu_buttons.get(chat_id) or self.menu_buttons.get(None) or {"type": "default"}

    def _m_set_bot_text(self, key: str) -> _Handler:
        async def handler(req: _Request) -> bool:
            language = str(req.params.get("language_code") or "")
            self.bot_texts.setdefault(key, {})[language] = str(req.params.get(key) or "")
            return True

        return handler

