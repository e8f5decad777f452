"""Reads of the quality system that claims, pages and the API share."""

from dataclasses import dataclass

from django.db.models import QuerySet

from reputation.models import ReputationEvent, WorkerSkill
from reputation.standing import wilson_bounds


def standings_for(worker_id: int) -> dict[str, WorkerSkill]:
    """The worker's standing per skill: one indexed query, done once per claim."""
    return {row.skill: row for row in WorkerSkill.objects.filter(worker_id=worker_id)}


# How much a worker's word is trusted in a skill (a report of a task as broken or
# disturbing, an answer nobody else could check), in permille of a worker with a
# good track record. Two factors, multiplied:
# - their score (the posterior mean): at or below TRUST_ZERO_SCORE_PERMILLE (a coin
#   toss between two options) it earns nothing, at TRUST_FULL_SCORE_PERMILLE (right
#   four times in five) or above all of it, in proportion between;
# - the share of TRUST_FULL_EVIDENCE their evidence covers: an account fresh from
#   training (10 checks) counts half however well it did, since accounts are cheaper
#   than track records. Twenty checks' worth is within reach of any regular worker:
#   forgetting (QUALITY_FORGETTING_PERMILLE 970) keeps about 33.
TRUST_ZERO_SCORE_PERMILLE = 500
TRUST_FULL_SCORE_PERMILLE = 800
TRUST_FULL_EVIDENCE = 20.0
# Anyone the platform lets work counts for a little, not nothing: trainees have little
# evidence yet, and enough of them together must still be able to withdraw a
# disturbing training check. It takes many of them.
TRUST_MIN_PERMILLE = 100


def trust_permille(standing: WorkerSkill | None) -> int:
    """The trust (TRUST_MIN_PERMILLE..1000) a standing earns; None (never worked in the
    skill) earns the minimum."""
    if standing is None:
        return TRUST_MIN_PERMILLE
    by_score = (standing.score_permille - TRUST_ZERO_SCORE_PERMILLE) / (
        TRUST_FULL_SCORE_PERMILLE - TRUST_ZERO_SCORE_PERMILLE
    )
    evidence = standing.evidence_right + standing.evidence_wrong
    by_evidence = min(1.0, evidence / TRUST_FULL_EVIDENCE)
    trust = round(1000 * min(1.0, max(0.0, by_score)) * by_evidence)
    return max(TRUST_MIN_PERMILLE, trust)


def trust_of(worker_ids, skill: str) -> dict[int, int]:
    """trust_permille of each of these workers in the skill: one query."""
    rows = {
        row.worker_id: row
        for row in WorkerSkill.objects.filter(worker_id__in=list(worker_ids), skill=skill).only(
            "worker_id", "score_permille", "evidence_right", "evidence_wrong"
        )
    }
    return {worker_id: trust_permille(rows.get(worker_id)) for worker_id in worker_ids}


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


def attempt_last_check(standing: WorkerSkill) -> int | None:
    """The most checks the worker's current training attempt can reach, as the fold will
    end it (reputation.standing.training_verdict's last_check): its checks so far plus
    what its latest check counted still in reach. None: not counted (no check yet in this
    attempt, or only events recorded before the count)."""
    if standing.attempt_checks == 0:
        return None
    left = (
        ReputationEvent.objects.filter(
            worker_id=standing.worker_id,
            skill=standing.skill,
            source=ReputationEvent.Source.TRAINING,
            voided_at=None,
        )
        .order_by("-pk")
        .values_list("training_checks_left", flat=True)
        .first()
    )
    return None if left is None else standing.attempt_checks + left


@dataclass(frozen=True)
class Interval:
    lower_permille: int
    upper_permille: int


def score_interval(standing: WorkerSkill) -> Interval:
    lower, upper = wilson_bounds(
        standing.evidence_right, standing.evidence_right + standing.evidence_wrong
    )
    return Interval(round(lower * 1000), round(upper * 1000))
