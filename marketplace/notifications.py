"""A notification as its reader sees it: stored untranslated (msgids and parameters)
and translated here, in whatever language is active, so a worker reads their messages
in the language of the page they are on, not the one active when they were sent."""

from dataclasses import dataclass
from datetime import datetime

from django.utils.translation import gettext

from marketplace.models import Notification
from marketplace.skills import skill_name

# Parameters that are themselves keys to translate, each with the function pages use
# for them; every other parameter (a set title, a reason an admin typed) is shown as is.
TRANSLATED_PARAMS = {"skill": skill_name}


@dataclass(frozen=True)
class ShownNotification:
    subject: str
    body: str
    created_at: datetime


def render_message(subject_msgid: str, body_msgid: str, params: dict) -> tuple[str, str]:
    """Subject and body in the active language."""
    values = {
        name: TRANSLATED_PARAMS[name](value) if name in TRANSLATED_PARAMS else value
        for name, value in params.items()
    }
    return _fill(_translate(subject_msgid), values), _fill(_translate(body_msgid), values)


def _translate(msgid: str) -> str:
    # gettext("") is the catalogue's header, never an empty message.
    return gettext(msgid) if msgid else ""


def _fill(text: str, values: dict) -> str:
    # A message without parameters is used as is, so a literal "%" in it stays.
    return text % values if values else text


def render(notification: Notification) -> tuple[str, str]:
    if not notification.subject_msgid:
        # Stored before messages were kept untranslated: only its text is known.
        return notification.subject, notification.body
    return render_message(notification.subject_msgid, notification.body_msgid, notification.params)


def shown(notification: Notification) -> ShownNotification:
    subject, body = render(notification)
    return ShownNotification(subject, body, notification.created_at)
