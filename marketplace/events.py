"""Real-time payloads for a user's own socket, sent only after the transaction commits
so that nobody hears of a decision that was rolled back."""

from typing import Literal, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction


class NotificationEvent(TypedDict):
    type: Literal["notification"]
    id: int
    subject: str
    body: str
    worker_status: str | None
    worker_status_label: str | None


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
