"""Which vetted workers a set reaches (issue 19 point 1): counted by the claim's own
rule (tasks.work.closed_reason), shown before publishing and on the set page, and a
set nobody could ever reach refused at publishing, by the form and the API alike."""

import re

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from rest_framework.test import APIClient

from payouts.currency import format_amount
from payouts.models import JournalEntry
from tasks import services, work
from tasks.models import TaskSet
from tasks.reach import reach_of
from tests.work_helpers import published_set, qualify, vetted_workers

pytestmark = pytest.mark.django_db
# The skill as the requester reads it (marketplace.skills names it for every page).
KM = r"[Tt]ranscription \((?:km|Khmer)\)"


def km_transcription(requester_org, requester, admin_user, **fields):
    return published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        kind=TaskSet.Kind.TRANSCRIPTION,
        language="km",
        publish=False,
        **fields,
    )


def test_reach_counts_who_can_work_now_and_says_why_the_rest_cannot(
    requester_org, requester, admin_user
):
    reader, english_only, _untrained = vetted_workers(3, qualified=False)
    english_only.worker_profile.languages = ["en"]
    english_only.worker_profile.save()
    qualify(reader, skills=["transcription:km"])
    draft = km_transcription(requester_org, requester, admin_user)

    reach = reach_of(draft)

    assert (reach.vetted, reach.open_now, reach.could_later) == (3, 1, 0)
    texts = {reason.code: reason.text for reason in reach.reasons}
    assert texts[work.CLOSED_LANGUAGE] == "1 does not read km."
    not_qualified = texts[work.CLOSED_NOT_QUALIFIED]
    assert re.match(f"1 is not qualified in {KM} yet, and there is no training", not_qualified)
    assert reach.partial and not reach.never


def test_reach_agrees_with_the_claim_rule_once_published(requester_org, requester, admin_user):
    """closed_reason is what set_is_open_to (broadcasts, claims on SQLite) asks."""
    workers = vetted_workers(2, qualified=False)
    qualify(workers[0], skills=["transcription:km"])
    task_set = km_transcription(requester_org, requester, admin_user)
    task_set = services.publish_task_set(task_set_id=task_set.pk, actor=requester)
    assert reach_of(task_set).open_now == 1
    assert work.claim_next_task(worker=workers[0]).assignment is not None
    assert work.claim_next_task(worker=workers[1]).assignment is None


def test_publishing_a_set_nobody_could_ever_reach_is_refused_with_the_reason(
    requester_org, requester, admin_user
):
    vetted_workers(2, qualified=False)
    draft = km_transcription(requester_org, requester, admin_user)
    escrow_before = JournalEntry.objects.count()

    with pytest.raises(ValidationError) as refused:
        services.publish_task_set(task_set_id=draft.pk, actor=requester)

    message = " ".join(refused.value.messages)
    assert "No vetted worker could ever work on this set." in message
    assert re.search(f"2 are not qualified in {KM} yet", message)
    draft.refresh_from_db()
    assert draft.status == TaskSet.Status.DRAFT
    assert JournalEntry.objects.count() == escrow_before


def test_published_training_in_the_skill_makes_the_set_reachable_later(
    requester_org, requester, admin_user
):
    vetted_workers(2, qualified=False)
    published_set(
        organization=requester_org,
        requester=admin_user,
        admin=admin_user,
        kind=TaskSet.Kind.TRANSCRIPTION,
        language="km",
        is_training=True,
        training_answer_budget=50,
        regular=0,
        gold=10,
    )
    draft = km_transcription(requester_org, requester, admin_user)

    reach = reach_of(draft)
    assert (reach.open_now, reach.could_later) == (0, 2)
    assert "training for it is open (2 can take it)" in reach.explanation()
    published = services.publish_task_set(task_set_id=draft.pk, actor=requester)
    assert published.status == TaskSet.Status.PUBLISHED


def test_a_language_nobody_reads_is_refused_even_with_qualified_workers(
    requester_org, requester, admin_user
):
    vetted_workers(2)  # qualified in every skill, reading km and en
    qualify(vetted_workers(1, prefix="q")[0], skills=["transcription:th"])
    draft = km_transcription(requester_org, requester, admin_user, title="Thai")
    draft.language = "th"
    draft.save()
    with pytest.raises(ValidationError, match="3 do not read th"):
        services.publish_task_set(task_set_id=draft.pk, actor=requester)


def test_with_no_vetted_worker_yet_a_set_is_still_published(requester_org, requester, admin_user):
    draft = km_transcription(requester_org, requester, admin_user)
    assert services.publish_task_set(task_set_id=draft.pk, actor=requester).status == "published"


def test_the_api_refuses_with_the_reason(requester_org, requester, admin_user):
    vetted_workers(1, qualified=False)
    draft = km_transcription(requester_org, requester, admin_user)
    api = APIClient()
    api.force_authenticate(requester)
    response = api.post(f"/api/v1/task-sets/{draft.pk}/publish/", format="json")
    assert response.status_code == 400, response.content
    assert re.search(f"not qualified in {KM}", response.content.decode())


def test_the_set_page_shows_reach_and_publishing_says_what_moved_into_escrow(
    client, requester_org, requester, admin_user
):
    reader, _ = vetted_workers(2, qualified=False)
    qualify(reader, skills=["transcription:km"])
    draft = km_transcription(requester_org, requester, admin_user)
    client.force_login(requester)

    page = client.get(reverse("task_set_detail", args=[draft.pk])).content.decode()
    assert "If published now: 1 of 2 vetted workers can work on this set now." in page
    assert re.search(f"1 is not qualified in {KM} yet", page)

    response = client.post(reverse("task_set_action", args=[draft.pk, "publish"]), follow=True)
    page = response.content.decode()
    total = format_amount(services.preview_for(draft).total_minor, "USD")
    assert f"Published. {total} moved from your balance into escrow." in page
    assert "1 vetted worker can see the set now." in page
    assert 'class="warning"' in page and re.search(f"1 is not qualified in {KM}", page)
