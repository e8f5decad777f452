"""A check (gold task) that two workers reported disturbing is withdrawn like any task
(tasks.reports): work_claim no longer hands out withdrawn gold, in training sets or
mixed into regular work."""

import importlib

from django.db import migrations

from marketplace.migration_ops import postgres_only_sql

_previous = importlib.import_module("tasks.migrations.0013_work_claim_plans")

_CLAIM_SQL = (
    "CREATE OR REPLACE FUNCTION work_claim("
    + _previous.FORWARD.split("CREATE OR REPLACE FUNCTION work_claim(")[1].split(
        "CREATE OR REPLACE FUNCTION work_submit("
    )[0]
)

# Both places gold is picked: a training set's next check, and one mixed into work.
_GOLD = (
    "WHERE g.task_set_id = v_set.id AND g.is_gold\n",
    "WHERE v_wants_gold AND g.task_set_id = v_set.id AND g.is_gold\n",
)


def _skipping_withdrawn_gold(sql: str) -> str:
    for where in _GOLD:
        assert sql.count(where) == 1, where
        sql = sql.replace(where, where[:-1] + " AND g.withdrawn_at IS NULL\n")
    return sql


# CREATE OR REPLACE drops a function's settings: set them again (migration 0013).
_SETTINGS = """
ALTER FUNCTION work_claim(bigint, bigint, integer) SET enable_sort = off;
ALTER FUNCTION work_claim(bigint, bigint, integer) SET jit = off;
"""

FORWARD = _skipping_withdrawn_gold(_CLAIM_SQL) + _SETTINGS
REVERSE = _CLAIM_SQL + _SETTINGS


class Migration(migrations.Migration):
    dependencies = [("tasks", "0014_earnings_unreviewed")]

    operations = [postgres_only_sql(FORWARD, REVERSE)]
