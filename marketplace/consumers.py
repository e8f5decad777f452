from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.http import HttpRequest
from django.utils import translation
from django.utils.translation import gettext as _

from marketplace.events import account_group, session_group, user_group
from marketplace.models import WorkerProfile
from marketplace.notifications import render_message
from marketplace.selectors import requester_organizations


@database_sync_to_async
def _organization_groups(user) -> list[str]:
    # Requesters hear their organizations' set progress; membership is read once, at
    # connect (a removed member's socket stops at its next reconnect).
    from tasks.events import organization_group

    return [
        organization_group(pk) for pk in requester_organizations(user).values_list("pk", flat=True)
    ]


class GroupMembership:
    """Channel-layer groups a consumer joins at connect and leaves at disconnect."""

    async def join_groups(self, groups: list[str]) -> None:
        self.groups_joined = groups
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)

    async def disconnect(self, code):
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)


class SignedInSocket(GroupMembership):
    """A socket that lasts only as long as the sign-in it was opened with: it joins its
    user's and its session's groups, which marketplace.events closes on sign-out, a new
    password or a deactivated account."""

    def sign_in_groups(self) -> list[str]:
        groups = [account_group(self.scope["user"].pk)]
        session_key = getattr(self.scope.get("session"), "session_key", None)
        if session_key:
            groups.append(session_group(session_key))
        return groups

    async def account_signed_out(self, event: dict) -> None:
        await self.close(code=4401)


def socket_language(scope) -> str:
    """The language the socket's page is in: LocaleMiddleware's own rule (the language
    cookie, then the browser's Accept-Language) read from the handshake."""
    request = HttpRequest()
    request.COOKIES = dict(scope.get("cookies") or {})
    for name, value in scope.get("headers") or []:
        if name == b"accept-language":
            request.META["HTTP_ACCEPT_LANGUAGE"] = value.decode("latin-1")
    return translation.get_language_from_request(request)


@database_sync_to_async
def _shown_notification(payload: dict, language: str) -> dict:
    # Database access: an organization's own test is named after the organization.
    with translation.override(language):
        subject, body = render_message(payload["subject"], payload["body"], payload["params"])
        status = payload["worker_status"]
        label = str(WorkerProfile.Status(status).label) if status else None
    shown = {key: value for key, value in payload.items() if key != "params"}
    return {**shown, "subject": subject, "body": body, "worker_status_label": label}


class UserEventsConsumer(SignedInSocket, AsyncJsonWebsocketConsumer):
    """Pushes a signed-in user's own notifications (vetting decisions and the like),
    and live progress of their organizations' task sets."""

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        await self.join_groups(
            [user_group(user.pk), *self.sign_in_groups(), *await _organization_groups(user)]
        )
        await self.accept()

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        # A bad frame gets an error and the socket stays open: the page's script (or a
        # flaky proxy) must not be able to crash the consumer.
        if text_data is None:
            await self.send_error("binary_frame", _("Send JSON text frames, not binary ones."))
            return
        try:
            content = await self.decode_json(text_data)
        except ValueError:  # json.JSONDecodeError, and text that is not UTF-8 clean
            await self.send_error("invalid_json", _("The message is not valid JSON."))
            return
        if not isinstance(content, dict):
            await self.send_error("not_an_object", _("The message must be a JSON object."))
            return
        await self.receive_json(content, **kwargs)

    async def receive_json(self, content, **kwargs):
        if content.get("type") == "ping":
            await self.send_json({"type": "pong"})
        else:
            await self.send_error("unknown_type", _("Unknown message type."))

    async def send_error(self, code: str, message: str) -> None:
        await self.send_json({"type": "error", "code": code, "message": message})

    async def user_event(self, event):
        payload = event["payload"]
        if payload.get("type") == "notification":
            payload = await _shown_notification(payload, socket_language(self.scope))
        await self.send_json(payload)
