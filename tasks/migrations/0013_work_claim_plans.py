"""The claim and answer functions, planned so that a claim walks a set's open tasks in
id order and stops at the first free one, whatever the statistics say.

After ANALYZE on large tables of tasks and answers, claims cost 4 to 100 times as
much, for three reasons:
- "no answer of this worker to this task" became an anti-join over every answer the
  worker ever gave (a scan of the (task, worker) index on its second column);
- a new set's open tasks, estimated at one row, were read through the plain index on
  the set and sorted: every open task of the set, with both subqueries run for each;
- any plan whose estimate passed jit_above_cost was compiled by LLVM on every call:
  about 100 ms, for a statement that runs in a fraction of one.
So each "not answered" subquery gets OFFSET 0 (it stays a probe of the unique (task,
worker) index for the one task at hand), work_claim plans without explicit sorts
where an index gives the order (the ordered walk of the partial index
task_open_regular is what LIMIT 1 wants; the sorts nothing else can do, of a few
sets or gold tasks, still happen), and the three functions never use JIT."""

import importlib

from django.db import migrations

from marketplace.migration_ops import postgres_only_sql

_previous = importlib.import_module("tasks.migrations.0011_work_functions")

_PROBES = (
    "WHERE a.task_id = t.id AND a.worker_id = p_worker)",
    "WHERE a.task_id = g.id AND a.worker_id = p_worker)",
)


def _kept_as_probes(sql: str) -> str:
    for probe in _PROBES:
        assert probe in sql, probe
        sql = sql.replace(probe, probe[:-1] + " OFFSET 0)")
    return sql


_SETTINGS = """
ALTER FUNCTION work_claim(bigint, bigint, integer) SET enable_sort = off;
ALTER FUNCTION work_claim(bigint, bigint, integer) SET jit = off;
ALTER FUNCTION work_submit(bigint, bigint, jsonb, text, text, uuid, integer, timestamptz,
                           boolean) SET jit = off;
ALTER FUNCTION work_earnings(bigint, timestamptz) SET jit = off;
"""

FORWARD = _kept_as_probes(_previous.FORWARD) + _SETTINGS
# Backwards: the functions as migration 0011 made them (CREATE OR REPLACE drops the
# settings of work_claim and work_submit; work_earnings keeps its own).
REVERSE = (
    _previous.FORWARD + "\nALTER FUNCTION work_earnings(bigint, timestamptz) RESET jit;\n"
)


class Migration(migrations.Migration):
    dependencies = [("tasks", "0012_check_unscored_index")]

    operations = [postgres_only_sql(FORWARD, REVERSE)]
