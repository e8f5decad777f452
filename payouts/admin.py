from django.contrib import admin

from marketplace.admin import ReadOnlyAdmin
from payouts.models import JournalEntry, JournalLine, LedgerAccount

# The ledger is written only by payouts.services; the admin reads it.


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    list_display = ("key", "kind", "currency", "balance_minor")
    list_filter = ("kind", "currency")
    search_fields = ("key",)


class JournalLineInline(admin.TabularInline):
    model = JournalLine
    extra = 0
    can_delete = False
    readonly_fields = ("account", "amount_minor", "currency")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(JournalEntry)
class JournalEntryAdmin(ReadOnlyAdmin):
    list_display = ("pk", "created_at", "kind", "memo", "created_by")
    list_filter = ("kind",)
    inlines = [JournalLineInline]
