"""Stripe Connect's webhook handlers (listed in payouts.webhooks.HANDLER_MODULES).
Each runs once per event id, in the transaction that marks the event processed; a
handler that raises is retried by Stripe with everything it did rolled back.

account.updated   the destination follows the account (payouts/connect_onboarding.py).
transfer.reversed the reversed part of a line's transfer goes back to the worker's
                  available balance, in a visible entry (payouts/connect.py).
payout.failed     on a connected account (the event names it): Stripe could not pay
                  the worker's bank, and the money sits in their Stripe balance. We
                  reverse the transfer it came from (the account's most recent paid
                  line of that amount) and return the money as for transfer.reversed,
                  so the next run pays it again, by whatever rail the worker has then.
                  Unmatched (a payout carrying several transfers): left for staff, in
                  the event's outcome and the error log. A payout of our own platform
                  account (no `account`) is not a worker's and is ignored."""

from payouts.connect import return_reversed_transfer, reverse_for_failed_payout
from payouts.connect_onboarding import sync_account
from payouts.stripe_models import StripeEvent
from payouts.webhooks import handles


@handles("account.updated")
def handle_account_updated(event: StripeEvent) -> str:
    account = event.payload["data"]["object"]
    destination = sync_account(account)
    if destination is None:
        return f"ignored: no worker holds account {account.get('id')}"
    return f"destination of worker {destination.worker_id}: {destination.rail} {destination.status}"


@handles("transfer.reversed")
def handle_transfer_reversed(event: StripeEvent) -> str:
    return return_reversed_transfer(transfer=event.payload["data"]["object"])


@handles("payout.failed")
def handle_payout_failed(event: StripeEvent) -> str:
    account_id = event.payload.get("account")
    payout = event.payload["data"]["object"]
    if not account_id:
        return f"ignored: payout {payout.get('id')} is the platform's own"
    return reverse_for_failed_payout(account_id=account_id, payout=payout)
