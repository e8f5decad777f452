"""A notification is stored untranslated and read in the reader's language: the
page's for pages and sockets, the chosen one for e-mail; skill keys become names."""

from django.core import mail
from django.urls import reverse
from django.utils.translation import gettext_noop

from marketplace import services
from marketplace.models import Notification
from marketplace.tasks import email_notification


def _passed_training(worker) -> Notification:
    return services.notify(
        user=worker,
        subject=gettext_noop("You passed training"),
        body=gettext_noop("You can now take paid work in %(skill)s."),
        params={"skill": "multilabel"},
    )


def _home_in(client, worker, language: str) -> str:
    client.force_login(worker)
    client.post(reverse("set_language"), {"language": language, "next": "/"})
    return client.get(reverse("worker_home")).content.decode()


def test_it_stores_the_message_untranslated_with_english_text_for_the_admin(vetted_worker):
    vetted_worker.preferred_language = "km"
    vetted_worker.save(update_fields=["preferred_language"])
    notification = _passed_training(vetted_worker)
    notification.refresh_from_db()
    assert notification.subject == "You passed training"
    assert notification.body == "You can now take paid work in Multi-label."
    assert notification.body_msgid == "You can now take paid work in %(skill)s."
    assert notification.params == {"skill": "multilabel"}


def test_a_khmer_page_shows_it_in_khmer_whatever_language_was_stored(client, vetted_worker):
    vetted_worker.preferred_language = "en"
    vetted_worker.save(update_fields=["preferred_language"])
    _passed_training(vetted_worker)
    page = _home_in(client, vetted_worker, "km")
    assert "អ្នកបានជាប់ការបណ្តុះបណ្តាលហើយ" in page
    assert "ការដាក់ស្លាកច្រើន" in page  # the skill's name, not its key
    assert "multilabel" not in page


def test_an_english_page_shows_it_in_english_whatever_language_was_stored(client, vetted_worker):
    vetted_worker.preferred_language = "km"
    vetted_worker.save(update_fields=["preferred_language"])
    _passed_training(vetted_worker)
    page = _home_in(client, vetted_worker, "en")
    assert "You can now take paid work in Multi-label." in page


def test_the_email_goes_in_the_language_the_worker_chose(vetted_worker, settings):
    vetted_worker.preferred_language = "km"
    vetted_worker.email = "w@example.com"
    vetted_worker.save(update_fields=["preferred_language", "email"])
    notification = _passed_training(vetted_worker)
    email_notification(notification.pk)
    assert mail.outbox[-1].subject == "អ្នកបានជាប់ការបណ្តុះបណ្តាលហើយ"
    assert "ការដាក់ស្លាកច្រើន" in mail.outbox[-1].body


def test_rows_stored_before_msgids_show_their_text(client, vetted_worker):
    Notification.objects.create(user=vetted_worker, subject="Old subject", body="Old body")
    page = _home_in(client, vetted_worker, "km")
    assert "Old subject" in page and "Old body" in page


def test_the_language_picker_names_each_language_in_itself(client):
    page = client.get("/").content.decode()
    assert '<option value="km">ខ្មែរ</option>' in page
    assert "English</option>" in page
