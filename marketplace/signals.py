"""Open WebSockets follow the sign-in they were opened with (marketplace.events): a
sign-out closes its session's sockets; a new password or a deactivated account closes
every socket of the user, as Django ends their other sessions at their next request."""

from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from marketplace.events import sign_out_sockets_on_commit
from marketplace.models import User


@receiver(user_logged_out)
def close_sockets_of_the_session(sender, request, user, **kwargs) -> None:
    # Sent before Django flushes the session, so its key is still the one the
    # sockets joined with.
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if user is not None and session_key:
        sign_out_sockets_on_commit(session_key=session_key)


@receiver(pre_save, sender=User)
def note_a_sign_in_change(sender, instance: User, raw: bool, update_fields, **kwargs) -> None:
    """Whether this save changes the password or deactivates the account, compared with
    the stored row (any path: allauth, the admin, changepassword, a service). A save of
    other fields (last_login at each sign-in) reads nothing."""
    instance._closes_sockets = False
    if raw or instance._state.adding:
        return
    if update_fields is not None and not {"password", "is_active"} & set(update_fields):
        return
    stored = User.objects.filter(pk=instance.pk).values("password", "is_active").first()
    if stored is not None:
        instance._closes_sockets = stored["password"] != instance.password or (
            stored["is_active"] and not instance.is_active
        )


@receiver(post_save, sender=User)
def close_sockets_of_the_user(sender, instance: User, created: bool, **kwargs) -> None:
    # After the row is written: on_commit then waits for the caller's transaction.
    if not created and getattr(instance, "_closes_sockets", False):
        instance._closes_sockets = False
        sign_out_sockets_on_commit(user_id=instance.pk)
