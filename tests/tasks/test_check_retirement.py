"""A regular set's live checks stay hidden on the worker's quality page; a worker who
failed one may see it, which retires it from the set's pool first (tasks.checks); the
requester sees how many live checks each set has left, and is told when it runs low."""

import re
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from marketplace.models import AuditLog, Notification
from reputation.models import Appeal
from tasks import checks, work
from tasks.models import Assignment, Task, TaskSet
from tests.work_helpers import published_set, submit_committed, vetted_workers

pytestmark = pytest.mark.django_db

# Strings that appear nowhere on a page unless a check's answer or explanation leaks.
RIGHT = "zebra-right"
WRONG = "okapi-wrong"


@pytest.fixture
def checked(requester_org, requester, admin_user):
    """A regular set with 8 checks whose answer is RIGHT, each explained in its own
    words so that a leaked explanation is seen."""
    task_set = published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        title="Zoo photos",
        regular=40,
        gold=8,
        options=(RIGHT, WRONG),
        assignments_per_task=1,
        gold_ratio_permille=500,
    )
    for task in task_set.tasks.filter(is_gold=True):
        Task.objects.filter(pk=task.pk).update(
            payload_text=f"PAYLOAD-{task.external_id}-END",
            gold_explanation=f"EXPLAINS-{task.external_id}-END",
        )
    return task_set


def answer_check(worker, task, value) -> Assignment:
    """The worker is given this check (as the claim would) and answers it; it is scored
    by the job its commit queues (eager in tests)."""
    now = timezone.now()
    assignment = Assignment.objects.create(
        task=task,
        task_set=task.task_set,
        is_gold=True,
        worker=worker,
        claimed_at=now,
        expires_at=now + timedelta(minutes=10),
        reward_minor=task.task_set.reward_minor,
        currency=task.task_set.currency,
    )
    submit_committed(worker, assignment, value)
    assignment.refresh_from_db()
    assert assignment.gold_credit_permille is not None
    return assignment


def golds(task_set) -> list[Task]:
    return list(task_set.tasks.filter(is_gold=True).order_by("pk"))


def quality_page(client) -> str:
    response = client.get(reverse("quality_page"))
    assert response.status_code == 200
    return response.content.decode()


def handles(page: str) -> list[str]:
    return re.findall(r'name="check" value="([0-9a-f]+)"', page)


def assert_shows_nothing_of(page: str, task: Task, assignment: Assignment) -> None:
    assert f"PAYLOAD-{task.external_id}-END" not in page
    assert f"EXPLAINS-{task.external_id}-END" not in page
    assert RIGHT not in page and WRONG not in page  # neither answer, nor theirs
    assert "known answer:" not in page  # the stored review reason names the answer
    assert reverse("work_image", args=[assignment.pk]) not in page
    assert f"check-{assignment.pk}" not in page and f"answer-{assignment.pk}" not in page
    assert reverse("quality_appeal", args=[assignment.pk]) not in page


# --- The worker's quality page ----------------------------------------------------


def test_the_quality_page_shows_a_live_checks_result_but_not_its_task_or_answer(client, checked):
    [worker] = vetted_workers(1)
    failed_task, passed_task = golds(checked)[:2]
    failed = answer_check(worker, failed_task, WRONG)
    passed = answer_check(worker, passed_task, RIGHT)
    assert failed.review_status == "soft_rejected" and passed.review_status == "approved"

    client.force_login(worker)
    page = quality_page(client)
    assert_shows_nothing_of(page, failed_task, failed)
    assert_shows_nothing_of(page, passed_task, passed)
    # What it does say: the set, that one was right and one not accepted, and why in
    # words that name no answer.
    assert "Zoo photos" in page
    assert "1 of your last 2 checks were right." in page
    assert "did not match the known answer closely enough" in page
    # Only the failed one can be asked for, once in each list it appears in.
    assert len(set(handles(page))) == 1


def test_training_checks_and_checks_of_finished_sets_still_show_their_answer(
    client, checked, requester
):
    [worker] = vetted_workers(1)
    task = golds(checked)[0]
    failed = answer_check(worker, task, WRONG)
    TaskSet.objects.filter(pk=checked.pk).update(status=TaskSet.Status.COMPLETED)

    client.force_login(worker)
    page = quality_page(client)
    assert f"PAYLOAD-{task.external_id}-END" in page
    assert f"EXPLAINS-{task.external_id}-END" in page
    assert f'class="right-answer">{RIGHT}<' in page
    assert reverse("quality_appeal", args=[failed.pk]) in page
    assert not handles(page)


# --- Showing a failed check back retires it ---------------------------------------


def test_showing_a_failed_check_retires_it_then_shows_its_task_and_answer(client, checked):
    me, holder = vetted_workers(2)
    task = golds(checked)[0]
    mine = answer_check(me, task, WRONG)
    # Another worker holds the same check on screen right now.
    now = timezone.now()
    held = Assignment.objects.create(
        task=task,
        task_set=checked,
        is_gold=True,
        worker=holder,
        claimed_at=now,
        expires_at=now + timedelta(minutes=10),
        reward_minor=checked.reward_minor,
        currency=checked.currency,
    )

    client.force_login(me)
    [handle] = set(handles(quality_page(client)))
    response = client.post(reverse("quality_show_check"), {"check": handle}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("quality_check", args=[mine.pk])
    page = response.content.decode()
    assert "This check is retired" in page
    assert f"PAYLOAD-{task.external_id}-END" in page
    assert f"EXPLAINS-{task.external_id}-END" in page
    assert f'class="right-answer">{RIGHT}<' in page
    # Retired from the pool, for this worker, and audited.
    task.refresh_from_db()
    assert task.withdrawn_at is not None and task.retired_at is not None
    assert task.retired_for == me and not task.is_open
    assert AuditLog.objects.filter(action="check.retired", target_id=str(task.pk)).exists()
    # The holder's claim was taken back, under the reason a withdrawn task gives.
    held.refresh_from_db()
    assert held.status == Assignment.Status.RELEASED
    assert held.release_reason == Assignment.ReleaseReason.TASK_WITHDRAWN
    # Answering it now is refused in words that do not say it was a check.
    with pytest.raises(work.WorkError) as refused:
        submit_committed(holder, held, RIGHT)
    assert "taken out of use" in str(refused.value.message)
    assert "disturbing" not in str(refused.value.message)
    # Its answer stays scored, and its quality page now shows it with an appeal form.
    mine.refresh_from_db()
    assert mine.gold_credit_permille == 0 and mine.review_status == "soft_rejected"
    assert reverse("quality_appeal", args=[mine.pk]) in page


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the live claim is SQL")
def test_a_retired_check_is_never_served_again_by_the_real_claim(checked):
    retired_task, kept_task = golds(checked)[:2]
    Task.objects.filter(task_set=checked, is_gold=True).exclude(
        pk__in=[retired_task.pk, kept_task.pk]
    ).delete()
    [me] = vetted_workers(1, prefix="me")
    answer_check(me, retired_task, WRONG)
    shown = checks.show_back_check(worker=me, assignment_id=Assignment.objects.get(worker=me).pk)
    assert shown.retired

    served = []
    for worker in vetted_workers(24, prefix="c"):
        claim = work.claim_next_task(worker=worker, task_set_id=checked.pk)
        served.append(claim.assignment.task_id)
    # Half of the claims want a check (gold ratio 500 permille): they get the kept one,
    # never the retired one.
    assert retired_task.pk not in served
    assert kept_task.pk in served


def test_a_passed_check_is_never_shown_while_live(client, checked):
    [worker] = vetted_workers(1)
    task = golds(checked)[0]
    passed = answer_check(worker, task, RIGHT)

    with pytest.raises(ValidationError, match="did not pass"):
        checks.show_back_check(worker=worker, assignment_id=passed.pk)
    client.force_login(worker)
    assert not handles(quality_page(client))
    assert client.get(reverse("quality_check", args=[passed.pk])).status_code == 404
    task.refresh_from_db()
    assert task.withdrawn_at is None and task.retired_at is None


def test_a_live_check_and_a_regular_answer_get_the_same_404_on_the_check_page(client, checked):
    [worker] = vetted_workers(1)
    failed = answer_check(worker, golds(checked)[0], WRONG)
    regular = work.claim_next_task(worker=worker, task_set_id=checked.pk).assignment
    if regular.is_gold:  # half the claims want a check: answer it and claim again
        submit_committed(worker, regular, WRONG)
        regular = work.claim_next_task(worker=worker, task_set_id=checked.pk).assignment
    client.force_login(worker)
    assert client.get(reverse("quality_check", args=[failed.pk])).status_code == 404
    assert client.get(reverse("quality_check", args=[regular.pk])).status_code == 404


def test_another_workers_check_cannot_be_shown(client, checked):
    me, other = vetted_workers(2)
    task = golds(checked)[0]
    theirs = answer_check(other, task, WRONG)
    client.force_login(other)
    [their_handle] = set(handles(quality_page(client)))

    client.force_login(me)
    response = client.post(reverse("quality_show_check"), {"check": their_handle})
    assert response.status_code == 404
    assert client.post(reverse("quality_show_check"), {"check": "0" * 32}).status_code == 404
    assert client.post(reverse("quality_show_check"), {}).status_code == 404
    with pytest.raises(Assignment.DoesNotExist):
        checks.show_back_check(worker=me, assignment_id=theirs.pk)
    task.refresh_from_db()
    assert task.withdrawn_at is None


def test_a_worker_may_see_only_a_few_checks_of_a_set_a_day(checked):
    [worker] = vetted_workers(1)
    failed = [answer_check(worker, task, WRONG) for task in golds(checked)]
    for assignment in failed[: checks.SHOW_BACK_PER_SET_PER_DAY]:
        assert checks.show_back_check(worker=worker, assignment_id=assignment.pk).retired
    over = failed[checks.SHOW_BACK_PER_SET_PER_DAY]
    with pytest.raises(ValidationError, match="a day"):
        checks.show_back_check(worker=worker, assignment_id=over.pk)
    over.task.refresh_from_db()
    assert over.task.withdrawn_at is None
    # Tomorrow they may again.
    Task.objects.filter(retired_for=worker).update(
        retired_at=timezone.now() - checks.SHOW_BACK_WINDOW - timedelta(minutes=1)
    )
    assert checks.show_back_check(worker=worker, assignment_id=over.pk).retired


def test_appealing_a_live_check_is_taken_like_any_appeal_and_retires_it(client, checked):
    [worker] = vetted_workers(1)
    task = golds(checked)[0]
    failed = answer_check(worker, task, WRONG)
    client.force_login(worker)
    response = client.post(
        reverse("quality_appeal", args=[failed.pk]), {"message": "I am sure."}, follow=True
    )
    assert "Your appeal was sent." in response.content.decode()
    assert Appeal.objects.filter(assignment=failed).exists()
    task.refresh_from_db()
    assert task.retired_for == worker and task.withdrawn_at is not None
    # A refused appeal (a second one) leaves nothing retired or filed twice.
    other_task = golds(checked)[1]
    passed = answer_check(worker, other_task, RIGHT)
    response = client.post(
        reverse("quality_appeal", args=[passed.pk]), {"message": "Hm."}, follow=True
    )
    assert "Only answers that were not accepted can be appealed." in response.content.decode()
    other_task.refresh_from_db()
    assert other_task.withdrawn_at is None


# --- The requester ----------------------------------------------------------------


def test_the_requester_sees_live_checks_left_and_is_warned_once_when_low(
    client, checked, requester
):
    workers = vetted_workers(5)
    tasks = golds(checked)  # 8 live checks; low below 5
    client.force_login(requester)
    detail = client.get(reverse("task_set_detail", args=[checked.pk])).content.decode()
    assert "8 live checks left" in detail and 'id="live-checks-low"' not in detail

    for worker, task in zip(workers[:3], tasks[:3], strict=True):
        checks.show_back_check(worker=worker, assignment_id=answer_check(worker, task, WRONG).pk)
    subject = "A task set is running out of checks"
    assert not Notification.objects.filter(user=requester, subject=subject).exists()
    detail = client.get(reverse("task_set_detail", args=[checked.pk])).content.decode()
    assert "5 live checks left" in detail and 'id="live-checks-low"' not in detail

    checks.show_back_check(
        worker=workers[3], assignment_id=answer_check(workers[3], tasks[3], WRONG).pk
    )
    checks.show_back_check(
        worker=workers[4], assignment_id=answer_check(workers[4], tasks[4], WRONG).pk
    )
    # Told once, when it crossed, not again on the next retirement.
    assert Notification.objects.filter(user=requester, subject=subject).count() == 1
    detail = client.get(reverse("task_set_detail", args=[checked.pk])).content.decode()
    assert "3 live checks left" in detail and 'id="live-checks-low"' in detail
    listing = client.get(reverse("task_set_list")).content.decode()
    assert re.search(r'class="live-checks">3 <strong class="error">low', listing)
    api = client.get(reverse("api_task_set", args=[checked.pk])).json()
    assert api["live_check_count"] == 3 and api["live_checks_low"] is True


def test_a_training_sets_checks_are_not_counted_as_live(
    client, requester_org, requester, admin_user
):
    training = published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        title="Training",
        regular=0,
        gold=12,
        is_training=True,
        training_answer_budget=100,
    )
    assert checks.live_check_count(training) is None
    assert not checks.runs_low(training, None)
