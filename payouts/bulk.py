"""Set-based ledger writes for batch jobs (the hold's maturation, payout runs):
one journal entry per worker, but inserted and applied with a handful of SQL
statements, never a Python loop over rows. Same rules as post_entry: every entry
balances (and PostgreSQL's deferred trigger checks it at commit), lines are
appended, cached balances move in the same transaction.

The SQL is portable between PostgreSQL and SQLite (3.33+: UPDATE ... FROM,
INSERT ... ON CONFLICT); only the locks are PostgreSQL's."""

import zlib

from django.db import connection


def account_key_sql(kind: str, currency_sql: str, worker_sql: str) -> str:
    """SQL for payouts.services.account_key of a worker's account (no organization,
    no reference), so that batch statements can join accounts by their unique key."""
    return f"'{kind}:' || {currency_sql} || ':o-:w' || CAST({worker_sql} AS TEXT) || ':-'"


def batch_lock(name: str, *, shared: bool = False) -> None:
    """Hold the lock `name` for the rest of the transaction (shared holders exclude
    only exclusive ones). PostgreSQL: a transaction-level advisory lock. SQLite: its
    IMMEDIATE transactions already admit one writer at a time."""
    if connection.vendor == "postgresql":
        function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {function}(%s)", [zlib.crc32(name.encode())])


def last_entry_id() -> int:
    """Entries inserted after this call have larger ids (sequences only grow): the
    cheap range that finds a batch's entries again."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM payouts_journalentry")
        return cursor.fetchone()[0]


def lock_accounts_sql(where_sql: str, params: list) -> None:
    """Row-lock the accounts a batch will move, in id order: the same order
    post_entry locks in, so a batch and a single entry queue instead of deadlocking."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM payouts_ledgeraccount WHERE {where_sql} ORDER BY id FOR UPDATE",  # noqa: S608
            params,
        )


def apply_entries_to_balances(*, key_prefix: str, after_entry_id: int) -> None:
    """Move cached balances by the lines of the batch's entries (keys starting with
    `key_prefix`, ids above `after_entry_id`)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE payouts_ledgeraccount
               SET balance_minor = payouts_ledgeraccount.balance_minor + d.delta
              FROM (SELECT l.account_id, SUM(l.amount_minor) AS delta
                      FROM payouts_journalline l
                      JOIN payouts_journalentry je ON je.id = l.entry_id
                     WHERE je.id > %s AND je.idempotency_key LIKE %s
                     GROUP BY l.account_id) d
             WHERE payouts_ledgeraccount.id = d.account_id
            """,
            [after_entry_id, key_prefix + "%"],
        )
