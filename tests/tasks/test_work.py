"""Claiming, submitting and releasing through tasks.work: the rules the WebSocket
protocol and the HTTP fallback share."""

import uuid
from datetime import timedelta

import pytest
from django.db.models import Count
from django.utils import timezone

from marketplace.models import WorkerProfile
from payouts.models import LedgerAccount
from tasks import services, work
from tasks.models import Assignment, Task, TaskSet
from tests.concurrency import errors, race
from tests.work_helpers import published_set, submit_committed, vetted_workers

pytestmark = pytest.mark.django_db


@pytest.fixture
def animals(requester_org, requester, admin_user):
    return published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        regular=3,
        gold=5,
        assignments_per_task=2,
        gold_ratio_permille=0,
    )


def answer(worker, assignment, value="dog", submission_id=None):
    return submit_committed(
        worker, assignment, value, submission_id=submission_id, seconds_spent=12
    )


def test_claim_gives_a_task_and_claiming_again_resumes_it(animals, vetted_worker):
    first = work.claim_next_task(worker=vetted_worker)
    again = work.claim_next_task(worker=vetted_worker)
    assert first.assignment is not None and not first.resumed
    assert again.assignment.pk == first.assignment.pk and again.resumed
    assert first.assignment.expires_at - first.assignment.claimed_at == timedelta(
        seconds=animals.time_limit_seconds
    )


def test_a_second_claim_is_prefetched_when_the_setting_allows(animals, vetted_worker, settings):
    settings.WORK_MAX_ACTIVE_CLAIMS = 2
    first = work.claim_next_task(worker=vetted_worker).assignment
    second = work.claim_next_task(worker=vetted_worker).assignment
    third = work.claim_next_task(worker=vetted_worker)
    assert first.task_id != second.task_id
    assert third.resumed and third.assignment.pk == first.pk


def test_a_task_gets_no_more_claims_than_its_set_asks_for(animals):
    workers = vetted_workers(7)
    claims = [work.claim_next_task(worker=w) for w in workers]
    given = [c.assignment for c in claims if c.assignment]
    assert len(given) == 6  # 3 tasks x 2 assignments
    assert claims[-1].assignment is None and claims[-1].reason == "no_tasks"
    per_task = Assignment.objects.values("task").annotate(n=Count("id"))
    assert {row["n"] for row in per_task} == {2}


def test_an_expired_claim_frees_its_slot_without_a_sweeper(animals):
    workers = vetted_workers(7)
    claims = [work.claim_next_task(worker=w).assignment for w in workers[:6]]
    assert work.claim_next_task(worker=workers[6]).assignment is None
    Assignment.objects.filter(pk=claims[0].pk).update(expires_at=timezone.now())
    retaken = work.claim_next_task(worker=workers[6]).assignment
    assert retaken is not None and retaken.task_id == claims[0].task_id


def test_a_late_answer_counts_if_the_slot_was_not_retaken(animals, vetted_worker):
    assignment = work.claim_next_task(worker=vetted_worker).assignment
    Assignment.objects.filter(pk=assignment.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    result = answer(vetted_worker, assignment)
    assert result.assignment.status == "submitted"


def test_a_late_answer_is_refused_clearly_once_the_slot_was_retaken(animals):
    workers = vetted_workers(7)
    claims = [work.claim_next_task(worker=w).assignment for w in workers[:6]]
    late = claims[0]
    Assignment.objects.filter(pk=late.pk).update(expires_at=timezone.now())
    assert work.claim_next_task(worker=workers[6]).assignment.task_id == late.task_id
    with pytest.raises(work.WorkError) as refusal:
        answer(workers[0], late)
    assert refusal.value.code == "slot_retaken"
    assert "ran out" in refusal.value.message
    assert Assignment.objects.get(pk=late.pk).status == "active"


def test_a_resend_gets_the_same_result_and_writes_nothing(animals, vetted_worker):
    assignment = work.claim_next_task(worker=vetted_worker).assignment
    submission_id = uuid.uuid4()
    first = answer(vetted_worker, assignment, "dog", submission_id)
    resend = answer(vetted_worker, assignment, "cat", submission_id)
    assert not first.replayed and resend.replayed
    stored = Assignment.objects.get(pk=assignment.pk)
    assert stored.answer == "dog"
    assert Task.objects.get(pk=assignment.task_id).submitted_count == 1


def test_a_submitted_answer_is_never_overwritten(animals, vetted_worker):
    assignment = work.claim_next_task(worker=vetted_worker).assignment
    answer(vetted_worker, assignment, "dog")
    with pytest.raises(work.WorkError) as refusal:
        answer(vetted_worker, assignment, "cat")
    assert refusal.value.code == "already_submitted"
    assert Assignment.objects.get(pk=assignment.pk).answer == "dog"


def test_nobody_can_answer_someone_elses_assignment(animals, vetted_worker):
    assignment = work.claim_next_task(worker=vetted_worker).assignment
    (other,) = vetted_workers(1)
    with pytest.raises(work.WorkError) as refusal:
        answer(other, assignment)
    assert refusal.value.code == "not_found"


@pytest.mark.parametrize(
    ("kind", "options", "bad", "good", "stored"),
    [
        ("label", ["cat", "dog"], "cow", "dog", "dog"),
        ("label", ["cat", "dog"], ["dog"], "cat", "cat"),
        ("multilabel", ["cat", "dog", "owl"], ["cow"], ["owl", "cat"], ["cat", "owl"]),
        ("multilabel", ["cat", "dog", "owl"], "cat", [], []),
        ("transcription", [], "   ", "  Phnom Penh ", "Phnom Penh"),
        ("transcription", [], ["x"], "a", "a"),
    ],
)
def test_answers_are_checked_for_the_kind(
    requester_org, requester, admin_user, vetted_worker, kind, options, bad, good, stored
):
    task_set = published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        kind=kind,
        options=options or ("x",),
        gold=5,
        regular=1,
    )
    if kind == "transcription":
        TaskSet.objects.filter(pk=task_set.pk).update(label_options=[])
    assignment = work.claim_next_task(worker=vetted_worker).assignment
    with pytest.raises(work.WorkError) as refusal:
        answer(vetted_worker, assignment, bad)
    assert refusal.value.code == "invalid_answer"
    assert answer(vetted_worker, assignment, good).assignment.answer == stored


def test_released_tasks_go_to_others_and_never_back(animals, vetted_worker):
    assignment = work.claim_next_task(worker=vetted_worker).assignment
    work.release_assignment(worker=vetted_worker, assignment_id=assignment.pk, reason="broken")
    stored = Assignment.objects.get(pk=assignment.pk)
    assert (stored.status, stored.release_reason) == ("released", "broken")
    seen = {assignment.task_id}
    while (claim := work.claim_next_task(worker=vetted_worker)).assignment:
        assert claim.assignment.task_id not in seen
        seen.add(claim.assignment.task_id)
        answer(vetted_worker, claim.assignment)
    assert len(seen) == 3
    (other,) = vetted_workers(1)
    assert work.claim_next_task(worker=other).assignment.task_id == assignment.task_id


def test_gold_is_mixed_in_but_never_alone(requester_org, requester, admin_user, vetted_worker):
    task_set = published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        regular=40,
        gold=10,
        assignments_per_task=1,
        gold_ratio_permille=300,
    )
    served = []
    while (claim := work.claim_next_task(worker=vetted_worker)).assignment:
        served.append(claim.assignment.is_gold)
        answer(vetted_worker, claim.assignment, "cat")
    assert 2 <= sum(served) <= 10  # about 30% of the first claims, until gold runs out
    assert served[-1] is False  # the last task is regular: no gold once regular work is gone
    assert Task.objects.filter(task_set=task_set, is_gold=False, is_open=True).count() == 0


def test_the_set_completes_when_every_task_has_its_answers(animals):
    workers = vetted_workers(2)
    for worker in workers:
        while (claim := work.claim_next_task(worker=worker)).assignment:
            answer(worker, claim.assignment)
    animals.refresh_from_db()
    assert animals.status == "completed" and animals.completed_at


def test_pausing_withdraws_claims_and_a_late_answer_says_why(animals, requester, vetted_worker):
    assignment = work.claim_next_task(worker=vetted_worker).assignment
    services.pause_task_set(task_set_id=animals.pk, actor=requester)
    stored = Assignment.objects.get(pk=assignment.pk)
    assert (stored.status, stored.release_reason) == ("released", "set_paused")
    with pytest.raises(work.WorkError) as refusal:
        answer(vetted_worker, assignment)
    assert refusal.value.code == "released" and "stopped this set" in refusal.value.message
    assert work.claim_next_task(worker=vetted_worker).reason == "no_sets"
    services.resume_task_set(task_set_id=animals.pk, actor=requester)
    assert work.claim_next_task(worker=vetted_worker).assignment is not None


def test_cancelling_keeps_what_submitted_work_is_owed_in_escrow(
    animals, requester, vetted_worker, settings
):
    assignment = work.claim_next_task(worker=vetted_worker).assignment
    answer(vetted_worker, assignment)
    services.cancel_task_set(task_set_id=animals.pk, actor=requester)
    escrow = LedgerAccount.objects.get(kind="set_escrow", reference=f"set:{animals.pk}")
    assert escrow.balance_minor == 5 + 1  # one reward of 5, the 20% fee rounded up


def test_cancelling_returns_what_paid_answers_already_took(animals, requester):
    first, second = vetted_workers(2, prefix="paid")
    for worker in (first, second):
        answer(worker, work.claim_next_task(worker=worker).assignment)  # the task closes
    assert set(Assignment.objects.values_list("review_status", flat=True)) == {"approved"}
    services.cancel_task_set(task_set_id=animals.pk, actor=requester)
    escrow = LedgerAccount.objects.get(kind="set_escrow", reference=f"set:{animals.pk}")
    # Both answers were paid from the escrow on approval: nothing more is owed.
    assert escrow.balance_minor == 0


def test_only_vetted_active_workers_may_claim(animals, applicant, vetted_worker):
    with pytest.raises(work.WorkError):
        work.claim_next_task(worker=applicant)
    WorkerProfile.objects.filter(user=vetted_worker).update(status="suspended")
    with pytest.raises(work.WorkError):
        work.claim_next_task(worker=vetted_worker)


def test_centre_and_language_filters_decide_who_sees_a_set(
    requester_org, requester, admin_user, centre, coordinator
):
    restricted = published_set(
        organization=requester_org, requester=requester, admin=admin_user, centre=centre
    )
    khmer = published_set(
        organization=requester_org, requester=requester, admin=admin_user, language="km"
    )
    (enrolled,) = vetted_workers(1, prefix="enrolled", centre=centre, enrolled_by=coordinator)
    (self_declared,) = vetted_workers(1, prefix="claims", centre=centre, languages=["en"])
    enrolled_sets = {s.pk for s in work.eligible_sets(enrolled.worker_profile)}
    declared_sets = {s.pk for s in work.eligible_sets(self_declared.worker_profile)}
    assert enrolled_sets == {restricted.pk, khmer.pk}
    assert declared_sets == set()


@pytest.mark.django_db(transaction=True)
def test_racing_claimers_never_over_assign(requester_org, requester, admin_user):
    task_set = published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        regular=5,
        gold=5,
        assignments_per_task=2,
        gold_ratio_permille=0,
    )
    workers = vetted_workers(16)
    outcomes = race(*[lambda w=w: work.claim_next_task(worker=w) for w in workers])
    assert errors(outcomes) == []
    given = [o.assignment for o in outcomes if o.assignment]
    assert len(given) == 10
    counts = Assignment.objects.filter(task_set=task_set).values("task").annotate(n=Count("id"))
    assert sorted(row["n"] for row in counts) == [2] * 5


@pytest.mark.django_db(transaction=True)
def test_racing_resends_of_one_answer_write_it_once(animals, vetted_worker):
    assignment = work.claim_next_task(worker=vetted_worker).assignment
    submission_id = uuid.uuid4()
    outcomes = race(*[lambda: answer(vetted_worker, assignment, "dog", submission_id)] * 6)
    assert errors(outcomes) == []
    assert sorted(o.replayed for o in outcomes) == [False] + [True] * 5
    assert Task.objects.get(pk=assignment.task_id).submitted_count == 1


def test_one_submission_id_cannot_answer_two_tasks(animals, settings):
    settings.WORK_MAX_ACTIVE_CLAIMS = 2
    (worker,) = vetted_workers(1)
    first = work.claim_next_task(worker=worker).assignment
    second = work.claim_next_task(worker=worker).assignment
    submission_id = uuid.uuid4()
    answer(worker, first, "dog", submission_id)
    with pytest.raises(work.WorkError) as refusal:
        answer(worker, second, "cat", submission_id)
    assert refusal.value.code == "duplicate_submission_id"
    second.refresh_from_db()
    assert second.status == "active"
    assert Task.objects.get(pk=second.task_id).submitted_count == 0  # rolled back whole


def test_a_set_whose_last_task_closed_while_paused_completes_on_resume(
    animals, requester, django_capture_on_commit_callbacks
):
    # The last task was settled, then a pause won the race against the completion
    # check that runs after that: every task is done, the set is paused.
    services.pause_task_set(task_set_id=animals.pk, actor=requester)
    Task.objects.filter(task_set=animals, is_gold=False).update(
        is_open=False, submitted_count=2, settled_at=timezone.now()
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.resume_task_set(task_set_id=animals.pk, actor=requester)
    animals.refresh_from_db()
    assert animals.status == "completed"


def test_a_deactivated_account_cannot_claim(animals, vetted_worker):
    type(vetted_worker).objects.filter(pk=vetted_worker.pk).update(is_active=False)
    with pytest.raises(work.WorkError):
        work.claim_next_task(worker=vetted_worker)  # the caller's copy still says active


def test_an_unencodable_transcription_is_refused_as_an_answer(
    requester_org, requester, admin_user, vetted_worker
):
    published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        kind="transcription",
        options=("x",),
        regular=1,
    )
    TaskSet.objects.update(label_options=[])
    assignment = work.claim_next_task(worker=vetted_worker).assignment
    with pytest.raises(work.WorkError) as refusal:
        answer(vetted_worker, assignment, "abc\ud800")
    assert refusal.value.code == "invalid_answer"


def test_a_required_skill_limits_a_set_to_workers_trained_in_it(
    requester_org, requester, admin_user
):
    handwriting = published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        required_skill="khmer-handwriting",
    )
    (trained,) = vetted_workers(1, prefix="trained", skills=["khmer-handwriting"])
    (untrained,) = vetted_workers(1, prefix="untrained")
    assert [s.pk for s in work.eligible_sets(trained.worker_profile)] == [handwriting.pk]
    assert work.claim_next_task(worker=untrained).reason == "no_sets"
    assert work.claim_next_task(worker=trained).assignment is not None


def test_a_completed_set_returns_the_escrow_it_no_longer_needs(
    requester_org, requester, admin_user
):
    task_set = published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        regular=2,
        gold=5,
        assignments_per_task=1,
        gold_ratio_permille=0,
        max_extra_assignments=2,  # funded, never needed: consensus has no target
    )
    escrow = LedgerAccount.objects.get(kind="set_escrow", reference=f"set:{task_set.pk}")
    funded = escrow.balance_minor
    for worker in vetted_workers(2, prefix="done"):
        answer(worker, work.claim_next_task(worker=worker).assignment)
    task_set.refresh_from_db()
    assert task_set.status == TaskSet.Status.COMPLETED
    escrow.refresh_from_db()
    assert escrow.balance_minor == 0
    returned = LedgerAccount.objects.get(
        kind="org_balance", organization=requester_org, currency="USD"
    ).lines.filter(entry__kind="escrow.return")
    assert sum(line.amount_minor for line in returned) == funded - 2 * 5 - 2  # pay, fee


@pytest.mark.django_db(transaction=True)
def test_racing_claimers_with_gold_mixed_in_never_over_assign_regular_tasks(
    requester_org, requester, admin_user
):
    # Half the claims want gold: on PostgreSQL the gold is chosen inside the statement
    # that recounts the locked regular task, and must still leave its slot alone.
    task_set = published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        regular=4,
        gold=20,
        assignments_per_task=2,
        gold_ratio_permille=500,
    )
    workers = vetted_workers(16)
    outcomes = race(*[lambda w=w: work.claim_next_task(worker=w) for w in workers])
    assert errors(outcomes) == []
    given = [o.assignment for o in outcomes if o.assignment]
    regular = Assignment.objects.filter(task_set=task_set, is_gold=False)
    counts = regular.values("task").annotate(n=Count("id"))
    assert all(row["n"] <= 2 for row in counts)
    assert all(a.is_gold == a.task.is_gold for a in Assignment.objects.select_related("task"))
    assert len(given) >= 8  # every regular slot found a claimer (gold came on top)


def test_a_claim_and_an_answer_take_a_handful_of_statements(
    animals, vetted_worker, django_assert_max_num_queries
):
    from django.db import connection

    # Each count includes the SAVEPOINT and RELEASE of the test's own transaction, and
    # one read of the worker's standings per skill (reputation gates every set).
    hand_written = connection.vendor == "postgresql"
    with django_assert_max_num_queries(2 + 7 if hand_written else 2 + 8):
        assignment = work.claim_next_task(worker=vetted_worker).assignment
    with django_assert_max_num_queries(2 + 3):
        # Progress, settling and completion run after commit: not run here.
        work.submit_answer(
            worker=vetted_worker,
            assignment_id=assignment.pk,
            answer="dog",
            submission_id=uuid.uuid4(),
        )
