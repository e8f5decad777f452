"""What happens after commit (the WebSocket push, the email) can fail: Redis or the
mail server may be down. The decision is committed by then, so the request that made
it must still succeed, and the failure is logged."""

import pytest
from channels.layers import InMemoryChannelLayer
from django.core.mail.backends.base import BaseEmailBackend
from django.urls import reverse

from marketplace.models import Notification, WorkerProfile
from tests.factories import WorkerProfileFactory

pytestmark = pytest.mark.django_db(transaction=True)


class UnreachableChannelLayer(InMemoryChannelLayer):
    async def group_send(self, group, message):
        raise ConnectionError("channel layer unreachable")


class UnreachableEmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages):
        raise RuntimeError("mail server unreachable")


def decide(client, admin_user, profile):
    client.force_login(admin_user)
    return client.post(
        reverse("vetting_detail", args=[profile.pk]), {"action": "approve", "reason": "Welcome"}
    )


def test_failing_channel_layer_does_not_break_the_committed_decision(
    client, admin_user, settings, caplog
):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": f"{__name__}.UnreachableChannelLayer"}}
    profile = WorkerProfileFactory(user__username="mealea")
    response = decide(client, admin_user, profile)
    assert response.status_code == 302
    profile.refresh_from_db()
    assert profile.status == WorkerProfile.Status.VETTED
    assert Notification.objects.filter(user=profile.user).exists()
    assert "channel layer unreachable" in caplog.text


def test_failing_email_does_not_break_the_committed_decision(client, admin_user, settings, caplog):
    settings.EMAIL_BACKEND = f"{__name__}.UnreachableEmailBackend"
    profile = WorkerProfileFactory(user__username="mealea", user__email="mealea@example.org")
    response = decide(client, admin_user, profile)
    assert response.status_code == 302
    profile.refresh_from_db()
    assert profile.status == WorkerProfile.Status.VETTED
    assert "mail server unreachable" in caplog.text
