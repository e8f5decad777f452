"""Payout runs. A run, for one rail and currency:

1. under the per-currency batch lock, matures held earnings, then turns every
   worker's available balance at or above the rail's minimum into one payout line
   (INSERT ... SELECT over the cached balances, no Python loop over rows) and posts
   one entry per line, available -> payouts in transit (per rail). Committed
   before anything is sent anywhere.
2. sends each pending line to the rail, its id being the idempotency key; a line is
   claimed by a row lock (SKIP LOCKED), so two senders never send the same line,
   and a crash between the rail's answer and our commit leaves the line pending:
   the next run sends it again with the same key and the rail, recognising the key,
   pays nothing twice.
3. settles lines the rail reports paid (in transit -> paid out) or failed (back to
   the worker's available balance, in a visible entry)."""

import logging
import zlib
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from marketplace.models import User
from marketplace.services import record_audit
from payouts import bulk, rails
from payouts.earnings import mature_earnings, worker_account
from payouts.models import LedgerAccount, PayoutLine, PayoutRun
from payouts.services import get_account, post_entry

logger = logging.getLogger(__name__)
Kind = LedgerAccount.Kind
LineStatus = PayoutLine.Status


FROZEN_WORKERS_SQL = (
    "SELECT user_id FROM marketplace_workerprofile WHERE status IN ('suspended', 'banned')"
)


def transit_account(rail_name: str, currency: str) -> LedgerAccount:
    return get_account(kind=Kind.PAYOUTS_IN_TRANSIT, currency=currency, reference=rail_name)


def run_payouts(
    *, rail_name: str, currency: str, trigger: str = "command", actor: User | None = None
) -> PayoutRun:
    """Create the run's lines (committed), then send every pending line of the rail."""
    rail = rails.get_rail(rail_name)
    run = create_run(rail=rail, currency=currency, trigger=trigger, actor=actor)
    send_pending_lines(rail=rail, currency=currency)
    rail.finish_run(run)
    PayoutRun.objects.filter(pk=run.pk).update(
        status=PayoutRun.Status.FINISHED, finished_at=timezone.now()
    )
    run.refresh_from_db()
    return run


def create_run(
    *,
    rail: rails.Rail,
    currency: str,
    trigger: str,
    actor: User | None,
    now: datetime | None = None,
) -> PayoutRun:
    minimum = rail.minimum_minor(currency)
    if minimum is None:
        raise ValidationError(f"The {rail.name} rail pays no {currency} (no minimum configured).")
    minimum = max(minimum, 1)
    now = now or timezone.now()
    with transaction.atomic():
        # Two runs at once queue here; the second then finds the balances the first
        # moved out of "available" already gone, so nobody gets a second line.
        bulk.batch_lock(f"payouts:{currency}")
        mature_earnings(now=now, currency=currency)
        run = PayoutRun.objects.create(
            rail=rail.name,
            currency=currency,
            trigger=trigger,
            created_by=actor,
            minimum_minor=minimum,
        )
        transit = transit_account(rail.name, currency)
        # A suspended or banned worker's earnings are frozen: kept, not paid out, until
        # an admin decides (reputation.flags); reinstating them pays them next run.
        eligible = (
            "kind = 'worker_available' AND currency = %s AND balance_minor >= %s "
            "AND worker_id IN (SELECT worker_id FROM payouts_payoutdestination "
            "WHERE rail = %s AND status = 'active') "
            "AND worker_id NOT IN (SELECT user_id FROM marketplace_workerprofile "
            "WHERE status IN ('suspended', 'banned'))"
        )
        bulk.lock_accounts_sql(
            f"({eligible}) OR id = %s", [currency, minimum, rail.name, transit.pk]
        )
        prefix = f"payout:{run.pk}:"
        after = bulk.last_entry_id()
        available_key = bulk.account_key_sql("worker_available", "pl.currency", "pl.worker_id")
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                INSERT INTO payouts_payoutline
                       (run_id, worker_id, amount_minor, currency, rail, status, external_id,
                        failure_reason, destination_centre_id, destination_reference,
                        destination_mobile_money, destination_account, created_at)
                SELECT %s, a.worker_id, a.balance_minor, a.currency, d.rail, 'pending', '', '',
                       d.centre_id, d.centre_reference, d.mobile_money_number,
                       d.stripe_account_id, %s
                  FROM payouts_ledgeraccount a
                  JOIN payouts_payoutdestination d ON d.worker_id = a.worker_id
                 WHERE a.kind = 'worker_available' AND a.currency = %s
                   AND a.balance_minor >= %s AND d.rail = %s AND d.status = 'active'
                   AND a.worker_id NOT IN ({FROZEN_WORKERS_SQL})
                """,  # noqa: S608
                [run.pk, now, currency, minimum, rail.name],
            )
            if cursor.rowcount:
                cursor.execute(
                    """
                    INSERT INTO payouts_journalentry (kind, memo, idempotency_key, created_at)
                    SELECT 'payout.initiated',
                           'Payout line ' || CAST(id AS TEXT) || %s,
                           %s || CAST(id AS TEXT), %s
                      FROM payouts_payoutline WHERE run_id = %s
                    """,
                    [f" (run {run.pk})", prefix, now, run.pk],
                )
                # Interpolated SQL is this module's constants, never input.
                cursor.execute(
                    f"""
                    INSERT INTO payouts_journalline (entry_id, account_id, amount_minor, currency)
                    SELECT je.id, acc.id, -pl.amount_minor, pl.currency
                      FROM payouts_payoutline pl
                      JOIN payouts_journalentry je ON je.idempotency_key = %s || CAST(pl.id AS TEXT)
                      JOIN payouts_ledgeraccount acc ON acc.key = {available_key}
                     WHERE pl.run_id = %s AND je.id > %s
                    UNION ALL
                    SELECT je.id, %s, pl.amount_minor, pl.currency
                      FROM payouts_payoutline pl
                      JOIN payouts_journalentry je ON je.idempotency_key = %s || CAST(pl.id AS TEXT)
                     WHERE pl.run_id = %s AND je.id > %s
                    """,  # noqa: S608
                    [prefix, run.pk, after, transit.pk, prefix, run.pk, after],
                )
                bulk.apply_entries_to_balances(key_prefix=prefix, after_entry_id=after)
            cursor.execute(
                """
                UPDATE payouts_payoutrun
                   SET line_count = (SELECT COUNT(*) FROM payouts_payoutline WHERE run_id = %s),
                       total_minor = (SELECT COALESCE(SUM(amount_minor), 0)
                                        FROM payouts_payoutline WHERE run_id = %s),
                       status = 'sending', started_at = %s
                 WHERE id = %s
                """,
                [run.pk, run.pk, now, run.pk],
            )
    run.refresh_from_db()
    return run


def send_pending_lines(*, rail: rails.Rail, currency: str | None = None) -> int:
    """Send every pending line of the rail, this run's and any a crash left behind.
    One external call per line is inherent; each is its own short transaction."""
    pending = PayoutLine.objects.filter(rail=rail.name, status=LineStatus.PENDING)
    if currency:
        pending = pending.filter(currency=currency)
    sent = 0
    for line_id in pending.order_by("pk").values_list("pk", flat=True).iterator():
        with transaction.atomic():
            # The row lock claims the line for this sender until the result is
            # recorded; another sender skips it. If we die after pay() but before the
            # commit, the lock goes with us and the line stays pending: the retry
            # calls pay() again with the same key, which the rail must honour.
            line = (
                PayoutLine.objects.select_for_update(skip_locked=True)
                .filter(pk=line_id, status=LineStatus.PENDING)
                .first()
            )
            if line is None:
                continue
            result = rail.pay(line)
            record_rail_result(line=line, result=result)
            sent += 1
    return sent


def record_rail_result(*, line: PayoutLine, result: rails.RailResult) -> PayoutLine:
    """Store what the rail said about a line (call with the line locked)."""
    now = timezone.now()
    line.external_id = result.external_id
    if line.status == LineStatus.PENDING:
        line.status = LineStatus.SENT
        line.sent_at = now
    line.save(update_fields=["external_id", "status", "sent_at"])
    if result.status == "paid":
        return mark_line_paid(line_id=line.pk, reference=result.external_id)
    if result.status == "failed":
        return mark_line_failed(line_id=line.pk, reason=result.failure_reason or "failed")
    return line


def _locked_line(line_id: int) -> PayoutLine:
    return PayoutLine.objects.select_for_update().get(pk=line_id)


@transaction.atomic
def mark_line_paid(*, line_id: int, reference: str = "") -> PayoutLine:
    """The rail confirms the money reached the worker: in transit -> paid out.
    Idempotent; a failed line cannot become paid (its money went back)."""
    line = _locked_line(line_id)
    if line.status == LineStatus.PAID:
        return line
    if line.status != LineStatus.SENT:
        raise ValidationError(f"Line {line.pk} is {line.status}, not sent: it cannot be paid.")
    post_entry(
        kind="payout.paid",
        memo=f"Payout line {line.pk} paid" + (f" ({reference})" if reference else ""),
        lines=[
            (transit_account(line.rail, line.currency), -line.amount_minor),
            (
                get_account(kind=Kind.PAID_OUT, currency=line.currency, reference=line.rail),
                line.amount_minor,
            ),
        ],
        idempotency_key=f"payout-paid:{line.pk}",
    )
    line.status = LineStatus.PAID
    line.settled_at = timezone.now()
    if reference and not line.external_id:
        line.external_id = reference[:100]
    line.save(update_fields=["status", "settled_at", "external_id"])
    return line


@transaction.atomic
def mark_line_failed(*, line_id: int, reason: str) -> PayoutLine:
    """The rail could not pay: the money goes back to the worker's available balance,
    in an entry of its own, and the next run pays it again."""
    line = _locked_line(line_id)
    if line.status == LineStatus.FAILED:
        return line
    if line.status not in (LineStatus.SENT, LineStatus.PENDING):
        raise ValidationError(f"Line {line.pk} is {line.status}: it cannot fail now.")
    post_entry(
        kind="payout.failed",
        memo=f"Payout line {line.pk} failed: {reason}",
        lines=[
            (transit_account(line.rail, line.currency), -line.amount_minor),
            (
                worker_account(
                    kind=Kind.WORKER_AVAILABLE, worker_id=line.worker_id, currency=line.currency
                ),
                line.amount_minor,
            ),
        ],
        idempotency_key=f"payout-failed:{line.pk}",
    )
    line.status = LineStatus.FAILED
    line.failure_reason = reason[:300]
    line.settled_at = timezone.now()
    line.save(update_fields=["status", "failure_reason", "settled_at"])
    logger.warning("payout line %s failed: %s", line.pk, reason)
    return line


def run_all(
    *,
    trigger: str,
    actor: User | None = None,
    rail_name: str | None = None,
    currency: str | None = None,
) -> list[PayoutRun]:
    """A run per (rail, currency) the settings give a minimum for."""
    runs = []
    for name in [rail_name] if rail_name else rails.rail_names():
        rail = rails.get_rail(name)
        currencies = (
            [currency] if currency else sorted(settings.PAYOUT_MINIMUMS_MINOR.get(name, {}))
        )
        for code in currencies:
            runs.append(
                run_payouts(rail_name=rail.name, currency=code, trigger=trigger, actor=actor)
            )
    return runs


# An unfinished run younger than this is taken to be under way; an older one was cut
# short (a crash while sending) and no longer stops staff from starting the next, whose
# sending also retries that run's pending lines.
RUN_UNDER_WAY = timedelta(minutes=30)
STAFF_RUN_LOCK = "payouts:staff-start"


def start_run_by_staff(*, actor: User) -> list[PayoutRun]:
    """Staff start a run from their pages: every rail and currency that has a minimum,
    at once, audited. Refused to anyone but a superuser (as in the admin), and while
    another run is under way: a second click, or a colleague's, starts nothing.
    Correctness does not rest on that (two runs take turns under the per-currency batch
    lock and the second finds nothing left to pay); it saves staff an empty run."""
    if not actor.is_superuser:
        raise PermissionDenied(_("Only superusers start payout runs."))
    with _try_lock(STAFF_RUN_LOCK) as acquired:
        under_way = PayoutRun.objects.exclude(status=PayoutRun.Status.FINISHED).filter(
            created_at__gte=timezone.now() - RUN_UNDER_WAY
        )
        if not acquired or under_way.exists():
            raise ValidationError(
                _("A payout run is under way. Wait for it to finish, then look again.")
            )
        runs = run_all(trigger="staff", actor=actor)
        for run in runs:
            record_audit(
                actor=actor,
                action="payout_run.start",
                target=run,
                data={
                    "rail": run.rail,
                    "currency": run.currency,
                    "line_count": run.line_count,
                    "total_minor": run.total_minor,
                },
            )
    return runs


@contextmanager
def _try_lock(name: str):
    """A session-level advisory lock, taken without waiting (PostgreSQL): whether we
    got it. Held across run_all's own transactions, released however they end.
    SQLite runs one process in the tests and the demo: nothing to exclude."""
    if connection.vendor != "postgresql":
        yield True
        return
    key = zlib.crc32(name.encode())
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


def next_run_at(now: datetime | None = None) -> datetime:
    """When the weekly run (PAYOUT_RUN_WEEKDAY, PAYOUT_RUN_HOUR, UTC) next starts."""
    from datetime import UTC

    now = (now or timezone.now()).astimezone(UTC)
    start = now.replace(hour=settings.PAYOUT_RUN_HOUR, minute=0, second=0, microsecond=0)
    start += timedelta(days=(settings.PAYOUT_RUN_WEEKDAY - now.isoweekday()) % 7)
    return start if start > now else start + timedelta(days=7)
