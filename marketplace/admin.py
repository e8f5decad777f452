from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from marketplace.models import (
    AuditLog,
    Membership,
    Notification,
    Organization,
    User,
    WorkerPresence,
    WorkerProfile,
)


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    fieldsets = (
        *BaseUserAdmin.fieldsets,
        ("Marketplace", {"fields": ("phone", "preferred_language")}),
    )
    list_display = ("username", "email", "first_name", "last_name", "is_staff", "is_active")


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ("user",)


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "country", "created_at")
    list_filter = ("kind",)
    search_fields = ("name", "slug")
    inlines = [MembershipInline]


@admin.register(WorkerProfile)
class WorkerProfileAdmin(admin.ModelAdmin):
    """Read-mostly: status changes go through the vetting pages so they are audited
    and the worker is notified."""

    list_display = ("display_name", "user", "status", "country", "centre", "applied_at")
    list_filter = ("status", "country", "centre")
    fields = (
        "user", "display_name", "country", "languages", "centre", "enrolled_by", "skills",
        "eligibility", "terms_version", "consented_at", "status", "status_reason",
        "status_changed_at", "applied_at",
    )  # fmt: skip
    search_fields = ("display_name", "user__username")
    readonly_fields = ("status", "status_reason", "status_changed_at", "applied_at", "consented_at")
    raw_id_fields = ("user", "enrolled_by")


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("user", "subject", "created_at", "read_at")
    raw_id_fields = ("user",)


class ReadOnlyAdmin(admin.ModelAdmin):
    """For append-only records written by services: nobody may add, edit or delete
    them here, superusers included."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "actor_label", "action", "target_label", "reason")
    list_filter = ("action",)
    search_fields = ("actor_label", "target_label", "reason")


@admin.register(WorkerPresence)
class WorkerPresenceAdmin(ReadOnlyAdmin):
    list_display = ("worker", "channel", "device_id", "ip_address", "first_seen_at", "last_seen_at")
    list_filter = ("channel",)
    search_fields = ("worker__username", "device_id", "ip_address")
    raw_id_fields = ("worker",)
