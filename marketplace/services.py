"""Writes for the accounts domain. Each public function owns its transaction."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from marketplace import login_throttle
from marketplace.events import send_to_user_on_commit
from marketplace.models import (
    ApiKey,
    AuditLog,
    Membership,
    Notification,
    Organization,
    SetupCode,
    User,
    WorkerProfile,
)
from marketplace.notifications import render_message

Status = WorkerProfile.Status


# --- Audit and notifications -------------------------------------------------------


def record_audit(
    *, actor: User | None, action: str, target, reason: str = "", data: dict | None = None
) -> AuditLog:
    return AuditLog.objects.create(
        actor=actor,
        actor_label=actor.username if actor else "system",
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        target_label=str(target)[:200],
        reason=reason,
        data=data or {},
    )


def notify(*, user: User, subject: str, body: str, params: dict | None = None) -> Notification:
    """Store a notification, push it to the user's open sockets and email it if the
    user has an address, all after commit. subject and body are untranslated msgids
    (mark them with gettext_noop) whose %(name)s placeholders come from params (plain
    JSON values; a "skill" is a skill key): each reader gets them in their own language."""
    from marketplace.tasks import email_notification

    params = params or {}
    with translation.override(settings.LANGUAGE_CODE):
        # The English text, for the admin and anything that reads the row directly.
        subject_text, body_text = render_message(subject, body, params)
    notification = Notification.objects.create(
        user=user,
        subject=subject_text[:200],
        body=body_text,
        subject_msgid=subject,
        body_msgid=body,
        params=params,
    )
    profile = getattr(user, "worker_profile", None)
    send_to_user_on_commit(
        user.pk,
        {
            "type": "notification",
            "id": notification.pk,
            # Translated by each socket in its own page's language (marketplace.consumers).
            "subject": subject,
            "body": body,
            "params": params,
            "worker_status": profile.status if profile else None,
        },
    )
    if user.email:
        # robust: a broker (or, run in-process, a mail server) that fails after commit is
        # logged; the notification is stored and the request that made it succeeds.
        transaction.on_commit(lambda: email_notification.delay(notification.pk), robust=True)
    return notification


# --- Organizations -------------------------------------------------------------------


def unique_slug(name: str) -> str:
    base = slugify(name)[:60] or "org"
    slug, n = base, 1
    while Organization.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def create_organization(*, name: str, kind: str, owner: User, country: str = "") -> Organization:
    organization = Organization.objects.create(
        name=name, slug=unique_slug(name), kind=kind, country=country
    )
    role = (
        Membership.Role.COORDINATOR if kind == Organization.Kind.CENTRE else Membership.Role.ADMIN
    )
    Membership.objects.create(user=owner, organization=organization, role=role)
    record_audit(actor=owner, action="organization.create", target=organization)
    return organization


@transaction.atomic
def add_member(*, organization: Organization, actor: User, user: User, role: str) -> Membership:
    if not Membership.objects.filter(
        organization=organization,
        user=actor,
        role__in=[Membership.Role.ADMIN, Membership.Role.COORDINATOR],
    ).exists():
        raise PermissionDenied(_("Only an organization's administrators may add members."))
    if role == Membership.Role.COORDINATOR and organization.kind != Organization.Kind.CENTRE:
        raise ValidationError(_("Only partner centres have coordinators."))
    membership, created = Membership.objects.get_or_create(
        organization=organization, user=user, defaults={"role": role}
    )
    if not created:
        raise ValidationError(_("%(user)s is already a member.") % {"user": user.username})
    record_audit(
        actor=actor, action="organization.add_member", target=organization, data={"user": user.pk}
    )
    return membership


# --- Worker applications -----------------------------------------------------------


@dataclass(frozen=True)
class ApplicationInput:
    display_name: str
    country: str
    languages: list[str]
    centre: Organization | None
    eligibility: list[str]
    consent: bool


def submit_application(*, user: User, application: ApplicationInput) -> WorkerProfile:
    """Create or update the worker's application. Editable until an admin decides;
    a rejected worker may apply again."""
    if not application.consent:
        raise ValidationError({"consent": _("You must accept the terms to apply.")})
    try:
        return _submit_application(user=user, application=application)
    except IntegrityError:
        # Belt and braces behind the user-row lock: a concurrent first submission
        # created the profile; ours is then an update of it.
        return _submit_application(user=user, application=application)


@transaction.atomic
def _submit_application(*, user: User, application: ApplicationInput) -> WorkerProfile:
    # Lock the user row: on a first submission there is no profile row to lock yet, and
    # two racing first submissions would both insert one.
    User.objects.select_for_update().get(pk=user.pk)
    profile = WorkerProfile.objects.select_for_update().filter(user=user).first()
    if profile is None:
        profile = WorkerProfile(user=user)
    elif profile.status not in (Status.INVITED, Status.APPLIED, Status.REJECTED):
        raise ValidationError(_("Your application has already been decided."))
    previous_status = profile.status if profile.pk else None
    now = timezone.now()
    profile.display_name = application.display_name
    profile.country = application.country
    profile.languages = application.languages
    # A centre that enrolled the worker stays theirs; a self-declared centre is only a
    # claim, shown to admins as such and never part of a bulk cohort approval.
    if not profile.enrolled_by_id:
        profile.centre = application.centre
    profile.eligibility = application.eligibility
    profile.terms_version = settings.TERMS_VERSION
    profile.consented_at = now
    if profile.status != Status.APPLIED or previous_status is None:
        profile.status = Status.APPLIED
        profile.status_reason = ""
        profile.status_changed_at = now
        profile.applied_at = now
    profile.full_clean()
    profile.save()
    record_audit(
        actor=user,
        action="application.submit" if previous_status != Status.APPLIED else "application.update",
        target=profile,
        data={"previous_status": previous_status},
    )
    return profile


# --- Vetting decisions ---------------------------------------------------------------

# action -> (statuses it may start from, status it leads to)
DECISIONS: dict[str, tuple[frozenset[str], str]] = {
    "approve": (frozenset({Status.APPLIED, Status.REJECTED, Status.SUSPENDED}), Status.VETTED),
    "reject": (frozenset({Status.APPLIED}), Status.REJECTED),
    "suspend": (frozenset({Status.VETTED}), Status.SUSPENDED),
    "ban": (frozenset({Status.VETTED, Status.SUSPENDED}), Status.BANNED),
    # Undoing a suspension or ban that turned out wrong (a dismissed fraud flag).
    "reinstate": (frozenset({Status.SUSPENDED, Status.BANNED}), Status.VETTED),
}

# Untranslated: notify() translates them for each reader.
_DECISION_MESSAGES = {
    "reinstate": (
        gettext_noop("You can work again"),
        gettext_noop(
            "An admin reviewed your account and lifted the restriction; your answers "
            "and earnings are as they were. Note: %(reason)s"
        ),
    ),
    Status.VETTED: (
        gettext_noop("You are approved to work"),
        gettext_noop("Your application was approved. You can now start work. Note: %(reason)s"),
    ),
    Status.REJECTED: (
        gettext_noop("Your application was not approved"),
        gettext_noop("Your application was not approved. Reason: %(reason)s"),
    ),
    Status.SUSPENDED: (
        gettext_noop("Your account is suspended"),
        gettext_noop("Your account is suspended. Reason: %(reason)s"),
    ),
    Status.BANNED: (
        gettext_noop("Your account is closed"),
        gettext_noop("Your account is closed. Reason: %(reason)s"),
    ),
}


def _require_staff(actor: User) -> None:
    if not (actor.is_active and actor.is_staff):
        raise PermissionDenied(_("Only admins may decide applications."))


def _decide_locked(
    *, profile: WorkerProfile, actor: User, action: str, reason: str, data: dict | None = None
) -> WorkerProfile:
    allowed_from, new_status = DECISIONS[action]
    if profile.status not in allowed_from:
        raise ValidationError(
            _("Cannot %(action)s a worker whose status is %(status)s.")
            % {"action": action, "status": profile.get_status_display()}
        )
    previous_status = profile.status
    profile.status = new_status
    profile.status_reason = reason
    profile.status_changed_at = timezone.now()
    profile.save(update_fields=["status", "status_reason", "status_changed_at"])
    record_audit(
        actor=actor,
        action=f"worker.{action}",
        target=profile,
        reason=reason,
        data={"from": previous_status, "to": new_status, **(data or {})},
    )
    if new_status in (Status.SUSPENDED, Status.BANNED):
        _stop_work_at_once(profile.user)
    subject, body = _DECISION_MESSAGES["reinstate" if action == "reinstate" else new_status]
    notify(user=profile.user, subject=subject, body=body, params={"reason": reason})
    return profile


def _stop_work_at_once(worker: User) -> None:
    """A suspended or banned worker's claims go back to the pool and their open work
    sockets close, in the decision's transaction (messages after commit)."""
    from tasks import events as work_events  # tasks imports this module
    from tasks.models import Assignment
    from tasks.work import withdraw_claims

    withdraw_claims(
        assignments=Assignment.objects.filter(worker=worker),
        reason=Assignment.ReleaseReason.WORKER_SUSPENDED,
    )
    work_events.close_work_sockets_on_commit(worker_id=worker.pk, reason="suspended")


def decide_application(*, profile_id: int, actor: User, action: str, reason: str) -> WorkerProfile:
    """Approve, reject, suspend or ban one worker. A reason is always required: the
    worker reads it, and the audit log keeps it."""
    _require_staff(actor)
    if action not in DECISIONS:
        raise ValidationError(_("Unknown decision."))
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": _("A reason is required.")})
    with transaction.atomic():
        # Row lock: two admins deciding at once must not both act on the old status.
        profile = (
            WorkerProfile.objects.select_for_update().select_related("user").get(pk=profile_id)
        )
        return _decide_locked(profile=profile, actor=actor, action=action, reason=reason)


@transaction.atomic
def approve_cohort(
    *, centre: Organization, actor: User, reason: str, profile_ids: list[int] | None = None
) -> list[WorkerProfile]:
    """Approve every applied worker the centre enrolled (or the chosen ones among them)."""
    _require_staff(actor)
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": _("A reason is required.")})
    # Only workers the centre itself enrolled: anyone can *claim* a centre when applying.
    queryset = (
        WorkerProfile.objects.select_for_update()
        .select_related("user")
        .filter(centre=centre, status=Status.APPLIED, enrolled_by__isnull=False)
    )
    if profile_ids is not None:
        queryset = queryset.filter(pk__in=profile_ids)
    # Fixed lock order (by id) so two overlapping bulk approvals cannot deadlock.
    profiles = list(queryset.order_by("pk"))
    for profile in profiles:
        _decide_locked(
            profile=profile,
            actor=actor,
            action="approve",
            reason=reason,
            data={"bulk_centre": centre.pk},
        )
    return profiles


# --- Set-up codes for enrolled workers -----------------------------------------------

_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: typed from paper


def _digest(value: str) -> str:
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def normalise_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


@dataclass(frozen=True)
class IssuedSetupCode:
    user: User
    code: str  # shown once, as XXXX-XXXX
    token: str  # for the link /setup/<token>/


def issue_setup_code(*, user: User, created_by: User | None) -> IssuedSetupCode:
    """Issue a fresh code and link; any earlier unused one stops working."""
    raw_code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(8))
    token = secrets.token_urlsafe(24)
    now = timezone.now()
    with transaction.atomic():
        # Lock the worker's profile row: two issues at once (a double-clicked "New set-up
        # code") would each revoke only the codes committed before them and leave two
        # valid codes. Serialised, the second revokes the first's.
        list(WorkerProfile.objects.select_for_update().filter(user=user).only("pk"))
        SetupCode.objects.filter(user=user, used_at__isnull=True, revoked_at__isnull=True).update(
            revoked_at=now
        )
        SetupCode.objects.create(
            user=user,
            code_hash=_digest(raw_code),
            token_hash=_digest(token),
            created_by=created_by,
            expires_at=now + timedelta(days=settings.SETUP_CODE_VALID_DAYS),
        )
    return IssuedSetupCode(user=user, code=f"{raw_code[:4]}-{raw_code[4:]}", token=token)


def find_setup_code(*, username: str = "", code: str = "", token: str = "") -> SetupCode | None:
    live = SetupCode.objects.select_related("user").filter(
        used_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
    )
    if token:
        return live.filter(token_hash=_digest(token)).first()
    normalised = normalise_code(code)
    if not username or len(normalised) != 8:
        return None
    return live.filter(user__username__iexact=username, code_hash=_digest(normalised)).first()


@transaction.atomic
def redeem_setup_code(*, setup_code: SetupCode, password: str) -> User:
    # Conditional update: of two redemptions racing with one code, exactly one wins.
    claimed = SetupCode.objects.filter(
        pk=setup_code.pk, used_at__isnull=True, revoked_at__isnull=True
    ).update(used_at=timezone.now())
    if claimed != 1:
        raise ValidationError(_("This set-up code has already been used."))
    user = setup_code.user
    user.set_password(password)
    user.save(update_fields=["password"])
    record_audit(actor=user, action="setup_code.redeem", target=user)
    return user


# --- Sign-in throttle ---------------------------------------------------------------------


def _may_unlock_sign_in(actor: User, profile: WorkerProfile) -> bool:
    if actor.is_active and actor.is_staff:
        return True
    # A coordinator, for the workers their centre enrolled (as centre_cohort): a worker
    # who merely named the centre when applying is not the centre's to manage.
    return (
        actor.is_active
        and profile.enrolled_by_id is not None
        and Membership.objects.filter(
            organization_id=profile.centre_id, user=actor, role=Membership.Role.COORDINATOR
        ).exists()
    )


@transaction.atomic
def unlock_sign_in(*, profile: WorkerProfile, actor: User) -> None:
    """Let a worker try their password (and set-up code) again at once, from every
    address: clears the growing delays their failed attempts built up."""
    if not _may_unlock_sign_in(actor, profile):
        raise PermissionDenied(_("Only staff or the worker's centre may unlock their sign-in."))
    user = profile.user
    logins = {user.username, user.email, *user.emailaddress_set.values_list("email", flat=True)}
    record_audit(actor=actor, action="worker.unlock_sign_in", target=profile)

    def forget() -> None:
        login_throttle.forget_logins(logins)
        login_throttle.forget_setup_code_guesses(user.username)

    # The counts live in the cache, outside the transaction: cleared once the audit row
    # is committed, so no unlock goes unrecorded. Clearing twice is harmless.
    transaction.on_commit(forget)


# --- API keys ----------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedApiKey:
    key: ApiKey
    secret: str  # the whole key, shown once


def create_api_key(*, organization: Organization, actor: User, name: str) -> IssuedApiKey:
    if (
        not Membership.objects.filter(
            organization=organization,
            user=actor,
            role__in=[Membership.Role.ADMIN, Membership.Role.MEMBER],
        ).exists()
        or organization.kind != Organization.Kind.REQUESTER
    ):
        raise PermissionDenied(_("Only members of a requester organization may create its keys."))
    name = name.strip()
    if not name:
        raise ValidationError(
            {"name": _("Name the key, for example after the script that uses it.")}
        )
    prefix = secrets.token_hex(4)
    secret = f"mk_{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        key = ApiKey.objects.create(
            organization=organization,
            name=name,
            prefix=prefix,
            key_hash=_digest(secret),
            created_by=actor,
        )
        record_audit(
            actor=actor, action="api_key.create", target=organization, data={"prefix": prefix}
        )
    return IssuedApiKey(key=key, secret=secret)


def revoke_api_key(*, key_id: int, actor: User) -> None:
    with transaction.atomic():
        key = ApiKey.objects.select_for_update().select_related("organization").get(pk=key_id)
        if not Membership.objects.filter(organization=key.organization, user=actor).exists():
            raise PermissionDenied(_("Only members of the organization may revoke its keys."))
        if key.revoked_at is None:
            key.revoked_at = timezone.now()
            key.save(update_fields=["revoked_at"])
            record_audit(
                actor=actor,
                action="api_key.revoke",
                target=key.organization,
                data={"prefix": key.prefix},
            )


def authenticate_api_key(secret: str):
    """The live key this secret belongs to, or None. Constant-time comparison."""
    parts = secret.split("_")
    if len(parts) < 3 or parts[0] != "mk":
        return None
    key = (
        ApiKey.objects.select_related("organization", "created_by")
        .filter(prefix=parts[1], revoked_at__isnull=True)
        .first()
    )
    if key is None or not hmac.compare_digest(key.key_hash, _digest(secret)):
        return None
    # The key acts as its creator: a deactivated account must not keep acting by script.
    if not key.created_by.is_active:
        return None
    if not Membership.objects.filter(organization=key.organization, user=key.created_by).exists():
        return None
    now = timezone.now()
    # Record use at most once a minute: a busy script must not turn reads into writes.
    if key.last_used_at is None or now - key.last_used_at > timedelta(minutes=1):
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key
