"""Reads of the quality system that claims, pages and the API share."""

from dataclasses import dataclass

from django.db.models import QuerySet

from reputation.models import ReputationEvent, WorkerSkill
from reputation.standing import wilson_bounds


def standings_for(worker_id: int) -> dict[str, WorkerSkill]:
    """The worker's standing per skill: one indexed query, done once per claim."""
    return {row.skill: row for row in WorkerSkill.objects.filter(worker_id=worker_id)}


def recent_checks(worker_id: int, skill: str, limit: int = 20) -> QuerySet[ReputationEvent]:
    """The worker's latest gold and training results in a skill, newest first, with
    the task and its set. A live check's payload and answer must not be shown together
    (Task.is_live_check, tasks.checks): every worker of the set meets it."""
    return (
        ReputationEvent.objects.filter(
            worker_id=worker_id, skill=skill, source__in=["gold", "training"], voided_at=None
        )
        .select_related("assignment__task__task_set", "assignment__task_set")
        .order_by("-pk")[:limit]
    )


@dataclass(frozen=True)
class Interval:
    lower_permille: int
    upper_permille: int


def score_interval(standing: WorkerSkill) -> Interval:
    lower, upper = wilson_bounds(
        standing.evidence_right, standing.evidence_right + standing.evidence_wrong
    )
    return Interval(round(lower * 1000), round(upper * 1000))
