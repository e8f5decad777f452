"""Payout runs on the staff pages: the recent runs, and a button that starts one."""

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from marketplace.permissions import staff_required
from payouts.currency import format_amount
from payouts.models import PayoutRun
from payouts.runs import next_run_at, start_run_by_staff


@staff_required
def staff_payout_runs(request):
    if request.method == "POST":
        return _start(request)
    runs = list(PayoutRun.objects.select_related("created_by").order_by("-created_at")[:20])
    for run in runs:
        run.total = format_amount(run.total_minor, run.currency)
    return render(
        request,
        "payouts/staff_payout_runs.html",
        {
            "runs": runs,
            "next_run_at": next_run_at(),
            "minimums": [
                (rail, currency, format_amount(minimum, currency))
                for rail, by_currency in sorted(settings.PAYOUT_MINIMUMS_MINOR.items())
                for currency, minimum in sorted(by_currency.items())
            ],
        },
    )


def _start(request):
    # The checkbox is the confirmation: a run moves money out of workers' balances.
    if request.POST.get("confirm") != "yes":
        messages.error(request, _("Tick the box to confirm the run."))
        return redirect("staff_payout_runs")
    try:
        runs = start_run_by_staff(actor=request.user)
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, " ".join(getattr(exc, "messages", None) or [str(exc)]))
        return redirect("staff_payout_runs")
    for run in runs:
        messages.success(
            request,
            ngettext(
                "Run %(id)d (%(rail)s, %(currency)s): %(n)d line, %(total)s.",
                "Run %(id)d (%(rail)s, %(currency)s): %(n)d lines, %(total)s.",
                run.line_count,
            )
            % {
                "id": run.pk,
                "rail": run.rail,
                "currency": run.currency,
                "n": run.line_count,
                "total": format_amount(run.total_minor, run.currency),
            },
        )
    if not runs:
        messages.info(request, _("No rail has a payout minimum configured: nothing was run."))
    return redirect("staff_payout_runs")
