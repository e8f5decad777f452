from django.core.management.base import BaseCommand, CommandError

from payouts.reconcile import differences


class Command(BaseCommand):
    help = (
        "Check the ledger: every entry balances, cached balances match their lines, each "
        "set's escrow equals its unspent cost, every payable answer is paid once, and "
        "payout lines match the ledger and what their rail reports. Exits non-zero on "
        "any difference."
    )

    def handle(self, *args, **options):
        found = differences()
        for difference in found:
            self.stdout.write(difference)
        if found:
            raise CommandError(f"{len(found)} difference(s) found.")
        self.stdout.write(self.style.SUCCESS("Ledger reconciled: no differences."))
