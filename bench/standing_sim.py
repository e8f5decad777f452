"""The standing rules on their own: simulated workers of known accuracy through the real
fold (reputation.standing.apply_event), no database.

Training: how often a worker of each accuracy passes the first attempt, and how many
checks an attempt takes. The floor: qualified workers answer gold checks (weight 1,
right with their accuracy), each followed by --consensus-per-check agreements with a
consensus (weight QUALITY_CONSENSUS_WEIGHT_PERMILLE) that is right --consensus-accuracy
of the time on four options, for up to --checks checks; it prints how many are demoted,
after how many checks (median, p90) and pieces of evidence (fewest), beside the aims:
a 50% worker demoted within a median of 20 checks (p90 <= 40), no worker of accuracy
>= 0.75 demoted within 500 checks, none on fewer than 8 checks.

    .venv/bin/python bench/standing_sim.py [--workers 1500] [--seed 1]
    .venv/bin/python bench/standing_sim.py --setting QUALITY_DEMOTION_EVIDENCE_MILLINATS=5000
"""

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")

from django.conf import settings

from reputation.standing import QUALIFIED, EventFacts, Standing, apply_event

T0 = datetime(2026, 12, 1, tzinfo=UTC)
LABELS = 4


def first_attempt(accuracy: float, rng) -> tuple[bool, int]:
    standing = Standing()
    for check in range(1, settings.QUALITY_TRAINING_MAX_CHECKS + 1):
        credit = 1000 if rng.random() < accuracy else 0
        change = apply_event(standing, EventFacts(check, "training", credit, 1000, T0))
        if change:
            return change == "qualified", check
    raise AssertionError("an attempt ends by QUALITY_TRAINING_MAX_CHECKS")


def until_demoted(accuracy: float, rng, args) -> tuple[int, int] | None:
    """(checks, pieces of evidence) when demoted within args.checks checks, else None."""
    standing = Standing(state=QUALIFIED)
    agree = accuracy * args.consensus_accuracy + (1 - accuracy) * (1 - args.consensus_accuracy) / (
        LABELS - 1
    )
    consensus_weight = settings.QUALITY_CONSENSUS_WEIGHT_PERMILLE
    rights = rng.random((args.checks, 1 + args.consensus_per_check))
    event_id = 0
    for check in range(args.checks):
        for piece in range(1 + args.consensus_per_check):
            event_id += 1
            if piece == 0:
                facts = EventFacts(event_id, "gold", 1000 * (rights[check, 0] < accuracy),
                                   1000, T0)  # fmt: skip
            else:
                facts = EventFacts(event_id, "consensus", 1000 * (rights[check, piece] < agree),
                                   consensus_weight, T0)  # fmt: skip
            if apply_event(standing, facts) == "demoted":
                return check + 1, standing.checks_since_qualified
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=1500)  # 0.75 and 0.5: the aims
    parser.add_argument("--checks", type=int, default=500)
    parser.add_argument("--consensus-per-check", type=int, default=9)
    parser.add_argument("--consensus-accuracy", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--setting", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args()
    for item in args.setting:
        name, _sep, value = item.partition("=")
        setattr(settings, name, int(value))
        print(f"setting override: {name}={value}")
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()

    print(f"training, first attempt ({args.workers} workers each):")
    for accuracy in (0.9, 0.75, 0.7, 0.5, 0.25):
        outcomes = [first_attempt(accuracy, rng) for _ in range(args.workers)]
        passed = np.mean([ok for ok, _ in outcomes])
        checks = np.mean([n for _, n in outcomes])
        aim = {0.75: "  aim >= 95%", 0.5: "  aim <= 5%"}.get(accuracy, "")
        print(f"  accuracy {accuracy:.2f}: passed {100 * passed:5.1f}%, {checks:4.1f} checks{aim}")

    print(
        f"floor, qualified workers, {args.checks} checks each, "
        f"{args.consensus_per_check} agreements per check:"
    )
    for accuracy in (0.9, 0.75, 0.6, 0.5, 0.3):
        # The aims' rows get every worker; the others a fifth, to keep the run short.
        workers = args.workers if accuracy in (0.75, 0.5) else max(1, args.workers // 5)
        results = [until_demoted(accuracy, rng, args) for _ in range(workers)]
        demoted = [r for r in results if r]
        line = f"  accuracy {accuracy:.2f}: demoted {len(demoted)} of {workers}"
        if demoted:
            checks = np.array([c for c, _ in demoted])
            fewest = min(e for _, e in demoted)
            line += (
                f", after checks median {np.median(checks):.0f} p90 {np.percentile(checks, 90):.0f}"
                f" (fewest: {checks.min()} checks, {fewest} pieces of evidence)"
            )
        aim = {0.5: "  aim: median <= 20, p90 <= 40", 0.75: "  aim: 0"}.get(accuracy, "")
        print(line + aim)
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
