"""View guards. Anonymous users go to the login page; signed-in users without the
role get 403, so nobody learns what lies behind a page that is not theirs."""

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _

from marketplace.models import Membership, Organization
from marketplace.selectors import has_verified_email, requester_organizations


def staff_required(view):
    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_staff:
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def requester_required(view):
    """A member of a requester organization whose email address is verified."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not requester_organizations(request.user).exists():
            raise PermissionDenied
        if not has_verified_email(request.user):
            messages.warning(
                request, _("Please verify your email address before using the requester pages.")
            )
            return redirect("account_email")
        return view(request, *args, **kwargs)

    return wrapper


def coordinator_required(view):
    """The centre named by the URL's slug, for its coordinators only; passed as `centre`."""

    @login_required
    @wraps(view)
    def wrapper(request, slug, *args, **kwargs):
        centre = get_object_or_404(Organization, slug=slug, kind=Organization.Kind.CENTRE)
        if not Membership.objects.filter(
            organization=centre, user=request.user, role=Membership.Role.COORDINATOR
        ).exists():
            raise PermissionDenied
        return view(request, centre, *args, **kwargs)

    return wrapper
