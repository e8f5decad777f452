"""Compute a set's final results again (Dawid-Skene, gold held fixed): after
correcting gold answers, or to compare consensus models."""

from django.core.management.base import BaseCommand

from reputation.consensus import aggregate_set


class Command(BaseCommand):
    help = "Aggregate a task set's answers into final results (Dawid-Skene)."

    def add_arguments(self, parser):
        parser.add_argument("task_set_id", type=int)

    def handle(self, *args, task_set_id, **options):
        count = aggregate_set(task_set_id=task_set_id)
        self.stdout.write(f"Aggregated {count} tasks of set {task_set_id}.")
