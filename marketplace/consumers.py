from channels.generic.websocket import AsyncJsonWebsocketConsumer

from marketplace.events import user_group


class UserEventsConsumer(AsyncJsonWebsocketConsumer):
    """Pushes a signed-in user's own notifications (vetting decisions and the like)."""

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.group = user_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        if content.get("type") == "ping":
            await self.send_json({"type": "pong"})
        else:
            await self.send_json({"type": "error", "code": "unknown_type"})

    async def user_event(self, event):
        await self.send_json(event["payload"])
