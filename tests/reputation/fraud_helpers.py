"""A small crowd written straight into the database (answers with their timing,
claims, presences), so that each fraud test injects one pattern into honest work and
runs the real scan over it."""

import random
from datetime import timedelta

from django.utils import timezone

from marketplace.models import WorkerPresence
from tasks.models import Assignment, Task, TaskSet

OPTIONS = ["cat", "dog", "bird", "fish"]
CENTRE_RANGE = "203.0.113.0/24"


class Crowd:
    """Tasks of one label set answered by honest workers, three per task, handed out
    in id order as the claim query does; fraud is added by the test."""

    def __init__(self, task_set: TaskSet, *, seed: int = 7, regular: int = 60, gold: int = 12):
        self.task_set = task_set
        self.rng = random.Random(seed)
        self.start = timezone.now() - timedelta(hours=6)
        self.truth: dict[int, str] = {}
        tasks = Task.objects.bulk_create(
            [
                Task(task_set=task_set, external_id=f"t{i}", payload_text=f"item {i}")
                for i in range(regular)
            ]
            + [
                Task(
                    task_set=task_set,
                    external_id=f"gold{i}",
                    payload_text=f"check {i}",
                    is_gold=True,
                    gold_answer=OPTIONS[i % 2],
                )
                for i in range(gold)
            ]
        )
        weights = [50, 25, 15, 10]
        for task in tasks:
            self.truth[task.pk] = (
                task.gold_answer if task.is_gold else self.rng.choices(OPTIONS, weights)[0]
            )
        self.regular = [t for t in tasks if not t.is_gold]
        self.gold = [t for t in tasks if t.is_gold]
        self.rows: list[Assignment] = []

    def answer(
        self,
        worker,
        task: Task,
        answer: str,
        *,
        at,
        seconds: float,
    ) -> Assignment:
        claimed_at = at - timedelta(seconds=seconds)
        row = Assignment(
            task=task,
            task_set=self.task_set,
            is_gold=task.is_gold,
            worker=worker,
            status=Assignment.Status.SUBMITTED,
            claimed_at=claimed_at,
            expires_at=claimed_at + timedelta(minutes=10),
            submitted_at=at,
            answer=answer,
            reward_minor=5,
            currency="USD",
            gold_credit_permille=(1000 if answer == task.gold_answer else 0)
            if task.is_gold
            else None,
        )
        self.rows.append(row)
        return row

    def honest(self, workers, *, accuracy=(0.8, 0.97), tasks=None):
        """Three distinct workers per regular task, in turn (at least three workers),
        4-14 s per answer each from the same start (they work the same hours); then
        every worker answers every gold task."""
        clock = {w.pk: self.start for w in workers}
        skill = {w.pk: self.rng.uniform(*accuracy) for w in workers}
        for index, task in enumerate(tasks if tasks is not None else self.regular):
            for k in range(3):
                worker = workers[(3 * index + k) % len(workers)]
                self._honest_answer(worker, task, skill[worker.pk], clock)
        for worker in workers:
            for task in self.gold:
                self._honest_answer(worker, task, skill[worker.pk], clock)

    def _honest_answer(self, worker, task, accuracy, clock):
        seconds = self.rng.uniform(4, 14)
        clock[worker.pk] += timedelta(seconds=seconds)
        right = self.truth[task.pk]
        answer = (
            right
            if self.rng.random() < accuracy
            else self.rng.choice([o for o in OPTIONS if o != right])
        )
        self.answer(worker, task, answer, at=clock[worker.pk], seconds=seconds)

    def save(self):
        """Write the answers, then each regular task's consensus (majority vote)."""
        Assignment.objects.bulk_create(self.rows)
        by_task: dict[int, list[str]] = {}
        for row in self.rows:
            by_task.setdefault(row.task_id, []).append(row.answer)
        for task in self.regular:
            answers = by_task.get(task.pk, [])
            if answers:
                Task.objects.filter(pk=task.pk).update(
                    aggregated_answer=max(set(answers), key=answers.count),
                    submitted_count=len(answers),
                    is_open=len(answers) < 3,
                )
        self.rows = []


def present(worker, *, device: str, ip: str, start, minutes: float, channel="socket"):
    return WorkerPresence.objects.create(
        worker=worker,
        device_id=device,
        ip_address=ip,
        channel=channel,
        first_seen_at=start,
        last_seen_at=start + timedelta(minutes=minutes),
    )
