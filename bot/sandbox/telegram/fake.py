"""The assembled fake Telegram Bot API server."""

from __future__ import annotations

from bot.sandbox.telegram.api_types import (
    _Handler,
)
from bot.sandbox.telegram.scripting import UserScripting


class FakeTelegram(UserScripting):
    """An in-process Telegram Bot API server that tests drive and inspect.

    ``upload_limit``/``download_limit`` default to Telegram's 50 MB / 20 MB, or to 2000 MB each
    with ``local_mode=True`` (like a local Bot API server, which also answers getFile with an
    absolute path to a real file on disk).  Chats the bot writes to without a user having
    written first are created on the fly (private for positive ids, supergroup for negative).
    """

    def _register_handlers(self) -> None:
        table: dict[str, _Handler] = {
            "getMe": self._m_get_me,
            "logOut": self._m_ok,
            "close": self._m_ok,
            "setWebhook": self._m_set_webhook,
            "deleteWebhook": self._m_delete_webhook,
            "getWebhookInfo": self._m_get_webhook_info,
            "getUpdates": self._m_get_updates,
            "sendMessage": self._m_send_message,
            "editMessageText": self._m_edit_message_text,
            "editMessageCaption": self._m_edit_message_caption,
            "editMessageReplyMarkup": self._m_edit_message_reply_markup,
            "deleteMessage": self._m_delete_message,
            "deleteMessages": self._m_delete_messages,
            "sendChatAction": self._m_send_chat_action,
            "setMyCommands": self._m_set_my_commands,
            "getMyCommands": self._m_get_my_commands,
            "deleteMyCommands": self._m_delete_my_commands,
            "answerCallbackQuery": self._m_answer_callback_query,
            "getFile": self._m_get_file,
            "sendVideo": self._m_send_video,
            "sendDocument": self._m_send_document,
            "sendPhoto": self._m_send_photo,
            "sendAnimation": self._m_send_animation,
            "getChat": self._m_get_chat,
            "getChatMember": self._m_get_chat_member,
            "getChatAdministrators": self._m_get_chat_administrators,
            "setChatMenuButton": self._m_set_chat_menu_button,
            "getChatMenuButton": self._m_get_chat_menu_button,
            "setMyDescription": self._m_set_bot_text("description"),
            "setMyShortDescription": self._m_set_bot_text("short_description"),
            "setMyName": self._m_set_bot_text("name"),
        }
        self._handlers = {name.lower(): (name, handler) for name, handler in table.items()}

