from celery import shared_task
from django.core.mail import send_mail

from marketplace.models import Notification


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def email_notification(notification_id: int) -> None:
    notification = Notification.objects.select_related("user").get(pk=notification_id)
    if notification.user.email:
        send_mail(notification.subject, notification.body, None, [notification.user.email])
