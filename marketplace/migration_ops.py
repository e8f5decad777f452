"""Migration helpers. Kept stable: applied migrations import them."""

from django.db import migrations


def postgres_only_sql(forward_sql: str, reverse_sql: str) -> migrations.RunPython:
    """Raw SQL (triggers and the like) that only PostgreSQL runs; SQLite relies on
    the application's own checks. params=None: the SQL may contain a literal %."""

    def forwards(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(forward_sql, params=None)

    def backwards(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(reverse_sql, params=None)

    return migrations.RunPython(forwards, backwards)
