"""A worker's work: claim the next task, submit an answer, release a task.

The rules, and where they are enforced:
- A task never has more live assignments (submitted, or active and unexpired) than its
  set asks for. Claimers lock candidate task rows with SKIP LOCKED and count the live
  claims only *after* holding the lock, in a new statement: anyone else adding a claim
  to that task holds the same lock, so the count is exact. A late submission of an
  expired claim takes the same lock before it counts.
- A worker answers a task at most once: a unique (task, worker) constraint.
- A submission is idempotent on its client-made submission_id (unique), and a
  submitted assignment is never overwritten: the assignment row is locked first.
- Expired claims need no sweeper: they simply stop counting once expires_at passes.

WebSocket consumers and the HTTP fallback both call these functions; neither holds a
rule of its own. On PostgreSQL the hot path's statements (claim, answer, earnings) are
hand-written in tasks.work_pg, called from here at the same points and under the same
locks; SQLite runs the ORM versions below."""

import logging
import random
import secrets
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from marketplace.models import User, WorkerProfile
from reputation import fraud_triggers
from reputation import services as reputation_services
from reputation.models import WorkerSkill
from reputation.selectors import standings_for
from reputation.services import skill_for
from reputation.tasks import score_checks
from tasks import events, work_pg
from tasks.models import Assignment, Task, TaskSet, live_claim
from tasks.tasks import aggregate_task_set, return_leftover_escrow, settle_closed_tasks

Status = Assignment.Status
logger = logging.getLogger(__name__)
MAX_TRANSCRIPTION_CHARS = 5000


class WorkError(Exception):
    """A refusal the worker should read: `code` for programs, the message for people."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Claim:
    assignment: Assignment | None
    resumed: bool = False  # an existing claim, sent again
    reason: str = ""  # why there is no task: "no_sets" or "no_tasks"


@dataclass(frozen=True)
class Submission:
    assignment: Assignment
    replayed: bool  # the same submission_id again: nothing was written
    feedback: "reputation_services.Feedback | None" = None  # training sets only
    # The worker's earnings as the answer left them (PostgreSQL returns them with the
    # answer), or None to read them afresh.
    earnings: list[tuple[str, int, int, int]] | None = None


# --- Who may work on what ---------------------------------------------------------


def _refuse_unless_working(profile: WorkerProfile | None) -> WorkerProfile:
    """The one rule for who may work: a vetted profile of an active account, both read
    from the database (not from a socket's copy of the user, which may be old)."""
    if (
        profile is None
        or profile.status != WorkerProfile.Status.VETTED
        or not profile.user.is_active
    ):
        raise WorkError("not_vetted", _("Only vetted workers can take tasks."))
    return profile


def require_can_work(worker: User) -> WorkerProfile:
    return _refuse_unless_working(
        WorkerProfile.objects.select_related("user").filter(user=worker).first()
    )


def eligible_sets(profile: WorkerProfile) -> QuerySet[TaskSet]:
    """Published sets this worker qualifies for, highest priority first."""
    sets = TaskSet.objects.filter(status=TaskSet.Status.PUBLISHED)
    sets = sets.filter(Q(language="") | Q(language__in=profile.languages or ["-"]))
    sets = sets.filter(Q(required_skill="") | Q(required_skill__in=profile.skills or ["-"]))
    # Only the centre's own enrolments: anyone can *name* a centre when applying.
    if profile.centre_id and profile.enrolled_by_id:
        sets = sets.filter(Q(centre__isnull=True) | Q(centre_id=profile.centre_id))
    else:
        sets = sets.filter(centre__isnull=True)
    return sets.order_by("-priority", "id")


def set_is_open_to(task_set: TaskSet | dict, profile: WorkerProfile, standings: dict) -> bool:
    """The same filter as eligible_sets, for one set (a row or a broadcast summary),
    plus the worker's standing in the set's skill (reputation.selectors.standings_for):
    see closed_reason. work_claim applies the same."""
    get = task_set.get if isinstance(task_set, dict) else lambda name: getattr(task_set, name)
    if get("status") != TaskSet.Status.PUBLISHED:
        return False
    return closed_reason(task_set, profile, standings) is None


# Why a set (published or not) is closed to a worker; closed_reason returns the first
# that applies. The requester's reach (tasks.reach) counts workers by these.
CLOSED_LANGUAGE = "language"  # the worker does not read the set's language
CLOSED_CENTRE = "centre"  # the set is a centre's own and the worker is not enrolled there
CLOSED_REQUIRED_SKILL = "required_skill"  # the worker lacks the set's required skill
CLOSED_ALREADY_QUALIFIED = "already_qualified"  # training, for those not yet qualified
CLOSED_COOLING_DOWN = "cooling_down"  # training failed recently: a retry waits
CLOSED_NOT_QUALIFIED = "not_qualified"  # a regular set (or an org test): not qualified
CLOSED_ORG_TEST = "org_test"  # the set requires its organization's own test
CLOSED_BELOW_MINIMUM = "below_minimum"  # qualified, score below the set's minimum


def closed_reason(task_set: TaskSet | dict, profile: WorkerProfile, standings: dict) -> str | None:
    """Why this set would be closed to this worker were it published (one of the
    CLOSED_* codes), or None when it is open: its language, centre and required skill,
    then the worker's standing in the set's skill. Training sets are for those not yet
    qualified (and not cooling down after a failed attempt), regular sets for the
    qualified whose score reaches the set's minimum. An organization's own test is for
    the platform-qualified who have not passed it; a set that requires it, for those
    who have as well."""
    get = task_set.get if isinstance(task_set, dict) else lambda name: getattr(task_set, name)
    if get("language") and get("language") not in (profile.languages or []):
        return CLOSED_LANGUAGE
    if get("centre_id") and not (profile.enrolled_by_id and profile.centre_id == get("centre_id")):
        return CLOSED_CENTRE
    if get("required_skill") and get("required_skill") not in (profile.skills or []):
        return CLOSED_REQUIRED_SKILL
    standing = standings.get(skill_for(get("kind"), get("language")))
    # The organization's own qualification in the skill (a test it runs itself): read
    # only by its test and by its sets that require it, never by anyone else's.
    org_standing = standings.get(
        skill_for(get("kind"), get("language"), organization_id=get("organization_id"))
    )
    if get("is_training"):
        if get("is_org_test"):
            # For those the platform qualified: the test adds to that, never replaces it.
            if not _is_qualified(standing):
                return CLOSED_NOT_QUALIFIED
            standing = org_standing
        return _training_closed(standing)
    if not _is_qualified(standing):
        return CLOSED_NOT_QUALIFIED
    if get("requires_org_test") and not _is_qualified(org_standing):
        return CLOSED_ORG_TEST
    if standing.score_permille < get("min_reputation_permille"):
        return CLOSED_BELOW_MINIMUM
    return None


def _training_closed(standing: WorkerSkill | None) -> str | None:
    if _may_train(standing):
        return None
    if standing.state == WorkerSkill.State.QUALIFIED:
        return CLOSED_ALREADY_QUALIFIED
    return CLOSED_COOLING_DOWN


def _is_qualified(standing: WorkerSkill | None) -> bool:
    return standing is not None and standing.state == WorkerSkill.State.QUALIFIED


def _may_train(standing: WorkerSkill | None) -> bool:
    """Not qualified yet, and not cooling down after a failed attempt."""
    if standing is None:
        return True
    cooling = standing.cooldown_until is not None and standing.cooldown_until > timezone.now()
    return standing.state == WorkerSkill.State.TRAINING and not cooling


def may_see_set(task_set: TaskSet, profile: WorkerProfile) -> bool:
    """A worker may read a set's instructions (and their images) while it is open to
    them, and later too if they worked on it."""
    return (
        set_is_open_to(task_set, profile, standings_for(profile.user_id))
        or Assignment.objects.filter(task_set=task_set, worker_id=profile.user_id).exists()
    )


def _ordered_for_claiming(sets: list[TaskSet]) -> list[TaskSet]:
    """Priority first; among equal priorities a random order, so that every set gets
    its share of workers without a shared counter that each claim would contend on."""
    shuffled = sets[:]
    random.shuffle(shuffled)
    return sorted(shuffled, key=lambda s: -s.priority)


def _open_sets(profile: WorkerProfile, standings: dict) -> list[TaskSet]:
    """The sets open to this worker: eligible_sets narrows the rows, set_is_open_to
    decides."""
    return [s for s in eligible_sets(profile) if set_is_open_to(s, profile, standings)]


def held_claims(worker: User, now=None) -> list[Assignment]:
    now = now or timezone.now()
    return list(
        Assignment.objects.filter(
            live_claim(now), worker=worker, task_set__status=TaskSet.Status.PUBLISHED
        )
        .select_related("task", "task_set")
        .order_by("claimed_at", "id")
    )


# --- Claiming ------------------------------------------------------------------


def claim_next_task(*, worker: User, task_set_id: int | None = None) -> Claim:
    """The worker's held task if they are at their limit, else a new one chosen by the
    server, else Claim(None, reason=...)."""
    for attempt in range(CLAIM_ATTEMPTS):
        claim, contended = _claim_once(worker=worker, task_set_id=task_set_id)
        if claim.assignment is not None or not contended:
            return claim
        # Every task with a free slot was being claimed by someone else at that very
        # moment, and those claims may take fewer slots than are free. Try again
        # shortly, in a new transaction (holding no locks while waiting).
        time.sleep(random.uniform(0.002, 0.01) * (attempt + 1))
    return claim


CLAIM_ATTEMPTS = 8


def _claim_once(*, worker: User, task_set_id: int | None) -> tuple[Claim, bool]:
    """One attempt: the claim, and whether tasks were passed over because others held
    them (worth another attempt)."""
    if connection.vendor == "postgresql":
        return claim_from_result(
            work_pg.claim(
                worker_id=worker.pk,
                task_set_id=task_set_id,
                max_active=settings.WORK_MAX_ACTIVE_CLAIMS,
            )
        )
    with transaction.atomic():
        # Lock the worker's profile: one worker's claims (two tabs, a resend) go one
        # at a time, so the held-claims limit cannot be overrun by racing yourself.
        # An account deactivated while its socket is open stops here.
        profile = _refuse_unless_working(
            WorkerProfile.objects.select_for_update(of=("self",))
            .select_related("user")
            .filter(user=worker)
            .first()
        )
        now = timezone.now()
        # A new statement, after the profile lock: it sees the worker's last claim.
        held = held_claims(worker, now)
        if len(held) >= settings.WORK_MAX_ACTIVE_CLAIMS:
            return Claim(held[0], resumed=True), False
        sets = _open_sets(profile, standings_for(worker.pk))
        if task_set_id is not None:
            sets = [s for s in sets if s.pk == task_set_id]
        if not sets:
            return Claim(None, reason="no_sets"), False
        contended = False
        # SQLite needs no lock on the set (see work_claim on PostgreSQL, which
        # share-locks it against a pause): its writers are already serialised.
        for task_set in _ordered_for_claiming(sets):
            assignment, skipped = _claim_in_set(task_set=task_set, worker=worker, now=now)
            if assignment is not None:
                return Claim(assignment), False
            contended = contended or skipped
        return Claim(None, reason="no_tasks"), contended


def claim_from_result(result: work_pg.ClaimResult) -> tuple[Claim, bool]:
    """A claim attempt on PostgreSQL (work_claim), as _claim_once returns it."""
    if result.outcome == "not_vetted":
        _refuse_unless_working(None)
    if result.outcome == "task":
        return Claim(result.assignment, resumed=result.resumed), False
    return Claim(None, reason=result.outcome), result.contended


def _claim_in_set(*, task_set: TaskSet, worker: User, now) -> tuple[Assignment | None, bool]:
    """A new assignment in this set, or None and whether a task was skipped because
    someone else held it."""
    if task_set.is_training:
        task = _training_task(task_set=task_set, worker=worker, now=now)
        if task is None:
            return None, False
        return _assign(task=task, task_set=task_set, worker=worker, now=now), False
    # Gold only ever comes mixed into regular work: when the regular tasks are gone,
    # so is the gold, or the pattern itself would give gold away.
    wants_gold = secrets.randbelow(1000) < task_set.gold_ratio_permille
    regular, skipped = _lock_open_regular_task(task_set=task_set, worker=worker, now=now)
    if regular is None:
        return None, skipped
    task = regular
    if wants_gold:
        gold = _unseen_gold_task(task_set=task_set, worker=worker)
        if gold is not None:
            task = gold
    return _assign(task=task, task_set=task_set, worker=worker, now=now), False


def _training_task(*, task_set: TaskSet, worker: User, now) -> Task | None:
    """An unseen training (gold) task while the set's answer budget lasts. The caller
    holds the set's row exclusively, so the budget count is exact."""
    used = Assignment.objects.filter(
        Q(status=Status.SUBMITTED) | live_claim(now), task_set=task_set
    ).count()
    if task_set.training_answer_budget is not None and used >= task_set.training_answer_budget:
        return None
    return _unseen_gold_task(task_set=task_set, worker=worker)


def _assign(*, task: Task, task_set: TaskSet, worker: User, now) -> Assignment:
    return Assignment.objects.create(
        task=task,
        task_set=task_set,
        is_gold=task.is_gold,
        worker=worker,
        claimed_at=now,
        expires_at=now + timedelta(seconds=task_set.time_limit_seconds),
        reward_minor=task_set.reward_minor,
        currency=task_set.currency,
    )


def _not_seen_by(worker: User):
    return ~Exists(Assignment.objects.filter(task=OuterRef("pk"), worker=worker))


def _live_active_claims(now):
    return Coalesce(
        Subquery(
            Assignment.objects.filter(live_claim(now), task=OuterRef("pk"))
            .order_by()
            .values("task")
            .annotate(n=Count("id"))
            .values("n")
        ),
        0,
    )


def claim_candidates(*, task_set: TaskSet, worker: User, now) -> QuerySet[Task]:
    """Open regular tasks of the set, unseen by the worker, that looked free in this
    statement's snapshot, in id order (bench/claim_load.py prints this query's plan)."""
    return (
        Task.objects.filter(task_set=task_set, is_open=True, is_gold=False)
        .filter(_not_seen_by(worker))
        .alias(active=_live_active_claims(now))
        .filter(
            submitted_count__lt=task_set.assignments_per_task + F("extra_assignments") - F("active")
        )
        .order_by("pk")
    )


def _lock_open_regular_task(*, task_set: TaskSet, worker: User, now) -> tuple[Task | None, bool]:
    """The first task (by id) that is open, unseen by this worker and has a free slot,
    locked; and whether such a task was passed over because another claimer held it.

    One query walks the partial index task_open_regular (finished tasks cost nothing)
    and locks the first candidate with SKIP LOCKED, so claimers spread over tasks
    instead of queueing on one. Its filter on free slots is only a guess from the
    query's snapshot: the slots are counted again under the lock, in a new statement
    that sees every committed claim."""
    candidates = claim_candidates(task_set=task_set, worker=worker, now=now)
    after_id = 0
    while True:
        task = candidates.filter(pk__gt=after_id).select_for_update(skip_locked=True).first()
        if task is None:
            # Nothing free and unlocked. Were candidates passed over only because
            # others held them? Then their claims may leave a slot: worth a retry.
            return None, candidates.filter(pk__gt=after_id).exists()
        active = Assignment.objects.filter(live_claim(now), task=task).count()
        if task.submitted_count + active < task_set.assignments_per_task + task.extra_assignments:
            return task, False
        after_id = task.pk


def _unseen_gold_task(*, task_set: TaskSet, worker: User) -> Task | None:
    # Random among the worker's unseen gold: a fixed order would let workers compare
    # notes ("the third task is always a check"). Gold has no slot limit: no lock.
    # Gold withdrawn on reports (tasks.reports) goes to nobody.
    return (
        Task.objects.filter(task_set=task_set, is_gold=True, withdrawn_at__isnull=True)
        .filter(_not_seen_by(worker))
        .order_by("?")
        .first()
    )


# --- Submitting ----------------------------------------------------------------


# What can be wrong with an answer, by code: the ORM path raises these messages, and
# work_submit on PostgreSQL returns the code.
ANSWER_PROBLEMS = {
    "not_option": lambda option: _("Choose one of the set's options."),
    "not_list": lambda option: _("Give a list of the options that apply."),
    "unknown_option": lambda option: _("Not an option of this set: %(o)s.") % {"o": option},
    "not_text": lambda option: _("Type the text as shown."),
    "empty": lambda option: _("Type the text as shown, or skip the task if it is unreadable."),
    "too_long": lambda option: _("At most %(n)d characters.") % {"n": MAX_TRANSCRIPTION_CHARS},
    "nul": lambda option: _("The text contains a NUL character."),
    "bad_character": lambda option: _("The text contains a character that is not valid."),
}


def answer_problem(problem: str, option: str | None = None) -> ValidationError:
    return ValidationError(ANSWER_PROBLEMS[problem](option))


def clean_transcription(answer) -> tuple[str | None, str | None]:
    """The answer as a transcription: (the text, None), or (None, what is wrong)."""
    if not isinstance(answer, str):
        return None, "not_text"
    text = answer.strip()
    if not text:
        return None, "empty"
    if len(text) > MAX_TRANSCRIPTION_CHARS:
        return None, "too_long"
    if "\x00" in text:
        return None, "nul"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, from a JSON "\ud800" escape
        return None, "bad_character"
    return text, None


def clean_answer(task_set: TaskSet, answer) -> str | list[str]:
    """The answer in its stored shape, or ValidationError saying what is wrong."""
    kind = task_set.kind
    if kind == TaskSet.Kind.LABEL:
        if not isinstance(answer, str) or answer not in task_set.label_options:
            raise answer_problem("not_option")
        return answer
    if kind == TaskSet.Kind.MULTILABEL:
        if not isinstance(answer, list) or not all(isinstance(a, str) for a in answer):
            raise answer_problem("not_list")
        unknown = [a for a in answer if a not in task_set.label_options]
        if unknown:
            raise answer_problem("unknown_option", unknown[0])
        # The set's own order, each once: equal choices compare equal later.
        return [option for option in task_set.label_options if option in answer]
    text, problem = clean_transcription(answer)
    if problem:
        raise answer_problem(problem)
    return text


def parse_submission_id(value) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise WorkError(
            "bad_submission_id", _("submission_id must be a UUID made by the client.")
        ) from None


def submit_answer(
    *,
    worker: User,
    assignment_id: int,
    answer,
    submission_id: uuid.UUID,
    seconds_spent: int | None = None,
) -> Submission:
    """Record the answer, committed before this returns. A resend of the same
    submission_id returns the stored result and writes nothing."""
    try:
        return _submit_answer(
            worker=worker,
            assignment_id=assignment_id,
            answer=answer,
            submission_id=submission_id,
            seconds_spent=seconds_spent,
        )
    except IntegrityError:
        # The unique submission_id, already used for another assignment: the
        # transaction was rolled back whole.
        raise duplicate_submission_error() from None


def duplicate_submission_error() -> WorkError:
    return WorkError(
        "duplicate_submission_id", _("This submission_id was already used for another task.")
    )


def _submit_answer(*, worker, assignment_id, answer, submission_id, seconds_spent) -> Submission:
    if connection.vendor == "postgresql":
        with transaction.atomic():
            result = work_pg.submit(
                assignment_id=assignment_id,
                worker_id=worker.pk,
                answer=answer,
                transcription=clean_transcription(answer),
                submission_id=submission_id,
                seconds_spent=seconds_spent,
                start_of_day=start_of_today(),
                allow_training=True,
            )
            return submission_from_result(result, effects=True)
    with transaction.atomic():
        # Lock the assignment first: a resend racing its original waits here and then
        # sees the first one's result.
        assignment = (
            Assignment.objects.select_for_update()
            .select_related("task_set")
            .filter(pk=assignment_id, worker=worker)
            .first()
        )
        if assignment is None:
            raise _refusal("not_found")
        if assignment.status in (Status.SUBMITTED, Status.VOIDED):
            if assignment.submission_id == submission_id:
                return Submission(
                    assignment,
                    replayed=True,
                    feedback=reputation_services.training_feedback(assignment, assignment.task_set),
                )
            raise _refusal("already_submitted")
        if assignment.status == Status.RELEASED:
            raise _refusal("released", release_reason=assignment.release_reason)
        # No separate vetting check: suspending a worker withdraws their claims in the
        # same transaction, so a suspended worker's assignment is already released.
        task_set = assignment.task_set
        try:
            stored_answer = clean_answer(task_set, answer)
        except ValidationError as exc:
            raise WorkError("invalid_answer", " ".join(exc.messages)) from None
        submitted_count, is_gold, wanted = _count_answer(assignment.task_id, task_set)
        # The clock is read only now, under the task's lock: every claim that could
        # have counted this assignment as expired was made before, and is visible.
        now = timezone.now()
        if assignment.expires_at <= now and not is_gold:
            others_active = (
                Assignment.objects.filter(live_claim(now), task_id=assignment.task_id)
                .exclude(pk=assignment.pk)
                .count()
            )
            if submitted_count - 1 + others_active >= wanted:
                raise _refusal("slot_retaken")  # rolls back the count above
        assignment.status = Status.SUBMITTED
        assignment.answer = stored_answer
        assignment.submission_id = submission_id
        assignment.submitted_at = now
        limit = task_set.time_limit_seconds
        assignment.seconds_spent = (
            None if seconds_spent is None else max(0, min(seconds_spent, limit * 4))
        )
        assignment.save(
            update_fields=["status", "answer", "submission_id", "submitted_at", "seconds_spent"]
        )
        closes_task = not is_gold and submitted_count == wanted
        feedback = answer_saved(
            assignment=assignment, task_set=task_set, closes_task=closes_task, is_gold=is_gold
        )
    return Submission(assignment, replayed=False, feedback=feedback)


def _refusal(code: str, **detail) -> WorkError:
    if code == "not_found":
        return WorkError(code, _("That task is not yours or does not exist."))
    if code == "already_submitted":
        return WorkError(code, _("You already answered this task."))
    if code == "released":
        return WorkError(code, _released_message(detail.get("release_reason", "")))
    if code == "invalid_answer":
        problem = answer_problem(detail["problem"], detail.get("option"))
        return WorkError(code, " ".join(problem.messages))
    if code == "slot_retaken":
        return WorkError(
            code,
            _(
                "Your time for this task ran out and someone else has taken it, "
                "so this answer cannot be accepted."
            ),
        )
    raise ValueError(f"unknown refusal {code}")


def submission_from_result(result: work_pg.SubmitResult, *, effects: bool) -> Submission:
    """An answer on PostgreSQL (work_submit), as submit_answer returns it; a refusal
    raises its WorkError. With effects, a new answer's effects (answer_saved) run
    here, in the caller's transaction (a training set's come back as feedback)."""
    if result.outcome not in ("submitted", "replayed"):
        raise _refusal(result.outcome, **(result.detail or {}))
    assignment = result.assignment
    task_set = assignment.task_set
    if result.outcome == "replayed":
        feedback = reputation_services.training_feedback(assignment, task_set)
        return Submission(assignment, replayed=True, feedback=feedback, earnings=result.earnings)
    feedback = None
    if effects:
        feedback = answer_saved(
            assignment=assignment,
            task_set=task_set,
            closes_task=result.closes_task,
            is_gold=result.is_gold,
        )
    return Submission(assignment, replayed=False, feedback=feedback, earnings=result.earnings)


def answer_saved(*, assignment: Assignment, task_set: TaskSet, closes_task: bool, is_gold: bool):
    """In the submit transaction, after the answer is saved and while the assignment
    and its task are locked: a trainee's check is scored now (its feedback comes back
    with the answer, and the worker's standing commits with it); the rest waits for
    the commit (run_answer_effects). Returns a training set's feedback."""
    feedback = None
    if task_set.is_training and is_gold:
        feedback = reputation_services.record_training_answer(
            assignment=assignment, task_set=task_set
        )
    effects = AnswerEffects()
    effects.add(assignment=assignment, task_set=task_set, closes_task=closes_task, is_gold=is_gold)
    transaction.on_commit(lambda: run_answer_effects(effects), robust=True)
    return feedback


@dataclass
class AnswerEffects:
    """What committed answers set off, gathered: one answer's (answer_saved), or a
    moment's worth of a server process's answers (tasks.work_async), run together by
    run_answer_effects so that each kind costs one call however many answers."""

    fast_answers: Counter = field(default_factory=Counter)  # worker id -> answers
    checks: list[int] = field(default_factory=list)  # regular sets' check answers
    closed_tasks: list[int] = field(default_factory=list)  # to settle
    progress: dict[int, tuple[TaskSet, bool]] = field(default_factory=dict)  # set, milestone

    def add(
        self, *, assignment: Assignment, task_set: TaskSet, closes_task: bool, is_gold: bool
    ) -> None:
        if not task_set.is_training:
            # Cheap fraud checks (reputation.fraud_triggers): nothing for an honest answer.
            if fraud_triggers.is_fast(assignment=assignment, task_set=task_set):
                self.fast_answers[assignment.worker_id] += 1
            if is_gold:
                # A regular set's check is scored by a job: its result is never shown
                # with the answer (checks must look like any other task on the wire).
                self.checks.append(assignment.pk)
        if closes_task:
            # Settling the task (consensus, reviews, payments, maybe reopening it for
            # one more answer, then the set's completion) is a job: it costs this
            # answer nothing.
            self.closed_tasks.append(assignment.task_id)
        _, milestone = self.progress.get(task_set.pk, (task_set, False))
        self.progress[task_set.pk] = (task_set, milestone or closes_task)

    def __bool__(self) -> bool:
        return bool(self.progress)


def run_answer_effects(effects: AnswerEffects) -> None:
    """Run what committed answers set off, on every path (the ORM's, work_submit
    through Django, the socket's event loop): the one place for an answer's effects.
    None of it holds an answer back: if a job cannot be queued, the answers stand and
    the safety net (tasks.settling) does the job's work a minute later."""
    fraud_triggers.note_fast_answers(dict(effects.fast_answers))
    if effects.checks:
        _queue(score_checks, effects.checks)
    if effects.closed_tasks:
        _queue(settle_closed_tasks, effects.closed_tasks)
    for task_set, milestone in effects.progress.values():
        events.progress_on_commit(task_set, milestone=milestone)


def _queue(job, *args) -> None:
    try:
        job.delay(*args)
    except Exception:
        logger.exception("queuing %s%r failed; the safety net will do it", job.name, args)


def _count_answer(task_id: int, task_set: TaskSet) -> tuple[int, bool, int]:
    """Add one answer to the task's counter and close it when full, in one statement
    that also takes the task's row lock (claimers count slots under the same lock).
    Returns the new count, whether the task is gold (gold never closes) and how many
    answers the task wants (the set's count plus any extra consensus asked for)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE tasks_task SET submitted_count = submitted_count + 1, "
            "is_open = (is_gold OR submitted_count + 1 < %s + extra_assignments) "
            "WHERE id = %s RETURNING submitted_count, is_gold, extra_assignments",
            [task_set.assignments_per_task, task_id],
        )
        submitted_count, is_gold, extra = cursor.fetchone()
    return submitted_count, bool(is_gold), task_set.assignments_per_task + extra


def _released_message(release_reason: str) -> str:
    Reason = Assignment.ReleaseReason
    if release_reason in (Reason.SET_PAUSED, Reason.SET_CANCELLED):
        return _("The requester stopped this set, so the task was withdrawn.")
    if release_reason == Reason.WORKER_SUSPENDED:
        return _("Your account is suspended, so the task was withdrawn.")
    if release_reason == Reason.TASK_WITHDRAWN:
        # One wording for a task reported disturbing and a check retired after a worker
        # was shown it (tasks.checks): naming the cause would say which tasks were checks.
        return _("This task was taken out of use, so it goes to nobody now.")
    return _("You gave this task back, so it cannot be answered now.")


def complete_if_finished(*, task_set_id: int) -> bool:
    """Mark a published set completed once every regular task is closed and settled
    (tasks.settling calls this after each settlement): its final results and the
    escrow it returns then see every answer reviewed and paid."""
    # Look before locking: the set's row lock would queue every claimer (they hold it
    # shared) behind this check.
    if _has_unfinished_tasks(task_set_id):
        return False
    with transaction.atomic():
        task_set = TaskSet.objects.select_for_update().get(pk=task_set_id)
        if task_set.status != TaskSet.Status.PUBLISHED:
            return False
        if _has_unfinished_tasks(task_set_id):
            return False
        task_set.status = TaskSet.Status.COMPLETED
        task_set.completed_at = timezone.now()
        task_set.save(update_fields=["status", "completed_at"])
        events.sets_changed_on_commit([task_set])
        # Final results (Dawid-Skene over the whole set) in the background, and the
        # escrow it no longer needs back to the organization.
        transaction.on_commit(lambda: aggregate_task_set.delay(task_set.pk), robust=True)
        transaction.on_commit(lambda: return_leftover_escrow.delay(task_set.pk), robust=True)
        return True


def _has_unfinished_tasks(task_set_id: int) -> bool:
    """A regular task still open, or closed and waiting to be settled: two lookups,
    each in its partial index (task_open_regular, task_closed_unsettled)."""
    regular = Task.objects.filter(task_set_id=task_set_id, is_gold=False)
    return (
        regular.filter(is_open=True).exists()
        or regular.filter(is_open=False, settled_at__isnull=True).exists()
    )


# --- Releasing -----------------------------------------------------------------

WORKER_RELEASE_REASONS = {
    Assignment.ReleaseReason.SKIP,
    Assignment.ReleaseReason.BROKEN,
    Assignment.ReleaseReason.DISTURBING,
}


def release_assignment(*, worker: User, assignment_id: int, reason: str) -> Assignment:
    """Give a task back, with no penalty. It goes to someone else; not to you again.
    Giving it back as broken or disturbing is a report (tasks.reports), which may
    withdraw the task or pause the set in the same transaction."""
    # Imported here: tasks.reports pauses sets through tasks.services, which imports
    # this module.
    from tasks import reports

    if reason not in WORKER_RELEASE_REASONS:
        raise WorkError("bad_reason", _("The reason must be skip, broken or disturbing."))
    reporting = reason in reports.REPORT_REASONS
    with transaction.atomic():
        # A report locks the set first, before the assignment (see lock_set_for_report).
        task_set = (
            reports.lock_set_for_report(assignment_id=assignment_id, worker=worker)
            if reporting
            else None
        )
        assignment = (
            Assignment.objects.select_for_update().filter(pk=assignment_id, worker=worker).first()
        )
        if assignment is None:
            raise WorkError("not_found", _("That task is not yours or does not exist."))
        if assignment.status == Status.RELEASED:
            return assignment  # a resend: already done
        if assignment.status == Status.SUBMITTED:
            raise WorkError("already_submitted", _("You already answered this task."))
        assignment.status = Status.RELEASED
        assignment.released_at = timezone.now()
        assignment.release_reason = reason
        assignment.save(update_fields=["status", "released_at", "release_reason"])
        if task_set is not None:
            reports.task_reported(assignment=assignment, task_set=task_set)
    return assignment


def withdraw_claims(*, assignments: QuerySet[Assignment], reason: str) -> int:
    """Release active claims that the worker did not give back (set paused, worker
    suspended) and tell each worker. Call inside the transaction that made the change."""
    withdrawn = list(
        # By id: pausing a set and suspending a worker may lock the same rows.
        assignments.select_for_update()
        .filter(status=Status.ACTIVE)
        .order_by("pk")
        .values_list("pk", "worker")
    )
    if withdrawn:
        Assignment.objects.filter(pk__in=[pk for pk, _worker in withdrawn]).update(
            status=Status.RELEASED, released_at=timezone.now(), release_reason=reason
        )
        for assignment_id, worker_id in withdrawn:
            events.revoked_on_commit(
                worker_id=worker_id, assignment_id=assignment_id, reason=reason
            )
    return len(withdrawn)


# --- What a worker earned ------------------------------------------------------


@dataclass(frozen=True)
class Earnings:
    currency: str
    today_minor: int
    today_count: int
    pending_minor: int  # answers not reviewed yet; reviewed pay is on the ledger


def start_of_today():
    return timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)


def earnings_by_currency(worker: User) -> list[Earnings]:
    start_of_day = start_of_today()
    if connection.vendor == "postgresql":  # one statement, no ORM
        return [Earnings(*row) for row in work_pg.earnings_rows(worker.pk, start_of_day)]
    answered = Assignment.objects.filter(worker=worker, status=Status.SUBMITTED)
    today = {
        row["currency"]: (row["today"], row["today_count"])
        # A rejected answer is not paid (unless an appeal restores it).
        for row in answered.filter(submitted_at__gte=start_of_day)
        .exclude(review_status=Assignment.ReviewStatus.REJECTED)
        .values("currency")
        .annotate(today=Sum("reward_minor"), today_count=Count("id"))
        .order_by()
    }
    # Reviewed pay is on the ledger (the earnings page): here, what awaits review.
    pending = dict(
        answered.filter(review_status=Assignment.ReviewStatus.PENDING)
        .values("currency")
        .annotate(pending=Sum("reward_minor"))
        .values_list("currency", "pending")
        .order_by()
    )
    return [
        Earnings(currency, *today.get(currency, (0, 0)), pending.get(currency, 0))
        for currency in sorted(today.keys() | pending.keys())
    ]
