"""work_claim makes its claim in one of two statements, with a check mixed in or
without, rather than one statement whose check part is switched off by a parameter.

PL/pgSQL keeps a statement's generic plan only when it costs about as much as the
plans made for each call's values. The one statement folded "v_wants_gold" into a
constant in those per-call plans: nine claims in ten, false, dropping the check
part, so each looked far cheaper than the generic plan, which was never kept. The
statement was planned again on every claim (about 180 us of the claim's 610 on the
bench), where every other statement of the function is planned once per
connection. Each statement below plans alike whatever the draw."""

import importlib

from django.db import migrations

from marketplace.migration_ops import postgres_only_sql

_previous = importlib.import_module("tasks.migrations.0015_withdrawn_gold")

_BEFORE = "            v_made := NULL;\n"
_START = _BEFORE + "            WITH gold AS (\n"
_END = "            RETURNING id INTO v_made;\n"
_GOLD_CTE_END = "            ), picked AS (\n"


def _split_claim(sql: str) -> str:
    assert sql.count(_START) == 1
    start = sql.index(_START) + len(_BEFORE)
    end = sql.index(_END, start) + len(_END)
    with_gold = sql[start:end]
    cte_end = with_gold.index(_GOLD_CTE_END)
    without_gold = "            WITH picked AS (\n" + with_gold[cte_end + len(_GOLD_CTE_END) :]
    wanted = "coalesce((SELECT id FROM gold), t.id) AS task_id"
    assert without_gold.count(wanted) == 1
    without_gold = without_gold.replace(wanted, "t.id AS task_id")
    switch = "WHERE v_wants_gold AND g.task_set_id"
    assert with_gold.count(switch) == 1
    with_gold = with_gold.replace(switch, "WHERE g.task_set_id")

    def indented(statement: str) -> str:
        return "".join("    " + line for line in statement.splitlines(keepends=True))

    branches = (
        "            IF v_wants_gold THEN\n"
        + indented(with_gold)
        + "            ELSE\n"
        + indented(without_gold)
        + "            END IF;\n"
    )
    return sql[:start] + branches + sql[end:]


FORWARD = _split_claim(_previous.FORWARD)
REVERSE = _previous.FORWARD


class Migration(migrations.Migration):
    dependencies = [("tasks", "0015_withdrawn_gold")]

    operations = [postgres_only_sql(FORWARD, REVERSE)]
