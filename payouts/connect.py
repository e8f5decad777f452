"""The Stripe Connect rail: one Transfer per payout line, from the platform's Stripe
balance to the worker's Express account (onboarding: payouts/connect_onboarding.py).

A Transfer is final when Stripe accepts it: the money is in the worker's Stripe
balance, and Stripe pays it on to their bank on the account's own payout schedule.
So an accepted transfer is a *paid* line (in transit -> paid out) and a refused one a
*failed* line (back to the worker's available balance, in a visible entry).

No double payment: the line's idempotency key goes with the Transfer. A re-run after a
crash between Stripe's answer and our commit sends the same key, and Stripe replays
its first answer instead of transferring again. When Stripe cannot be reached (or
answers 5xx after stripe-python's retries) we cannot know whether it transferred, so
`pay` raises: the line stays pending and the next run asks again with the same key.

Money coming back (transfer.reversed, payout.failed) is `return_reversed_transfer`:
one entry per amount Stripe reports reversed, keyed by that cumulative amount, so a
replayed or repeated event returns nothing twice."""

from __future__ import annotations

import logging
from typing import Any

import stripe
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from marketplace.models import User
from payouts import rails, stripe_api
from payouts.earnings import worker_account
from payouts.models import JournalLine, LedgerAccount, PayoutDestination, PayoutLine, PayoutRun
from payouts.runs import mark_line_failed
from payouts.services import get_account, post_entry

logger = logging.getLogger(__name__)

Kind = LedgerAccount.Kind
LineStatus = PayoutLine.Status
RAIL = PayoutDestination.Rail.STRIPE_CONNECT

# Stripe answered, and the answer is no: nothing was transferred, so the line fails and
# its money goes back. Anything else (no answer, 5xx, a bad key) leaves it pending.
REFUSALS = (stripe.InvalidRequestError, stripe.CardError, stripe.PermissionError)


class ReversalNotSettled(Exception):
    """A transfer was partly reversed before its line was recorded: Stripe retries the
    event, and by then the run has recorded the line."""


def transfer_group(run_id: int) -> str:
    return f"run-{run_id}"


def _line_metadata(line: PayoutLine) -> dict[str, str]:
    return {
        "payout_line": str(line.pk),
        "payout_run": str(line.run_id),
        "worker": str(line.worker_id),
    }


def _result(transfer: Any) -> rails.RailResult:
    """What a Stripe transfer means for its line: paid, or failed once fully reversed."""
    if transfer["amount_reversed"] and transfer["amount_reversed"] >= transfer["amount"]:
        return rails.RailResult(transfer["id"], "failed", "reversed at Stripe")
    return rails.RailResult(transfer["id"], "paid")


class StripeConnectRail:
    name = RAIL

    def minimum_minor(self, currency: str) -> int | None:
        return rails.configured_minimum(self.name, currency)

    def is_payable(self, worker: User) -> bool:
        return (
            PayoutDestination.objects.filter(
                worker=worker, rail=self.name, status=PayoutDestination.Status.ACTIVE
            )
            .exclude(stripe_account_id="")
            .exists()
        )

    def pay(self, line: PayoutLine) -> rails.RailResult:
        if not line.destination_account:
            return rails.RailResult("", "failed", "no Stripe account on the payout line")
        try:
            transfer = stripe_api.client().v1.transfers.create(
                params={
                    "amount": line.amount_minor,
                    "currency": line.currency.lower(),
                    "destination": line.destination_account,
                    "transfer_group": transfer_group(line.run_id),
                    "description": f"Payout line {line.pk}",
                    "metadata": _line_metadata(line),
                },
                options={"idempotency_key": line.idempotency_key},
            )
        except REFUSALS as exc:
            # Kept by Stripe under the key too: a re-send gets the same refusal.
            reason = stripe_api.error_text(exc)
            logger.warning("Stripe refused the transfer for payout line %s: %s", line.pk, reason)
            return rails.RailResult("", "failed", f"Stripe refused the transfer: {reason}")
        return _result(transfer)

    def lookup(self, line: PayoutLine) -> rails.RailResult | None:
        """Stripe's record of the line: its transfer by id, or found in the run's
        transfer group by the line id in its metadata. No transfer: "failed" with no
        id, which matches a line Stripe refused and flags a line we think was sent."""
        api = stripe_api.client().v1.transfers
        if line.external_id:
            try:
                return _result(api.retrieve(line.external_id))
            except stripe.InvalidRequestError:
                return rails.RailResult("", "failed", "no such transfer at Stripe")
        listing = api.list(params={"transfer_group": transfer_group(line.run_id), "limit": 100})
        for transfer in listing.auto_paging_iter():
            if (transfer.to_dict().get("metadata") or {}).get("payout_line") == str(line.pk):
                return _result(transfer)
        return rails.RailResult("", "failed", "no transfer at Stripe")

    def finish_run(self, run: PayoutRun) -> None:
        pass  # every line was its own transfer; nothing to hand over


rails.register(StripeConnectRail())


# --- Money coming back ------------------------------------------------------------


def _line_for_transfer(transfer: dict) -> PayoutLine | None:
    """The line a transfer paid, locked: by the line id we put in its metadata, or by
    its id (a transfer made by hand in the dashboard has no metadata)."""
    lines = PayoutLine.objects.select_for_update().filter(rail=RAIL)
    line_id = (transfer.get("metadata") or {}).get("payout_line", "")
    if line_id.isdigit():
        line = lines.filter(
            pk=int(line_id), destination_account=transfer.get("destination")
        ).first()
        if line is not None:
            return line
    return lines.filter(external_id=transfer["id"]).first()


def _returned_minor(line: PayoutLine) -> int:
    """What reversals of the line's transfer have given back to the worker so far."""
    total = JournalLine.objects.filter(
        entry__idempotency_key__startswith=f"payout-reversed:{line.pk}:",
        account__kind=Kind.WORKER_AVAILABLE,
    ).aggregate(total=Sum("amount_minor"))["total"]
    return total or 0


def return_reversed_transfer(*, transfer: dict, why: str = "") -> str:
    """Give the worker back what Stripe reports reversed on the line's transfer.

    A paid line: paid out -> the worker's available balance, for the part not yet
    returned (`amount_reversed` is cumulative, so events in any order, replayed or
    repeated, return each minor unit once); fully reversed, the line becomes failed,
    which the worker's page shows as "back in your balance", and the next run pays it
    again. A line not yet recorded as paid (a crash left it pending) and now fully
    reversed fails the ordinary way (in transit -> available)."""
    with transaction.atomic():
        # The line's row lock orders us after a sender still recording this line.
        line = _line_for_transfer(transfer)
        if line is None:
            return f"ignored: no Connect payout line for transfer {transfer['id']}"
        reversed_minor = min(transfer.get("amount_reversed") or 0, line.amount_minor)
        fully = reversed_minor >= line.amount_minor
        reason = f"reversed at Stripe ({transfer['id']}){why}"
        if line.status == LineStatus.FAILED:
            return f"payout line {line.pk} already failed; nothing more to return"
        if line.status in (LineStatus.PENDING, LineStatus.SENT):
            if not fully:
                raise ReversalNotSettled(f"payout line {line.pk} is {line.status}")
            if not line.external_id:
                line.external_id = transfer["id"]
                line.save(update_fields=["external_id"])
            mark_line_failed(line_id=line.pk, reason=reason)
            return f"payout line {line.pk} reversed: {line.amount_minor} back to available"
        owed = reversed_minor - _returned_minor(line)
        if owed <= 0:
            return f"payout line {line.pk}: reversal already returned"
        post_entry(
            kind="payout.reversed",
            memo=f"Payout line {line.pk} {reason}: back to the available balance",
            lines=[
                (get_account(kind=Kind.PAID_OUT, currency=line.currency, reference=RAIL), -owed),
                (
                    worker_account(
                        kind=Kind.WORKER_AVAILABLE, worker_id=line.worker_id, currency=line.currency
                    ),
                    owed,
                ),
            ],
            idempotency_key=f"payout-reversed:{line.pk}:{reversed_minor}",
        )
        if fully:
            line.status = LineStatus.FAILED
            line.failure_reason = reason[:300]
            line.settled_at = timezone.now()
            line.save(update_fields=["status", "failure_reason", "settled_at"])
        else:
            # The line stays paid for the rest; reconcile shows the partial reversal
            # (paid out no longer equals the paid lines) for staff to look at.
            logger.warning(
                "payout line %s partly reversed (%s of %s)",
                line.pk,
                reversed_minor,
                line.amount_minor,
            )
        return f"payout line {line.pk}: {owed} returned to available"


def reverse_for_failed_payout(*, account_id: str, payout: dict) -> str:
    """A payout from a worker's Stripe balance to their bank failed: Stripe put the
    money back in that balance. Find the one transfer it carried (the most recent paid
    line to that account of exactly that amount and currency), reverse it at Stripe
    (idempotency key per payout) and return the money to the worker's available balance
    here. A payout that matches no line (it carried several transfers, or none of
    ours) is left for staff: outcome and log say so."""
    payout_id = payout.get("id") or ""
    amount, currency = payout.get("amount"), (payout.get("currency") or "").upper()
    why = f" after payout {payout_id} to the bank failed"
    if PayoutLine.objects.filter(rail=RAIL, failure_reason__endswith=why).exists():
        # Another event about the same payout: its transfer was reversed already.
        return f"payout {payout_id} already handled"
    candidates = PayoutLine.objects.filter(
        rail=RAIL,
        destination_account=account_id,
        status=LineStatus.PAID,
        amount_minor=amount,
        currency=currency,
    ).order_by("-settled_at", "-pk")
    line = candidates.first()
    if line is None or not line.external_id:
        logger.error(
            "payout.failed %s on %s: no paid line of %s %s", payout_id, account_id, amount, currency
        )
        return f"payout {payout_id} failed on {account_id}: no matching paid line; left for staff"
    api = stripe_api.client().v1.transfers
    try:
        api.reversals.create(
            line.external_id,
            params={"metadata": {"payout_line": str(line.pk), "failed_payout": payout_id}},
            options={"idempotency_key": f"payout-failed-reversal:{payout_id}"},
        )
    except stripe.IdempotencyError:
        # Another event about the same payout already reversed a transfer for it.
        return f"payout {payout_id} already handled"
    except stripe.InvalidRequestError as exc:
        # Already reversed (then transfer.reversed returned it), or the worker's Stripe
        # balance no longer holds it: nothing to take back automatically.
        logger.error("payout.failed %s: could not reverse %s: %s", payout_id, line.external_id, exc)
        detail = stripe_api.error_text(exc)
        return f"payout {payout_id} failed: transfer {line.external_id} not reversed ({detail})"
    transfer = api.retrieve(line.external_id).to_dict()
    return return_reversed_transfer(transfer=transfer, why=why)
