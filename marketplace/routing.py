from django.urls import path

from marketplace.consumers import UserEventsConsumer
from tasks.consumers import WorkConsumer

websocket_urlpatterns = [
    path("ws/events/", UserEventsConsumer.as_asgi()),
    path("ws/work/", WorkConsumer.as_asgi()),
]
