"""Workers' reports of tasks: a task given back as broken or disturbing.

A report counts for its worker's trust in the set's skill
(reputation.selectors.trust_permille: a low score or little evidence behind it
counts less), and each worker counts once however many tasks they report,
with their share capped, so that no single worker, and no handful of fresh accounts,
can stop work that others want done.

What a report sets off, in the transaction that releases the task
(tasks.work.release_assignment), with the set's row locked before anything else:
- A task whose distinct disturbing-reporters' trust reaches
  WITHDRAW_DISTURBING_PERMILLE is withdrawn: nobody else is shown it and the set can
  still complete; the other claims on it are withdrawn. A regular task's answers
  already given are reviewed (reputation.services.review_withdrawn_task_answers) and
  paid; a check's were scored as checks.
- A published set pauses itself once the trust of the distinct workers who reported
  its tasks since it last did so reaches pause_threshold() report units; its
  requester's organization admins and the staff are told. Reports made before that
  pause no longer count, and neither do the workers who made them: the requester's
  resume answered them, and the same few workers must not be able to pause the set
  again after every resume.

And what the requester (their set's page, the REST API) and staff (/staff/reports/)
read of them. Each (task, worker) has one assignment, so each report is a distinct
worker reporting a distinct task."""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_noop

from marketplace.models import Membership, User
from marketplace.services import notify, record_audit
from reputation.selectors import trust_of
from reputation.services import review_withdrawn_task_answers, set_skill
from tasks import events, services
from tasks.models import Assignment, Task, TaskSet
from tasks.work import complete_if_finished, withdraw_claims

Reason = Assignment.ReleaseReason
REPORT_REASONS = (Reason.BROKEN, Reason.DISTURBING)
# One report unit: what one fully trusted worker's report weighs (trust is 0..1000).
REPORT_UNIT_PERMILLE = 1000
# A task is withdrawn as disturbing at two report units of its reporters' trust, each
# worker's share capped at one unit (report_share_cap). That always takes two workers
# or more, since one report may be one person's sensitivity or a slip of the finger:
# two with a good track record spare everyone after them. Two accounts fresh from
# training (half a unit each) cannot; it takes four of them, or twenty with nothing
# behind them (TRUST_MIN_PERMILLE).
WITHDRAW_DISTURBING_PERMILLE = 2 * REPORT_UNIT_PERMILLE


def pause_threshold(regular_tasks: int) -> int:
    """Report units that pause a set of this many regular tasks:
    TASK_REPORTS_PAUSE_PERMILLE of them rounded up (in integers: 20 permille of 101
    tasks is 3), at least TASK_REPORTS_PAUSE_MIN. Each unit is one trusted worker."""
    share = -(-settings.TASK_REPORTS_PAUSE_PERMILLE * regular_tasks // 1000)
    return max(settings.TASK_REPORTS_PAUSE_MIN, share)


def report_share_cap(needed_permille: int) -> int:
    """The most any one worker's reports add towards a total of needed_permille: one
    report unit, and never more than half of it, so that it always takes two workers
    at least, however low the threshold is set."""
    return min(REPORT_UNIT_PERMILLE, needed_permille // 2)


@dataclass(frozen=True)
class Tally:
    reporters: int  # distinct workers counted
    trust_permille: int  # their trust, each capped at report_share_cap(needed)
    needed_permille: int

    @property
    def reached(self) -> bool:
        return self.trust_permille >= self.needed_permille


def tally(*, reporter_ids, skill: str, needed_permille: int) -> Tally:
    """The capped trust of these distinct reporters in the skill, against a need."""
    reporter_ids = set(reporter_ids)
    cap = report_share_cap(needed_permille)
    trust = trust_of(sorted(reporter_ids), skill)
    return Tally(
        reporters=len(reporter_ids),
        trust_permille=sum(min(cap, weight) for weight in trust.values()),
        needed_permille=needed_permille,
    )


# --- What a report sets off -------------------------------------------------------


def lock_set_for_report(*, assignment_id: int, worker: User) -> TaskSet | None:
    """The set of the worker's assignment, locked for update, or None if the
    assignment is not theirs. Taken before the assignment's own lock: pausing locks
    the set, then claims, and so does a report that pauses or withdraws, so neither
    can hold what the other waits for. With the set locked, no claim can be made in
    it meanwhile (claimers share-lock the set on PostgreSQL)."""
    task_set_id = (
        Assignment.objects.filter(pk=assignment_id, worker=worker)
        .values_list("task_set_id", flat=True)
        .first()
    )
    if task_set_id is None:
        return None
    return TaskSet.objects.select_for_update().get(pk=task_set_id)


def task_reported(*, assignment: Assignment, task_set: TaskSet) -> None:
    """Act on a report just saved. Call in the release transaction, holding the set's
    row lock (lock_set_for_report), then the released assignment's. Since every
    report on the set takes that lock first, reports are counted one at a time."""
    now = assignment.released_at or timezone.now()
    if assignment.release_reason == Reason.DISTURBING:
        _withdraw_if_disturbing(task_id=assignment.task_id, task_set=task_set, now=now)
    _pause_if_many_reports(task_set=task_set)


def disturbing_tally(*, task_id: int, task_set: TaskSet) -> Tally:
    """The workers who reported this task disturbing, weighed by their trust."""
    return tally(
        reporter_ids=Assignment.objects.filter(
            task_id=task_id, release_reason=Reason.DISTURBING
        ).values_list("worker_id", flat=True),
        skill=set_skill(task_set),
        needed_permille=WITHDRAW_DISTURBING_PERMILLE,
    )


def _withdraw_if_disturbing(*, task_id: int, task_set: TaskSet, now: datetime) -> None:
    task = Task.objects.only("withdrawn_at").get(pk=task_id)
    if task.withdrawn_at is not None:
        return
    disturbing = disturbing_tally(task_id=task_id, task_set=task_set)
    if not disturbing.reached:
        return
    # The other claims first, then the task: the order an answer takes them in (its
    # claim, then the task's counter), so neither waits on the other. A withdrawn claim
    # cannot be answered, so nothing reopens the task by answering it later.
    withdraw_claims(
        assignments=Assignment.objects.filter(task_id=task_id), reason=Reason.TASK_WITHDRAWN
    )
    task = Task.objects.select_for_update().get(pk=task_id)
    task.withdrawn_at = now
    task.is_open = False
    if task.is_gold:
        # A check goes to every worker of the set, not to a few: withdrawn, it goes to
        # nobody else (the claim skips withdrawn gold). Its answers were checks, scored
        # on their own; there is no consensus to settle.
        task.save(update_fields=["withdrawn_at", "is_open"])
        outcome = {"gold": True}
    else:
        # Settled here: its answers are reviewed and paid below, and it never gets a
        # consensus of the answers it waited for (the settling job leaves a withdrawn
        # task alone). Under the task's lock, which is what a settlement takes first.
        task.settled_at = now
        task.save(update_fields=["withdrawn_at", "is_open", "settled_at"])
        review = review_withdrawn_task_answers(task=task, task_set=task_set, now=now)
        outcome = {
            "answers_reviewed_by_consensus": review.by_consensus,
            "answers_approved": review.approved,
            "answers_not_used": review.not_used,
        }
    record_audit(
        actor=None,
        action="task.withdrawn",
        target=task,
        reason=(
            f"reported disturbing by {disturbing.reporters} workers "
            f"(trust {disturbing.trust_permille} of {disturbing.needed_permille} needed)"
        ),
        data={
            "disturbing_reporters": disturbing.reporters,
            "trust_permille": disturbing.trust_permille,
            "needed_permille": disturbing.needed_permille,
            **outcome,
        },
    )
    if task.is_gold:
        return
    events.progress_on_commit(task_set, milestone=True)
    # It may have been the set's last open task. After commit, as when an answer
    # closes one: completing locks the set's row again in its own transaction.
    transaction.on_commit(lambda: complete_if_finished(task_set_id=task_set.pk), robust=True)


def pause_tally(task_set: TaskSet) -> Tally:
    """The workers whose reports count towards pausing the set now, weighed by their
    trust: those who reported its tasks since it last paused itself for reports, less
    those whose reports already counted towards that pause or an earlier one."""
    reports = Assignment.objects.filter(task_set=task_set, release_reason__in=REPORT_REASONS)
    recent = reports
    if task_set.paused_for_reports_at is not None:
        # Every report made before the last pause counted towards one: the windows
        # between pauses cover all of them.
        heard = reports.filter(
            worker_id=OuterRef("worker_id"), released_at__lte=task_set.paused_for_reports_at
        )
        recent = reports.filter(released_at__gt=task_set.paused_for_reports_at).exclude(
            Exists(heard)
        )
    regular_tasks = Task.objects.filter(task_set=task_set, is_gold=False).count()
    return tally(
        reporter_ids=recent.values_list("worker_id", flat=True).distinct(),
        skill=set_skill(task_set),
        needed_permille=pause_threshold(regular_tasks) * REPORT_UNIT_PERMILLE,
    )


def _pause_if_many_reports(*, task_set: TaskSet) -> None:
    # The set was read under its row lock: its status and paused_for_reports_at are
    # current, and no other report on it is being counted at the same time.
    if task_set.status != TaskSet.Status.PUBLISHED:
        return
    counted = pause_tally(task_set)
    if not counted.reached:
        return
    services.pause_locked_task_set_as_system(
        task_set=task_set,
        action="auto_paused",
        reason=(
            f"{counted.reporters} workers reported tasks (trust {counted.trust_permille} "
            f"of {counted.needed_permille} needed)"
        ),
        data={
            "reporters": counted.reporters,
            "trust_permille": counted.trust_permille,
            "needed_permille": counted.needed_permille,
        },
    )
    task_set.paused_for_reports_at = task_set.paused_at
    task_set.save(update_fields=["paused_for_reports_at"])
    _tell_about_pause(task_set, counted.reporters)


def _tell_about_pause(task_set: TaskSet, reporters: int) -> None:
    """The organization's admins, who can fix and resume the set, and the staff."""
    recipients = (
        User.objects.filter(
            Q(is_staff=True)
            | Q(
                memberships__organization_id=task_set.organization_id,
                memberships__role=Membership.Role.ADMIN,
            ),
            is_active=True,
        )
        .distinct()
        .order_by("pk")
    )
    for user in recipients:
        notify(
            user=user,
            subject=gettext_noop("Task set paused: workers reported its tasks"),
            body=gettext_noop(
                "%(n)d workers reported tasks in “%(set)s” (%(organization)s) as "
                "broken or disturbing, so the set was paused and its open claims were "
                "withdrawn. Check the reported tasks and the instructions on the set's "
                "page, then resume the set, or cancel it. Tasks that several workers "
                "with a good track record found disturbing are already withdrawn."
            ),
            params={
                "n": reporters,
                "set": task_set.title,
                "organization": task_set.organization.name,
            },
        )


# --- Reading reports ----------------------------------------------------------------


@dataclass(frozen=True)
class ReportedTask:
    task_id: int
    external_id: str
    is_gold: bool
    payload_text: str
    has_image: bool
    withdrawn_at: datetime | None
    broken: int  # workers who reported it broken
    disturbing: int  # workers who reported it disturbing
    latest_at: datetime
    task_set: TaskSet  # with its organization

    @property
    def reports(self) -> int:
        return self.broken + self.disturbing


@dataclass(frozen=True)
class Reports:
    total: int  # reported tasks, of which `tasks` holds the first few
    tasks: list[ReportedTask]


def _reported(reports: QuerySet[Assignment], *, order: list[str], limit: int) -> Reports:
    rows = list(
        reports.order_by()
        .values(
            "task_id",
            "task_set_id",
            "task__external_id",
            "task__is_gold",
            "task__payload_text",
            "task__image_derivative",
            "task__withdrawn_at",
        )
        .annotate(
            report_count=Count("pk"),
            broken=Count("pk", filter=Q(release_reason=Reason.BROKEN)),
            disturbing=Count("pk", filter=Q(release_reason=Reason.DISTURBING)),
            latest_at=Max("released_at"),
        )
        .order_by(*order)[:limit]
    )
    task_sets = TaskSet.objects.select_related("organization").in_bulk(
        {row["task_set_id"] for row in rows}
    )
    tasks = [
        ReportedTask(
            task_id=row["task_id"],
            external_id=row["task__external_id"],
            is_gold=row["task__is_gold"],
            payload_text=row["task__payload_text"],
            has_image=bool(row["task__image_derivative"]),
            withdrawn_at=row["task__withdrawn_at"],
            broken=row["broken"],
            disturbing=row["disturbing"],
            latest_at=row["latest_at"],
            task_set=task_sets[row["task_set_id"]],
        )
        for row in rows
    ]
    return Reports(total=reports.values("task_id").distinct().count(), tasks=tasks)


def _all_reports() -> QuerySet[Assignment]:
    return Assignment.objects.filter(release_reason__in=REPORT_REASONS)


def set_reports(task_set: TaskSet, *, limit: int = 50) -> Reports:
    """The set's reported tasks, the most recently reported first."""
    return _reported(
        _all_reports().filter(task_set=task_set), order=["-latest_at", "-task_id"], limit=limit
    )


def reports_across_sets(*, limit: int = 100) -> Reports:
    """Reported tasks of every set, the most reported first, for the staff."""
    return _reported(_all_reports(), order=["-report_count", "-latest_at", "-task_id"], limit=limit)
