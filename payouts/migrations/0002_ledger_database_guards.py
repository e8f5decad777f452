"""PostgreSQL guards for the ledger, beyond the service's own checks:
- every entry's lines sum to zero per currency, checked at commit (a deferred
  constraint trigger, so the lines of one entry may be inserted one by one);
- lines and entries are append-only: UPDATE and DELETE are refused."""

from django.db import migrations

from marketplace.migration_ops import postgres_only_sql

CREATE = """
CREATE OR REPLACE FUNCTION payouts_check_entry_balanced() RETURNS trigger AS $$
DECLARE
    unbalanced_currency text;
BEGIN
    SELECT currency INTO unbalanced_currency
      FROM payouts_journalline
     WHERE entry_id = NEW.entry_id
     GROUP BY currency
    HAVING SUM(amount_minor) <> 0
     LIMIT 1;
    IF unbalanced_currency IS NOT NULL THEN
        RAISE EXCEPTION 'journal entry % does not balance in %', NEW.entry_id, unbalanced_currency;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER payouts_journalline_balanced
    AFTER INSERT ON payouts_journalline
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION payouts_check_entry_balanced();

CREATE OR REPLACE FUNCTION payouts_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only (% refused)', TG_TABLE_NAME, TG_OP;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER payouts_journalline_append_only
    BEFORE UPDATE OR DELETE ON payouts_journalline
    FOR EACH ROW EXECUTE FUNCTION payouts_append_only();
CREATE TRIGGER payouts_journalentry_append_only
    BEFORE UPDATE OR DELETE ON payouts_journalentry
    FOR EACH ROW EXECUTE FUNCTION payouts_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS payouts_journalentry_append_only ON payouts_journalentry;
DROP TRIGGER IF EXISTS payouts_journalline_append_only ON payouts_journalline;
DROP TRIGGER IF EXISTS payouts_journalline_balanced ON payouts_journalline;
DROP FUNCTION IF EXISTS payouts_append_only();
DROP FUNCTION IF EXISTS payouts_check_entry_balanced();
"""


class Migration(migrations.Migration):
    dependencies = [("payouts", "0001_initial")]
    operations = [postgres_only_sql(CREATE, DROP)]
