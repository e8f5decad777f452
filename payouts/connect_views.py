"""Worker pages for Stripe Connect onboarding: start (POST from the earnings page),
Stripe's refresh link (an expired onboarding link: make a new one) and the return
page, which shows where the set-up stands."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from marketplace.models import WorkerProfile
from payouts.connect_onboarding import (
    ConnectUnavailable,
    account_link_url,
    onboarding_state,
    refresh_from_stripe,
    start_onboarding,
)
from payouts.models import PayoutDestination


def _worker_only(request) -> None:
    if not WorkerProfile.objects.filter(user=request.user).exists():
        raise PermissionDenied


def _links(request) -> dict[str, str]:
    return {
        "refresh_url": request.build_absolute_uri(reverse("connect_refresh")),
        "return_url": request.build_absolute_uri(reverse("connect_return")),
    }


@login_required
@require_POST
def connect_start(request):
    _worker_only(request)
    try:
        url = start_onboarding(worker=request.user, **_links(request))
    except ConnectUnavailable as exc:
        messages.error(request, str(exc))
        return redirect("worker_earnings")
    return HttpResponseRedirect(url)  # Stripe's hosted onboarding


@login_required
def connect_refresh(request):
    """Stripe sends the worker here when an onboarding link expired or was used."""
    _worker_only(request)
    destination = PayoutDestination.objects.filter(worker=request.user).first()
    if destination is None or not destination.stripe_account_id:
        return redirect("worker_earnings")
    try:
        url = account_link_url(destination=destination, **_links(request))
    except ConnectUnavailable as exc:
        messages.error(request, str(exc))
        return redirect("worker_earnings")
    return HttpResponseRedirect(url)


@login_required
def connect_return(request):
    """Back from Stripe. Finishing the form does not mean Stripe is done checking:
    the page asks Stripe now, and account.updated keeps the status current later."""
    _worker_only(request)
    destination = PayoutDestination.objects.filter(worker=request.user).first()
    if destination is not None and destination.stripe_account_id:
        destination = refresh_from_stripe(destination)
    return render(
        request,
        "payouts/connect_return.html",
        {"destination": destination, "onboarding": onboarding_state(request.user, destination)},
    )
