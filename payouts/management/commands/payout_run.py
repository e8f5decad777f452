from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from payouts.currency import format_amount
from payouts.rails import rail_names
from payouts.runs import run_all


class Command(BaseCommand):
    help = (
        "Pay every worker whose available earnings reach the rail's minimum: one line per "
        "worker, committed to the ledger before the rail is called. Safe to re-run."
    )

    def add_arguments(self, parser):
        parser.add_argument("--rail", choices=rail_names(), help="Only this rail.")
        parser.add_argument("--currency", help="Only this currency (e.g. USD).")

    def handle(self, *args, rail=None, currency=None, **options):
        try:
            runs = run_all(trigger="command", rail_name=rail, currency=currency)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        for run in runs:
            self.stdout.write(
                f"run {run.pk} {run.rail} {run.currency}: {run.line_count} lines, "
                f"{format_amount(run.total_minor, run.currency)}"
            )
