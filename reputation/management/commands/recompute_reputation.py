"""Rebuild every worker's standing from their reputation events.

The submit path folds each event in as it happens; this folds them all again from
the start, in the same order with the same arithmetic, so the result is identical.
Use it after changing the model's settings (forgetting, floor, bar)."""

from django.core.management.base import BaseCommand

from reputation.models import ReputationEvent, WorkerSkill
from reputation.services import rebuild_standing


class Command(BaseCommand):
    help = "Rebuild every worker's per-skill standing from their reputation events."

    def add_arguments(self, parser):
        parser.add_argument("--worker", type=int, help="only this worker id")

    def handle(self, *args, worker=None, **options):
        pairs = set(ReputationEvent.objects.values_list("worker_id", "skill").distinct())
        pairs |= set(WorkerSkill.objects.values_list("worker_id", "skill"))
        if worker is not None:
            pairs = {pair for pair in pairs if pair[0] == worker}
        for worker_id, skill in sorted(pairs):
            rebuild_standing(worker_id=worker_id, skill=skill)
        self.stdout.write(f"Rebuilt {len(pairs)} standings.")
