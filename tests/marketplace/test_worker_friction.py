"""Issue 19 point 4: what a worker's pages say matches what is true for them."""

import uuid

import pytest
from django.urls import reverse

from marketplace.models import WorkerProfile
from tasks import work
from tests.work_helpers import published_set

pytestmark = pytest.mark.django_db

NOTHING_OPEN = "Work will appear here when task sets are open to you."


@pytest.fixture
def animals(requester_org, requester, admin_user):
    return published_set(
        organization=requester_org, requester=requester, admin=admin_user, gold_ratio_permille=0
    )


def test_home_says_how_many_sets_are_open_instead_of_work_will_appear(
    client, vetted_worker, animals
):
    client.force_login(vetted_worker)
    page = client.get(reverse("worker_home")).content.decode()
    assert NOTHING_OPEN not in page
    assert "1 task set is open to you now." in page


def test_home_says_work_will_appear_only_when_nothing_is_open(client, vetted_worker, animals):
    animals.language = "fr"  # a language this worker does not read
    animals.save(update_fields=["language"])
    client.force_login(vetted_worker)
    assert NOTHING_OPEN in client.get(reverse("worker_home")).content.decode()


def test_home_points_a_new_worker_at_open_training(client, centre, requester_org, admin_user):
    from tests.factories import WorkerProfileFactory

    newcomer = WorkerProfileFactory(
        user__username="dara", centre=centre, status=WorkerProfile.Status.VETTED
    ).user
    published_set(
        organization=requester_org,
        requester=admin_user,
        admin=admin_user,
        is_training=True,
        training_answer_budget=50,
        regular=0,
        gold=10,
    )
    client.force_login(newcomer)
    page = client.get(reverse("worker_home")).content.decode()
    assert "Training is open to you now" in page and NOTHING_OPEN not in page


def test_earnings_show_pay_waiting_for_review(client, vetted_worker, animals):
    claim = work.claim_next_task(worker=vetted_worker)
    work.submit_answer(
        worker=vetted_worker,
        assignment_id=claim.assignment.pk,
        answer="cat",
        submission_id=uuid.uuid4(),
        seconds_spent=10,
    )
    client.force_login(vetted_worker)
    page = client.get(reverse("worker_earnings")).content.decode()
    assert "Answered, waiting for review" in page
    assert "1 answer)" in page and "0.05" in page
    assert "No earnings yet" not in page


def test_earnings_do_not_offer_bank_payouts_the_site_cannot_make(client, vetted_worker, settings):
    settings.STRIPE_SECRET_KEY = ""  # Stripe not switched on
    settings.STRIPE_CONNECT_COUNTRIES = frozenset({"KH"})  # though offered in the country
    client.force_login(vetted_worker)
    page = client.get(reverse("worker_earnings")).content.decode()
    assert "set up a bank account below" not in page
    assert "Stripe can pay your earnings" not in page
    assert "Ask your centre." in page


def test_the_application_starts_with_the_centres_country(client, centre, coordinator):
    from tests.factories import WorkerProfileFactory

    centre.country = "KE"
    centre.save(update_fields=["country"])
    invited = WorkerProfileFactory(
        user__username="wanjiru",
        centre=centre,
        country="",
        status=WorkerProfile.Status.INVITED,
        enrolled_by=coordinator,
    ).user
    client.force_login(invited)
    page = client.get(reverse("worker_apply")).content.decode()
    assert '<option value="KE" selected>' in page


def test_the_application_has_language_tick_boxes_and_links_its_terms(client, outsider):
    client.force_login(outsider)
    page = client.get(reverse("worker_apply")).content.decode()
    assert '<select name="languages"' not in page
    assert 'type="checkbox" name="languages" value="km"' in page
    assert f'href="{reverse("terms_of_work")}"' in page
    assert f'href="{reverse("privacy_notice")}"' in page


def test_the_terms_and_the_privacy_notice_are_plain_pages_anyone_can_read(client):
    terms = client.get(reverse("terms_of_work"))
    privacy = client.get(reverse("privacy_notice"))
    assert terms.status_code == privacy.status_code == 200
    assert "An approved answer waits" in terms.content.decode()
    assert "never see your name" in privacy.content.decode()
