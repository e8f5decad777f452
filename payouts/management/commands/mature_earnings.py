from django.core.management.base import BaseCommand

from payouts.earnings import mature_earnings


class Command(BaseCommand):
    help = "Move earnings past the review hold (EARNINGS_HOLD_DAYS) to available."

    def handle(self, *args, **options):
        posted = mature_earnings()
        self.stdout.write(f"{posted} worker balance(s) credited.")
