from dataclasses import dataclass

from django.db.models import Count, OuterRef, Prefetch, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from marketplace.models import User
from marketplace.selectors import requester_organizations
from tasks.models import Assignment, Task, TaskSet, live_claim
from tasks.pricing import hourly_pay_minor


def visible_task_sets(user: User) -> QuerySet[TaskSet]:
    """Only the sets of the user's own requester organizations."""
    return TaskSet.objects.filter(organization__in=requester_organizations(user))


def _count(queryset) -> Coalesce:
    # Subqueries, not Count() over joins: two joined counts would multiply each other.
    return Coalesce(
        Subquery(queryset.order_by().values("task_set").annotate(n=Count("id")).values("n")),
        0,
    )


def task_sets_with_counts(user: User) -> QuerySet[TaskSet]:
    tasks = Task.objects.filter(task_set=OuterRef("pk"))
    answers = Assignment.objects.filter(task_set=OuterRef("pk"), status="submitted", is_gold=False)
    return (
        visible_task_sets(user)
        .select_related("organization")
        .annotate(
            task_count=_count(tasks.filter(is_gold=False)),
            gold_count=_count(tasks.filter(is_gold=True)),
            submitted_count=_count(answers),
        )
        .order_by("-created_at")
    )


def tasks_with_answers(task_set: TaskSet) -> QuerySet[Task]:
    """Tasks in id order with their submitted answers, for the requester's set page."""
    return task_set.tasks.order_by("pk").prefetch_related(
        Prefetch(
            "assignments",
            queryset=Assignment.objects.filter(status="submitted").order_by("submitted_at"),
            to_attr="answers",
        )
    )


@dataclass(frozen=True)
class SetProgress:
    tasks_total: int  # regular tasks
    tasks_done: int  # regular tasks with all their answers
    needed: int  # regular answers the set asks for
    submitted: int  # regular answers given
    gold_submitted: int
    active_claims: int
    spent_minor: int  # rewards of every submitted answer (gold too), before the fee
    median_seconds: int | None  # measured, per answer
    real_hourly_minor: int | None  # reward per hour at the measured median


def _regular_task_counts(task_set: TaskSet) -> dict[str, int]:
    """{"total": regular tasks, "done": those with all their answers}."""
    return Task.objects.filter(task_set=task_set, is_gold=False).aggregate(
        total=Count("id"), done=Count("id", filter=Q(is_open=False))
    )


def set_progress(task_set: TaskSet) -> SetProgress:
    now = timezone.now()
    tasks = _regular_task_counts(task_set)
    answers = Assignment.objects.filter(task_set=task_set).aggregate(
        submitted=Count("id", filter=Q(status="submitted", is_gold=False)),
        gold=Count("id", filter=Q(status="submitted", is_gold=True)),
        active=Count("id", filter=live_claim(now)),
        spent=Sum("reward_minor", filter=Q(status="submitted")),
    )
    median = median_seconds(task_set)
    return SetProgress(
        tasks_total=tasks["total"],
        tasks_done=tasks["done"],
        needed=tasks["total"] * task_set.assignments_per_task,
        submitted=answers["submitted"],
        gold_submitted=answers["gold"],
        active_claims=answers["active"],
        spent_minor=answers["spent"] or 0,
        median_seconds=median,
        real_hourly_minor=(
            hourly_pay_minor(reward_minor=task_set.reward_minor, seconds_per_task=max(median, 1))
            if median is not None
            else None
        ),
    )


def live_progress(task_set: TaskSet) -> tuple[int, int, int]:
    """(regular answers given, regular tasks finished, regular tasks): the cheap part
    of set_progress, for the live updates sent while work flows."""
    tasks = _regular_task_counts(task_set)
    submitted = Assignment.objects.filter(
        task_set=task_set, status="submitted", is_gold=False
    ).count()
    return submitted, tasks["done"], tasks["total"]


def median_seconds(task_set: TaskSet) -> int | None:
    """The median time workers took per answer (the lower middle for an even count):
    two indexed queries that work the same on PostgreSQL and SQLite."""
    timed = Assignment.objects.filter(
        task_set=task_set, status="submitted", seconds_spent__isnull=False
    )
    count = timed.count()
    if not count:
        return None
    return timed.order_by("seconds_spent").values_list("seconds_spent", flat=True)[(count - 1) // 2]
