"""The cheap part of the fraud signals, on submit: two checks that cost nothing for
an honest answer and one indexed read after a failed check. When either trips, the
full scan (reputation.fraud) is asked to run now instead of at its next beat, so a
speeder or a random clicker reaches the admins' queue within a minute."""

from django.core.cache import cache
from django.db import transaction

from marketplace.cache import counters
from reputation import fraud
from tasks.models import Assignment, TaskSet

FAST_COUNTER_SECONDS = 3600  # the window of the fast-answer counter
# A full scan at most this often on demand (the beat runs it anyway).
SCAN_DEBOUNCE_SECONDS = 60


def is_fast(*, assignment: Assignment, task_set: TaskSet) -> bool:
    """Answered below the kind's floor (server clock, from the claim)?"""
    seconds = (assignment.submitted_at - assignment.claimed_at).total_seconds()
    return seconds < fraud.FAST_FLOOR_SECONDS.get(task_set.kind, 1.5)


def note_fast_answers(fast_by_worker: dict[int, int]) -> None:
    """Count answers below the floor, per worker, over the hour; enough of them asks
    for a scan. No database work: cache counters, touched only by answers that fast
    (one round trip for a whole batch of them)."""
    if not fast_by_worker:
        return
    keys = {worker_id: f"fraud:fast:{worker_id}" for worker_id in fast_by_worker}
    totals = counters({keys[w]: n for w, n in fast_by_worker.items()}, timeout=FAST_COUNTER_SECONDS)
    for worker_id, added in fast_by_worker.items():
        total = totals[keys[worker_id]]
        # At the count the scan needs to judge, and again at each multiple of it.
        if total // fraud.FAST_MIN_ANSWERS > (total - added) // fraud.FAST_MIN_ANSWERS:
            request_scan()
            return


def note_failed_check(*, worker_id: int) -> None:
    """After a failed check: were the worker's last checks all failed?"""
    recent = list(
        Assignment.objects.filter(
            worker_id=worker_id,
            is_gold=True,
            status=Assignment.Status.SUBMITTED,
            gold_credit_permille__isnull=False,
            task_set__is_training=False,
        )
        .order_by("-submitted_at")
        .values_list("gold_credit_permille", "task_set__gold_pass_permille")[: fraud.GOLD_STREAK]
    )
    if len(recent) == fraud.GOLD_STREAK and all(credit < bar for credit, bar in recent):
        request_scan()


def request_scan() -> None:
    from reputation.tasks import scan_fraud_signals

    # One scan for a burst of trips: the first asks, the rest find the key taken.
    if cache.add("fraud:scan-requested", 1, timeout=SCAN_DEBOUNCE_SECONDS):
        transaction.on_commit(lambda: scan_fraud_signals.delay(), robust=True)
