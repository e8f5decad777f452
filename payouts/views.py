import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from marketplace import csvsafe
from marketplace.models import Organization, WorkerProfile
from marketplace.permissions import requester_required, staff_required
from marketplace.selectors import requester_organizations
from payouts import partner, selectors
from payouts.currency import format_amount, plain_amount
from payouts.forms import CreditForm
from payouts.models import PartnerBatch, PayoutDestination, PayoutLine
from payouts.runs import next_run_at
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


# --- Worker earnings, requester billing, centre payout files ---------------------


def _money(amount_minor: int | None, currency: str) -> str:
    return format_amount(amount_minor or 0, currency)


@login_required
def worker_earnings(request):
    """A worker's own money: pending (in the review hold), available, paid, failed;
    per-set breakdown, next payout date, how they are paid."""
    if not WorkerProfile.objects.filter(user=request.user).exists():
        raise PermissionDenied
    balances = selectors.worker_balances(request.user)
    payouts = selectors.worker_payout_totals(request.user)
    awaiting = selectors.worker_awaiting_review(request.user)
    currencies = sorted(set(balances) | set(payouts) | set(awaiting))
    summary = [
        {
            "currency": currency,
            "awaiting_answers": awaiting.get(currency, {}).get("answers", 0),
            "awaiting": _money(awaiting.get(currency, {}).get("amount"), currency),
            "pending": _money(balances.get(currency, {}).get("pending"), currency),
            "available": _money(balances.get(currency, {}).get("available"), currency),
            "in_transit": _money(
                sum(payouts.get(currency, {}).get(s, 0) for s in ("pending", "sent")), currency
            ),
            "paid": _money(payouts.get(currency, {}).get("paid"), currency),
            "failed": _money(payouts.get(currency, {}).get("failed"), currency),
        }
        for currency in currencies
    ]
    by_set = [
        {
            "title": row["task_set__title"],
            "answers": row["answers"],
            "pending": _money(row["pending"], row["currency"]),
            "available": _money(row["available"], row["currency"]),
        }
        for row in selectors.worker_earnings_by_set(request.user)[:50]
    ]
    lines = PayoutLine.objects.filter(worker=request.user).order_by("-created_at")[:20]
    destination = PayoutDestination.objects.filter(worker=request.user).first()
    return render(
        request,
        "payouts/worker_earnings.html",
        {
            "summary": summary,
            "by_set": by_set,
            "lines": [(line, _money(line.amount_minor, line.currency)) for line in lines],
            "destination": destination,
            "next_run_at": next_run_at(),
            "hold_days": settings.EARNINGS_HOLD_DAYS,
        },
    )


@requester_required
def requester_billing(request):
    rows = []
    for organization in requester_organizations(request.user).order_by("name"):
        billing = selectors.organization_billing(organization)
        rows.append(
            {
                "organization": organization,
                "currencies": [
                    {"currency": c, **{k: _money(v, c) for k, v in figures.items()}}
                    for c, figures in sorted(billing.items())
                ],
            }
        )
    return render(request, "payouts/requester_billing.html", {"rows": rows})


@requester_required
def requester_statement_csv(request, slug):
    organization = get_object_or_404(requester_organizations(request.user), slug=slug)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="statement-{organization.slug}.csv"'
    writer = csvsafe.writer(response)
    writer.writerow(
        ["date", "entry", "kind", "memo", "account", "amount", "currency", "amount_minor"]
    )
    for line in selectors.organization_statement_lines(organization).iterator(chunk_size=2000):
        writer.writerow(
            [
                line.entry.created_at.isoformat(),
                line.entry_id,
                line.entry.kind,
                line.entry.memo,
                line.account.get_kind_display()
                + (f" ({line.account.reference})" if line.account.reference else ""),
                plain_amount(line.amount_minor, line.currency),
                line.currency,
                line.amount_minor,
            ]
        )
    return response


@login_required
def centre_payouts(request, slug):
    centre = get_object_or_404(Organization, slug=slug, kind=Organization.Kind.CENTRE)
    if not partner.can_handle(request.user, centre):
        raise PermissionDenied
    status = 200
    if request.method == "POST":
        upload = request.FILES.get("return_file")
        batch = get_object_or_404(PartnerBatch, pk=request.POST.get("batch"), centre=centre)
        try:
            if upload is None:
                raise ValidationError(_("Choose the return file."))
            counts = partner.import_return_file(
                batch_id=batch.pk, data=upload.read(), actor=request.user
            )
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
            status = 400
        else:
            messages.success(
                request,
                _("Return file imported: %(paid)d paid, %(failed)d failed.") % counts,
            )
            return redirect("centre_payouts", slug=centre.slug)
    batches = PartnerBatch.objects.filter(centre=centre).select_related("run").order_by("-pk")[:50]
    return render(
        request,
        "payouts/centre_payouts.html",
        {
            "centre": centre,
            "batches": [(b, _money(b.total_minor, b.run.currency)) for b in batches],
        },
        status=status,
    )


@login_required
def centre_payout_file(request, slug, batch_id, which):
    centre = get_object_or_404(Organization, slug=slug, kind=Organization.Kind.CENTRE)
    if not partner.can_handle(request.user, centre):
        raise PermissionDenied
    batch = get_object_or_404(PartnerBatch, pk=batch_id, centre=centre)
    if which not in ("csv", "manifest"):
        raise Http404
    name = batch.csv_name if which == "csv" else batch.manifest_name
    return FileResponse(
        default_storage.open(name, "rb"),
        as_attachment=True,
        filename=name.rsplit("/", 1)[-1],
        content_type="text/csv" if which == "csv" else "text/plain",
    )
