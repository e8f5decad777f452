"""Payout rails behind one interface. A rail is chosen per worker (their
PayoutDestination), because Stripe's cross-border payouts reach some countries and
not others; unbanked workers are paid in cash or mobile money by their centre.

A rail implements `Rail` and registers itself by name. The Stripe Connect rail is
added by its own module (`register(StripeConnectRail())`)."""

from dataclasses import dataclass
from typing import Literal, Protocol

from django.conf import settings

from marketplace.models import User
from payouts.models import PayoutDestination, PayoutLine, PayoutRun

RailStatus = Literal["sent", "paid", "failed"]


@dataclass(frozen=True)
class RailResult:
    external_id: str
    status: RailStatus
    failure_reason: str = ""


class Rail(Protocol):
    name: str

    def minimum_minor(self, currency: str) -> int | None:
        """The smallest payout in this currency (minor units); None: not paid here."""

    def is_payable(self, worker: User) -> bool:
        """Whether the worker can be paid on this rail now (set up and active)."""

    def pay(self, line: PayoutLine) -> RailResult:
        """Send one line. MUST be idempotent on `line.idempotency_key`: called again
        for the same line (a re-run after a crash between this call and the commit
        that records its result), it returns the first result and pays nothing more."""

    def lookup(self, line: PayoutLine) -> RailResult | None:
        """What the rail itself reports for the line, by its idempotency key (for
        reconciliation); None when the rail keeps no record of its own."""

    def finish_run(self, run: PayoutRun) -> None:
        """After the run's lines were sent (e.g. write a partner centre's file)."""


_RAILS: dict[str, Rail] = {}


def register(rail: Rail) -> Rail:
    _RAILS[rail.name] = rail
    return rail


def get_rail(name: str) -> Rail:
    try:
        return _RAILS[name]
    except KeyError:
        raise LookupError(f"No payout rail named {name!r} (known: {sorted(_RAILS)}).") from None


def rail_names() -> list[str]:
    return sorted(_RAILS)


def configured_minimum(rail_name: str, currency: str) -> int | None:
    return settings.PAYOUT_MINIMUMS_MINOR.get(rail_name, {}).get(currency)


class PartnerCentreRail:
    """The worker's partner centre pays in cash or mobile money from a CSV per run
    (with a SHA-256 manifest) and returns a file saying which lines it paid."""

    name = PayoutDestination.Rail.PARTNER_CENTRE

    def minimum_minor(self, currency: str) -> int | None:
        return configured_minimum(self.name, currency)

    def is_payable(self, worker: User) -> bool:
        return PayoutDestination.objects.filter(
            worker=worker,
            rail=self.name,
            status=PayoutDestination.Status.ACTIVE,
            centre__isnull=False,
        ).exists()

    def pay(self, line: PayoutLine) -> RailResult:
        # Nothing leaves us here: the line goes into the centre's file for the run.
        return RailResult(
            external_id=f"centre-{line.destination_centre_id}-{line.pk}", status="sent"
        )

    def lookup(self, line: PayoutLine) -> RailResult | None:
        return None  # the centre reports through its return file only

    def finish_run(self, run: PayoutRun) -> None:
        from payouts.partner import write_batches

        write_batches(run=run)


register(PartnerCentreRail())
