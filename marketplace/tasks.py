from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.utils import translation

from marketplace.models import Notification
from marketplace.notifications import render


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def email_notification(notification_id: int) -> None:
    notification = Notification.objects.select_related("user").get(pk=notification_id)
    user = notification.user
    if user.email:
        # An e-mail has no page: it goes in the language the user chose.
        with translation.override(user.preferred_language or settings.LANGUAGE_CODE):
            subject, body = render(notification)
        send_mail(subject, body, None, [user.email])
