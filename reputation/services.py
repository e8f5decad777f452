"""Writes of the quality system: scoring answers, recording reputation events and
folding them into standings, reviews, appeals and gold corrections.

Locking: a standing row (worker, skill) is locked FOR UPDATE before an event is folded
into it, always in ascending worker id order when several are touched at once (a task
closing updates every worker who answered it), and always BEFORE any ledger row is
locked to pay or reverse an answer (payouts.earnings). With one order everywhere, a
task closing and a check being scored for one of its workers never deadlock."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from marketplace.models import Membership, User
from marketplace.services import notify, record_audit
from marketplace.skills import ORG_SKILL_MARK
from payouts.earnings import settle_assignment_pay, settle_task_pay
from reputation import aggregation, flags, fraud_triggers, scoring
from reputation.models import Appeal, Flag, ReputationEvent, WorkerSkill
from reputation.selectors import trust_of
from reputation.standing import MAX_COUNTED_CHECKS, EventFacts, Standing, apply_event
from tasks import events
from tasks.models import Assignment, Task, TaskSet

Review = Assignment.ReviewStatus
Source = ReputationEvent.Source
# Consensus below this confidence says nothing about anyone: everyone is approved and
# no agreement evidence is recorded.
CONSENSUS_EVIDENCE_MIN_PERMILLE = 600
# A gold task is contested when this many well-rated workers fail it, and they are at
# least half of its answers.
CONTEST_MIN_FAILS = 3
CONTEST_MIN_SCORE_PERMILLE = 750
REQUESTER_ROLES = [Membership.Role.ADMIN, Membership.Role.MEMBER]


def skill_for(kind: str, language: str = "", *, organization_id: int | None = None) -> str:
    """The skill a set exercises: its kind, and for transcription also its language.
    With an organization, that organization's own qualification in it ("label@org:12"):
    a standing of its own, which only its own test moves and only its own sets that
    require the test read, so one organization's test never qualifies anyone for, or
    cools anyone down on, the platform (the claim's SQL, work_claim, builds the same
    string)."""
    skill = f"transcription:{language}" if kind == TaskSet.Kind.TRANSCRIPTION and language else kind
    if organization_id is not None:
        return f"{skill}{ORG_SKILL_MARK}{organization_id}"
    return skill


def set_skill(task_set: TaskSet) -> str:
    """The standing a set's checks move: an organization's own test moves only the
    organization's qualification; every other set, the platform skill."""
    organization_id = task_set.organization_id if task_set.is_org_test else None
    return skill_for(task_set.kind, task_set.language, organization_id=organization_id)


# --- Folding events into standings ---------------------------------------------


def _locked_standings(worker_ids: list[int], skill: str) -> dict[int, WorkerSkill]:
    """The (worker, skill) rows, created if missing, locked in worker id order."""
    WorkerSkill.objects.bulk_create(
        [WorkerSkill(worker_id=worker_id, skill=skill) for worker_id in worker_ids],
        ignore_conflicts=True,
    )
    rows = (
        WorkerSkill.objects.select_for_update()
        .filter(worker_id__in=worker_ids, skill=skill)
        .order_by("worker_id")
    )
    return {row.worker_id: row for row in rows}


def _fold(row: WorkerSkill, event: ReputationEvent) -> str | None:
    standing = Standing.of(row)
    change = apply_event(standing, _facts(event))
    standing.copy_to(row)
    row.save()
    return change


def _facts(event: ReputationEvent) -> EventFacts:
    return EventFacts(
        event.pk,
        event.source,
        event.credit_permille,
        event.weight_permille,
        event.created_at,
        event.training_checks_left,
    )


def _training_checks_left(*, worker_id: int, task_set: TaskSet) -> int:
    """How many more of the set's checks the worker can reach: its live gold tasks
    (withdrawn ones go to nobody) that they have never claimed, as work_claim and
    _unseen_gold_task pick them. A claim given back or left to expire is out of reach,
    so a verdict may come a check early for a worker holding several claims, never late."""
    unclaimed = (
        Task.objects.filter(task_set=task_set, is_gold=True, withdrawn_at__isnull=True)
        .exclude(Exists(Assignment.objects.filter(task=OuterRef("pk"), worker_id=worker_id)))
        .count()
    )
    return min(unclaimed, MAX_COUNTED_CHECKS)


def rebuild_standing(*, worker_id: int, skill: str) -> WorkerSkill:
    """Fold every live event of (worker, skill) again from the start: what
    `recompute_reputation` does, and what a voided event needs."""
    with transaction.atomic():
        row = _locked_standings([worker_id], skill)[worker_id]
        standing = Standing()
        events = ReputationEvent.objects.filter(
            worker_id=worker_id, skill=skill, voided_at__isnull=True
        ).order_by("pk")
        for event in events.iterator(chunk_size=2000):
            apply_event(standing, _facts(event))
        standing.copy_to(row)
        row.save()
    return row


def _after_change(assignment: Assignment, skill: str, change: str | None, row: WorkerSkill) -> None:
    """Tell the answer's worker when their access changed, and the admins on a
    demotion. The worker's row is read only then: most answers change nothing."""
    if change is None:
        return
    worker = assignment.worker
    # "skill" parameters are skill keys: each reader sees the skill's name in their language.
    if change == "qualified" and ORG_SKILL_MARK in skill:
        # An organization's own test: it opens only that organization's sets.
        notify(
            user=worker,
            subject=gettext_noop("You passed a qualification test"),
            body=gettext_noop(
                "You passed %(organization)s's own test: its sets in %(skill)s that ask "
                "for it are open to you now."
            ),
            params={
                "organization": assignment.task_set.organization.name,
                "skill": skill.partition(ORG_SKILL_MARK)[0],
            },
        )
    elif change == "qualified":
        notify(
            user=worker,
            subject=gettext_noop("You passed training"),
            body=gettext_noop("You can now take paid work in %(skill)s."),
            params={"skill": skill},
        )
    elif change == "failed_training":
        notify(
            user=worker,
            subject=gettext_noop("Training not passed yet"),
            body=gettext_noop(
                "Too few of your training answers were right this time. Read the "
                "explanations on your quality page; you can try again after %(when)s."
            ),
            params={"when": timezone.localtime(row.cooldown_until).strftime("%Y-%m-%d %H:%M")},
        )
    else:
        notify(
            user=worker,
            subject=gettext_noop("Back to training"),
            body=gettext_noop(
                "Too many of your recent checks in %(skill)s were wrong, so you are back "
                "in training for it. Your quality page shows which ones and why."
            ),
            params={"skill": skill},
        )
    if change == "demoted":
        flags.raise_flag(
            worker_id=worker.pk,
            merge=True,
            signal=Flag.Signal.QUALITY_FLOOR,
            severity=2,
            evidence={
                "skill": skill,
                "score_permille": row.score_permille,
                "evidence_right": round(row.evidence_right, 3),
                "evidence_wrong": round(row.evidence_wrong, 3),
                "checks_since_qualified": row.checks_since_qualified,
                "floor_permille": settings.QUALITY_FLOOR_PERMILLE,
            },
        )


def _event(
    *,
    assignment: Assignment,
    task_set: TaskSet,
    source: str,
    credit: int,
    weight: int,
    now,
    training_checks_left: int | None = None,
) -> ReputationEvent:
    return ReputationEvent(
        worker_id=assignment.worker_id,
        skill=set_skill(task_set),
        source=source,
        assignment=assignment,
        organization_id=task_set.organization_id,
        credit_permille=credit,
        weight_permille=weight,
        created_at=now,
        training_checks_left=training_checks_left,
    )


def _record(**facts) -> ReputationEvent:
    event = _event(**facts)
    event.save(force_insert=True)
    return event


# --- On every answer (inside the submit transaction) ---------------------------


@dataclass(frozen=True)
class Feedback:
    """What a trainee sees right after answering: whether it was right and why."""

    correct: bool
    credit_permille: int
    right_answer: object
    explanation: str


def record_training_answer(*, assignment: Assignment, task_set: TaskSet) -> Feedback | None:
    """Score a trainee's answer inside its submit transaction, so the answer and its
    evidence commit together and the feedback comes back with the answer. Constant
    time. A regular set's check is scored by a job after commit (score_check), and a
    regular answer waits for its task's settlement (settle_closed_task)."""
    return _record_check(assignment=assignment, task_set=task_set, now=timezone.now())


def score_check(*, assignment_id: int) -> bool:
    """Score a regular set's check answer, once: the job its commit queues, and the
    safety net for a lost job (tasks.settling). False if there was nothing to do
    (scored already, or no longer a submitted answer)."""
    with transaction.atomic():
        # The answer, then its task, then the standings: the submit transaction's
        # order (it locks the answer, then counts it on the task).
        assignment = (
            Assignment.objects.select_for_update(of=("self",))  # not the set's row
            .select_related("task_set")
            .filter(pk=assignment_id, is_gold=True)
            .first()
        )
        if (
            assignment is None
            or assignment.status != Assignment.Status.SUBMITTED
            or assignment.gold_credit_permille is not None
        ):
            return False
        list(Task.objects.select_for_update().filter(pk=assignment.task_id).values_list("pk"))
        _record_check(assignment=assignment, task_set=assignment.task_set, now=timezone.now())
        return True


def _record_check(*, assignment: Assignment, task_set: TaskSet, now) -> Feedback | None:
    skill = set_skill(task_set)
    row = _locked_standings([assignment.worker_id], skill)[assignment.worker_id]  # lock order
    task = Task.objects.only("gold_answer", "gold_explanation").get(pk=assignment.task_id)
    credit = scoring.credit_permille(task_set, assignment.answer, task.gold_answer)
    passed = scoring.passes(task_set, credit)
    assignment.gold_credit_permille = credit
    assignment.reviewed_at = now
    if passed or task_set.is_training:
        # Training answers are paid and never held against anyone: they are practice.
        assignment.review_status = Review.APPROVED
        assignment.review_reason = ""
    else:
        assignment.review_status = Review.SOFT_REJECTED
        assignment.review_reason = _gold_reason(task_set, task.gold_answer)
    assignment.save(
        update_fields=["gold_credit_permille", "review_status", "review_reason", "reviewed_at"]
    )
    settle_assignment_pay(assignment, now=now)
    event = _record(
        assignment=assignment,
        task_set=task_set,
        source=Source.TRAINING if task_set.is_training else Source.GOLD,
        credit=credit,
        weight=1000,
        now=now,
        # Counted in the submit transaction, after this answer's claim: the attempt
        # ends at the worker's last reachable check instead of leaving them without
        # tasks and without a verdict.
        training_checks_left=_training_checks_left(
            worker_id=assignment.worker_id, task_set=task_set
        )
        if task_set.is_training
        else None,
    )
    change = _fold(row, event)
    _after_change(assignment, event.skill, change, row)
    if not task_set.is_training:
        if not passed:
            _maybe_contest_gold(task=task, task_set=task_set, skill=event.skill, now=now)
            fraud_triggers.note_failed_check(worker_id=assignment.worker_id)
        # A regular set's checks must look like any other task on the wire: their
        # results are shown later, on the worker's quality page.
        return None
    return Feedback(passed, credit, task.gold_answer, task.gold_explanation)


def training_feedback(assignment: Assignment, task_set: TaskSet) -> Feedback | None:
    """The feedback again, for a resent training answer (the first ack may be lost)."""
    if not (task_set.is_training and assignment.gold_credit_permille is not None):
        return None
    task = Task.objects.only("gold_answer", "gold_explanation").get(pk=assignment.task_id)
    credit = assignment.gold_credit_permille
    return Feedback(
        scoring.passes(task_set, credit), credit, task.gold_answer, task.gold_explanation
    )


def _gold_reason(task_set: TaskSet, gold_answer) -> str:
    shown = ", ".join(gold_answer) if isinstance(gold_answer, list) else str(gold_answer)
    return _("This was a check task with a known answer: %(answer)s.") % {"answer": shown}


def _maybe_contest_gold(*, task: Task, task_set: TaskSet, skill: str, now) -> None:
    """Many well-rated workers failing one gold task suggests the gold is wrong: tell
    the requester once, so they can correct it (which rescored everyone)."""
    if task.gold_contested_at is not None:
        return
    answers = Assignment.objects.filter(task_id=task.pk, status=Assignment.Status.SUBMITTED)
    well_rated = WorkerSkill.objects.filter(
        skill=skill, score_permille__gte=CONTEST_MIN_SCORE_PERMILLE
    ).values("worker_id")
    failed_by_well_rated = answers.filter(
        gold_credit_permille__lt=task_set.gold_pass_permille, worker_id__in=well_rated
    ).count()
    if failed_by_well_rated < CONTEST_MIN_FAILS or failed_by_well_rated * 2 < answers.count():
        return
    Task.objects.filter(pk=task.pk).update(gold_contested_at=now)
    members = User.objects.filter(
        memberships__organization_id=task_set.organization_id,
        memberships__role__in=REQUESTER_ROLES,
    )
    for member in members:
        notify(
            user=member,
            subject=gettext_noop("A gold answer may be wrong"),
            body=gettext_noop(
                "%(n)d well-rated workers disagreed with the gold answer of task "
                "%(task)s in %(set)s. Check it on the set's page and correct it if "
                "needed: their scores will be recomputed."
            ),
            params={"n": failed_by_well_rated, "task": task.external_id, "set": task_set.title},
        )


# --- Consensus for a task that has its answers -----------------------------------


def worker_weights(worker_ids: list[int], skill: str) -> dict[int, float]:
    """Each worker's posterior mean in the skill (the prior mean if they have none)."""
    scores = dict(
        WorkerSkill.objects.filter(worker_id__in=worker_ids, skill=skill).values_list(
            "worker_id", "score_permille"
        )
    )
    prior = Standing().score_permille
    return {worker_id: scores.get(worker_id, prior) / 1000 for worker_id in worker_ids}


def live_estimate(task_set: TaskSet, answers: list, weights: list[float]) -> tuple[object, int]:
    """The reputation-weighted vote over one task's answers: (answer, confidence)."""
    if not answers:
        return None, 0
    kind = task_set.kind
    if kind == TaskSet.Kind.TRANSCRIPTION:
        texts = [scoring.normalised(task_set, answer) for answer in answers]
        text, confidence = aggregation.transcription_consensus(texts, weights)
        return text, round(1000 * confidence)
    options = task_set.label_options
    weight_array = np.asarray(weights, dtype=float)
    if kind == TaskSet.Kind.MULTILABEL:
        chosen = np.array([[option in answer for option in options] for answer in answers])
        share = (weight_array[:, None] * chosen).sum(axis=0) / weight_array.sum()
        picked = [option for option, s in zip(options, share, strict=True) if s > 0.5]
        # The weakest label decides how sure we are of the whole set of labels.
        confidence = float(np.maximum(share, 1 - share).min()) if len(options) else 1.0
        return picked, round(1000 * confidence)
    result = aggregation.weighted_vote(
        np.zeros(len(answers), dtype=int),
        np.arange(len(answers)),
        np.array([options.index(answer) for answer in answers]),
        1,
        len(options),
        weight_array,
    )
    return options[int(result.labels[0])], round(1000 * float(result.confidence[0]))


def settle_closed_task(*, task_id: int) -> Task | None:
    """Settle a closed regular task, after the answer that closed it committed (the
    Celery job tasks.tasks.settle_closed_task, and the safety net that catches a lost
    one): store the live estimate, reopen the task for one more answer if it is too
    unsure (dynamic redundancy), else review each answer against the estimate, pay it
    and record the (lighter) agreement evidence. Returns the task, settled
    (settled_at) or reopened (is_open), or None when there was nothing to do.

    Idempotent and safe to run twice at once: runs queue on the task's row lock, and
    the later one finds the task settled (settled_at) or open again and does nothing.
    Lock order: the task, then standings in worker id order, then ledger rows."""
    with transaction.atomic():
        task = (
            Task.objects.select_for_update(of=("self",))
            .select_related("task_set__organization")
            .filter(pk=task_id)
            .first()
        )
        if (
            task is None
            or task.is_gold
            or task.is_open
            or task.settled_at is not None
            or task.withdrawn_at is not None  # withdrawn on reports: settled there
        ):
            return None
        _settle(task, task.task_set, now=timezone.now())
        return task


def _settle(task: Task, task_set: TaskSet, *, now) -> None:
    answers = list(
        Assignment.objects.filter(task_id=task.pk, status=Assignment.Status.SUBMITTED)
        .exclude(review_status=Review.REJECTED)
        .select_related("worker")
        .order_by("worker_id")
    )
    skill = set_skill(task_set)
    weights = worker_weights([a.worker_id for a in answers], skill)
    consensus, confidence = live_estimate(
        task_set, [a.answer for a in answers], [weights[a.worker_id] for a in answers]
    )
    task.aggregated_answer = consensus
    task.confidence_permille = confidence
    task.aggregation_method = "weighted_vote"
    estimate = ["aggregated_answer", "confidence_permille", "aggregation_method"]
    if (
        confidence < task_set.target_confidence_permille
        and task.extra_assignments < task_set.max_extra_assignments
        # A stopped set takes no more answers: what it has is settled.
        and task_set.status in (TaskSet.Status.PUBLISHED, TaskSet.Status.PAUSED)
    ):
        # Not sure yet: one more answer, paid from the escrow that covered the cap.
        task.extra_assignments += 1
        task.is_open = True
        task.save(update_fields=[*estimate, "extra_assignments", "is_open"])
        # Workers told "no tasks" a moment ago may claim it.
        events.sets_changed_on_commit([task_set])
        return
    task.settled_at = now
    task.save(update_fields=[*estimate, "settled_at"])
    _review_against_consensus(
        task_id=task.pk,
        task_set=task_set,
        answers=answers,
        consensus=consensus,
        confidence=confidence,
        now=now,
    )


def _review_against_consensus(
    *, task_id: int, task_set: TaskSet, answers: list, consensus, confidence: int, now
) -> list[Assignment]:
    """Review the task's pending answers against its consensus, record the agreement
    evidence (only when the consensus is sure) and pay them. Returns those reviewed.
    Holding the task's row lock; takes the standings', then the ledger's."""
    skill = set_skill(task_set)
    sure = confidence >= CONSENSUS_EVIDENCE_MIN_PERMILLE
    rows = _locked_standings([a.worker_id for a in answers], skill) if sure else {}
    reviewed, agreements = [], []
    for assignment in answers:
        if assignment.review_status != Review.PENDING:
            continue
        # Agreement is scored like a check against the consensus answer.
        agreement = scoring.credit_permille(task_set, assignment.answer, consensus)
        agrees = not sure or scoring.passes(task_set, agreement)
        assignment.review_status = Review.APPROVED if agrees else Review.SOFT_REJECTED
        assignment.review_reason = "" if agrees else _consensus_reason(consensus, confidence)
        assignment.reviewed_at = now
        reviewed.append(assignment)
        agreements.append(agreement)
    # One statement per outcome (usually one: all approved).
    outcomes: dict[tuple[str, str], list[int]] = defaultdict(list)
    for assignment in reviewed:
        outcomes[(assignment.review_status, assignment.review_reason)].append(assignment.pk)
    for (review_status, review_reason), ids in outcomes.items():
        Assignment.objects.filter(pk__in=ids).update(
            review_status=review_status, review_reason=review_reason, reviewed_at=now
        )
    if sure:
        evidence = ReputationEvent.objects.bulk_create(
            _event(
                assignment=assignment,
                task_set=task_set,
                source=Source.CONSENSUS,
                credit=agreement,
                weight=settings.QUALITY_CONSENSUS_WEIGHT_PERMILLE,
                now=now,
            )
            for assignment, agreement in zip(reviewed, agreements, strict=True)
        )
        for assignment, event in zip(reviewed, evidence, strict=True):
            row = rows[assignment.worker_id]
            change = _fold(row, event)
            _after_change(assignment, skill, change, row)
    # After the standings (lock order): the answers' pay, in one journal entry.
    settle_task_pay(reviewed, task_id=task_id, task_set=task_set, now=now)
    return reviewed


# A withdrawn task's answers are reviewed against their consensus only when at least
# this many of them agree with it: a lone answer is its own consensus and agrees with
# itself, and one of two disagreeing answers "wins" on its worker's score alone.
WITHDRAWN_CONSENSUS_MIN_AGREEING = 2
# An answer nothing could check is used in the results only if its worker's trust in
# the skill (reputation.selectors.trust_permille) reaches this: a worker with a track
# record of mostly right answers (qualified workers with 20 checks' worth of evidence
# at a score of 750 or more). Below it, a fresh account answering a task and two more
# getting it withdrawn would otherwise have its answer taken on faith.
UNCHECKED_ANSWER_MIN_TRUST_PERMILLE = 750


@dataclass(frozen=True)
class WithdrawnReview:
    by_consensus: bool  # reviewed against the other answers, or on trust alone
    approved: int
    not_used: int  # paid, left out of the results, in the requester's "not used" list


def review_withdrawn_task_answers(*, task: Task, task_set: TaskSet, now) -> WithdrawnReview:
    """Review the answers given to a regular task before it was withdrawn on workers'
    reports (tasks.reports). It will never get the answers its consensus waited for,
    but its answers are not waved through either:
    - With a sure consensus among them that WITHDRAWN_CONSENSUS_MIN_AGREEING or more
      agree with, they are reviewed as any settled task's are: those that agree
      approved, the rest not used, with agreement evidence for all.
    - Otherwise nothing can check them. An answer whose worker is trusted in the skill
      (UNCHECKED_ANSWER_MIN_TRUST_PERMILLE) is approved; any other is not used, with a
      reason saying why, and lands in the requester's "not used" list, where they can
      look at it and reject it if it is wrong (unpaid; the worker may appeal). No
      reputation evidence is recorded: nothing was learnt about anyone.
    Every answer is paid either way (not used is paid): a worker who answered before
    the task was withdrawn did the work, and the withdrawal was not their doing; only
    the requester's rejection takes the pay back, as for any answer.
    Call holding the task's row lock (the order a settlement takes): the answers, then
    the standings, then the ledger are locked after it."""
    answers = list(
        # Locked (not their workers' rows): a requester's reject, an appeal or a ban's
        # voiding waits for this review to commit.
        Assignment.objects.select_for_update(of=("self",))
        .filter(task_id=task.pk, status=Assignment.Status.SUBMITTED)
        .exclude(review_status=Review.REJECTED)
        .select_related("worker")
        .order_by("worker_id")
    )
    skill = set_skill(task_set)
    if len(answers) >= WITHDRAWN_CONSENSUS_MIN_AGREEING:
        weights = worker_weights([a.worker_id for a in answers], skill)
        consensus, confidence = live_estimate(
            task_set, [a.answer for a in answers], [weights[a.worker_id] for a in answers]
        )
        agreeing = sum(
            scoring.passes(task_set, scoring.credit_permille(task_set, a.answer, consensus))
            for a in answers
        )
        if (
            confidence >= CONSENSUS_EVIDENCE_MIN_PERMILLE
            and agreeing >= WITHDRAWN_CONSENSUS_MIN_AGREEING
        ):
            reviewed = _review_against_consensus(
                task_id=task.pk,
                task_set=task_set,
                answers=answers,
                consensus=consensus,
                confidence=confidence,
                now=now,
            )
            approved = sum(a.review_status == Review.APPROVED for a in reviewed)
            return WithdrawnReview(True, approved, len(reviewed) - approved)
    pending = [a for a in answers if a.review_status == Review.PENDING]
    trust = trust_of([a.worker_id for a in pending], skill)
    unchecked_reason = _(
        "This task was withdrawn after workers reported it, before enough other "
        "answers could confirm yours. Your answer is paid; the requester may review it."
    )
    for assignment in pending:
        trusted = trust[assignment.worker_id] >= UNCHECKED_ANSWER_MIN_TRUST_PERMILLE
        assignment.review_status = Review.APPROVED if trusted else Review.SOFT_REJECTED
        assignment.review_reason = "" if trusted else unchecked_reason
        assignment.reviewed_at = now
        assignment.save(update_fields=["review_status", "review_reason", "reviewed_at"])
    settle_task_pay(pending, task_id=task.pk, task_set=task_set, now=now)
    approved = sum(a.review_status == Review.APPROVED for a in pending)
    return WithdrawnReview(False, approved, len(pending) - approved)


def review_restored_answer(*, assignment: Assignment) -> None:
    """An answer voided by a ban that was later dismissed counts again. If its task
    is still open it is reviewed with the task; if restoring it closed the task, the
    task is settled now; if the task was settled without it, it is accepted and paid
    (the worker did the work; the ban was wrong). Called with the answer locked."""
    task = Task.objects.get(pk=assignment.task_id)
    if task.is_open:
        return
    if task.settled_at is None and task.withdrawn_at is None:
        settle_closed_task(task_id=task.pk)  # closed, waiting for (or by) this answer
        return
    # Settled without it, or withdrawn on reports: the worker did the work and the ban
    # that kept it out of the review was wrong.
    assignment.review_status = Review.APPROVED
    assignment.review_reason = _("Restored when the decision on your account was reversed.")
    assignment.reviewed_at = timezone.now()
    assignment.save(update_fields=["review_status", "review_reason", "reviewed_at"])
    settle_assignment_pay(assignment)


def _consensus_reason(consensus, confidence: int) -> str:
    shown = ", ".join(consensus) if isinstance(consensus, list) else str(consensus)
    return _(
        "Other workers, weighted by their track record, answered %(answer)s "
        "(%(confidence)d%% sure), and your answer differed."
    ) % {"answer": shown, "confidence": confidence // 10}


# --- Requester review, appeals -------------------------------------------------


def _require_requester(actor: User, task_set: TaskSet) -> None:
    if not Membership.objects.filter(
        user=actor, organization_id=task_set.organization_id, role__in=REQUESTER_ROLES
    ).exists():
        raise PermissionDenied(_("Only members of the set's organization may review it."))
    if task_set.is_platform_training and not actor.is_staff:
        # Its gold decides who is qualified platform-wide (tasks.services.require_member).
        raise PermissionDenied(
            _("Only platform staff may change training that qualifies workers platform-wide.")
        )


def reject_answer(*, actor: User, assignment_id: int, reason: str) -> Assignment:
    """A requester turns a not-used answer into a rejected (unpaid) one. Only answers
    the evidence already went against (a failed check, or disagreement with a sure
    consensus) can be rejected, with a reason the worker reads. The reputation cost
    of one requester's rejections is bounded."""
    reason = reason.strip()
    if not reason:
        raise ValidationError(_("Give the worker a reason."))
    with transaction.atomic():
        assignment = (
            Assignment.objects.select_for_update()
            .select_related("task_set", "worker")
            .get(pk=assignment_id)
        )
        task_set = assignment.task_set
        _require_requester(actor, task_set)
        if assignment.review_status != Review.SOFT_REJECTED:
            raise ValidationError(
                _("Only answers that failed a check or disagreed with the others can be rejected.")
            )
        now = timezone.now()
        # Lock order: the standing before the ledger rows the reversal locks.
        row = _locked_standings([assignment.worker_id], set_skill(task_set))[assignment.worker_id]
        assignment.review_status = Review.REJECTED
        assignment.review_reason = f"{assignment.review_reason}\n{reason}".strip()
        assignment.reviewed_at = now
        assignment.save(update_fields=["review_status", "review_reason", "reviewed_at"])
        settle_assignment_pay(assignment, now=now)
        counted = ReputationEvent.objects.filter(
            worker_id=assignment.worker_id,
            organization_id=task_set.organization_id,
            source=Source.REJECTION,
            voided_at__isnull=True,
            weight_permille__gt=0,
        ).count()
        weight = 1000 if counted < settings.QUALITY_REJECTIONS_PER_REQUESTER else 0
        event = _record(
            assignment=assignment,
            task_set=task_set,
            source=Source.REJECTION,
            credit=0,
            weight=weight,
            now=now,
        )
        change = _fold(row, event)
        _after_change(assignment, event.skill, change, row)
        record_audit(actor=actor, action="answer.reject", target=assignment, reason=reason)
        notify(
            user=assignment.worker,
            subject=gettext_noop("An answer was rejected"),
            body=gettext_noop(
                "Your answer in %(set)s was rejected: %(reason)s You can appeal "
                "within %(days)d days on your quality page."
            ),
            params={"set": task_set.title, "reason": reason, "days": settings.APPEAL_WINDOW_DAYS},
        )
    return assignment


def appeal_deadline(assignment: Assignment):
    decided = assignment.reviewed_at or assignment.submitted_at
    return decided + timedelta(days=settings.APPEAL_WINDOW_DAYS) if decided else None


def file_appeal(*, worker: User, assignment_id: int, message: str) -> Appeal:
    message = message.strip()
    if not message:
        raise ValidationError(_("Say why you think your answer was right."))
    with transaction.atomic():
        assignment = (
            Assignment.objects.select_for_update().filter(pk=assignment_id, worker=worker).first()
        )
        if assignment is None:
            raise ValidationError(_("That answer is not yours or does not exist."))
        if assignment.review_status not in (Review.SOFT_REJECTED, Review.REJECTED):
            raise ValidationError(_("Only answers that were not accepted can be appealed."))
        if Appeal.objects.filter(assignment=assignment).exists():
            raise ValidationError(_("You already appealed this answer."))
        if timezone.now() > appeal_deadline(assignment):
            raise ValidationError(
                _("Appeals must be made within %(days)d days.")
                % {"days": settings.APPEAL_WINDOW_DAYS}
            )
        return Appeal.objects.create(assignment=assignment, worker=worker, message=message[:2000])


def decide_appeal(*, actor: User, appeal_id: int, uphold: bool, reason: str) -> Appeal:
    """An admin decides. Upholding accepts the answer (paid, used), and voids the
    evidence against it, so the worker's standing is rebuilt as if it never counted."""
    if not actor.is_staff:
        raise PermissionDenied
    reason = reason.strip()
    if not reason:
        raise ValidationError(_("Give the worker a reason."))
    with transaction.atomic():
        appeal = (
            Appeal.objects.select_for_update()
            .select_related("assignment__task_set", "worker")
            .get(pk=appeal_id)
        )
        if appeal.status != Appeal.Status.OPEN:
            raise ValidationError(_("This appeal was already decided."))
        now = timezone.now()
        appeal.status = Appeal.Status.UPHELD if uphold else Appeal.Status.DENIED
        appeal.decided_at = now
        appeal.decided_by = actor
        appeal.decision_reason = reason
        appeal.save(update_fields=["status", "decided_at", "decided_by", "decision_reason"])
        assignment = (
            Assignment.objects.select_for_update()
            .select_related("task_set")
            .get(pk=appeal.assignment_id)
        )
        if uphold:
            # Lock order: the standing before the ledger rows the payment locks.
            _locked_standings([assignment.worker_id], set_skill(assignment.task_set))
            assignment.review_status = Review.APPROVED
            assignment.review_reason = _("Accepted on appeal: %(reason)s") % {"reason": reason}
            assignment.reviewed_at = now
            assignment.save(update_fields=["review_status", "review_reason", "reviewed_at"])
            settle_assignment_pay(assignment, now=now)
            against = ReputationEvent.objects.filter(
                assignment=assignment, voided_at__isnull=True
            ).filter(Q(source=Source.REJECTION) | Q(credit_permille__lt=1000))
            skills = set(against.values_list("skill", flat=True))
            against.update(voided_at=now, void_reason=f"appeal {appeal.pk} upheld")
            for skill in sorted(skills):
                rebuild_standing(worker_id=assignment.worker_id, skill=skill)
        record_audit(
            actor=actor,
            action="appeal.uphold" if uphold else "appeal.deny",
            target=appeal,
            reason=reason,
            data={"assignment": assignment.pk},
        )
        notify(
            user=appeal.worker,
            subject=(
                gettext_noop("Your appeal was upheld")
                if uphold
                else gettext_noop("Your appeal was denied")
            ),
            # The admin's reason, as they typed it.
            body="%(reason)s",
            params={"reason": reason},
        )
    return appeal


# --- Correcting gold -----------------------------------------------------------


def correct_gold_answer(
    *, actor: User, task_id: int, gold_answer, gold_explanation: str | None = None
) -> int:
    """Fix a gold task's answer: every answer to it is scored again, the old evidence
    voided and new evidence recorded, and each affected standing rebuilt. Returns how
    many answers changed their credit."""
    from tasks.work import clean_answer

    with transaction.atomic():
        task = Task.objects.select_for_update().select_related("task_set").get(pk=task_id)
        task_set = task.task_set
        _require_requester(actor, task_set)
        if not task.is_gold:
            raise ValidationError(_("Only gold tasks have an answer to correct."))
        task.gold_answer = clean_answer(task_set, gold_answer)
        if gold_explanation is not None:
            task.gold_explanation = gold_explanation
        task.gold_contested_at = None
        task.save(update_fields=["gold_answer", "gold_explanation", "gold_contested_at"])
        now = timezone.now()
        changed = 0
        affected: set[tuple[int, str]] = set()
        answers = list(
            Assignment.objects.select_for_update()
            .filter(task=task, status=Assignment.Status.SUBMITTED)
            .order_by("pk")
        )
        # Lock order: every answerer's standing before the ledger rows payments lock.
        _locked_standings(sorted({a.worker_id for a in answers}), set_skill(task_set))
        for assignment in answers:
            credit = scoring.credit_permille(task_set, assignment.answer, task.gold_answer)
            if credit == assignment.gold_credit_permille:
                continue
            changed += 1
            source = Source.TRAINING if task_set.is_training else Source.GOLD
            ReputationEvent.objects.filter(
                assignment=assignment, source=source, voided_at__isnull=True
            ).update(voided_at=now, void_reason="gold answer corrected")
            event = _record(
                assignment=assignment,
                task_set=task_set,
                source=source,
                credit=credit,
                weight=1000,
                now=now,
                # The corrected check folds last, as of now: what is in reach now.
                training_checks_left=_training_checks_left(
                    worker_id=assignment.worker_id, task_set=task_set
                )
                if task_set.is_training
                else None,
            )
            affected.add((assignment.worker_id, event.skill))
            assignment.gold_credit_permille = credit
            if assignment.review_status != Review.REJECTED:
                passed = scoring.passes(task_set, credit) or task_set.is_training
                assignment.review_status = Review.APPROVED if passed else Review.SOFT_REJECTED
                assignment.review_reason = (
                    "" if passed else _gold_reason(task_set, task.gold_answer)
                )
                assignment.reviewed_at = now
            assignment.save(
                update_fields=[
                    "gold_credit_permille",
                    "review_status",
                    "review_reason",
                    "reviewed_at",
                ]
            )
            settle_assignment_pay(assignment, now=now)
        for worker_id, skill in sorted(affected):
            rebuild_standing(worker_id=worker_id, skill=skill)
        record_audit(actor=actor, action="gold.correct", target=task, data={"rescored": changed})
    return changed
