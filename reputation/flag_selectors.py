"""Reads for the flag queue and the flag page: a plain-words summary of each signal's
evidence, the worker's recent answers beside consensus and gold, their time per task
beside their sets', and the accounts linked to them by device or payout destination."""

import itertools
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Case, F, IntegerField, Q, QuerySet, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from marketplace.models import User, WorkerPresence
from marketplace.skills import skill_name
from payouts.models import PayoutDestination
from reputation import fraud, scoring
from reputation.models import Flag
from reputation.views import shown
from tasks.models import Assignment

RECENT_ANSWERS_SHOWN = 30
# Seconds per task, doubling: fine detail where speeders live, coarse beyond a minute.
HISTOGRAM_EDGES = [0, 1, 2, 4, 8, 16, 32, 64, 128]


def appeal_waiting_q() -> Q:
    # Appealed after the last decision (a kept decision answers the appeal).
    return Q(appealed_at__isnull=False) & (
        Q(decided_at__isnull=True) | Q(appealed_at__gt=F("decided_at"))
    )


def flag_queue(*, status: str = "open", signal: str = "") -> QuerySet[Flag]:
    """Appeals waiting on top, then the most severe, then the most recently updated."""
    flags = Flag.objects.select_related("worker", "other_worker", "worker__worker_profile")
    if status == "appealed":
        flags = flags.filter(appeal_waiting_q())
    elif status:
        flags = flags.filter(status=status)
    if signal:
        flags = flags.filter(signal=signal)
    return flags.annotate(
        appeal_first=Case(
            When(appeal_waiting_q(), then=Value(0)), default=Value(1), output_field=IntegerField()
        )
    ).order_by("appeal_first", "-severity", "-updated_at", "-pk")


def summary(flag: Flag) -> str:
    """The flag in one sentence an admin reads in the queue."""
    e = flag.evidence
    signal = flag.signal
    if signal == Flag.Signal.TOO_FAST:
        return _("%(share)s%% of %(n)s answers were too fast (median %(median)s s per task).") % {
            "share": e.get("share_percent"),
            "n": e.get("answers"),
            "median": e.get("worker_median_seconds"),
        }
    if signal == Flag.Signal.STRAIGHT_LINING:
        return _(
            "Answered “%(answer)s” on %(share)s%% of %(n)s tasks in one set, where others "
            "gave it on %(base)s%%."
        ) % {
            "answer": e.get("same_answer"),
            "share": e.get("share_percent"),
            "n": e.get("answers"),
            "base": e.get("set_share_percent"),
        }
    if signal == Flag.Signal.GOLD_FAILURES:
        return _("Failed %(streak)s checks in a row (%(failed)s of %(n)s failed).") % {
            "streak": e.get("longest_streak"),
            "failed": e.get("failed"),
            "n": e.get("checks"),
        }
    if signal == Flag.Signal.LOW_AGREEMENT:
        return _(
            "Agreed with what the other workers on a task agreed on %(rate)s%% of the time "
            "(%(n)s answers); the crowd on the same sets does %(crowd)s%% of the time."
        ) % {
            "rate": e.get("agreement_percent"),
            "n": e.get("answers"),
            "crowd": e.get("crowd_percent"),
        }
    if signal == Flag.Signal.CHURN:
        return _(
            "Dropped %(share)s%% of %(n)s claims (%(skipped)s skipped, %(expired)s expired)."
        ) % {
            "share": e.get("dropped_percent"),
            "n": e.get("claims"),
            "skipped": e.get("skipped"),
            "expired": e.get("expired"),
        }
    if signal == Flag.Signal.COPYING:
        return _(
            "Identical answers on %(same)s of %(n)s common tasks (%(rate)s%%), where two "
            "independent workers as accurate as they are would agree on %(base)s%%; of the "
            "%(close_n)s answered within %(seconds)s s of each other, %(close_same)s were "
            "identical."
        ) % {
            "same": e.get("identical"),
            "n": e.get("common_tasks"),
            "rate": e.get("identical_percent"),
            "base": e.get("baseline_percent"),
            "close_n": e.get("common_within_seconds"),
            "seconds": e.get("within_seconds"),
            "close_same": e.get("identical_of_those"),
        }
    if signal == Flag.Signal.DUPLICATE_ACCOUNT:
        parts = []
        if e.get("shared_payout"):
            parts.append(_("the same payout destination (%(what)s)") % {"what": e["shared_payout"]})
        if e.get("shared_devices"):
            parts.append(_("%(n)s shared device(s)") % {"n": e["shared_devices"]})
        if e.get("shared_addresses"):
            parts.append(
                _("%(n)s shared address(es) outside any centre") % {"n": len(e["shared_addresses"])}
            )
        return _("Two accounts with %(what)s.") % {"what": ", ".join(str(p) for p in parts)}
    if signal == Flag.Signal.IMPOSSIBLE_ACTIVITY:
        return _("Active on two devices on two networks at the same time, %(n)s time(s).") % {
            "n": e.get("overlaps")
        }
    if signal == Flag.Signal.QUALITY_FLOOR:
        return _("Fell below the quality floor in %(skill)s (score %(score)s‰).") % {
            "skill": skill_name(e.get("skill") or ""),
            "score": e.get("score_permille"),
        }
    return flag.get_signal_display()


@dataclass(frozen=True)
class AnswerRow:
    assignment: Assignment
    answer: str
    reference: str
    reference_kind: str  # "gold", "consensus" or ""
    agrees: bool | None
    seconds: float
    in_evidence: bool


def recent_answers(worker_id: int, evidence_ids: set[int]) -> list[AnswerRow]:
    recent = list(
        Assignment.objects.filter(
            worker_id=worker_id,
            status__in=[Assignment.Status.SUBMITTED, Assignment.Status.VOIDED],
        )
        .select_related("task", "task_set")
        .order_by("-submitted_at", "-pk")[:RECENT_ANSWERS_SHOWN]
    )
    seconds = _effective_seconds(worker_id, recent)
    rows = []
    for a in recent:
        reference = a.task.gold_answer if a.is_gold else a.task.aggregated_answer
        agrees = None
        if reference is not None:
            agrees = scoring.passes(
                a.task_set, scoring.credit_permille(a.task_set, a.answer, reference)
            )
        rows.append(
            AnswerRow(
                assignment=a,
                answer=shown(a.answer),
                reference=shown(reference),
                reference_kind="gold" if a.is_gold else ("consensus" if reference else ""),
                agrees=agrees,
                seconds=round(seconds.get(a.pk, 0.0), 1),
                in_evidence=a.pk in evidence_ids,
            )
        )
    return rows


def _effective_seconds(worker_id: int, assignments: list[Assignment]) -> dict[int, float]:
    rows = [
        fraud.Answer(
            id=a.pk,
            worker_id=worker_id,
            task_id=a.task_id,
            set_id=a.task_set_id,
            is_gold=a.is_gold,
            claimed_at=a.claimed_at,
            submitted_at=a.submitted_at,
            answer=a.answer,
            reference=None,
        )
        for a in assignments
        if a.submitted_at
    ]
    return fraud.effective_seconds(rows)


@dataclass(frozen=True)
class HistogramBin:
    label: str
    worker_percent: int
    set_percent: int


def time_histogram(worker_id: int, days: int = 14) -> list[HistogramBin]:
    """The worker's seconds per task beside everyone's on the same sets, as shares."""
    since = timezone.now() - timedelta(days=days)
    mine = list(
        Assignment.objects.filter(
            worker_id=worker_id, status=Assignment.Status.SUBMITTED, submitted_at__gte=since
        ).only("pk", "task_id", "task_set_id", "is_gold", "claimed_at", "submitted_at")[:2000]
    )
    set_ids = {a.task_set_id for a in mine}
    everyone = list(
        Assignment.objects.filter(
            task_set_id__in=set_ids, status=Assignment.Status.SUBMITTED, submitted_at__gte=since
        )
        .exclude(worker_id=worker_id)
        .only("pk", "worker_id", "task_id", "task_set_id", "is_gold", "claimed_at", "submitted_at")
        .order_by("-submitted_at")[:20000]
    )

    def shares(rows: list[Assignment]) -> list[int]:
        answers = [
            fraud.Answer(
                a.pk,
                a.worker_id,
                a.task_id,
                a.task_set_id,
                a.is_gold,
                a.claimed_at,
                a.submitted_at,
                None,
                None,
            )
            for a in rows
        ]
        seconds = list(fraud.effective_seconds(answers).values())
        counts = [0] * len(HISTOGRAM_EDGES)
        for value in seconds:
            index = max(i for i, edge in enumerate(HISTOGRAM_EDGES) if value >= edge)
            counts[index] += 1
        total = max(1, len(seconds))
        return [round(100 * c / total) for c in counts]

    worker_shares, set_shares = shares(mine), shares(everyone)
    labels = [f"{low}-{high} s" for low, high in itertools.pairwise(HISTOGRAM_EDGES)] + [
        f"≥ {HISTOGRAM_EDGES[-1]} s"
    ]
    return [HistogramBin(*row) for row in zip(labels, worker_shares, set_shares, strict=True)]


@dataclass(frozen=True)
class LinkedAccount:
    user: User
    how: list[str]


def linked_accounts(worker_id: int) -> list[LinkedAccount]:
    """Other accounts seen on this worker's devices, or paid to the same destination.
    Centre cohort members on a shared phone show here too, marked as such: the
    admin judges, the signal already ignored them."""
    links: dict[int, list[str]] = defaultdict(list)
    devices = set(
        WorkerPresence.objects.filter(worker_id=worker_id)
        .exclude(device_id="")
        .values_list("device_id", flat=True)
    )
    for other_id, device_id in (
        WorkerPresence.objects.filter(device_id__in=devices)
        .exclude(worker_id=worker_id)
        .values_list("worker_id", "device_id")
        .distinct()
    ):
        links[other_id].append(_("device %(id)s") % {"id": device_id[:8]})
    destination = PayoutDestination.objects.filter(worker_id=worker_id).first()
    if destination:
        key = fraud.payout_key(destination.mobile_money_number, destination.stripe_account_id)
        if key:
            for other in PayoutDestination.objects.exclude(worker_id=worker_id).filter(
                Q(mobile_money_number=destination.mobile_money_number) & ~Q(mobile_money_number="")
                | Q(stripe_account_id=destination.stripe_account_id) & ~Q(stripe_account_id="")
            ):
                links[other.worker_id].append(_("payout destination"))
    users = User.objects.filter(pk__in=links).select_related("worker_profile")
    return [
        LinkedAccount(user=user, how=sorted(set(links[user.pk])))
        for user in sorted(users, key=lambda u: u.pk)
    ]


def evidence_lines(value) -> list[str]:
    """A piece of evidence as lines a person reads: a list of records one per line,
    a record as "key value, key value", lists joined."""
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [line for v in value for line in evidence_lines(v)]
    if isinstance(value, dict):
        return [", ".join(f"{key} {_plain(item)}" for key, item in value.items())]
    return [_plain(value)]


def _plain(value) -> str:
    if isinstance(value, list):
        return " / ".join(_plain(v) for v in value) or "—"
    if isinstance(value, dict):
        return ", ".join(f"{key} {_plain(item)}" for key, item in value.items())
    return str(value)


def recent_presence(worker_id: int, limit: int = 15) -> list[WorkerPresence]:
    """Where and on what the worker worked lately (each socket, or spell of HTTP work)."""
    return list(
        WorkerPresence.objects.filter(worker_id=worker_id).order_by("-last_seen_at")[:limit]
    )
