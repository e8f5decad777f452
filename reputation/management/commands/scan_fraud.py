"""Run every fraud signal over the recent window now (beat runs it every few
minutes), and print what was raised or refreshed."""

from collections import Counter

from django.core.management.base import BaseCommand

from reputation import fraud


class Command(BaseCommand):
    help = "Scan recent answers, claims and presence for fraud signals and raise flags."

    def handle(self, *args, **options):
        raised = fraud.scan()
        by_signal = Counter(flag.signal for flag in raised)
        for signal, count in sorted(by_signal.items()):
            self.stdout.write(f"{signal}: {count}")
        self.stdout.write(f"{len(raised)} open flags raised or refreshed.")
