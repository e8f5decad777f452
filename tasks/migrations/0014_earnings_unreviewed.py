"""The work page's earnings, bounded: today's answers and the answers not reviewed yet.

"Waiting for approval" summed every submitted, unrejected answer in the worker's
history, so answers already approved, on the ledger and even paid out showed as
waiting, and each answer cost more as the history grew. Now it is the pay of answers
not reviewed yet (what was reviewed is on the ledger: the earnings page), read through
two small partial indexes.

work_claimed and work_earnings become PL/pgSQL: a SQL function that cannot be inlined
is planned again on every call, once per claim and once per answer; PL/pgSQL keeps
its plans for the session."""

import importlib

from django.conf import settings
from django.db import migrations, models

from marketplace.migration_ops import postgres_only_sql

_previous = importlib.import_module("tasks.migrations.0011_work_functions")

_CLAIMED_SQL = _previous.FORWARD.split("CREATE OR REPLACE FUNCTION work_claim(")[0]


def _as_plpgsql(sql: str) -> str:
    """work_claimed's one SELECT as a PL/pgSQL RETURN."""
    head, body = sql.split("LANGUAGE sql AS $fn$\n    SELECT")
    body, tail = body.rsplit("\n$fn$;", 1)
    return head + "LANGUAGE plpgsql AS $fn$\nBEGIN\n    RETURN (SELECT" + body + ");\nEND\n$fn$;" + tail


EARNINGS = """
CREATE OR REPLACE FUNCTION work_earnings(p_worker bigint, p_start_of_day timestamptz)
RETURNS jsonb LANGUAGE plpgsql STABLE SET jit = off AS $fn$
BEGIN
    -- Per currency: today's pay and count (a rejected answer is not paid, unless an
    -- appeal restores it), and the pay of the answers not reviewed yet; reviewed pay
    -- is on the ledger. tasks.work.earnings_by_currency.
    RETURN (
        SELECT coalesce(jsonb_agg(jsonb_build_array(currency, today, today_count, pending)
                                  ORDER BY currency), '[]'::jsonb)
          FROM (SELECT currency, sum(today) AS today, sum(today_count) AS today_count,
                       sum(pending) AS pending
                  FROM (SELECT currency, reward_minor AS today, 1 AS today_count,
                               0 AS pending
                          FROM tasks_assignment
                         WHERE worker_id = p_worker AND status = 'submitted'
                           AND submitted_at >= p_start_of_day
                           AND review_status <> 'rejected'
                        UNION ALL
                        SELECT currency, 0, 0, reward_minor
                          FROM tasks_assignment
                         WHERE worker_id = p_worker AND status = 'submitted'
                           AND review_status = 'pending') answers
                 GROUP BY currency) per_currency);
END
$fn$;
"""

FORWARD = _as_plpgsql(_CLAIMED_SQL) + EARNINGS
# Backwards: both as migrations 0011 and 0013 left them.
REVERSE = (
    _CLAIMED_SQL
    + _previous.EARNINGS
    + "\nALTER FUNCTION work_earnings(bigint, timestamptz) SET jit = off;\n"
)


class Migration(migrations.Migration):

    dependencies = [
        ('tasks', '0013_work_claim_plans'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name='assignment',
            index=models.Index(condition=models.Q(('status', 'submitted')), fields=['worker', 'submitted_at'], name='assignment_worker_answered'),
        ),
        migrations.AddIndex(
            model_name='assignment',
            index=models.Index(condition=models.Q(('review_status', 'pending'), ('status', 'submitted')), fields=['worker'], name='assignment_worker_unreviewed'),
        ),
        postgres_only_sql(FORWARD, REVERSE),
    ]
