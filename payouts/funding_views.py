"""Requester pages: top up a balance through Stripe Checkout, follow the payment,
refund unspent balance to card. The webhook view is in payouts/webhooks.py."""

import uuid

from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from marketplace.permissions import requester_required
from marketplace.selectors import requester_organizations
from payouts import stripe_api
from payouts.currency import format_amount
from payouts.funding import FundingUnavailable, start_funding
from payouts.funding_forms import FundForm, RefundForm
from payouts.refunds import refund_error, refundable_minor, request_refund
from payouts.selectors import organization_balances
from payouts.services import InsufficientFunds
from payouts.stripe_models import FundingSession, Refund

# The status page reloads itself this often (seconds) until Stripe has confirmed.
STATUS_REFRESH_SECONDS = 3


@requester_required
def fund(request):
    configured = stripe_api.is_configured()
    form = FundForm(
        request.user,
        request.POST or None,
        initial={"organization": request.GET.get("organization")},
    )
    if request.method == "POST" and configured and form.is_valid():
        data = form.cleaned_data
        try:
            session = start_funding(
                organization=data["organization"],
                user=request.user,
                amount_minor=data["amount_minor"],
                currency=data["currency"],
                return_url=lambda pk: request.build_absolute_uri(
                    reverse("funding_status", args=[pk])
                ),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        except FundingUnavailable as exc:
            form.add_error(None, str(exc))
        else:
            # Off to Stripe's hosted page; the balance moves only when its webhook arrives.
            return HttpResponseRedirect(session.checkout_url)
    return render(
        request,
        "payouts/funding_start.html",
        {"form": form, "configured": configured},
        status=400 if request.method == "POST" else 200,
    )


@requester_required
def funding_status(request, pk: int):
    session = get_object_or_404(
        FundingSession.objects.select_related("organization"),
        pk=pk,
        organization__in=requester_organizations(request.user),
    )
    waiting = session.status == FundingSession.Status.OPEN
    cancelled = waiting and "cancelled" in request.GET
    return render(
        request,
        "payouts/funding_status.html",
        {
            "session": session,
            "amount": format_amount(session.amount_minor, session.currency),
            "waiting": waiting and not cancelled,
            "cancelled": cancelled,
            "refresh_seconds": STATUS_REFRESH_SECONDS,
        },
    )


@requester_required
def refund(request):
    configured = stripe_api.is_configured()
    form = RefundForm(
        request.user,
        request.POST or None,
        initial={"organization": request.GET.get("organization")},
    )
    if request.method == "POST" and configured and form.is_valid():
        data = form.cleaned_data
        submission = request.POST.get("submission_id", "")
        try:
            refund = request_refund(
                organization=data["organization"],
                user=request.user,
                amount_minor=data["amount_minor"],
                currency=data["currency"],
                idempotency_key=f"refund-form:{submission}" if submission else None,
            )
        except InsufficientFunds as exc:
            form.add_error(
                "amount",
                _("The balance is %(balance)s: you cannot refund more.")
                % {"balance": format_amount(exc.available_minor, data["currency"])},
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            return redirect("refund_status", pk=refund.pk)
    rows = [
        {
            "organization": organization,
            "currency": currency,
            "balance": format_amount(balance, currency),
            "refundable": format_amount(
                refundable_minor(organization=organization, currency=currency), currency
            ),
        }
        for organization in requester_organizations(request.user)
        for currency, balance in sorted(organization_balances(organization).items())
    ]
    return render(
        request,
        "payouts/funding_refund.html",
        {
            "form": form,
            "rows": rows,
            "configured": configured,
            "submission_id": uuid.uuid4().hex,
        },
        status=400 if request.method == "POST" else 200,
    )


@requester_required
def refund_status(request, pk: int):
    refund = get_object_or_404(
        Refund.objects.select_related("organization"),
        pk=pk,
        organization__in=requester_organizations(request.user),
    )
    return render(
        request,
        "payouts/funding_refund_status.html",
        {
            "refund": refund,
            "amount": format_amount(refund.amount_minor, refund.currency),
            "error": refund_error(refund),
        },
    )
