"""Fraud signals: patterns in recent answers, claims and presence that an admin should
look at. Each detector is a plain function over rows (so the tests and
bench/fraud_eval.py run exactly what production runs) returning Findings; `scan`
loads the window from the database, runs them all and raises or refreshes flags.

A finding is never a verdict: it opens a flag for an admin (reputation.flags), with
the numbers behind it. The thresholds are set so that an honest worker, including
one of a centre's cohort sharing its phones and address, is very unlikely to cross
them (bench/fraud_eval.py measures both sides)."""

import hashlib
import ipaddress
import math
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Case, CharField, Count, Q, Value, When
from django.utils import timezone

from reputation import scoring
from reputation.models import Flag

Signal = Flag.Signal
REPORTED = ("broken", "disturbing")  # release reasons that are reports, never churn

# --- Thresholds -------------------------------------------------------------------

# Too fast: below the kind's floor (nobody reads an image in less), or below a quarter
# of the set's median time, on at least 40% of 20+ answers. One quick answer is normal.
FAST_FLOOR_SECONDS = {"label": 1.5, "multilabel": 2.5, "transcription": 3.0}
FAST_FRACTION_OF_MEDIAN = 0.25
FAST_MIN_ANSWERS = 20
FAST_SHARE = 0.40
# Straight-lining: one answer on 90%+ of 20+ answers in a set, where the Chernoff
# bound on that happening by chance, given the set's own answer mix, is below e^-14
# (about one in a million). Not 80%: in a set whose commonest answer is right 85% of the
# time, careful workers give it on 80-85% of their answers, while the set's mix (diluted
# by everyone's mistakes) is ~70%, and with hundreds of answers the bound is far below
# e^-14: bench/fraud_eval.py flagged 7% of honest workers at 80% (3 days; 13% over 14
# days), none at 90%, still catching every straight-liner.
STRAIGHT_MIN_ANSWERS = 20
STRAIGHT_MIN_SHARE = 0.90
STRAIGHT_MIN_SURPRISE = 14.0
# Gold failures: 8 failed checks in a row. A worker who passes 75% of checks has a
# 0.0015% chance of 8 in a row at any given point, so ~1% over the 700 checks a full-time
# worker meets in a 14-day window. 6 was too few: 0.024% a point (0.07% at a 70% pass
# rate) adds up to 10%+ over such a window; bench/fraud_eval.py flagged 0.75% of honest
# workers in 3 days and 2% in 14. Random answers on a 4-option set still fail 8 in a row
# within ~40 checks (on a yes/no set ~500: low agreement is the signal there).
GOLD_STREAK = 8
# Low agreement: on 20+ answers to tasks where the other workers agreed, the upper
# (one-sided 95%) Wilson bound of how often the worker agreed with them is 30 points
# below the crowd's on the same sets.
AGREEMENT_MIN_ANSWERS = 20
AGREEMENT_GAP = 0.30
# Churn: 60% of 30+ claims skipped or left to expire (reports of broken or disturbing
# tasks do not count: those are wanted).
CHURN_MIN_CLAIMS = 30
CHURN_SHARE = 0.60
# Copying: a pair gives identical answers on 10+ common tasks far more often than two
# independent workers of their accuracy would (binomial tail below 1e-6), and most of
# the identical answers came within two minutes of each other.
COPY_MIN_COMMON = 10
COPY_MIN_SURPRISE = 6.0  # -log10 of the tail probability
COPY_CLOSE_SECONDS = 120
COPY_CLOSE_SHARE = 0.5
# Or the same test on only the 10+ common tasks the two answered within 20 s of each
# other: a copier copies when it gets the source's task, so the copies sit there, not
# diluted by the pair's independent common tasks.
COPY_FOLLOW_SECONDS = 20
# Tasks with many answers (gold) pair only answers this close in time: copying needs
# the two to work together, and it keeps the pairs linear in the answers.
COPY_GOLD_PAIR_SECONDS = 600
# Two places at once: two devices on two networks, both active, overlapping this long.
OVERLAP_MIN = timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class SetInfo:
    kind: str
    option_count: int
    gold_pass_permille: int
    normalise_case: bool = True
    normalise_punctuation: bool = False


@dataclass(frozen=True, slots=True)
class Answer:
    id: int
    worker_id: int
    task_id: int
    set_id: int
    is_gold: bool
    claimed_at: datetime
    submitted_at: datetime
    answer: object
    # The gold answer for gold tasks, the task's consensus for regular ones (or None).
    reference: object
    gold_credit_permille: int | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    worker_id: int
    outcome: str  # "answered", "skipped", "expired", "reported", "withdrawn"
    count: int = 1  # claims with this outcome (the scan reads them counted in SQL)


@dataclass(frozen=True, slots=True)
class Presence:
    worker_id: int
    device_id: str
    ip_address: str | None
    first_seen_at: datetime
    last_seen_at: datetime


@dataclass
class Finding:
    signal: str
    worker_id: int
    severity: int
    evidence: dict
    other_worker_id: int | None = None
    # The answers it rests on, newest first (shown to the admin as links).
    assignment_ids: list[int] = field(default_factory=list)


# --- Helpers ------------------------------------------------------------------------


def answer_key(info: SetInfo, answer) -> str:
    """What "the same answer" means: the label, the set of labels, or the text after
    the set's normalisation (so case or spacing does not hide a copy)."""
    if info.kind == "multilabel":
        return "|".join(sorted(answer or []))
    if info.kind == "transcription":
        return scoring.normalised(info, answer or "")
    return str(answer)


def effective_seconds(answers: list[Answer]) -> dict[int, float]:
    """Time each answer took by the server's clock: from the claim, or from the
    worker's previous answer if later (a prefetched claim waits while the worker
    answers the one before it). Client-reported seconds are never trusted for this."""
    seconds: dict[int, float] = {}
    by_worker: dict[int, list[Answer]] = defaultdict(list)
    for answer in answers:
        by_worker[answer.worker_id].append(answer)
    for rows in by_worker.values():
        rows.sort(key=lambda a: a.submitted_at)
        previous = None
        for row in rows:
            start = max(row.claimed_at, previous) if previous else row.claimed_at
            seconds[row.id] = max(0.0, (row.submitted_at - start).total_seconds())
            previous = row.submitted_at
    return seconds


def _kl(p: float, q: float) -> float:
    """Kullback-Leibler divergence of Bernoulli(p) from Bernoulli(q)."""
    p = min(max(p, 1e-9), 1 - 1e-9)
    q = min(max(q, 1e-9), 1 - 1e-9)
    return p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q))


def binomial_tail_log10(successes: int, trials: int, rate: float) -> float:
    """log10 P(X >= successes) for X ~ Binomial(trials, rate), exact (trials are at most
    a few thousand here)."""
    if successes <= 0:
        return 0.0
    rate = min(max(rate, 1e-9), 1 - 1e-9)
    log_terms = [
        math.lgamma(trials + 1)
        - math.lgamma(k + 1)
        - math.lgamma(trials - k + 1)
        + k * math.log(rate)
        + (trials - k) * math.log(1 - rate)
        for k in range(successes, trials + 1)
    ]
    top = max(log_terms)
    return (top + math.log(sum(math.exp(t - top) for t in log_terms))) / math.log(10)


def wilson_upper(successes: int, trials: int, z: float = 1.645) -> float:
    if trials == 0:
        return 1.0
    p = successes / trials
    centre = p + z * z / (2 * trials)
    margin = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return min(1.0, (centre + margin) / (1 + z * z / trials))


def _newest(rows: list[Answer], limit: int = 20) -> list[int]:
    return [a.id for a in sorted(rows, key=lambda a: a.submitted_at, reverse=True)[:limit]]


# --- Detectors over answers --------------------------------------------------------


def too_fast(answers: list[Answer], sets: dict[int, SetInfo]) -> list[Finding]:
    seconds = effective_seconds(answers)
    set_times: dict[int, list[float]] = defaultdict(list)
    for a in answers:
        set_times[a.set_id].append(seconds[a.id])
    set_median = {set_id: statistics.median(times) for set_id, times in set_times.items()}
    by_worker: dict[int, list[Answer]] = defaultdict(list)
    for a in answers:
        by_worker[a.worker_id].append(a)
    findings = []
    for worker_id, rows in by_worker.items():
        if len(rows) < FAST_MIN_ANSWERS:
            continue
        fast = [
            a
            for a in rows
            if seconds[a.id] < FAST_FLOOR_SECONDS.get(sets[a.set_id].kind, 1.5)
            or seconds[a.id] < FAST_FRACTION_OF_MEDIAN * set_median[a.set_id]
        ]
        share = len(fast) / len(rows)
        if share < FAST_SHARE:
            continue
        worker_sets = sorted({a.set_id for a in rows})
        findings.append(
            Finding(
                Signal.TOO_FAST,
                worker_id,
                severity=3 if share >= 0.75 else 2,
                evidence={
                    "answers": len(rows),
                    "too_fast": len(fast),
                    "share_percent": round(100 * share),
                    "worker_median_seconds": round(
                        statistics.median(seconds[a.id] for a in rows), 1
                    ),
                    "set_median_seconds": {str(s): round(set_median[s], 1) for s in worker_sets},
                    "floor_seconds": {
                        sets[s].kind: FAST_FLOOR_SECONDS.get(sets[s].kind, 1.5) for s in worker_sets
                    },
                },
                assignment_ids=_newest(fast),
            )
        )
    return findings


def straight_lining(answers: list[Answer], sets: dict[int, SetInfo]) -> list[Finding]:
    per_set: dict[int, Counter] = defaultdict(Counter)
    per_worker_set: dict[tuple[int, int], list[tuple[Answer, str]]] = defaultdict(list)
    for a in answers:
        key = answer_key(sets[a.set_id], a.answer)
        per_set[a.set_id][key] += 1
        per_worker_set[(a.worker_id, a.set_id)].append((a, key))
    best: dict[int, Finding] = {}
    for (worker_id, set_id), rows in per_worker_set.items():
        n = len(rows)
        if n < STRAIGHT_MIN_ANSWERS:
            continue
        top_key, top_count = Counter(key for _a, key in rows).most_common(1)[0]
        share = top_count / n
        if share < STRAIGHT_MIN_SHARE:
            continue
        # The set's share of that answer among everyone else's answers: a set where
        # most images really are "no sign" makes a run of "no sign" unsurprising.
        others_total = sum(per_set[set_id].values()) - n
        others_top = per_set[set_id][top_key] - top_count
        option_count = max(2, sets[set_id].option_count)
        base = (others_top + 1) / (others_total + option_count) if others_total else 0.5
        surprise = n * _kl(share, base) if share > base else 0.0
        if surprise < STRAIGHT_MIN_SURPRISE:
            continue
        finding = Finding(
            Signal.STRAIGHT_LINING,
            worker_id,
            severity=3 if share >= 0.95 else 2,
            evidence={
                "set_id": set_id,
                "answers": n,
                "same_answer": top_key,
                "same_answer_count": top_count,
                "share_percent": round(100 * share),
                "set_share_percent": round(100 * base),
                "surprise": round(surprise, 1),
            },
            assignment_ids=_newest([a for a, key in rows if key == top_key]),
        )
        if worker_id not in best or surprise > best[worker_id].evidence["surprise"]:
            best[worker_id] = finding
    return list(best.values())


def gold_failures(answers: list[Answer], sets: dict[int, SetInfo]) -> list[Finding]:
    by_worker: dict[int, list[Answer]] = defaultdict(list)
    for a in answers:
        if a.is_gold and a.gold_credit_permille is not None:
            by_worker[a.worker_id].append(a)
    findings = []
    for worker_id, rows in by_worker.items():
        rows.sort(key=lambda a: a.submitted_at)
        longest: list[Answer] = []
        current: list[Answer] = []
        for a in rows:
            if a.gold_credit_permille < sets[a.set_id].gold_pass_permille:
                current.append(a)
                if len(current) > len(longest):
                    longest = list(current)
            else:
                current = []
        if len(longest) < GOLD_STREAK:
            continue
        failed = sum(1 for a in rows if a.gold_credit_permille < sets[a.set_id].gold_pass_permille)
        findings.append(
            Finding(
                Signal.GOLD_FAILURES,
                worker_id,
                severity=3 if len(longest) >= 2 * GOLD_STREAK else 2,
                evidence={
                    "longest_streak": len(longest),
                    "streak_threshold": GOLD_STREAK,
                    "checks": len(rows),
                    "failed": failed,
                    "streak_ongoing": bool(current) and len(current) == len(longest),
                },
                assignment_ids=_newest(longest),
            )
        )
    return findings


@dataclass(frozen=True, slots=True)
class PeerCheck:
    """One answer judged against the others: a gold answer against the truth; a
    regular answer against what the other workers on the task agreed on (two or more,
    two thirds of them), never against a vote that counts its own answer."""

    agrees: bool
    formed_by: frozenset  # the workers whose agreement is the reference (none for gold)


def peer_checks(by_task: dict[int, list[Answer]], sets: dict[int, SetInfo]) -> dict:
    checks: dict[int, PeerCheck] = {}
    for rows in by_task.values():
        info = sets[rows[0].set_id]
        keys = {a.id: answer_key(info, a.answer) for a in rows}
        counts = Counter(keys.values())
        for a in rows:
            if a.is_gold:
                if a.gold_credit_permille is not None:
                    checks[a.id] = PeerCheck(
                        a.gold_credit_permille >= info.gold_pass_permille, frozenset()
                    )
                continue
            others = counts.copy()
            others[keys[a.id]] -= 1
            top, top_count = others.most_common(1)[0] if len(rows) > 1 else ("", 0)
            if top_count >= 2 and 3 * top_count >= 2 * (len(rows) - 1):
                formed_by = frozenset(
                    b.worker_id for b in rows if b.id != a.id and keys[b.id] == top
                )
                checks[a.id] = PeerCheck(keys[a.id] == top, formed_by)
    return checks


def _by_task(answers: list[Answer]) -> dict[int, list[Answer]]:
    by_task: dict[int, list[Answer]] = defaultdict(list)
    for a in answers:
        by_task[a.task_id].append(a)
    return by_task


def low_agreement(answers: list[Answer], sets: dict[int, SetInfo]) -> list[Finding]:
    checks = peer_checks(_by_task(answers), sets)
    agreed: dict[int, list[tuple[Answer, bool]]] = defaultdict(list)
    set_totals: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for a in answers:
        check = checks.get(a.id)
        if a.is_gold or check is None:
            continue  # gold has its own signal; a task without agreement says nothing
        agreed[a.worker_id].append((a, check.agrees))
        set_totals[a.set_id][0] += check.agrees
        set_totals[a.set_id][1] += 1
    findings = []
    for worker_id, rows in agreed.items():
        n = len(rows)
        if n < AGREEMENT_MIN_ANSWERS:
            continue
        hits = sum(agrees for _a, agrees in rows)
        # The crowd's average over the sets this worker answered, weighted as they were.
        expected = sum(set_totals[a.set_id][0] / set_totals[a.set_id][1] for a, _ in rows) / n
        upper = wilson_upper(hits, n)
        if upper > expected - AGREEMENT_GAP:
            continue
        findings.append(
            Finding(
                Signal.LOW_AGREEMENT,
                worker_id,
                severity=3 if upper < expected - 2 * AGREEMENT_GAP else 2,
                evidence={
                    "answers": n,
                    "agreed": hits,
                    "agreement_percent": round(100 * hits / n),
                    "upper_bound_percent": round(100 * upper),
                    "crowd_percent": round(100 * expected),
                },
                assignment_ids=_newest([a for a, agrees in rows if not agrees]),
            )
        )
    return findings


# When two workers are both wrong, how likely their wrong answers are the same: wrong
# labels crowd on the confusable option, wrong text rarely matches to the letter.
SAME_MISTAKE = {"label": 0.5, "multilabel": 0.3, "transcription": 0.1}


def copying(answers: list[Answer], sets: dict[int, SetInfo]) -> list[Finding]:
    """Pairs who give identical answers far more often than two independent workers
    of their accuracy would, with the identical answers close in time.

    Each one's accuracy per set comes from their peer checks on tasks the other did
    not shape (gold, and regular tasks whose reference the partner was not part of),
    so a copier cannot lend its partner credibility. Two independent workers of
    accuracy a and b agree with probability ab + (1-a)(1-b)c, and never less than the
    weaker one's accuracy (hard tasks make everyone's mistakes alike)."""
    by_task = _by_task(answers)
    checks = peer_checks(by_task, sets)
    # worker -> set -> [agreeing checks, checks]
    accuracy: dict[int, dict[int, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for a in answers:
        if (check := checks.get(a.id)) is not None:
            accuracy[a.worker_id][a.set_id][0] += check.agrees
            accuracy[a.worker_id][a.set_id][1] += 1
    # (a, b) -> [common, same, same_close, same_wrong_gold]
    pair_counts: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    pair_answers: dict[tuple[int, int], list[int]] = defaultdict(list)
    pair_sets: dict[tuple[int, int], Counter] = defaultdict(Counter)
    # The same, counting only common tasks answered within COPY_FOLLOW_SECONDS.
    close_sets: dict[tuple[int, int], Counter] = defaultdict(Counter)
    close_same: Counter = Counter()
    # (pair, worker, set) -> [agreeing, checks] on tasks the partner helped judge
    shaped: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for rows in by_task.values():
        if len(rows) < 2:
            continue
        info = sets[rows[0].set_id]
        keyed = sorted(
            ((a, answer_key(info, a.answer)) for a in rows), key=lambda r: r[0].submitted_at
        )
        many = len(keyed) > 10
        for i, (a, key_a) in enumerate(keyed):
            for b, key_b in keyed[i + 1 :]:
                gap = (b.submitted_at - a.submitted_at).total_seconds()
                if many and gap > COPY_GOLD_PAIR_SECONDS:
                    break
                pair = (min(a.worker_id, b.worker_id), max(a.worker_id, b.worker_id))
                same = key_a == key_b
                counts = pair_counts[pair]
                counts[0] += 1
                counts[1] += same
                counts[2] += same and gap <= COPY_CLOSE_SECONDS
                counts[3] += (
                    same
                    and a.is_gold
                    and a.gold_credit_permille is not None
                    and a.gold_credit_permille < info.gold_pass_permille
                )
                pair_sets[pair][a.set_id] += 1
                if same:
                    pair_answers[pair].extend((a.id, b.id))
                if gap <= COPY_FOLLOW_SECONDS:
                    close_sets[pair][a.set_id] += 1
                    close_same[pair] += same
                for mine, partner in ((a, b), (b, a)):
                    check = checks.get(mine.id)
                    if check is not None and partner.worker_id in check.formed_by:
                        tally = shaped[(pair, mine.worker_id, mine.set_id)]
                        tally[0] += check.agrees
                        tally[1] += 1

    def expected_rate(pair: tuple[int, int], tasks_by_set: Counter) -> float:
        expected_same = 0.0
        for set_id, tasks in tasks_by_set.items():
            rates = []
            for worker_id in pair:
                hits, n = accuracy[worker_id][set_id]
                own_hits, own_n = shaped[(pair, worker_id, set_id)]
                # Laplace-smoothed: no independent evidence reads as a coin.
                rates.append((hits - own_hits + 1) / (n - own_n + 2))
            first, second = rates
            chance = SAME_MISTAKE.get(sets[set_id].kind, 0.5)
            independent = first * second + (1 - first) * (1 - second) * chance
            expected_same += tasks * max(independent, min(first, second))
        return min(0.98, max(0.02, expected_same / max(1, sum(tasks_by_set.values()))))

    findings = []
    for pair, (common, same, close, wrong_gold) in pair_counts.items():
        if common < COPY_MIN_COMMON or same < COPY_MIN_COMMON:
            continue
        baseline = expected_rate(pair, pair_sets[pair])
        surprise = -binomial_tail_log10(same, common, baseline)
        # A copier copies only when it gets the source's task: the copied answers are
        # the ones that come seconds apart. Beyond chance there is copying, however
        # many independent common tasks dilute the whole.
        close_common = sum(close_sets[pair].values())
        close_surprise = (
            -binomial_tail_log10(
                close_same[pair], close_common, expected_rate(pair, close_sets[pair])
            )
            if close_common >= COPY_MIN_COMMON
            else 0.0
        )
        copied = surprise >= COPY_MIN_SURPRISE and close / same >= COPY_CLOSE_SHARE
        if not (copied or close_surprise >= COPY_MIN_SURPRISE):
            continue
        surprise = max(surprise, close_surprise)
        findings.append(
            Finding(
                Signal.COPYING,
                pair[0],
                other_worker_id=pair[1],
                severity=3 if surprise >= 9 or wrong_gold >= 3 else 2,
                evidence={
                    "common_tasks": common,
                    "identical": same,
                    "identical_percent": round(100 * same / common),
                    "baseline_percent": round(100 * baseline),
                    "identical_within_seconds": close,
                    "close_seconds": COPY_CLOSE_SECONDS,
                    "identical_failed_checks": wrong_gold,
                    "surprise": round(surprise, 1),
                    "common_within_seconds": close_common,
                    "identical_of_those": close_same[pair],
                    "within_seconds": COPY_FOLLOW_SECONDS,
                },
                assignment_ids=sorted(pair_answers[pair], reverse=True)[:40],
            )
        )
    return findings


# --- Detectors over claims and presence ----------------------------------------------


def churn(claims: list[Claim]) -> list[Finding]:
    by_worker: dict[int, Counter] = defaultdict(Counter)
    for claim in claims:
        by_worker[claim.worker_id][claim.outcome] += claim.count
    findings = []
    for worker_id, outcomes in by_worker.items():
        # Withdrawn claims (set paused, worker suspended) were not the worker's doing.
        total = sum(outcomes.values()) - outcomes["withdrawn"]
        dropped = outcomes["skipped"] + outcomes["expired"]
        if total < CHURN_MIN_CLAIMS or dropped / total < CHURN_SHARE:
            continue
        findings.append(
            Finding(
                Signal.CHURN,
                worker_id,
                severity=1,
                evidence={
                    "claims": total,
                    "answered": outcomes["answered"],
                    "skipped": outcomes["skipped"],
                    "expired": outcomes["expired"],
                    "reported": outcomes["reported"],
                    "dropped_percent": round(100 * dropped / total),
                },
            )
        )
    return findings


def parse_ranges(text: str) -> list:
    networks = []
    for line in (text or "").replace(",", "\n").splitlines():
        line = line.strip()
        if line:
            try:
                networks.append(ipaddress.ip_network(line, strict=False))
            except ValueError:
                continue  # a typo in a centre's list must not stop the scan
    return networks


def _in_ranges(address: str | None, ranges: list) -> bool:
    if not address:
        return False
    ip = ipaddress.ip_address(address)
    return any(ip.version == net.version and ip in net for net in ranges)


def network_of(address: str | None) -> str | None:
    """The network an address is on, for "same place": a /24 (IPv4) or /48 (IPv6)."""
    if not address:
        return None
    ip = ipaddress.ip_address(address)
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def place_of(address: str | None, centre_ranges) -> str | None:
    """Where an address puts someone: any of the centres' own ranges is one place (a
    centre may have two providers), otherwise the address's network."""
    if _in_ranges(address, centre_ranges):
        return "a partner centre"
    return network_of(address)


def duplicate_accounts(
    presences: list[Presence],
    *,
    centre_of: dict[int, int | None],
    centre_ranges: list,
    payout_keys: dict[int, str],
) -> list[Finding]:
    """Accounts sharing a payout destination (strong), or a device outside their own
    centre (strong), with a shared address only adding weight. Workers of one centre
    share its phones and its connection by design: that never counts."""
    device_users: dict[str, set[int]] = defaultdict(set)
    address_users: dict[str, set[int]] = defaultdict(set)
    for p in presences:
        if p.device_id:
            device_users[p.device_id].add(p.worker_id)
        if p.ip_address and not _in_ranges(p.ip_address, centre_ranges):
            address_users[p.ip_address].add(p.worker_id)
    evidence: dict[tuple[int, int], dict] = defaultdict(
        lambda: {"devices": [], "payout": "", "addresses": []}
    )

    def same_centre(a: int, b: int) -> bool:
        return centre_of.get(a) is not None and centre_of.get(a) == centre_of.get(b)

    for device, workers in device_users.items():
        for a in workers:
            for b in workers:
                if a < b and not same_centre(a, b):
                    evidence[(a, b)]["devices"].append(device)
    payout_users: dict[str, set[int]] = defaultdict(set)
    for worker_id, key in payout_keys.items():
        if key:
            payout_users[key].add(worker_id)
    for key, workers in payout_users.items():
        for a in workers:
            for b in workers:
                if a < b:
                    evidence[(a, b)]["payout"] = key
    findings = []
    for (a, b), found in evidence.items():
        shared_addresses = sorted(
            address for address, users in address_users.items() if {a, b} <= users
        )
        found["addresses"] = shared_addresses[:10]
        severity = 3 if found["payout"] else 2
        if found["devices"] and shared_addresses:
            severity = 3
        findings.append(
            Finding(
                Signal.DUPLICATE_ACCOUNT,
                a,
                other_worker_id=b,
                severity=severity,
                evidence={
                    "shared_devices": len(found["devices"]),
                    "devices": [d[:8] for d in found["devices"][:10]],
                    "shared_payout": found["payout"],
                    "shared_addresses": found["addresses"],
                },
            )
        )
    return findings


def impossible_activity(presences: list[Presence], centre_ranges=()) -> list[Finding]:
    """One account active on two devices on two different networks at overlapping
    times. A phone moving from the centre's Wi-Fi to mobile data is one device: fine."""
    by_worker: dict[int, list[Presence]] = defaultdict(list)
    for p in presences:
        if p.device_id and p.ip_address:
            by_worker[p.worker_id].append(p)
    findings = []
    for worker_id, rows in by_worker.items():
        rows.sort(key=lambda p: p.first_seen_at)
        overlaps = []
        for i, p in enumerate(rows):
            for q in rows[i + 1 :]:
                if q.first_seen_at >= p.last_seen_at:
                    break
                if p.device_id == q.device_id or place_of(p.ip_address, centre_ranges) == place_of(
                    q.ip_address, centre_ranges
                ):
                    continue
                overlap = min(p.last_seen_at, q.last_seen_at) - q.first_seen_at
                if overlap >= OVERLAP_MIN:
                    overlaps.append(
                        {
                            "from": q.first_seen_at.strftime("%Y-%m-%d %H:%M UTC"),
                            "minutes": round(overlap.total_seconds() / 60, 1),
                            "networks": [
                                place_of(p.ip_address, centre_ranges),
                                place_of(q.ip_address, centre_ranges),
                            ],
                            "devices": [p.device_id[:8], q.device_id[:8]],
                        }
                    )
        if overlaps:
            findings.append(
                Finding(
                    Signal.IMPOSSIBLE_ACTIVITY,
                    worker_id,
                    severity=3 if len(overlaps) >= 3 else 2,
                    evidence={"overlaps": len(overlaps), "examples": overlaps[:5]},
                )
            )
    return findings


# Signals about one worker's own answers: after a decision they look only at the
# worker's answers since.
PER_WORKER_DETECTORS = {
    too_fast: Signal.TOO_FAST,
    straight_lining: Signal.STRAIGHT_LINING,
    gold_failures: Signal.GOLD_FAILURES,
    low_agreement: Signal.LOW_AGREEMENT,
}


# --- Loading the window and raising flags ---------------------------------------------


def window_start(now: datetime) -> datetime:
    return now - timedelta(days=settings.FRAUD_WINDOW_DAYS)


def load_answers(since: datetime) -> tuple[list[Answer], dict[int, SetInfo]]:
    from tasks.models import Assignment, TaskSet

    rows = (
        Assignment.objects.filter(status=Assignment.Status.SUBMITTED, submitted_at__gte=since)
        .filter(task_set__is_training=False)
        .values_list(
            "pk",
            "worker_id",
            "task_id",
            "task_set_id",
            "is_gold",
            "claimed_at",
            "submitted_at",
            "answer",
            "task__gold_answer",
            "task__aggregated_answer",
            "gold_credit_permille",
        )
        .iterator(chunk_size=5000)
    )
    answers = [
        Answer(
            id=pk,
            worker_id=worker_id,
            task_id=task_id,
            set_id=set_id,
            is_gold=is_gold,
            claimed_at=claimed_at,
            submitted_at=submitted_at,
            answer=answer,
            reference=gold_answer if is_gold else aggregated,
            gold_credit_permille=credit,
        )
        for (
            pk,
            worker_id,
            task_id,
            set_id,
            is_gold,
            claimed_at,
            submitted_at,
            answer,
            gold_answer,
            aggregated,
            credit,
        ) in rows
    ]
    set_ids = {a.set_id for a in answers}
    sets = {
        s.pk: SetInfo(
            kind=s.kind,
            option_count=len(s.label_options or []),
            gold_pass_permille=s.gold_pass_permille,
            normalise_case=s.normalise_case,
            normalise_punctuation=s.normalise_punctuation,
        )
        for s in TaskSet.objects.filter(pk__in=set_ids).only(
            "kind", "label_options", "gold_pass_permille", "normalise_case", "normalise_punctuation"
        )
    }
    return answers, sets


def load_claims(since: datetime, now: datetime) -> list[Claim]:
    """Claims in the window counted per worker and outcome by the database: the churn
    signal needs only the counts, and a busy window holds millions of claims."""
    from tasks.models import Assignment

    Status = Assignment.Status
    outcome = Case(
        When(status=Status.SUBMITTED, then=Value("answered")),
        When(release_reason=Assignment.ReleaseReason.SKIP, then=Value("skipped")),
        When(release_reason__in=REPORTED, then=Value("reported")),
        When(status=Status.RELEASED, then=Value("withdrawn")),
        # Active past its expiry: left to lapse. Active and live: still being worked on.
        When(status=Status.ACTIVE, expires_at__lte=now, then=Value("expired")),
        default=Value(""),
        output_field=CharField(),
    )
    rows = (
        Assignment.objects.filter(claimed_at__gte=since)
        .annotate(outcome=outcome)
        .exclude(outcome="")
        .values("worker_id", "outcome")
        .annotate(count=Count("pk"))
        .values_list("worker_id", "outcome", "count")
    )
    return [Claim(worker_id, kind, count) for worker_id, kind, count in rows]


def load_presences(since: datetime) -> list[Presence]:
    from marketplace.models import WorkerPresence

    return [
        Presence(*row)
        for row in WorkerPresence.objects.filter(last_seen_at__gte=since).values_list(
            "worker_id", "device_id", "ip_address", "first_seen_at", "last_seen_at"
        )
    ]


def payout_key(mobile_money_number: str, stripe_account_id: str) -> str:
    """One payout destination, comparable across accounts and safe to show an admin:
    the number's last digits plus a short digest of the whole, never the number."""
    digits = "".join(ch for ch in mobile_money_number or "" if ch.isdigit())
    if len(digits) >= 6:
        digest = hashlib.sha256(digits.encode()).hexdigest()[:10]
        return f"mobile money …{digits[-4:]} [{digest}]"
    return f"Stripe account {stripe_account_id}" if stripe_account_id else ""


def load_identity(worker_ids: set[int]) -> tuple[dict, list, dict]:
    from marketplace.models import Organization, WorkerProfile
    from payouts.models import PayoutDestination

    centre_of = dict(
        WorkerProfile.objects.filter(user_id__in=worker_ids).values_list("user_id", "centre_id")
    )
    ranges = []
    for text in Organization.objects.filter(kind=Organization.Kind.CENTRE).values_list(
        "network_ranges", flat=True
    ):
        ranges.extend(parse_ranges(text))
    payout_keys = {
        worker_id: payout_key(mobile, account)
        for worker_id, mobile, account in PayoutDestination.objects.values_list(
            "worker_id", "mobile_money_number", "stripe_account_id"
        )
    }
    return centre_of, ranges, payout_keys


def _cutoffs() -> dict[tuple[int, int | None, str], datetime]:
    """After a flag is dismissed or the worker warned, the same signal for the same
    worker (or pair) looks only at what happened since: the decision is respected,
    and a warned worker who carries on is caught again."""
    cutoffs: dict[tuple[int, int | None, str], datetime] = {}
    decided = Flag.objects.filter(
        ~Q(status=Flag.Status.OPEN), decided_at__isnull=False
    ).values_list("worker_id", "other_worker_id", "signal", "decided_at")
    for worker_id, other_id, signal, decided_at in decided:
        key = (worker_id, other_id, signal)
        if key not in cutoffs or decided_at > cutoffs[key]:
            cutoffs[key] = decided_at
    return cutoffs


def _after_cutoff(answers: list[Answer], cutoffs: dict, signal: str) -> list[Answer]:
    return [
        a
        for a in answers
        if (cutoff := cutoffs.get((a.worker_id, None, signal))) is None or a.submitted_at > cutoff
    ]


def find_all(
    *, answers, sets, claims, presences, centre_of, centre_ranges, payout_keys, cutoffs=None
) -> list[Finding]:
    """Every detector over one window's data. Pure: the scan and the benchmark share it."""
    cutoffs = cutoffs or {}
    findings: list[Finding] = []
    for detector, signal in PER_WORKER_DETECTORS.items():
        findings.extend(detector(_after_cutoff(answers, cutoffs, signal), sets))
    findings.extend(copying(answers, sets))
    findings.extend(churn(claims))
    findings.extend(
        duplicate_accounts(
            presences, centre_of=centre_of, centre_ranges=centre_ranges, payout_keys=payout_keys
        )
    )
    findings.extend(impossible_activity(presences, centre_ranges))
    if not cutoffs:
        return findings
    submitted_at = {a.id: a.submitted_at for a in answers}
    return [f for f in findings if not _decided_since(f, cutoffs, submitted_at)]


def _decided_since(finding: Finding, cutoffs: dict, submitted_at: dict) -> bool:
    """A finding about a worker or pair decided after everything behind it. (The
    per-worker answer signals saw only answers after their cutoff already.)"""
    if finding.signal in PER_WORKER_DETECTORS.values():
        return False
    cutoff = cutoffs.get((finding.worker_id, finding.other_worker_id, finding.signal))
    if cutoff is None:
        return False
    if finding.signal == Signal.COPYING:
        return all(submitted_at.get(i, cutoff) <= cutoff for i in finding.assignment_ids)
    # Churn, accounts and presence: a decision holds for the rest of the window.
    return True


def scan(*, now: datetime | None = None) -> list[Flag]:
    """Run every signal over the window and raise or refresh flags. Idempotent: a
    second scan over the same data changes nothing but the flags' timestamps."""
    from reputation import flags

    now = now or timezone.now()
    since = window_start(now)
    answers, sets = load_answers(since)
    presences = load_presences(since)
    workers = {a.worker_id for a in answers} | {p.worker_id for p in presences}
    centre_of, ranges, payout_keys = load_identity(workers)
    findings = find_all(
        answers=answers,
        sets=sets,
        claims=load_claims(since, now),
        presences=presences,
        centre_of=centre_of,
        centre_ranges=ranges,
        # Every destination, not only this window's workers: a second account may be
        # the idle one.
        payout_keys=payout_keys,
        cutoffs=_cutoffs(),
    )
    return [flags.raise_from_finding(finding) for finding in findings]
