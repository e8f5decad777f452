"""Payout run: 1,000,000 approved answers from 10,000 workers, past the review hold,
aggregated into payout lines on PostgreSQL, beside a bare GROUP BY of the same rows.

    createdb marketplace_money_bench
    DEBUG=true DATABASE_URL=postgres://postgres@127.0.0.1:5432/marketplace_money_bench \\
        .venv/bin/python bench/payout_run.py [--answers 1000000 --workers 10000]

The database is a scratch one: it is migrated and FLUSHED first. Setup (untimed)
loads the answers, their earnings and their pending balances with generate_series.
Timed: payouts.runs.create_run, i.e. the maturation of every held earning (one
entry per worker by SQL aggregation) and the payout lines with their entries,
committed; then, separately, sending the lines and writing the partner centre's
CSV. Peak memory (max RSS) is printed before and after: it stays flat because no
row of the million ever reaches Python.
"""

import argparse
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")
os.environ.setdefault("DEBUG", "true")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from marketplace.models import Organization, User  # noqa: E402
from payouts import rails, runs  # noqa: E402
from payouts.models import PayoutLine  # noqa: E402
from tasks.models import Task, TaskSet  # noqa: E402

PARTNER = "partner_centre"


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def setup(answers: int, workers: int) -> None:
    per_worker = answers // workers
    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    requester = User.objects.create(username="bench-requester")
    org = Organization.objects.create(name="Bench", slug="bench", kind="requester")
    centre = Organization.objects.create(name="Bench centre", slug="bench-centre", kind="centre")
    task_set = TaskSet.objects.create(
        organization=org,
        created_by=requester,
        title="Bench",
        kind="label",
        label_options=["a", "b"],
        reward_minor=5,
        status="completed",
    )
    Task.objects.bulk_create(
        Task(task_set=task_set, external_id=f"t{i}", payload_text="x") for i in range(per_worker)
    )
    long_ago = timezone.now() - timezone.timedelta(days=30)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO marketplace_user (password, is_superuser, username, first_name, last_name,
                   email, is_staff, is_active, date_joined, phone, preferred_language)
            SELECT '!', false, 'w' || g, '', '', '', false, true, now(), '', 'en'
              FROM generate_series(1, %s) g
            """,
            [workers],
        )
        cursor.execute(
            """
            CREATE TEMP TABLE bench_workers AS
            SELECT id AS worker_id, row_number() OVER (ORDER BY id) AS n
              FROM marketplace_user WHERE username LIKE 'w%%'
            """
        )
        cursor.execute(
            """
            INSERT INTO tasks_assignment (status, claimed_at, expires_at, submitted_at, answer,
                   reward_minor, currency, worker_id, task_id, is_gold, release_reason,
                   task_set_id, review_reason, review_status, reviewed_at)
            SELECT 'submitted', %s, %s, %s, '"a"', 5, 'USD', w.worker_id, t.id, false, '',
                   %s, '', 'approved', %s
              FROM bench_workers w CROSS JOIN tasks_task t WHERE t.task_set_id = %s
            """,
            [long_ago, long_ago, long_ago, task_set.pk, long_ago, task_set.pk],
        )
        cursor.execute(
            """
            INSERT INTO payouts_journalentry (kind, memo, idempotency_key, created_at)
            SELECT 'earning.pay', 'bench', 'earning:' || id || ':1', %s FROM tasks_assignment
            """,
            [long_ago],
        )
        cursor.execute(
            """
            INSERT INTO payouts_earning (assignment_id, sequence, worker_id, task_set_id,
                   amount_minor, fee_minor, currency, status, approved_at,
                   entry_id)
            SELECT a.id, 1, a.worker_id, a.task_set_id, 5, 1, 'USD', 'live', %s, je.id
              FROM tasks_assignment a
              JOIN payouts_journalentry je ON je.idempotency_key = 'earning:' || a.id || ':1'
            """,
            [long_ago],
        )
        cursor.execute(
            """
            INSERT INTO payouts_ledgeraccount (key, kind, currency, worker_id, reference,
                   balance_minor, created_at)
            SELECT 'worker_pending:USD:o-:w' || worker_id || ':-', 'worker_pending', 'USD',
                   worker_id, '', SUM(amount_minor), now()
              FROM payouts_earning GROUP BY worker_id
            """
        )
        cursor.execute(
            """
            INSERT INTO payouts_payoutdestination (worker_id, rail, status, centre_id,
                   centre_reference, mobile_money_number, stripe_account_id, updated_at)
            SELECT worker_id, %s, 'active', %s, 'C' || n, '', '', now() FROM bench_workers
            """,
            [PARTNER, centre.pk],
        )
        cursor.execute("ANALYZE")


def _timed(execute, sql, params, many, context):
    started = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    finally:
        took = time.perf_counter() - started
        if took > 0.05:
            print(f"  {took:6.2f} s  {' '.join(sql.split())[:110]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=10_000)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Point DATABASE_URL at a scratch PostgreSQL database.")
    settings.PAYOUT_MINIMUMS_MINOR = {PARTNER: {"USD": 100}}
    started = time.perf_counter()
    setup(args.answers, args.workers)
    print(f"setup: {time.perf_counter() - started:.1f} s")
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM payouts_earning")
        rows = cursor.fetchone()[0]
        started = time.perf_counter()
        cursor.execute(
            "SELECT COUNT(*) FROM (SELECT worker_id, currency, SUM(amount_minor) "
            "FROM payouts_earning GROUP BY worker_id, currency) s"
        )
        groups = cursor.fetchone()[0]
        bare = time.perf_counter() - started
    print(
        f"bare GROUP BY: {rows:,} rows -> {groups:,} groups in {bare:.2f} s "
        f"({rows / bare:,.0f} rows/s)"
    )
    rss_before = max_rss_mb()
    if os.environ.get("BENCH_PROFILE"):
        connection.execute_wrappers.append(_timed)
    rail = rails.get_rail(PARTNER)
    started = time.perf_counter()
    run = runs.create_run(rail=rail, currency="USD", trigger="bench", actor=None)
    elapsed = time.perf_counter() - started
    print(
        f"payout run (maturation + lines + entries, committed): {rows:,} earnings -> "
        f"{run.line_count:,} lines, {run.total_minor:,} minor units in {elapsed:.2f} s "
        f"({rows / elapsed:,.0f} rows/s; {elapsed / bare:.1f}x the bare GROUP BY)"
    )
    print(f"max RSS: {rss_before:.0f} MB before the run, {max_rss_mb():.0f} MB after")
    started = time.perf_counter()
    sent = runs.send_pending_lines(rail=rail, currency="USD")
    rail.finish_run(run)
    print(f"send {sent:,} lines + write the centre CSV: {time.perf_counter() - started:.2f} s")
    assert PayoutLine.objects.filter(run=run).count() == args.workers
    print(f"max RSS at the end: {max_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
