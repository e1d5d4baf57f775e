"""Bot API methods of the fake that send, edit and delete text messages."""

from __future__ import annotations

import contextlib
import copy
import time
from typing import Any

from bot.sandbox.telegram.api_types import (
    _CHAT_ACTIONS,
    _ERR_BUTTON,
    ERR_ACTION,
    ERR_CANT_EDIT,
    ERR_CAPTION_TOO_LONG,
    ERR_CHAT_ID_EMPTY,
    ERR_CHAT_NOT_FOUND,
    ERR_DELETE_NOT_FOUND,
    ERR_EDIT_NOT_FOUND,
    ERR_MARKUP,
    ERR_MESSAGE_ID_INVALID,
    ERR_NO_TEXT_TO_EDIT,
    ERR_NOT_MODIFIED,
    ERR_PARSE_ENTITIES,
    ERR_REPLY_NOT_FOUND,
    ERR_TEXT_EMPTY,
    ERR_TEXT_TOO_LONG,
    MAX_CAPTION_LENGTH,
    MAX_TEXT_LENGTH,
    BotMessage,
    JSONDict,
    MessageKind,
    UploadedFile,
    _ApiError,
    _as_chat_id,
    _bool_param,
    _EntityParseError,
    _inline_part,
    _int_param,
    _LogEntry,
    _Request,
    _utf16_len,
)
from bot.sandbox.telegram.parse_mode import (
    _parse_html,
)
from bot.sandbox.telegram.updates import UpdateMethods


class MessageMethods(UpdateMethods):
    """sendMessage, editMessage*, deleteMessage(s), sendChatAction."""

    def _chat_from_params(self, params: JSONDict) -> JSONDict:
        value = params.get("chat_id")
        if value is None or value == "":
            raise _ApiError(400, ERR_CHAT_ID_EMPTY)
        chat_id = _as_chat_id(value)
        if not isinstance(chat_id, int):
            known = [
                c
                for c in self._chats.values()
                if isinstance(chat_id, str) and c.get("username") == chat_id.lstrip("@")
            ]
            if not known:
                raise _ApiError(400, ERR_CHAT_NOT_FOUND)
            return known[0]
        return self._ensure_chat(chat_id)

    @staticmethod
    def _parse_markup(params: JSONDict) -> JSONDict | None:
        markup = params.get("reply_markup")
        if markup is None or markup == "":
            return None
        if not isinstance(markup, dict):
            raise _ApiError(400, ERR_MARKUP)
        for row in markup.get("inline_keyboard", []):
            if not isinstance(row, list):
                raise _ApiError(400, 'Bad Request: field "inline_keyboard" must be an Array')
            for button in row:
                if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                    raise _ApiError(400, _ERR_BUTTON + 'Field "text" must be of type String')
                if not set(button) - {"text"}:
                    raise _ApiError(
                        400, _ERR_BUTTON + "Text buttons are unallowed in the inline keyboard"
                    )
                data = button.get("callback_data")
                if data is not None and len(str(data).encode()) > 64:
                    raise _ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        return markup

    @staticmethod
    def _format(text: str, parse_mode: str | None, entities: Any) -> tuple[str, list[JSONDict]]:
        """Apply parse_mode like Telegram: visible text plus entities."""
        if isinstance(entities, list) and entities:
            return text, [e for e in entities if isinstance(e, dict)]
        parsers = {"html": _parse_html}
        parser = parsers.get((parse_mode or "").lower())
        if parser is None:
            if parse_mode:
                raise _ApiError(400, "Bad Request: unsupported parse_mode")
            return text, []
        try:
            return parser(text)
        except _EntityParseError as exc:
            raise _ApiError(400, ERR_PARSE_ENTITIES + str(exc)) from None

    def _check_text(self, text: str) -> None:
        if not text.strip():
            raise _ApiError(400, ERR_TEXT_EMPTY)
        if _utf16_len(text) > MAX_TEXT_LENGTH:
            raise _ApiError(400, ERR_TEXT_TOO_LONG)

    def _reply_target(self, chat_id: int, params: JSONDict) -> JSONDict | None:
        reply_params = params.get("reply_parameters")
        allow_missing = bool(_bool_param(params, "allow_sending_without_reply"))
        reply_id: int | None = None
        if isinstance(reply_params, dict):
            reply_id = _int_param(reply_params, "message_id")
            allow_missing = allow_missing or bool(
                _bool_param(reply_params, "allow_sending_without_reply")
            )
        if reply_id is None:
            reply_id = _int_param(params, "reply_to_message_id")
        if reply_id is None:
            return None
        found = self._messages.get((chat_id, reply_id))
        if found is None or (chat_id, reply_id) in self._deleted:
            if allow_missing:
                return None
            raise _ApiError(400, ERR_REPLY_NOT_FOUND)
        return {k: v for k, v in found.items() if k != "reply_to_message"}

    def _new_bot_message(
        self,
        req: _Request,
        kind: MessageKind,
        text: str,
        entities: list[JSONDict],
        body: JSONDict,
        *,
        file: UploadedFile | str | None = None,
        file_id: str | None = None,
    ) -> JSONDict:
        params = req.params
        chat = self._chat_from_params(params)
        chat_id = int(chat["id"])
        reply = self._reply_target(chat_id, params)
        markup = self._parse_markup(params)
        thread_id = _int_param(params, "message_thread_id")
        message_id = self._next_message_id(chat_id)
        message: JSONDict = {
            "message_id": message_id,
            "from": dict(self.bot_user),
            "chat": dict(chat),
            "date": int(time.time()),
        }
        if thread_id is not None and chat["type"] != "private":
            message["message_thread_id"] = thread_id
            if chat.get("is_forum"):
                message["is_topic_message"] = True
        if reply is not None:
            message["reply_to_message"] = copy.deepcopy(reply)
        message.update(body)
        text_key, entities_key = (
            ("text", "entities") if kind == "text" else ("caption", "caption_entities")
        )
        if text:
            message[text_key] = text
            if entities:
                message[entities_key] = entities
        if markup is not None and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        self._messages[(chat_id, message_id)] = message
        bot_message = BotMessage(
            message_id=message_id,
            chat_id=chat_id,
            message_thread_id=thread_id,
            kind=kind,
            text=text if kind == "text" or text else None,
            reply_markup=markup,
            parse_mode=params.get("parse_mode") or None,
            file=file,
            supports_streaming=_bool_param(params, "supports_streaming"),
            params=params,
            entities=entities,
            file_id=file_id,
        )
        self._bot_messages.setdefault(chat_id, []).append(bot_message)
        self._log.setdefault(chat_id, []).append(_LogEntry("bot", message_id))
        return copy.deepcopy(message)

    async def _m_send_message(self, req: _Request) -> JSONDict:
        raw_text = str(req.params.get("text") or "")
        text, entities = self._format(
            raw_text, req.params.get("parse_mode"), req.params.get("entities")
        )
        self._check_text(text)
        return self._new_bot_message(req, "text", text, entities, {})

    def _editable(self, params: JSONDict) -> tuple[BotMessage, JSONDict] | None:
        """The message an edit targets, or None for inline messages (accepted blindly)."""
        if params.get("inline_message_id"):
            return None
        chat = self._chat_from_params(params)
        chat_id = int(chat["id"])
        message_id = _int_param(params, "message_id")
        if message_id is None:
            raise _ApiError(400, ERR_MESSAGE_ID_INVALID)
        raw = self._messages.get((chat_id, message_id))
        if raw is None or (chat_id, message_id) in self._deleted:
            raise _ApiError(400, ERR_EDIT_NOT_FOUND)
        message = self._find_bot_message(chat_id, message_id)
        if message is None:
            raise _ApiError(400, ERR_CANT_EDIT)
        return message, raw

    def _apply_edit(
        self,
        message: BotMessage,
        raw: JSONDict,
        text: str | None,
        entities: list[JSONDict],
        markup: JSONDict | None,
        params: JSONDict,
    ) -> JSONDict:
        if text is not None and text != (message.text or ""):
            message.edits.append(message.text or "")
        if text is not None:
            text_key, entities_key = (
                ("text", "entities") if message.kind == "text" else ("caption", "caption_entities")
            )
            message.text = text if text or message.kind == "text" else None
            message.entities = entities
            raw.pop(text_key, None)
            raw.pop(entities_key, None)
            if text:
                raw[text_key] = text
                if entities:
                    raw[entities_key] = entities
            if params.get("parse_mode") is not None:
                message.parse_mode = str(params["parse_mode"]) or None
        message.reply_markup = markup
        raw.pop("reply_markup", None)
        if markup is not None and "inline_keyboard" in markup:
            raw["reply_markup"] = markup
        raw["edit_date"] = int(time.time())
        return copy.deepcopy(raw)

    async def _m_edit_message_text(self, req: _Request) -> JSONDict | bool:
        params = req.params
        raw_text = str(params.get("text") or "")
        text, entities = self._format(raw_text, params.get("parse_mode"), params.get("entities"))
        self._check_text(text)
        markup = self._parse_markup(params)
        target = self._editable(params)
        if target is None:
            return True
        message, raw = target
        if message.kind != "text":
            raise _ApiError(400, ERR_NO_TEXT_TO_EDIT)
        if (
            text == message.text
            and entities == message.entities
            and _inline_part(markup) == _inline_part(message.reply_markup)
        ):
            raise _ApiError(400, ERR_NOT_MODIFIED)
        return self._apply_edit(message, raw, text, entities, markup, params)

    async def _m_edit_message_caption(self, req: _Request) -> JSONDict | bool:
        params = req.params
        raw_text = str(params.get("caption") or "")
        text, entities = self._format(
            raw_text, params.get("parse_mode"), params.get("caption_entities")
        )
        if _utf16_len(text) > MAX_CAPTION_LENGTH:
            raise _ApiError(400, ERR_CAPTION_TOO_LONG)
        markup = self._parse_markup(params)
        target = self._editable(params)
        if target is None:
            return True
        message, raw = target
        if message.kind == "text":
            raise _ApiError(400, "Bad Request: there is no caption in the message to edit")
        if (
            text == (message.text or "")
            and entities == message.entities
            and _inline_part(markup) == _inline_part(message.reply_markup)
        ):
            raise _ApiError(400, ERR_NOT_MODIFIED)
        return self._apply_edit(message, raw, text, entities, markup, params)

    async def _m_edit_message_reply_markup(self, req: _Request) -> JSONDict | bool:
        markup = self._parse_markup(req.params)
        target = self._editable(req.params)
        if target is None:
            return True
        message, raw = target
        if _inline_part(markup) == _inline_part(message.reply_markup):
            raise _ApiError(400, ERR_NOT_MODIFIED)
        return self._apply_edit(message, raw, None, message.entities, markup, req.params)

    def _delete(self, chat_id: int, message_id: int) -> None:
        if (chat_id, message_id) not in self._messages or (chat_id, message_id) in self._deleted:
            raise _ApiError(400, ERR_DELETE_NOT_FOUND)
        self._deleted.add((chat_id, message_id))
        message = self._find_bot_message(chat_id, message_id)
        if message is not None:
            message.deleted = True

    async def _m_delete_message(self, req: _Request) -> bool:
        chat = self._chat_from_params(req.params)
        message_id = _int_param(req.params, "message_id")
        if message_id is None:
            raise _ApiError(400, ERR_MESSAGE_ID_INVALID)
        self._delete(int(chat["id"]), message_id)
        return True

    async def _m_delete_messages(self, req: _Request) -> bool:
        chat = self._chat_from_params(req.params)
        ids = req.params.get("message_ids")
        if not isinstance(ids, list) or not ids:
            raise _ApiError(400, "Bad Request: message identifiers are not specified")
        for message_id in ids:
            with contextlib.suppress(_ApiError):
                self._delete(int(chat["id"]), int(message_id))
        return True

    async def _m_send_chat_action(self, req: _Request) -> bool:
        chat = self._chat_from_params(req.params)
        action = str(req.params.get("action") or "")
        if action not in _CHAT_ACTIONS:
            raise _ApiError(400, ERR_ACTION)
        self._actions.setdefault(int(chat["id"]), []).append(action)
        return True

