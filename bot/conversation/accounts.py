"""A chat's backend identity: its anonymous token and its session, kept in the store.

Recovery lives here, in one place: a token near expiry or refused (1001) is replaced and the
call retried once; a lost session (1002) is recreated and the call retried once.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from bot.backend import NemoClient
from bot.backend.errors import (
    BackendError,
    MissingClientId,
    RateLimited,
    SessionNotFound,
    TokenInvalid,
)
from bot.backend.models import StateResult
from bot.locks import KeyedLocks
from bot.store import ChatStore

log = logging.getLogger(__name__)

T = TypeVar("T")

# Replace a token this long before it expires, so no turn starts on a dying token.
TOKEN_REFRESH_MARGIN = 3600.0
DEFAULT_TOKEN_LIFETIME = 7 * 86400.0


@dataclass(frozen=True, slots=True)
class Identity:
    token: str
    session_id: str


class Accounts:
    def __init__(self, client: NemoClient, store: ChatStore, operator_token: str | None) -> None:
        self.client = client
        self.store = store
        self.operator_token = operator_token
        # Forum topics of one chat run concurrently but share its token: one fetch at a time.
        self._token_locks: KeyedLocks[int] = KeyedLocks()
        self._session_locks: KeyedLocks[tuple[int, int]] = KeyedLocks()

    @property
    def is_operator(self) -> bool:
        return self.operator_token is not None

    async def token(self, chat_id: int, *, renew: bool = False, seen: str | None = None) -> str:
        """This chat's token. ``renew`` replaces ``seen`` (the token that was refused)."""
        if self.operator_token:
            if renew:
                raise TokenInvalid("the operator's NEMO_TOKEN was refused")
            return self.operator_token
        if not renew:
            # Most turns find a good token: read it without the locks, which are only for
            # issuing one (the store's lock is a database round trip on PostgreSQL, and a
            # replica renewing this chat's token must not stall a turn that needs none).
            record = await self.store.get_chat(chat_id)
            if record and record.token and _left(record.token_expires_at) > TOKEN_REFRESH_MARGIN:
                return record.token
        # One fetch per chat in this process, and across replicas through the store.
        async with self._token_locks(chat_id), self.store.identity_lock(chat_id):
            return await self._token(chat_id, renew=renew, seen=seen)

    async def _token(self, chat_id: int, *, renew: bool, seen: str | None) -> str:
        record = await self.store.ensure_chat(chat_id)
        if renew and seen is not None and record.token and record.token != seen:
            return record.token  # another topic of this chat renewed it meanwhile
        left = _left(record.token_expires_at)
        if record.token and not renew and left > TOKEN_REFRESH_MARGIN:
            return record.token
        client_id = record.client_id
        try:
            # The same client id first: it may keep the same anonymous user and its sessions.
            issued = await self.client.anonymous_token(client_id)
        except MissingClientId:
            # 400 means the backend did not accept the client id: make a new one, once.
            client_id = str(uuid.uuid4())
            issued = await self.client.anonymous_token(client_id)
        except RateLimited:
            if record.token and not renew and left > 0:
                return record.token  # still valid for a while; renewal is retried next time
            # One token per client id per 7 days: a refused token needs a fresh client id,
            # and so does a client id whose token was issued but never saved (the process
            # died, or its replica lost the chat, between the two).
            client_id = str(uuid.uuid4())
            issued = await self.client.anonymous_token(client_id)
        expires = (
            issued.expires_at.timestamp()
            if issued.expires_at
            else time.time() + DEFAULT_TOKEN_LIFETIME
        )
        await self.store.save_token(
            chat_id,
            client_id=client_id,
            token=issued.token,
            expires_at=expires,
            anon_user_id=issued.user_id,
        )
        log.info("chat %s: new anonymous backend token", chat_id)
        return issued.token

    async def session(
        self, chat_id: int, thread_id: int, language: str, *, token: str, renew: bool = False
    ) -> str:
        async with self._session_locks((chat_id, thread_id)):
            return await self._session(chat_id, thread_id, language, token=token, renew=renew)

    async def _session(
        self, chat_id: int, thread_id: int, language: str, *, token: str, renew: bool
    ) -> str:
        topic = await self.store.get_topic(chat_id, thread_id)
        if topic and topic.session_id and not renew:
            return topic.session_id
        session = await self.client.create_session(token, language)
        # Single winner: another replica may have made one meanwhile; all use the first kept.
        kept = await self.store.save_session_once(
            chat_id, thread_id, session.session_id, language,
            replacing=topic.session_id if topic else None,
        )
        if kept != session.session_id:
            log.info("chat %s/%s: another replica's new session is used", chat_id, thread_id)
            return kept
        if session.user_id and not self.operator_token:
            await self.remember_user_id(chat_id, session.user_id)
        log.info("chat %s/%s: new backend session", chat_id, thread_id)
        return session.session_id

    async def remember_user_id(self, chat_id: int, user_id: str) -> None:
        """Keep the anonymous user id (2001's register link needs it) if none is known yet."""
        record = await self.store.get_chat(chat_id)
        if record is not None and record.token and not record.anon_user_id:
            await self.store.save_token(
                chat_id, client_id=record.client_id, token=record.token,
                expires_at=record.token_expires_at, anon_user_id=user_id,
            )

    async def anon_user_id(self, chat_id: int, thread_id: int, language: str) -> str | None:
        """The anonymous user id from the token, the session or, failing both, the state."""
        if self.operator_token:
            return None
        record = await self.store.get_chat(chat_id)
        if record is not None and record.anon_user_id:
            return record.anon_user_id
        try:
            state = await self.state(chat_id, thread_id, language)
        except BackendError:
            return None
        if state.user_id:
            await self.remember_user_id(chat_id, state.user_id)
        return state.user_id

    async def state(self, chat_id: int, thread_id: int, language: str) -> StateResult:
        """The topic's session state (draft, uploads), with the usual token/session recovery."""
        return await self.call(
            chat_id, thread_id, language,
            lambda ident: self.client.state(ident.token, ident.session_id),
        )

    async def new_session(self, chat_id: int, thread_id: int, language: str) -> str:
        """A fresh project on request (/new)."""
        return await self.call(
            chat_id, thread_id, language, lambda ident: _return(ident.session_id), renew=True
        )

    async def call(
        self,
        chat_id: int,
        thread_id: int,
        language: str,
        fn: Callable[[Identity], Awaitable[T]],
        *,
        on_session_lost: Callable[[], Awaitable[None]] | None = None,
        renew: bool = False,
    ) -> T:
        """Run ``fn`` with this chat's identity, recovering 1001 and 1002 once each."""
        renewed_token = renewed_session = False
        token = await self.token(chat_id)
        try:
            session_id = await self.session(
                chat_id, thread_id, language, token=token, renew=renew
            )
        except TokenInvalid:
            renewed_token = True
            token = await self.token(chat_id, renew=True, seen=token)
            session_id = await self.session(chat_id, thread_id, language, token=token, renew=renew)
        while True:
            try:
                return await fn(Identity(token, session_id))
            except TokenInvalid:
                if renewed_token:
                    raise
                renewed_token = True
                token = await self.token(chat_id, renew=True, seen=token)
                # The session is kept; if it belonged to the old user, 1002 recreates it.
            except SessionNotFound:
                if renewed_session:
                    raise
                renewed_session = True
                session_id = await self.session(
                    chat_id, thread_id, language, token=token, renew=True
                )
                if on_session_lost:
                    await on_session_lost()


def _left(expires_at: float | None) -> float:
    """Seconds a token has left (none known: expired)."""
    return (expires_at or 0) - time.time()


async def _return(value: T) -> T:
    return value
