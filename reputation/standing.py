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
- Decisions are sequential tests (Wald), so evidence accumulates until it is enough
  for a decision instead of being capped by forgetting (which kept a 50% worker's
  interval above a 60% floor for 50-160 checks):
  - Training: after QUALITY_TRAINING_CHECKS checks, qualify once the attempt's
    log-likelihood ratio of "good" (75%) against "poor" (50%) reaches
    QUALITY_TRAINING_EVIDENCE_MILLINATS, fail once the ratio the other way does; a
    narrow miss gets more checks at once (up to QUALITY_TRAINING_MAX_CHECKS).
  - Demotion: every piece of evidence adds its weighted log-likelihood ratio of "below
    the floor by the margin" against "above it by the margin" to a statistic floored at
    0 (Page's CUSUM: the test restarts each time it clears the worker); back to training
    when it reaches QUALITY_DEMOTION_EVIDENCE_MILLINATS, and never before
    QUALITY_FLOOR_MIN_CHECKS pieces of evidence and QUALITY_FLOOR_MIN_GOLD_CHECKS gold
    checks since qualifying.
  bench/standing_sim.py measures both against the aims in marketplace/settings.py.
- wilson_bounds stays for display: the quality page's range around a score."""

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
# attempt_checks is a small integer column; past this many checks the count only says "many".
MAX_COUNTED_CHECKS = 32_000


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
    # A training check's count of the set's checks still within the attempt's reach
    # after it (ReputationEvent.training_checks_left); None: not counted (older events).
    training_checks_left: int | None = None


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
        verdict = training_verdict(
            standing.attempt_credit_permille,
            standing.attempt_checks,
            last_check=standing.attempt_checks + event.training_checks_left
            if event.training_checks_left is not None
            else None,
        )
        if verdict is None:
            return None
        standing.attempt_checks = 0
        standing.attempt_credit_permille = 0
        if verdict:
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
    # While qualified the attempt fields are free (training is over): attempt_checks
    # counts gold checks since qualifying and attempt_credit_permille holds the demotion
    # test's statistic in millinats, rounded each step so that the submit path and the
    # rebuild stay identical.
    if event.source == "gold":
        standing.attempt_checks = min(standing.attempt_checks + 1, MAX_COUNTED_CHECKS)
    statistic = floor_statistic(standing.attempt_credit_permille / 1000, event)
    standing.attempt_credit_permille = round(1000 * statistic)
    # Agreement with consensus is plentiful but second-hand: a demotion also needs a few
    # gold checks of the worker's own, so no one is sent back on agreements alone.
    if (
        standing.checks_since_qualified < settings.QUALITY_FLOOR_MIN_CHECKS
        or standing.attempt_checks < settings.QUALITY_FLOOR_MIN_GOLD_CHECKS
    ):
        return None
    if standing.attempt_credit_permille < settings.QUALITY_DEMOTION_EVIDENCE_MILLINATS:
        return None
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


def floor_hypotheses() -> tuple[float, float]:
    """(fine, poor): accuracies the floor test tells apart, the floor plus and minus the margin."""
    floor = settings.QUALITY_FLOOR_PERMILLE / 1000
    margin = settings.QUALITY_FLOOR_MARGIN_PERMILLE / 1000
    return min(0.999, floor + margin), max(0.001, floor - margin)


def floor_statistic(statistic: float, event: EventFacts) -> float:
    """One step of the demotion test: the log-likelihood ratio of "poor" against "fine" that
    this event adds, times its weight, added to the statistic and floored at 0 (Page's CUSUM,
    i.e. Wald's test restarted whenever it clears the worker)."""
    fine, poor = floor_hypotheses()
    credit = event.credit_permille / 1000
    step = credit * math.log(poor / fine) + (1 - credit) * math.log((1 - poor) / (1 - fine))
    return max(0.0, statistic + event.weight_permille / 1000 * step)


def training_evidence(credit_permille: int, checks: int) -> float:
    """Log-likelihood ratio, in nats, of "good" (QUALITY_TRAINING_GOOD_PERMILLE) against
    "poor" (QUALITY_TRAINING_POOR_PERMILLE) after an attempt's checks and summed credit."""
    good = settings.QUALITY_TRAINING_GOOD_PERMILLE / 1000
    poor = settings.QUALITY_TRAINING_POOR_PERMILLE / 1000
    right = credit_permille / 1000
    return right * math.log(good / poor) + (checks - right) * math.log((1 - good) / (1 - poor))


def training_verdict(
    credit_permille: int, checks: int, *, last_check: int | None = None
) -> bool | None:
    """True (qualified), False (failed) or None (keep training) for an attempt so far.

    Wald's sequential test: no verdict before QUALITY_TRAINING_CHECKS; then qualified once
    the evidence for "good" reaches QUALITY_TRAINING_EVIDENCE_MILLINATS, failed once the
    evidence for "poor" does; at the attempt's last check, whichever side it leans to. A
    narrow miss thus earns more checks at once instead of a 24-hour wait.

    The last check is QUALITY_TRAINING_MAX_CHECKS, or sooner last_check: the most checks
    the worker can still reach (a set may hold only 10 gold tasks, and nobody answers one
    twice), so that an attempt always ends before the worker runs out of tasks. Ending
    before QUALITY_TRAINING_CHECKS (gold withdrawn, or tasks given back) is too little
    evidence to qualify anyone on: it fails, and a new attempt can follow the cooldown."""
    end = settings.QUALITY_TRAINING_MAX_CHECKS
    if last_check is not None:
        end = min(end, last_check)
    if checks < settings.QUALITY_TRAINING_CHECKS:
        return False if checks >= end else None
    evidence = training_evidence(credit_permille, checks)
    bound = settings.QUALITY_TRAINING_EVIDENCE_MILLINATS / 1000
    if evidence >= bound:
        return True
    if evidence <= -bound:
        return False
    if checks >= end:
        return evidence >= 0
    return None
