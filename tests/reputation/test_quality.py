"""The quality system through the real claim and submit services: training and
qualification, gold scoring, consensus at a task's close, dynamic redundancy, fair
review and appeals, gold corrections, and rebuilding standings from events."""

import uuid
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.utils import timezone

from reputation import services as quality
from reputation.models import Appeal, Flag, ReputationEvent, WorkerSkill
from reputation.scoring import credit_permille
from tasks import work
from tasks.models import Assignment, Task, TaskSet
from tasks.protocol import available_sets
from tests.work_helpers import published_set, qualify, submit_committed, vetted_workers

pytestmark = pytest.mark.django_db


def answer(worker, assignment, value):
    return submit_committed(worker, assignment, value)


def claim(worker, task_set=None):
    return work.claim_next_task(worker=worker, task_set_id=task_set and task_set.pk).assignment


@pytest.fixture
def training(requester_org, requester, admin_user):
    return published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        title="Label training",
        regular=0,
        gold=14,
        is_training=True,
        training_answer_budget=200,
    )


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


def standing(worker, skill="label"):
    return WorkerSkill.objects.get(worker=worker, skill=skill)


# --- Scoring ---------------------------------------------------------------------


def test_gold_credit_per_kind():
    label = TaskSet(kind="label")
    multi = TaskSet(kind="multilabel")
    text = TaskSet(kind="transcription", normalise_case=True, normalise_punctuation=True)
    strict = TaskSet(kind="transcription", normalise_case=False, normalise_punctuation=False)
    assert credit_permille(label, "cat", "cat") == 1000
    assert credit_permille(label, "dog", "cat") == 0
    assert credit_permille(multi, ["a", "b"], ["a", "b"]) == 1000
    assert credit_permille(multi, ["a"], ["a", "b"]) == 500  # Jaccard 1/2
    assert credit_permille(multi, [], []) == 1000
    # Case, punctuation, spacing and Unicode composition are normalised away...
    assert credit_permille(text, "  Cafe\u0301,  open! ", "café open") == 1000
    # ...unless the set asks for them; one wrong letter in ten costs a tenth.
    assert credit_permille(strict, "Cafe", "cafe") == 750
    assert credit_permille(text, "stop signx", "stop signs") == 900


def test_khmer_gold_credit_counts_graphemes_and_ignores_zero_width_spaces():
    text = TaskSet(kind="transcription", normalise_case=True, normalise_punctuation=False)
    # Four graphemes (ក្មេ ង រៀ ន); a missing vowel sign spoils one of them: 750, not the
    # 875 that counting the eight code points would give.
    assert credit_permille(text, "ក្មងរៀន", "ក្មេងរៀន") == 750
    assert credit_permille(text, "ក្មេង\u200bរៀន", "ក្មេងរៀន") == 1000


# --- Training --------------------------------------------------------------------


def test_a_new_worker_trains_with_feedback_then_unlocks_paid_work(training, animals):
    [trainee] = vetted_workers(1, prefix="new", qualified=False)
    first = claim(trainee)
    assert first.task_set_id == training.pk  # regular work is locked until qualified
    assert [s["id"] for s in available_sets(trainee.worker_profile)] == [training.pk]

    result = answer(trainee, first, "dog")  # gold answers are "cat"
    assert result.feedback is not None and not result.feedback.correct
    assert result.feedback.right_answer == "cat"
    assert result.feedback.explanation == "SECRET-EXPLANATION"
    for _ in range(10):
        result = answer(trainee, claim(trainee), "cat")
        assert result.feedback.correct
    # 10 of 11: the evidence for a good worker over a coin flipper clears the bar.
    assert standing(trainee).state == WorkerSkill.State.QUALIFIED
    assert claim(trainee).task_set_id == animals.pk
    assert "passed training" in trainee.notifications.latest("pk").subject


def test_a_failed_attempt_can_be_retried_after_the_cooldown(training, animals):
    [trainee] = vetted_workers(1, prefix="new", qualified=False)
    # 4 right of 11: the evidence for a coin flipper (or worse) clears the bound.
    for i in range(11):
        answer(trainee, claim(trainee), "cat" if i < 4 else "dog")
    row = standing(trainee)
    assert row.state == WorkerSkill.State.TRAINING and row.attempts_failed == 1
    assert work.claim_next_task(worker=trainee).reason == "no_sets"
    WorkerSkill.objects.filter(pk=row.pk).update(cooldown_until=timezone.now() - timedelta(1))
    assert claim(trainee).task_set_id == training.pk


@pytest.fixture
def small_training(requester_org, requester, admin_user):
    # As small as a training set may be published with: 12 gold tasks, and 60 checks
    # at most per attempt. Nobody answers a task twice.
    return published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        title="Small training",
        regular=0,
        gold=12,
        is_training=True,
        training_answer_budget=200,
    )


# Seven of the first ten right leaves the evidence between "good" and "poor".
UNDECIDED_TEN = ["cat"] * 7 + ["dog"] * 3


@pytest.mark.parametrize(
    ("last_two", "state", "subject"),
    [
        (["cat", "dog"], WorkerSkill.State.QUALIFIED, "You passed training"),
        (["dog", "dog"], WorkerSkill.State.TRAINING, "Training not passed yet"),
    ],
)
def test_a_trainee_gets_a_verdict_on_the_last_check_of_a_small_set(
    small_training, last_two, state, subject
):
    [trainee] = vetted_workers(1, prefix="new", qualified=False)
    for value in UNDECIDED_TEN + last_two[:1]:
        answer(trainee, claim(trainee), value)
    row = standing(trainee)
    assert (row.state, row.attempt_checks, row.cooldown_until) == ("training", 11, None)

    # The set's twelfth and last check for this worker decides, on the side the
    # evidence leans to (8 of 12: good; 7 of 12: poor), instead of leaving the worker
    # with no task and no verdict.
    answer(trainee, claim(trainee), last_two[1])
    row = standing(trainee)
    assert row.state == state and row.attempt_checks == 0
    assert (row.attempts_failed == 1) == (state == WorkerSkill.State.TRAINING)
    assert trainee.notifications.latest("pk").subject == subject
    left = ReputationEvent.objects.filter(worker=trainee).order_by("pk")
    assert list(left.values_list("training_checks_left", flat=True)) == list(range(11, -1, -1))

    before = snapshot()
    WorkerSkill.objects.update(attempt_checks=0, attempts_failed=0, state="x")
    call_command("recompute_reputation", verbosity=0)
    assert snapshot() == before


def test_gold_given_back_or_withdrawn_is_out_of_reach(small_training):
    [trainee] = vetted_workers(1, prefix="new", qualified=False)
    work.release_assignment(worker=trainee, assignment_id=claim(trainee).pk, reason="skip")
    unseen = Task.objects.filter(task_set=small_training).exclude(assignments__worker=trainee)
    Task.objects.filter(pk=unseen.first().pk).update(withdrawn_at=timezone.now())
    for value in UNDECIDED_TEN:
        answer(trainee, claim(trainee), value)
    # Ten checks were all this worker could still reach: the tenth decides (7 of 10
    # leans to "good").
    assert standing(trainee).state == WorkerSkill.State.QUALIFIED
    assert claim(trainee, small_training) is None


def test_training_stops_at_its_funded_answers(training):
    TaskSet.objects.filter(pk=training.pk).update(training_answer_budget=1)
    first, second = vetted_workers(2, prefix="t", qualified=False)
    assert claim(first) is not None
    assert claim(second) is None


def test_a_training_set_holds_gold_only(requester_org, requester, admin_user):
    with pytest.raises(ValidationError, match="gold tasks only"):
        published_set(
            organization=requester_org,
            requester=requester,
            admin=admin_user,
            regular=1,
            gold=12,
            is_training=True,
            training_answer_budget=10,
        )


# --- Gold in regular work ------------------------------------------------------


def gold_assignment(worker, task):
    now = timezone.now()
    return Assignment.objects.create(
        task=task,
        task_set=task.task_set,
        is_gold=True,
        worker=worker,
        claimed_at=now,
        expires_at=now + timedelta(minutes=10),
        reward_minor=task.task_set.reward_minor,
        currency=task.task_set.currency,
    )


@pytest.fixture
def checked(requester_org, requester, admin_user):
    return published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        regular=4,
        gold=30,
        gold_ratio_permille=200,
    )


def test_a_failed_check_is_paid_but_not_used_and_never_announced(checked):
    [worker] = vetted_workers(1)
    score_before = standing(worker).score_permille
    gold = checked.tasks.filter(is_gold=True).first()
    result = answer(worker, gold_assignment(worker, gold), "dog")
    assert result.feedback is None  # regular checks look like any task on the wire
    assignment = Assignment.objects.get(pk=result.assignment.pk)
    assert assignment.review_status == "soft_rejected"
    assert assignment.gold_credit_permille == 0
    assert "cat" in assignment.review_reason
    event = ReputationEvent.objects.get(assignment=assignment)
    assert (event.source, event.credit_permille, event.weight_permille) == ("gold", 0, 1000)
    assert standing(worker).score_permille < score_before


def test_a_spammer_falls_below_the_floor_and_is_flagged(checked):
    [spammer] = vetted_workers(1)  # with a good record (18 of 20) before turning bad
    changes = []
    for gold in checked.tasks.filter(is_gold=True).order_by("pk"):
        answer(spammer, gold_assignment(spammer, gold), "dog")
        changes.append(standing(spammer).state)
    # Not on a few misses: only once the evidence is clear (eleven wrong in a row is not
    # yet enough; a 70% worker does that once in a few million runs).
    assert changes[:11] == ["qualified"] * 11
    row = standing(spammer)
    assert row.state == WorkerSkill.State.TRAINING and row.demoted_at is not None
    flag = Flag.objects.get(worker=spammer, signal="quality_floor", status="open")
    assert flag.evidence["skill"] == "label"
    assert claim(spammer, checked) is None


def test_an_honest_worker_with_a_few_misses_stays_qualified(checked):
    [worker] = vetted_workers(1)
    for i, gold in enumerate(checked.tasks.filter(is_gold=True)[:20]):
        answer(worker, gold_assignment(worker, gold), "dog" if i % 4 == 0 else "cat")
    assert standing(worker).state == WorkerSkill.State.QUALIFIED
    # (Answering twenty checks in no time may well be flagged as too fast: not here.)
    assert not Flag.objects.filter(worker=worker, signal="quality_floor").exists()


# --- Consensus at a task's close, dynamic redundancy ---------------------------


def test_a_closed_task_gets_a_weighted_answer_and_reviews_each_answer(animals):
    good, also_good, odd = vetted_workers(3)
    qualify(odd, right=4, wrong=3)
    task = animals.tasks.order_by("pk").first()
    for worker, value in ((good, "cat"), (also_good, "cat"), (odd, "dog")):
        answer(worker, claim(worker, animals), value)
    task.refresh_from_db()
    assert task.aggregated_answer == "cat" and task.confidence_permille >= 600
    reviews = dict(
        Assignment.objects.filter(task=task).values_list("worker__username", "review_status")
    )
    assert reviews == {"w0": "approved", "w1": "approved", "w2": "soft_rejected"}
    consensus = ReputationEvent.objects.filter(assignment__task=task, source="consensus")
    assert sorted(consensus.values_list("credit_permille", flat=True)) == [0, 1000, 1000]
    assert set(consensus.values_list("weight_permille", flat=True)) == {250}


def test_an_unsure_task_gets_one_more_answer_up_to_the_cap(
    requester_org, requester, admin_user, django_capture_on_commit_callbacks
):
    unsure = published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        regular=1,
        gold=5,
        assignments_per_task=2,
        gold_ratio_permille=0,
        target_confidence_permille=900,
        max_extra_assignments=1,
    )
    first, second, third, fourth = vetted_workers(4)
    answer(first, claim(first), "cat")
    answer(second, claim(second), "dog")
    task = unsure.tasks.get(is_gold=False)
    assert task.is_open and task.extra_assignments == 1
    assert not Assignment.objects.filter(task=task).exclude(review_status="pending").exists()
    with django_capture_on_commit_callbacks(execute=True):
        answer(third, claim(third), "cat")
    task.refresh_from_db()
    assert not task.is_open and task.aggregated_answer == "cat"
    assert claim(fourth) is None  # the cap is reached: no fourth answer
    unsure.refresh_from_db()
    assert unsure.status == TaskSet.Status.COMPLETED


def test_escrow_covers_the_extra_answers(requester_org, requester, admin_user):
    base = published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        regular=10,
        gold=5,
        publish=False,
        gold_ratio_permille=0,
        assignments_per_task=3,
    )
    from tasks.services import preview_for

    plain = preview_for(base)
    base.max_extra_assignments = 2
    assert preview_for(base).regular_assignments == plain.regular_assignments + 20


# --- Review, appeals -------------------------------------------------------------


def soft_rejected_answer(animals, worker):
    task_count = Assignment.objects.filter(worker=worker).count()
    others = vetted_workers(2, prefix=f"o{worker.pk}-{task_count}-")
    task = animals.tasks.filter(is_open=True).order_by("pk").first()
    for other in others:
        answer(other, claim(other, animals), "cat")
    mine = claim(worker, animals)
    assert mine.task_id == task.pk
    answer(worker, mine, "dog")
    mine.refresh_from_db()
    assert mine.review_status == "soft_rejected"
    return mine


def test_a_requester_rejects_only_with_evidence_and_reason(animals, requester):
    [worker] = vetted_workers(1)
    mine = soft_rejected_answer(animals, worker)
    approved_peer = Assignment.objects.filter(task=mine.task, review_status="approved").first()
    with pytest.raises(ValidationError):
        quality.reject_answer(actor=requester, assignment_id=approved_peer.pk, reason="no")
    with pytest.raises(ValidationError):
        quality.reject_answer(actor=requester, assignment_id=mine.pk, reason="  ")
    quality.reject_answer(actor=requester, assignment_id=mine.pk, reason="Dogs are not cats.")
    mine.refresh_from_db()
    assert mine.review_status == "rejected" and "Dogs are not cats." in mine.review_reason
    assert ReputationEvent.objects.get(assignment=mine, source="rejection").weight_permille == 1000


def test_one_requesters_rejections_are_bounded(animals, requester, settings):
    settings.QUALITY_REJECTIONS_PER_REQUESTER = 1
    [worker] = vetted_workers(1)
    first = soft_rejected_answer(animals, worker)
    second = soft_rejected_answer(animals, worker)
    for mine in (first, second):
        quality.reject_answer(actor=requester, assignment_id=mine.pk, reason="Wrong.")
    weights = ReputationEvent.objects.filter(worker=worker, source="rejection").order_by("pk")
    assert list(weights.values_list("weight_permille", flat=True)) == [1000, 0]


def test_an_upheld_appeal_restores_the_answer_and_the_score(animals, requester, admin_user):
    [worker] = vetted_workers(1)
    before = standing(worker)
    mine = soft_rejected_answer(animals, worker)
    quality.reject_answer(actor=requester, assignment_id=mine.pk, reason="Wrong.")
    assert standing(worker).score_permille < before.score_permille
    appeal = quality.file_appeal(worker=worker, assignment_id=mine.pk, message="It is a dog.")
    with pytest.raises(ValidationError, match="already appealed"):
        quality.file_appeal(worker=worker, assignment_id=mine.pk, message="Again.")
    quality.decide_appeal(actor=admin_user, appeal_id=appeal.pk, uphold=True, reason="A dog.")
    mine.refresh_from_db()
    assert mine.review_status == "approved"
    assert not ReputationEvent.objects.filter(assignment=mine, voided_at__isnull=True).exists()
    # Rebuilt without the voided evidence: the fold of what is left.
    restored = standing(worker)
    assert restored.evidence_wrong == 0 and restored.score_permille == 667
    assert Appeal.objects.get(pk=appeal.pk).status == "upheld"


def test_appeals_close_after_the_window_and_only_admins_decide(animals, requester, settings):
    [worker] = vetted_workers(1)
    mine = soft_rejected_answer(animals, worker)
    Assignment.objects.filter(pk=mine.pk).update(reviewed_at=timezone.now() - timedelta(days=8))
    with pytest.raises(ValidationError, match="within 7 days"):
        quality.file_appeal(worker=worker, assignment_id=mine.pk, message="Late.")
    Assignment.objects.filter(pk=mine.pk).update(reviewed_at=timezone.now())
    appeal = quality.file_appeal(worker=worker, assignment_id=mine.pk, message="Look again.")
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        quality.decide_appeal(actor=requester, appeal_id=appeal.pk, uphold=True, reason="x")


def test_a_worker_cannot_appeal_someone_elses_answer(animals):
    worker, other = vetted_workers(2)
    mine = soft_rejected_answer(animals, worker)
    with pytest.raises(ValidationError, match="not yours"):
        quality.file_appeal(worker=other, assignment_id=mine.pk, message="Mine now.")


# --- Contestable gold and corrections --------------------------------------------


def test_gold_that_good_workers_fail_is_flagged_and_correcting_it_rescores(checked, requester):
    workers = vetted_workers(3, prefix="pro")
    gold = checked.tasks.filter(is_gold=True).first()
    for worker in workers:
        answer(worker, gold_assignment(worker, gold), "dog")
    gold.refresh_from_db()
    assert gold.gold_contested_at is not None
    assert requester.notifications.filter(subject__contains="gold answer").exists()

    changed = quality.correct_gold_answer(actor=requester, task_id=gold.pk, gold_answer="dog")
    assert changed == 3
    for worker in workers:
        row = standing(worker)
        live = ReputationEvent.objects.filter(worker=worker, voided_at__isnull=True).get()
        assert live.credit_permille == 1000
        assert row.evidence_wrong == 0
    assert set(Assignment.objects.filter(task=gold).values_list("review_status", flat=True)) == {
        "approved"
    }


def test_only_the_sets_requesters_correct_gold(checked, vetted_worker):
    from django.core.exceptions import PermissionDenied

    gold = checked.tasks.filter(is_gold=True).first()
    with pytest.raises(PermissionDenied):
        quality.correct_gold_answer(actor=vetted_worker, task_id=gold.pk, gold_answer="dog")


# --- Rebuilding from events ------------------------------------------------------


def snapshot():
    return {
        (row.worker_id, row.skill): {
            field.name: getattr(row, field.name)
            for field in WorkerSkill._meta.fields
            if field.name not in ("id",)
        }
        for row in WorkerSkill.objects.all()
    }


def test_recompute_rebuilds_identical_standings(training, checked, animals):
    trainees = vetted_workers(2, prefix="tr", qualified=False)
    for index, trainee in enumerate(trainees):
        for i in range(10):
            answer(trainee, claim(trainee, training), "cat" if i % (index + 2) else "dog")
    workers = vetted_workers(4, prefix="mix", qualified=False)
    for worker in workers:
        for _ in range(10):
            answer(worker, claim(worker, training), "cat")
    golds = list(checked.tasks.filter(is_gold=True)[:8])
    for n, worker in enumerate(workers):
        for i, gold in enumerate(golds):
            answer(worker, gold_assignment(worker, gold), "cat" if (i + n) % 3 else "dog")
    for worker in workers[:3]:
        answer(worker, claim(worker, animals), "cat" if worker != workers[2] else "dog")
    before = snapshot()
    assert ReputationEvent.objects.filter(source="consensus").exists()
    WorkerSkill.objects.update(evidence_right=0, evidence_wrong=0, score_permille=0, state="x")
    call_command("recompute_reputation", verbosity=0)
    assert snapshot() == before


def test_a_duplicate_answer_records_no_second_event(checked):
    [worker] = vetted_workers(1)
    gold = checked.tasks.filter(is_gold=True).first()
    assignment = gold_assignment(worker, gold)
    submission_id = uuid.uuid4()
    for _ in range(2):  # the check is scored by the job its commit queues: once
        submit_committed(worker, assignment, "cat", submission_id=submission_id)
    assert ReputationEvent.objects.filter(assignment=assignment).count() == 1
    assert Task.objects.get(pk=gold.pk).submitted_count == 1


def earned(worker) -> tuple[int, int, int]:
    """The work page's figures, summed over currencies: today's pay, today's answers,
    and the pay waiting for review."""
    rows = work.earnings_by_currency(worker)
    return (
        sum(row.today_minor for row in rows),
        sum(row.today_count for row in rows),
        sum(row.pending_minor for row in rows),
    )


def test_waiting_for_approval_is_the_pay_of_answers_not_reviewed_yet(animals):
    mine, peer, other = vetted_workers(3, prefix="wait")
    reward = animals.reward_minor
    first = claim(mine, animals)
    answer(mine, first, "cat")
    assert earned(mine) == (reward, 1, reward)  # its task still wants two answers

    for worker in (peer, other):
        answer(worker, claim(worker, animals), "cat")
    first.refresh_from_db()
    assert first.review_status == "approved"
    # Approved pay is on the ledger now (the earnings page), no longer waiting; it is
    # still today's.
    assert earned(mine) == (reward, 1, 0)

    answer(mine, claim(mine, animals), "dog")
    assert earned(mine) == (2 * reward, 2, reward)


def test_a_rejected_answer_leaves_todays_pay(animals, requester):
    [worker] = vetted_workers(1)
    mine = soft_rejected_answer(animals, worker)
    assert earned(worker) == (mine.reward_minor, 1, 0)  # not used, but paid
    quality.reject_answer(actor=requester, assignment_id=mine.pk, reason="Wrong.")
    assert earned(worker) == (0, 0, 0)


def test_a_sets_minimum_reputation_gates_claiming(requester_org, requester, admin_user):
    demanding = published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        regular=2,
        gold=5,
        gold_ratio_permille=0,
        min_reputation_permille=900,
    )
    usual, excellent = vetted_workers(2, prefix="rep")
    qualify(excellent, right=40.0, wrong=1.0)  # posterior mean 0.95
    assert standing(usual).score_permille < 900 <= standing(excellent).score_permille
    assert work.claim_next_task(worker=usual).reason == "no_sets"
    assert claim(excellent).task_set_id == demanding.pk
