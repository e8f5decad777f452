"""A regular set's checks: which are live, retiring one a worker asked to see, and
telling the requesters when a set runs low on them.

Every worker of a set meets every check of it, so a check's payload and answer seen
together by one worker are an answer key for everyone else. While a check is live
(Task.is_live_check) its worker learns only that their answer was not accepted. A
worker who failed it may ask to see it: the check is then retired from the set's pool
first, in the same transaction, so the key they could share is already stale.

An appeal of a live check retires it too (file_appeal): the admin's decision may
speak of its answer.

Retiring sets withdrawn_at, which both claim paths already skip (work_claim on
PostgreSQL, tasks.work._unseen_gold_task elsewhere), plus retired_at and retired_for,
which say why and for whom. Answers already given to it stay scored."""

from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from marketplace.models import Membership, User
from marketplace.services import notify, record_audit
from reputation import services as reputation_services
from reputation.models import Appeal
from tasks.models import CHECKS_IN_USE_STATUSES, Assignment, Task, TaskSet
from tasks.work import withdraw_claims

# Below this many live checks, a published set warns its requesters (once, and on its
# page). Each worker meets each check at most once, so a set with few left stops
# checking its most active workers: at the default gold ratio (10%) five checks last a
# worker about fifty answers, under an hour's work, after which theirs go unchecked.
LOW_LIVE_CHECKS = 5
# Checks one worker may have shown back per set in a day. Each one was a failed check
# that cost them reputation, which bounds draining a set already; this also bounds how
# fast one account can empty a small set's pool in a sitting.
SHOW_BACK_PER_SET_PER_DAY = 3
SHOW_BACK_WINDOW = timedelta(days=1)
NOT_ACCEPTED = (Assignment.ReviewStatus.SOFT_REJECTED, Assignment.ReviewStatus.REJECTED)


def live_checks() -> Q:
    """Tasks.objects.filter(live_checks()): the same rule as Task.is_live_check."""
    return Q(
        is_gold=True,
        withdrawn_at__isnull=True,
        task_set__is_training=False,
        task_set__status__in=CHECKS_IN_USE_STATUSES,
    )


def live_check_count(task_set: TaskSet) -> int | None:
    """How many checks the set still has in its pool; None for a set whose checks are
    not in use (training, completed or cancelled)."""
    if not task_set.checks_in_use:
        return None
    return Task.objects.filter(live_checks(), task_set=task_set).count()


def live_check_counts(task_sets: list[TaskSet]) -> dict[int, int | None]:
    """live_check_count for many sets in one query (the set list, the API)."""
    counts = dict(
        Task.objects.filter(live_checks(), task_set__in=[s.pk for s in task_sets])
        .order_by()
        .values("task_set")
        .annotate(n=Count("pk"))
        .values_list("task_set", "n")
    )
    return {s.pk: counts.get(s.pk, 0) if s.checks_in_use else None for s in task_sets}


def runs_low(task_set: TaskSet, count: int | None) -> bool:
    """Whether to warn: a published set with gold in use and fewer live checks than
    LOW_LIVE_CHECKS (a set without a gold ratio asked for none)."""
    return (
        count is not None
        and task_set.status == TaskSet.Status.PUBLISHED
        and task_set.gold_ratio_permille > 0
        and count < LOW_LIVE_CHECKS
    )


@dataclass(frozen=True)
class ShownBack:
    assignment: Assignment  # with its task and set, to show
    retired: bool  # this request took the check out of the pool


def show_back_check(*, worker: User, assignment_id: int) -> ShownBack:
    """Let the worker see a check they answered. A live check of a regular set is shown
    only if they did not pass it, and is retired first; one no longer live (or a
    training check) is simply shown. Raises Assignment.DoesNotExist if the answer is
    not the worker's own submitted check, ValidationError for a refusal."""
    with transaction.atomic():
        assignment = (
            Assignment.objects.select_related("task__task_set", "task_set")
            .filter(pk=assignment_id, worker=worker, is_gold=True, status="submitted")
            .get()
        )
        if not assignment.task.is_live_check:
            return ShownBack(assignment, retired=False)
        if assignment.review_status not in NOT_ACCEPTED:
            # A passed check stays hidden while live: showing it would give its answer
            # away with no reputation spent.
            raise ValidationError(_("Only checks you did not pass can be shown."))
        task_set = _lock_set(assignment)
        _refuse_over_daily_limit(task_set=task_set, worker=worker)
        task = _take_out_of_pool(task_id=assignment.task_id)
        if task is not None:
            # Read again under the task's lock: a gold correction (which holds it while
            # rescoring) may have just accepted the answer. Refusing rolls back the
            # claims taken back with it.
            assignment.refresh_from_db(fields=["review_status"])
            if assignment.review_status not in NOT_ACCEPTED:
                raise ValidationError(_("Only checks you did not pass can be shown."))
            _mark_retired(task=task, task_set=task_set, worker=worker, assignment=assignment)
        assignment.task.refresh_from_db(fields=["withdrawn_at", "retired_at", "is_open"])
        return ShownBack(assignment, retired=task is not None)


def file_appeal(*, worker: User, assignment_id: int, message: str) -> Appeal:
    """reputation.services.file_appeal; an appeal of a live check also retires it, in
    the same transaction, since the admin's decision may speak of its answer. Such an
    appeal is taken like any other, with no refusal or limit of its own: a different
    reply would tell the worker which of their answers were checks."""
    with transaction.atomic():
        answer = (
            Assignment.objects.select_related("task__task_set")
            .filter(pk=assignment_id, worker=worker, is_gold=True)
            .first()
        )
        task_set = task = None
        if answer is not None and answer.task.is_live_check:
            # The set, the other claims, the task, then (in file_appeal) the answer:
            # the order a report and a gold correction take them in.
            task_set = _lock_set(answer)
            task = _take_out_of_pool(task_id=answer.task_id)
        appeal = reputation_services.file_appeal(
            worker=worker, assignment_id=assignment_id, message=message
        )
        if task is not None:
            _mark_retired(task=task, task_set=task_set, worker=worker, assignment=answer)
        return appeal


def _lock_set(assignment: Assignment) -> TaskSet:
    # The set first, as a report that withdraws a task takes it: claimers share-lock it
    # on PostgreSQL, so no claim in the set can pick this check between here and the
    # commit, and a pause waits for us.
    return TaskSet.objects.select_for_update().get(pk=assignment.task_set_id)


def _refuse_over_daily_limit(*, task_set: TaskSet, worker: User) -> None:
    # Counted under the set's lock: two requests at once cannot both be the last one.
    shown_today = Task.objects.filter(
        task_set=task_set,
        retired_for=worker,
        retired_at__gte=timezone.now() - SHOW_BACK_WINDOW,
    ).count()
    if shown_today >= SHOW_BACK_PER_SET_PER_DAY:
        raise ValidationError(
            _("You can see at most %(n)d checks of this set a day. Try again tomorrow.")
            % {"n": SHOW_BACK_PER_SET_PER_DAY}
        )


def _take_out_of_pool(*, task_id: int) -> Task | None:
    """The check's row locked, with the other workers' claims on it taken back; None if
    it left the pool meanwhile (withdrawn or retired by someone else)."""
    # The claims first, then the task: the order an answer takes them in (its claim,
    # then the task's counter), as tasks.reports withdraws a task. A claim taken back
    # cannot be answered, so nobody answers a check whose answer is out.
    # TASK_WITHDRAWN, not a reason of its own: the holder must not learn it was a check.
    withdraw_claims(
        assignments=Assignment.objects.filter(task_id=task_id),
        reason=Assignment.ReleaseReason.TASK_WITHDRAWN,
    )
    task = Task.objects.select_for_update().get(pk=task_id)
    return task if task.withdrawn_at is None else None


def _mark_retired(*, task: Task, task_set: TaskSet, worker: User, assignment: Assignment) -> None:
    now = timezone.now()
    task.withdrawn_at = now
    task.retired_at = now
    task.retired_for = worker
    task.is_open = False
    task.save(update_fields=["withdrawn_at", "retired_at", "retired_for", "is_open"])
    record_audit(
        actor=worker,
        action="check.retired",
        target=task,
        reason="shown to a worker who did not pass it",
        data={"assignment": assignment.pk, "task_set": task_set.pk},
    )
    _warn_once_if_low(task_set)


def _warn_once_if_low(task_set: TaskSet) -> None:
    """Tell the requesters once, when the set's live checks fall below LOW_LIVE_CHECKS.
    A published set takes no new tasks, so its count only falls: once is enough. The
    caller holds the set's row lock, so two retirements do not both tell them."""
    count = live_check_count(task_set)
    if not runs_low(task_set, count) or task_set.live_checks_low_notified_at is not None:
        return
    task_set.live_checks_low_notified_at = timezone.now()
    task_set.save(update_fields=["live_checks_low_notified_at"])
    requesters = User.objects.filter(
        memberships__organization_id=task_set.organization_id,
        memberships__role__in=[Membership.Role.ADMIN, Membership.Role.MEMBER],
        is_active=True,
    ).distinct()
    for user in requesters.order_by("pk"):
        notify(
            user=user,
            subject=gettext_noop("A task set is running out of checks"),
            body=gettext_noop(
                "“%(set)s” has %(n)d checks left whose answers no worker has seen. "
                "A worker who fails a check may ask to see it, which retires it. "
                "When none are left, its answers are checked only against each "
                "other; to keep measuring quality, put more checks in your next set."
            ),
            params={"set": task_set.title, "n": count},
        )
