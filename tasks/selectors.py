from django.db.models import Count, Q, QuerySet

from marketplace.models import User
from marketplace.selectors import requester_organizations
from tasks.models import TaskSet


def visible_task_sets(user: User) -> QuerySet[TaskSet]:
    """Only the sets of the user's own requester organizations."""
    return TaskSet.objects.filter(organization__in=requester_organizations(user))


def task_sets_with_counts(user: User) -> QuerySet[TaskSet]:
    return (
        visible_task_sets(user)
        .select_related("organization")
        .annotate(
            task_count=Count("tasks", filter=Q(tasks__is_gold=False)),
            gold_count=Count("tasks", filter=Q(tasks__is_gold=True)),
        )
        .order_by("-created_at")
    )
