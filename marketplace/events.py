"""Real-time payloads for a user's own socket, sent only after the transaction commits
so that nobody hears of a decision that was rolled back."""

import hashlib
from typing import Literal, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction


class NotificationEvent(TypedDict):
    """On the channel layer, untranslated: subject and body are msgids filled from params.
    UserEventsConsumer sends the client subject and body translated into its page's
    language, and worker_status_label, without params."""

    type: Literal["notification"]
    id: int
    subject: str
    body: str
    params: dict
    worker_status: str | None


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def send_to_user_on_commit(user_id: int, payload: NotificationEvent) -> None:
    def send() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        # "user.event" is dispatched to UserEventsConsumer.user_event.
        async_to_sync(layer.group_send)(
            user_group(user_id), {"type": "user.event", "payload": payload}
        )

    # robust: the decision is committed whatever happens here; a channel layer that is
    # down must be logged, never turn the committed request into an error page.
    transaction.on_commit(send, robust=True)


class SignedOutEvent(TypedDict):
    type: Literal["account.signed_out"]


def account_group(user_id: int) -> str:
    """Every open socket of the user, in any session, on any server process."""
    return f"account.{user_id}"


def session_group(session_key: str) -> str:
    """The open sockets of one signed-in session (one phone or browser). Named by a hash:
    the channel layer's keys must not hold a credential."""
    return "session." + hashlib.sha256(session_key.encode()).hexdigest()


def sign_out_sockets_on_commit(*, user_id: int | None = None, session_key: str | None = None):
    """Close (4401) the open sockets of one session (a sign-out) or of every session of
    a user (a new password, a deactivated account), on every server process, once the
    change is committed: a socket outlives the request that signed its session out, and
    on a phone shared at a centre the next person would work as the previous worker."""
    groups = []
    if user_id is not None:
        groups.append(account_group(user_id))
    if session_key:
        groups.append(session_group(session_key))
    event: SignedOutEvent = {"type": "account.signed_out"}

    def send() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        for group in groups:
            async_to_sync(layer.group_send)(group, event)

    transaction.on_commit(send, robust=True)
