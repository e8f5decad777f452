"""Reads shared by pages and, later, the API."""

from allauth.account.models import EmailAddress
from django.db.models import QuerySet

from marketplace.models import Membership, Notification, Organization, User, WorkerProfile
from marketplace.notifications import ShownNotification, shown


def requester_organizations(user: User) -> QuerySet[Organization]:
    if not user.is_authenticated:
        return Organization.objects.none()
    return Organization.objects.filter(kind=Organization.Kind.REQUESTER, memberships__user=user)


def coordinated_centres(user: User) -> QuerySet[Organization]:
    if not user.is_authenticated:
        return Organization.objects.none()
    return Organization.objects.filter(
        kind=Organization.Kind.CENTRE,
        memberships__user=user,
        memberships__role=Membership.Role.COORDINATOR,
    )


def centre_cohort(centre: Organization) -> QuerySet[WorkerProfile]:
    """The workers a centre enrolled. Anybody may name a centre when applying; such a
    self-declared worker is not the centre's to see (nor their status reason)."""
    return (
        WorkerProfile.objects.filter(centre=centre, enrolled_by__isnull=False)
        .select_related("user")
        .order_by("display_name", "pk")
    )


def has_verified_email(user: User) -> bool:
    return EmailAddress.objects.filter(user=user, verified=True).exists()


def accounts_for_login(login: str) -> tuple[list[User], list[User]]:
    """Accounts a colleague's login could mean: (by verified email, by username).

    An email matches only an address its owner has verified: anybody can sign up with
    the *username* "alice@corp.com", or claim her address without proving it."""
    by_email: list[User] = []
    if "@" in login:
        by_email = list(
            User.objects.filter(
                emailaddress__email__iexact=login, emailaddress__verified=True
            ).distinct()
        )
    by_username = list(User.objects.filter(username__iexact=login))
    return by_email, by_username


def vetting_queue(
    *, status: str = "", country: str = "", centre: Organization | None = None
) -> QuerySet[WorkerProfile]:
    queryset = WorkerProfile.objects.select_related("user", "centre").order_by("applied_at", "pk")
    if status:
        queryset = queryset.filter(status=status)
    if country:
        queryset = queryset.filter(country=country)
    if centre is not None:
        queryset = queryset.filter(centre=centre)
    return queryset


def recent_notifications(user: User, limit: int = 20) -> list[ShownNotification]:
    """In the active language (the page's)."""
    return [shown(n) for n in Notification.objects.filter(user=user)[:limit]]
