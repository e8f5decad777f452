"""On PostgreSQL, refuse UPDATE and DELETE on the audit log at the database level,
so not even raw SQL from the application can rewrite history."""

from django.db import migrations

from marketplace.migration_ops import postgres_only_sql

CREATE = """
CREATE OR REPLACE FUNCTION marketplace_auditlog_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'marketplace_auditlog is append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER marketplace_auditlog_append_only
    BEFORE UPDATE OR DELETE ON marketplace_auditlog
    FOR EACH ROW EXECUTE FUNCTION marketplace_auditlog_append_only();
"""
DROP = """
DROP TRIGGER IF EXISTS marketplace_auditlog_append_only ON marketplace_auditlog;
DROP FUNCTION IF EXISTS marketplace_auditlog_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("marketplace", "0001_initial")]
    operations = [postgres_only_sql(CREATE, DROP)]
