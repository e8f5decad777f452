"""The reputation fold: how one event moves a worker's standing in a skill. Pure
arithmetic on plain values, shared by the submit path (one event at a time, constant
time) and by the rebuild (every event again, in id order), so that the two agree to
the last bit.

The model, and why:
- Beta evidence: each check adds its credit c (0..1) times its weight w to "right"
  and w(1-c) to "wrong". Gold and training checks weigh 1; agreement with the other
  workers' consensus weighs less (QUALITY_CONSENSUS_WEIGHT_PERMILLE), since consensus
  can itself be wrong, but it gives every worker far more evidence than a handful of
  gold checks does.
- Forgetting: before adding an event both counts are multiplied by lambda**w, so the
  last ~1/(1-lambda) checks dominate and a worker can recover from a bad week.
- The score is the posterior mean with a weak prior (2 right, 1 wrong: a newcomer
  starts at 667, between chance and good work). Ranking and consensus weights use it.
- Demotion needs QUALITY_FLOOR_MIN_CHECKS pieces of evidence (checks, agreements,
  rejections) since qualifying, and then the Wilson rule below.
- Decisions use a Wilson interval (one-sided 95%, z = 1.645) so they need clear
  evidence: qualify only when the *pessimistic* end of the training attempt is above
  the bar; demote only when even the *optimistic* end of the current evidence is below
  the floor. A lower bound used for demotion would demote most honest newcomers, whose
  intervals are wide."""

import math
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from django.conf import settings

Z_ONE_SIDED_95 = 1.645
PRIOR_RIGHT = 2.0
PRIOR_WRONG = 1.0

TRAINING = "training"
QUALIFIED = "qualified"
CHECK_SOURCES = {"gold", "training"}


@dataclass
class Standing:
    state: str = TRAINING
    evidence_right: float = 0.0
    evidence_wrong: float = 0.0
    score_permille: int = round(1000 * PRIOR_RIGHT / (PRIOR_RIGHT + PRIOR_WRONG))
    checks_total: int = 0
    checks_since_qualified: int = 0
    attempt_checks: int = 0
    attempt_credit_permille: int = 0
    attempts_failed: int = 0
    cooldown_until: datetime | None = None
    qualified_at: datetime | None = None
    demoted_at: datetime | None = None
    last_event_id: int = 0

    @classmethod
    def of(cls, row) -> "Standing":
        return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})

    def copy_to(self, row) -> None:
        for f in fields(self):
            setattr(row, f.name, getattr(self, f.name))


@dataclass(frozen=True)
class EventFacts:
    event_id: int
    source: str
    credit_permille: int
    weight_permille: int
    created_at: datetime


def wilson_bounds(successes: float, total: float, z: float = Z_ONE_SIDED_95) -> tuple[float, float]:
    """(lower, upper) of the Wilson score interval; (0, 1) with no evidence."""
    if total <= 0:
        return 0.0, 1.0
    p = successes / total
    denominator = 1 + z * z / total
    centre = p + z * z / (2 * total)
    spread = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total))
    return max(0.0, (centre - spread) / denominator), min(1.0, (centre + spread) / denominator)


def posterior_permille(right: float, wrong: float) -> int:
    return round(1000 * (PRIOR_RIGHT + right) / (PRIOR_RIGHT + PRIOR_WRONG + right + wrong))


def apply_event(standing: Standing, event: EventFacts) -> str | None:
    """Fold one event into the standing (in place). Returns what happened to the
    worker's access, if anything: "qualified", "failed_training" or "demoted"."""
    weight = event.weight_permille / 1000
    credit = event.credit_permille / 1000
    decay = (settings.QUALITY_FORGETTING_PERMILLE / 1000) ** weight
    standing.evidence_right = standing.evidence_right * decay + weight * credit
    standing.evidence_wrong = standing.evidence_wrong * decay + weight * (1 - credit)
    standing.score_permille = posterior_permille(standing.evidence_right, standing.evidence_wrong)
    standing.last_event_id = event.event_id
    if event.source in CHECK_SOURCES:
        standing.checks_total += 1

    if standing.state == TRAINING:
        if event.source != "training":
            return None
        standing.attempt_checks += 1
        standing.attempt_credit_permille += event.credit_permille
        if standing.attempt_checks < settings.QUALITY_TRAINING_CHECKS:
            return None
        lower, _upper = wilson_bounds(
            standing.attempt_credit_permille / 1000, standing.attempt_checks
        )
        standing.attempt_checks = 0
        standing.attempt_credit_permille = 0
        if lower * 1000 >= settings.QUALITY_QUALIFY_BAR_PERMILLE:
            standing.state = QUALIFIED
            standing.qualified_at = event.created_at
            standing.checks_since_qualified = 0
            standing.cooldown_until = None
            return "qualified"
        standing.attempts_failed += 1
        standing.cooldown_until = event.created_at + timedelta(
            hours=settings.QUALITY_TRAINING_COOLDOWN_HOURS
        )
        return "failed_training"

    if event.source in ("gold", "consensus", "rejection"):
        standing.checks_since_qualified += 1
    if standing.checks_since_qualified < settings.QUALITY_FLOOR_MIN_CHECKS:
        return None
    total = standing.evidence_right + standing.evidence_wrong
    _lower, upper = wilson_bounds(standing.evidence_right, total)
    if upper * 1000 < settings.QUALITY_FLOOR_PERMILLE:
        standing.state = TRAINING
        standing.demoted_at = event.created_at
        standing.attempt_checks = 0
        standing.attempt_credit_permille = 0
        # Retraining waits like a failed attempt: otherwise careful answers in
        # training would buy a careless worker straight back in.
        standing.cooldown_until = event.created_at + timedelta(
            hours=settings.QUALITY_TRAINING_COOLDOWN_HOURS
        )
        return "demoted"
    return None
