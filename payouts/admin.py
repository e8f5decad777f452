from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from marketplace.admin import ReadOnlyAdmin
from payouts.currency import format_amount
from payouts.models import (
    Earning,
    JournalEntry,
    JournalLine,
    LedgerAccount,
    PartnerBatch,
    PayoutDestination,
    PayoutLine,
    PayoutRun,
)
from payouts.runs import run_all
from payouts.stripe_models import FundingSession, Refund, RefundPart, StripeEvent

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


# --- Earnings and payouts ----------------------------------------------------------


@admin.register(Earning)
class EarningAdmin(ReadOnlyAdmin):
    list_display = ("assignment", "sequence", "worker", "amount_minor", "fee_minor", "currency")
    list_filter = ("status", "currency")
    search_fields = ("worker__username",)


@admin.register(PayoutDestination)
class PayoutDestinationAdmin(admin.ModelAdmin):
    list_display = ("worker", "rail", "status", "centre", "centre_reference")
    list_filter = ("rail", "status")
    search_fields = ("worker__username", "centre_reference")
    raw_id_fields = ("worker",)
    actions = ["run_payouts_for_rails"]

    @admin.action(description="Run payouts now on the selected workers' rails")
    def run_payouts_for_rails(self, request, queryset):
        _run_and_report(self, request, {d.rail for d in queryset})


class PayoutLineInline(admin.TabularInline):
    model = PayoutLine
    extra = 0
    can_delete = False
    fields = ("worker", "amount_minor", "currency", "status", "external_id", "failure_reason")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(PayoutRun)
class PayoutRunAdmin(ReadOnlyAdmin):
    list_display = ("pk", "created_at", "rail", "currency", "status", "line_count", "total_minor")
    list_filter = ("rail", "currency", "status")
    inlines = [PayoutLineInline]
    actions = ["run_again"]

    @admin.action(description="Run payouts now on the selected runs' rails (pays what is due)")
    def run_again(self, request, queryset):
        _run_and_report(self, request, {run.rail for run in queryset})


def _run_and_report(model_admin, request, rail_names: set[str]) -> None:
    if not request.user.is_superuser:
        model_admin.message_user(request, "Only superusers start payout runs.", messages.ERROR)
        return
    for name in sorted(rail_names):
        try:
            runs = run_all(trigger="admin", actor=request.user, rail_name=name)
        except (ValidationError, LookupError) as exc:
            model_admin.message_user(request, f"{name}: {exc}", messages.ERROR)
            continue
        for run in runs:
            model_admin.message_user(
                request,
                f"Run {run.pk} ({run.rail} {run.currency}): {run.line_count} lines, "
                f"{format_amount(run.total_minor, run.currency)}.",
            )


@admin.register(PayoutLine)
class PayoutLineAdmin(ReadOnlyAdmin):
    list_display = ("pk", "run", "worker", "amount_minor", "currency", "rail", "status")
    list_filter = ("rail", "status", "currency")
    search_fields = ("worker__username", "external_id")


@admin.register(PartnerBatch)
class PartnerBatchAdmin(ReadOnlyAdmin):
    list_display = ("run", "centre", "line_count", "total_minor", "sha256", "returned_at")


# --- Stripe (written by the funding, refund and webhook services; read here) --------


class RefundPartInline(admin.TabularInline):
    model = RefundPart
    extra = 0
    can_delete = False
    fields = ("funding_session", "amount_minor", "status", "stripe_refund_id", "error")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(FundingSession)
class FundingSessionAdmin(ReadOnlyAdmin):
    list_display = ("pk", "created_at", "organization", "amount_minor", "currency", "status")
    list_filter = ("status", "currency")
    search_fields = ("stripe_session_id", "payment_intent_id", "organization__name")


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    list_display = ("pk", "created_at", "organization", "amount_minor", "currency", "status")
    list_filter = ("status", "currency")
    search_fields = ("organization__name",)
    inlines = [RefundPartInline]


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    list_display = ("event_id", "type", "received_at", "processed_at", "attempts", "outcome")
    list_filter = ("type",)
    search_fields = ("event_id", "outcome", "error")
