import uuid

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from marketplace.permissions import staff_required
from payouts.currency import format_amount
from payouts.forms import CreditForm
from payouts.services import credit_organization


@staff_required
def credit_organization_view(request):
    """Credit an invoiced organization by hand. The form carries a one-time key so a
    double-submitted form credits once."""
    form = CreditForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            credit_organization(
                organization=data["organization"],
                amount_minor=data["amount_minor"],
                currency=data["currency"],
                actor=request.user,
                reason=data["reason"],
                idempotency_key=f"manual-credit:{request.POST.get('submission_id', '')}"
                if request.POST.get("submission_id")
                else None,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(
                request,
                _("Credited %(amount)s to %(org)s.")
                % {
                    "amount": format_amount(data["amount_minor"], data["currency"]),
                    "org": data["organization"],
                },
            )
            return redirect("staff_credit")
    return render(
        request,
        "payouts/credit.html",
        {"form": form, "submission_id": uuid.uuid4().hex},
        status=400 if request.method == "POST" else 200,
    )
