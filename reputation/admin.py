from django.contrib import admin

from reputation.models import Appeal, Flag, ReputationEvent, WorkerSkill


@admin.register(WorkerSkill)
class WorkerSkillAdmin(admin.ModelAdmin):
    """Read-only: a standing is the fold of its events (recompute_reputation)."""

    list_display = ["worker", "skill", "state", "score_permille", "checks_total", "cooldown_until"]
    list_filter = ["state", "skill"]
    search_fields = ["worker__username"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False


@admin.register(ReputationEvent)
class ReputationEventAdmin(admin.ModelAdmin):
    """Read-only evidence; corrections void events through the services."""

    list_display = ["worker", "skill", "source", "credit_permille", "weight_permille",
                    "created_at", "voided_at"]  # fmt: skip
    list_filter = ["source", "skill"]
    search_fields = ["worker__username"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Flag)
class FlagAdmin(admin.ModelAdmin):
    list_display = ["worker", "signal", "severity", "status", "updated_at"]
    list_filter = ["status", "signal"]
    search_fields = ["worker__username"]


@admin.register(Appeal)
class AppealAdmin(admin.ModelAdmin):
    list_display = ["assignment", "worker", "status", "created_at", "decided_at"]
    list_filter = ["status"]
    readonly_fields = ["assignment", "worker", "message", "decided_by", "decided_at"]
