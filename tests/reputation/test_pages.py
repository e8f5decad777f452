"""The worker's quality page and the staff appeal queue, through real requests."""

import re

import pytest
from django.urls import reverse

from reputation import services as quality
from reputation.models import Appeal, WorkerSkill
from tasks import work
from tasks.models import Assignment, Task
from tests.work_helpers import published_set, qualify, submit_committed, vetted_workers

pytestmark = pytest.mark.django_db


def answer(worker, assignment, value):
    return submit_committed(worker, assignment, value)


def claim(worker, task_set=None):
    return work.claim_next_task(worker=worker, task_set_id=task_set and task_set.pk).assignment


def page_text(client, url=None) -> str:
    response = client.get(url or reverse("quality_page"))
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def training(requester_org, requester, admin_user):
    task_set = published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        title="Label training",
        regular=0,
        gold=14,
        options=("cat", "dog", "owl"),
        is_training=True,
        training_answer_budget=200,
    )
    # Each gold task explains itself in its own words, so a page that leaks one is seen.
    for task in task_set.tasks.all():
        Task.objects.filter(pk=task.pk).update(gold_explanation=f"EXPLAINS-{task.external_id}-END")
    return task_set


@pytest.fixture
def animals(requester_org, requester, admin_user):
    return published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        regular=6,
        gold=5,
        assignments_per_task=3,
        gold_ratio_permille=0,
    )


def soft_rejected_answer(animals, worker) -> Assignment:
    """Two well-rated workers say "cat", the worker says "dog": not used."""
    count = Assignment.objects.filter(worker=worker).count()
    for other in vetted_workers(2, prefix=f"o{worker.pk}-{count}-"):
        answer(other, claim(other, animals), "cat")
    mine = claim(worker, animals)
    answer(worker, mine, "dog")
    mine.refresh_from_db()
    assert mine.review_status == Assignment.ReviewStatus.SOFT_REJECTED
    return mine


# --- Who may open what ---------------------------------------------------------------


def test_the_quality_page_is_for_workers_only(client, requester, vetted_worker):
    response = client.get(reverse("quality_page"))
    assert response.status_code == 302 and "/accounts/login/" in response.url
    client.force_login(requester)
    assert client.get(reverse("quality_page")).status_code == 403
    client.force_login(vetted_worker)
    assert client.get(reverse("quality_page")).status_code == 200


@pytest.mark.parametrize("persona", ["requester", "outsider", "vetted_worker"])
def test_only_staff_open_the_appeal_queue(client, request, persona, animals, admin_user):
    [worker] = vetted_workers(1)
    mine = soft_rejected_answer(animals, worker)
    appeal = quality.file_appeal(worker=worker, assignment_id=mine.pk, message="It is a dog.")
    client.force_login(request.getfixturevalue(persona))
    assert client.get(reverse("appeal_queue")).status_code == 403
    assert client.get(reverse("appeal_detail", args=[appeal.pk])).status_code == 403
    response = client.post(
        reverse("appeal_detail", args=[appeal.pk]), {"decision": "uphold", "reason": "Fine."}
    )
    assert response.status_code == 403
    appeal.refresh_from_db()
    assert appeal.status == Appeal.Status.OPEN


def test_anonymous_visitors_are_sent_to_log_in_for_staff_appeals(client):
    response = client.get(reverse("appeal_queue"))
    assert response.status_code == 302 and "/accounts/login/" in response.url


# --- The worker's own standings and checks --------------------------------------------


def test_a_worker_sees_only_their_own_standings_and_checks(client, training, animals):
    me, other = vetted_workers(2, prefix="t", qualified=False)
    qualify(other, skills=("transcription",))
    answer(me, claim(me), "cat")
    answer(other, claim(other), "owl")
    theirs_rejected = soft_rejected_answer(animals, qualify(other))

    client.force_login(me)
    page = page_text(client)
    assert "Labelling" in page and "Transcription" not in page
    assert "1 of your last 1 check was right." in page
    assert "<strong>owl</strong>" not in page  # their answer
    assert reverse("quality_appeal", args=[theirs_rejected.pk]) not in page
    # Nor can anyone appeal someone else's answer by posting its number.
    response = client.post(
        reverse("quality_appeal", args=[theirs_rejected.pk]), {"message": "Mine!"}, follow=True
    )
    assert "not yours" in response.content.decode()
    assert not Appeal.objects.exists()


def test_an_answered_check_shows_its_answer_and_an_unanswered_one_never_does(client, training):
    [trainee] = vetted_workers(1, prefix="new", qualified=False)
    answered = []
    for value in ("cat", "dog", "cat"):
        assignment = claim(trainee)
        answer(trainee, assignment, value)
        answered.append(assignment.task.external_id)
    held = claim(trainee)  # claimed, on screen, not yet answered

    client.force_login(trainee)
    page = page_text(client)
    for external_id in answered:
        assert f"EXPLAINS-{external_id}-END" in page
    unanswered = training.tasks.exclude(external_id__in=answered)
    assert held.task.external_id not in answered
    for task in unanswered:
        assert f"EXPLAINS-{task.external_id}-END" not in page
    assert "2 of your last 3 checks were right." in page
    assert 'class="right-answer">cat<' in page
    # Two of 3 right: 8 more right in a row would be clear evidence (10 of 11).
    assert "8 more checks in this attempt; you need about 8 of them right." in page
    assert "3 checks so far in this attempt." in page


def test_a_failed_attempt_says_when_to_try_again(client, training):
    [trainee] = vetted_workers(1, prefix="new", qualified=False)
    for i in range(10):
        answer(trainee, claim(trainee), "cat" if i < 3 else "dog")
    assert WorkerSkill.objects.get(worker=trainee, skill="label").cooldown_until is not None
    client.force_login(trainee)
    page = page_text(client)
    assert "you can try again after" in page
    assert "3 of your last 10 checks were right." in page


def test_a_trainee_near_the_end_of_a_small_set_reads_the_checks_really_left(
    client, requester_org, requester, admin_user
):
    published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        title="Small training",
        regular=0,
        gold=12,
        is_training=True,
        training_answer_budget=200,
    )
    [trainee] = vetted_workers(1, prefix="new", qualified=False)
    for value in ["cat"] * 7 + ["dog"] * 3:
        answer(trainee, claim(trainee), value)
    client.force_login(trainee)
    page = page_text(client)
    # Two gold tasks are left for this worker, and the last decides on the side the
    # evidence leans to: not the six more a set of 60 checks would take.
    assert "2 more checks in this attempt; you need about 2 of them right." in page
    assert "after at least 10 checks and at most 12." in page


def test_a_qualified_worker_reads_how_far_they_are_from_the_floor(
    client, vetted_worker, requester_org, requester, admin_user
):
    published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        title="Hard signs",
        min_reputation_permille=950,
    )
    client.force_login(vetted_worker)
    page = page_text(client)
    assert "Your score: 87%." in page  # 18 right, 2 wrong, with the prior
    assert "Hard signs: 95%" in page  # locked until the score reaches it
    assert "wrong checks in a row would send you back to training" in page

    qualify(vetted_worker, skills=("label",), right=7.0, wrong=6.0)
    # The demotion test's evidence at 3.5 of the 6 nats that decide: 5 wrong checks more.
    WorkerSkill.objects.filter(worker=vetted_worker, skill="label").update(
        checks_since_qualified=20, attempt_checks=20, attempt_credit_permille=3500
    )
    page = page_text(client)
    assert "Careful: 5 more wrong checks in a row could send you back" in page
    assert "since you qualified we have 20 results" in page
    assert "Now it is at 58% of what that takes." in page


def test_the_quality_page_is_small_and_cheap_to_build(
    client, vetted_worker, django_assert_max_num_queries
):
    client.force_login(vetted_worker)
    with django_assert_max_num_queries(15):
        html = page_text(client)
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html)
    # Its weight on the wire: tests/marketplace/test_page_weight.py.


def test_the_work_page_and_worker_home_link_to_the_quality_page(client, vetted_worker):
    client.force_login(vetted_worker)
    for url in (reverse("work_page"), reverse("worker_home")):
        assert reverse("quality_page") in client.get(url).content.decode()


# --- Appeals ---------------------------------------------------------------------


def test_the_appeal_form_files_an_appeal_and_a_second_is_refused(client, animals):
    [worker] = vetted_workers(1)
    mine = soft_rejected_answer(animals, worker)
    client.force_login(worker)
    page = page_text(client)
    assert "your answer differed" in page  # the reason, in plain words
    url = reverse("quality_appeal", args=[mine.pk])
    assert f'action="{url}"' in page

    empty = client.post(url, {"message": "   "}, follow=True)
    assert "Say why you think your answer was right." in empty.content.decode()
    assert not Appeal.objects.exists()

    response = client.post(url, {"message": "It is clearly a dog."}, follow=True)
    page = response.content.decode()
    assert "Your appeal was sent." in page and "Waiting for a decision" in page
    assert f'action="{url}"' not in page
    appeal = Appeal.objects.get(assignment=mine)
    assert appeal.worker == worker and appeal.message == "It is clearly a dog."

    again = client.post(url, {"message": "Please!"}, follow=True)
    assert "You already appealed this answer." in again.content.decode()
    assert Appeal.objects.count() == 1


def test_appeals_need_a_reason_from_staff(client, animals, admin_user):
    [worker] = vetted_workers(1)
    mine = soft_rejected_answer(animals, worker)
    appeal = quality.file_appeal(worker=worker, assignment_id=mine.pk, message="A dog.")
    client.force_login(admin_user)
    response = client.post(reverse("appeal_detail", args=[appeal.pk]), {"decision": "uphold"})
    assert response.status_code == 400
    appeal.refresh_from_db()
    assert appeal.status == Appeal.Status.OPEN


def test_staff_read_the_evidence_uphold_and_the_worker_sees_it_accepted(
    client, animals, admin_user
):
    [worker] = vetted_workers(1)
    mine = soft_rejected_answer(animals, worker)
    appeal = quality.file_appeal(worker=worker, assignment_id=mine.pk, message="A dog, look.")

    client.force_login(admin_user)
    queue = page_text(client, reverse("appeal_queue"))
    assert reverse("appeal_detail", args=[appeal.pk]) in queue
    detail = page_text(client, reverse("appeal_detail", args=[appeal.pk]))
    assert "A dog, look." in detail
    assert 'id="appealed-answer">dog<' in detail
    assert detail.count("<td>Worker ") == 2  # the two other answers, pseudonymous
    # (the hyphen: a CSRF token, letters and digits, may hold "o3" by chance)
    assert f"o{worker.pk}-" not in detail  # their usernames are not shown
    assert re.search(r'id="aggregated">cat \(\d+% sure\)', detail)
    assert "your answer differed" in detail

    response = client.post(
        reverse("appeal_detail", args=[appeal.pk]),
        {"decision": "uphold", "reason": "The picture shows a dog."},
    )
    assert response.status_code == 302
    mine.refresh_from_db()
    assert mine.review_status == Assignment.ReviewStatus.APPROVED

    client.force_login(worker)
    page = page_text(client)
    assert "Upheld: your answer was accepted" in page
    assert "The picture shows a dog." in page
    assert "Accepted" in page
