"""Accounts domain: users, organizations (requesters and partner centres), worker
profiles and their vetting, one-time set-up codes, notifications and the audit log."""

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _
from django_countries.fields import CountryField

from marketplace.eligibility import ELIGIBILITY_CHOICES


class User(AbstractUser):
    """Logs in by username or email; many workers have no email, so email is optional."""

    phone = models.CharField(_("phone"), max_length=20, blank=True)
    preferred_language = models.CharField(
        _("preferred language"), max_length=8, choices=settings.LANGUAGES, default="en"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                condition=~models.Q(email=""),
                name="user_email_unique_when_set",
            )
        ]

    @property
    def is_worker(self) -> bool:
        return hasattr(self, "worker_profile")

    @property
    def display_label(self) -> str:
        return self.get_full_name() or self.username


class Organization(models.Model):
    class Kind(models.TextChoices):
        REQUESTER = "requester", _("Requester")
        CENTRE = "centre", _("Partner centre")

    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("slug"), max_length=80, unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    country = CountryField(_("country"), blank=True)
    # A centre's own address ranges (CIDR, one per line): its workers share them,
    # so fraud signals must never count a shared centre address against them.
    network_ranges = models.TextField(_("network ranges"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="organizations"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        ADMIN = "admin", _("Administrator")
        MEMBER = "member", _("Member")
        COORDINATOR = "coordinator", _("Coordinator")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(_("role"), max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="membership_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.organization} ({self.role})"


class WorkerProfile(models.Model):
    class Status(models.TextChoices):
        INVITED = "invited", _("Invited")  # enrolled by a centre, not yet set up
        APPLIED = "applied", _("Applied")
        VETTED = "vetted", _("Vetted")
        REJECTED = "rejected", _("Rejected")
        SUSPENDED = "suspended", _("Suspended")
        BANNED = "banned", _("Banned")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="worker_profile"
    )
    display_name = models.CharField(_("display name"), max_length=100)
    country = CountryField(_("country"), blank=True)
    languages = models.JSONField(_("languages"), default=list, blank=True)  # ISO 639-1 codes
    centre = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="cohort",
        limit_choices_to={"kind": Organization.Kind.CENTRE},
        verbose_name=_("partner centre"),
    )
    eligibility = models.JSONField(_("eligibility"), default=list, blank=True)
    # Skills the worker was trained in (slugs such as "khmer-handwriting"), set by
    # admins or their centre; task sets may require one.
    skills = models.JSONField(_("skills"), default=list, blank=True)
    terms_version = models.CharField(max_length=20, blank=True)
    consented_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.APPLIED
    )
    status_reason = models.TextField(_("reason"), blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    enrolled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "applied_at"], name="worker_status_applied"),
            models.Index(fields=["centre", "status"], name="worker_centre_status"),
            models.Index(fields=["country", "status"], name="worker_country_status"),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def can_work(self) -> bool:
        return self.status == self.Status.VETTED

    def eligibility_labels(self) -> list[str]:
        labels = dict(ELIGIBILITY_CHOICES)
        return [str(labels.get(code, code)) for code in self.eligibility]

    def clean(self) -> None:
        unknown = set(self.eligibility) - dict(ELIGIBILITY_CHOICES).keys()
        if unknown:
            raise ValidationError({"eligibility": _("Unknown eligibility facts.")})
        if self.centre_id and self.centre.kind != Organization.Kind.CENTRE:
            raise ValidationError({"centre": _("Choose a partner centre.")})


class SetupCode(models.Model):
    """A one-time way in for an enrolled worker who may have no email: a short code
    typed with the username, or a link. Only hashes are stored."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="setup_codes"
    )
    code_hash = models.CharField(max_length=64)
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "used_at"], name="setupcode_user_used")]

    def __str__(self) -> str:
        return f"set-up code for {self.user}"


class Notification(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    # In English, for the admin and for rows older than the msgids below.
    subject = models.CharField(max_length=200)
    body = models.TextField()
    # The message untranslated (gettext msgids) and its parameters, so that every reader
    # sees it in the language of the page, socket or e-mail they read it in, not the one
    # active when it was sent (marketplace.notifications renders them).
    subject_msgid = models.CharField(max_length=200, blank=True)
    body_msgid = models.TextField(blank=True)
    params = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="notification_user_recent")]

    def __str__(self) -> str:
        return self.subject


class WorkerPresence(models.Model):
    """Where and on what a worker was working: one row per work socket, or per spell of
    HTTP work on one device and address. The fraud signals read these for duplicate
    accounts (one device behind several accounts) and impossible activity (one account
    in two places at once); a centre's own address ranges never count against it."""

    class Channel(models.TextChoices):
        SOCKET = "socket", "WebSocket"
        HTTP = "http", "Web page"

    worker = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="presences"
    )
    # A random id in a long-lived cookie (marketplace.middleware.DeviceCookieMiddleware):
    # it names a browser on a phone, nothing about the person.
    device_id = models.CharField(max_length=32, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["worker", "-last_seen_at"], name="presence_worker_recent"),
            models.Index(fields=["device_id"], name="presence_device"),
            models.Index(fields=["last_seen_at"], name="presence_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.worker_id} on {self.device_id or '?'} from {self.ip_address}"


class AuditLogQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise ValidationError("The audit log is append-only.")

    def delete(self):
        raise ValidationError("The audit log is append-only.")


class AuditLog(models.Model):
    """Append-only record of every decision: enforced here, in the admin (read-only),
    and on PostgreSQL by a trigger that refuses UPDATE and DELETE."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    actor_label = models.CharField(max_length=150)  # kept as text so the row reads alone
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=64)
    target_id = models.CharField(max_length=64)
    target_label = models.CharField(max_length=200)
    reason = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = AuditLogQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["target_type", "target_id"], name="audit_target")]

    def __str__(self) -> str:
        return (
            f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.target_label}"
        )

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValidationError("The audit log is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError("The audit log is append-only.")


class ApiKey(models.Model):
    """An organization's key for the REST API. Shown once; only a hash is stored. The
    key acts as the member who created it, and only while they remain a member."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(max_length=12, unique=True)  # shown in lists to tell keys apart
    key_hash = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_keys"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
