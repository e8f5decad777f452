"""Quality evaluation: a seeded synthetic crowd works through the real claim and submit
services (tasks.work), so training, gold checks, consensus at each task's close and the
quality floor all run as in production; then the set's final labels are computed and
compared with the truth, beside plain majority vote and crowd-kit's Dawid-Skene.

The crowd: good (label accuracy ~0.9), mediocre (~0.7), uniform spammers and workers
who always give the same answer, on a 4-option label set, a 5-option multi-label set
and an English transcription set, each with gold mixed in, each skill with its own
training set (10 to 60 checks an attempt). Honest workers behave the same in training and in
paid work. Of the bad workers, --naive-share answer badly in training too (training
should stop them); the others are sleepers: careful in training, bad once qualified, and
careful again whenever they are sent back to training. That is the real threat, and
what the quality floor is for. A worker who fails training retries after the cooldown
(the bench expires it at the end of the round, as if a day had passed) until they have
failed --training-attempts times.

It prints, each beside its aim: label accuracy of our Dawid-Skene (gold fixed) against
majority vote and crowd-kit's DawidSkene on the same answers, transcription word error
rate, multi-label exact-set accuracy, the Spearman correlation of label scores with
each worker's true accuracy, spammers caught and honest workers demoted by the floor,
and the time to read 100,000 tasks x 3 answers from PostgreSQL (the real tables) and
run Dawid-Skene on them.

Point it at a scratch PostgreSQL database; it refuses one holding task sets it did not
make (titles start with "[qbench]"):
    createdb -h 127.0.0.1 -U postgres marketplace_qbench
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/marketplace_qbench DEBUG=1
    .venv/bin/python manage.py migrate
    .venv/bin/python bench/quality_eval.py
    .venv/bin/python bench/quality_eval.py --reset --seed 7 --workers 80
    .venv/bin/python bench/quality_eval.py --setting QUALITY_FLOOR_MIN_CHECKS=6
--reset first deletes what earlier runs made (sets, tasks, answers, events, workers);
ledger entries and audit rows are append-only, so they and the organizations and
requesters they name stay. --setting overrides a quality setting for an experiment;
the output says so on top.

crowd-kit is a comparison only, never a dependency: the answers are written to an .npz
in the temp directory and a small script runs on them under --crowd-kit-python (default
/tmp/crowdkit-venv/bin/python, a venv with `pip install crowd-kit`); without it the
comparison prints "crowd-kit not installed". Gold tasks go to crowd-kit as true_labels.

Reproducibility: the crowd, the truth and the round order are seeded, and so is the
server's choice among sets. Which claims are served gold comes from `secrets` (by design
it cannot be predicted), so figures move a little from run to run.
"""

import argparse
import json
import os
import random
import string
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import numpy as np
import quality_scenarios

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from marketplace.models import Membership, Organization, User, WorkerProfile  # noqa: E402
from payouts.services import credit_organization  # noqa: E402
from reputation.aggregation import (  # noqa: E402
    dawid_skene,
    majority_vote,
    multilabel_dawid_skene,
    normalise_text,
    transcription_consensus,
    word_error_rate,
)
from reputation.consensus import aggregate_set  # noqa: E402
from reputation.models import ReputationEvent, WorkerSkill  # noqa: E402
from reputation.standing import EventFacts, Standing, apply_event  # noqa: E402
from tasks import services, work  # noqa: E402
from tasks.models import Assignment, Task, TaskSet  # noqa: E402

TITLE_PREFIX = "[qbench]"
USER_PREFIX = "qbench-"
LABELS = ["cat", "dog", "bird", "fish"]
LABEL_PRIOR = [0.4, 0.3, 0.2, 0.1]
TAGS = ["person", "car", "tree", "sign", "animal"]
TAG_PREVALENCE = np.array([0.5, 0.35, 0.25, 0.15, 0.1])
# Transcription texts are 3-8 of these words.
WORD_LIST = (
    "the a of and to in is it that was for on are with as his they be at one have this "
    "from or had by hot word but what some we can out other were all there when up use "
    "your how said an each she which do their time if will way about many then them write "
    "would like so these her long make thing see him two has look more day could go come"
)
WORDS = WORD_LIST.split()
CROWD_MIX = {"good": 0.4, "mediocre": 0.3, "spammer": 0.2, "constant": 0.1}
HONEST = ("good", "mediocre")
SKILLS = ("label", "multilabel", "transcription:en")
CROWD_KIT_PYTHON = "/tmp/crowdkit-venv/bin/python"


# --- The crowd ---------------------------------------------------------------------


@dataclass
class Persona:
    """How one synthetic worker answers. Rates are per answer (label), per tag
    (multi-label: missing a tag that applies, ticking one that does not) and per
    character (transcription)."""

    kind: str
    sleeper: bool  # a bad worker who answers like a good one whenever in training
    accuracy: float
    miss: float
    false_tick: float
    char_error: float
    constant_label: str
    constant_tags: list[str]
    rng: np.random.Generator
    user: User | None = None

    def answer(self, kind: str, truth, *, training: bool):
        behaves = "good" if (training and self.sleeper) else self.kind
        if kind == TaskSet.Kind.LABEL:
            return self._label(behaves, truth)
        if kind == TaskSet.Kind.MULTILABEL:
            return self._tags(behaves, truth)
        return self._text(behaves, truth)

    def _label(self, behaves: str, truth: str) -> str:
        if behaves == "spammer":
            return LABELS[self.rng.integers(len(LABELS))]
        if behaves == "constant":
            return self.constant_label
        accuracy = 0.9 if self.kind not in HONEST else self.accuracy
        if self.rng.random() < accuracy:
            return truth
        return self.rng.choice([label for label in LABELS if label != truth])

    def _tags(self, behaves: str, truth: list[str]) -> list[str]:
        if behaves == "spammer":
            return [tag for tag in TAGS if self.rng.random() < 0.3]
        if behaves == "constant":
            return self.constant_tags
        miss, false_tick = (0.04, 0.01) if self.kind not in HONEST else (self.miss, self.false_tick)
        draws = self.rng.random(len(TAGS))
        return [
            tag
            for tag, draw in zip(TAGS, draws, strict=True)
            if (draw >= miss if tag in truth else draw < false_tick)
        ]

    def _text(self, behaves: str, truth: str) -> str:
        if behaves == "spammer":
            letters = self.rng.choice(list(string.ascii_lowercase + "   "), size=len(truth))
            return "".join(letters).strip() or "x"
        if behaves == "constant":
            return "good"
        rate = 0.01 if self.kind not in HONEST else self.char_error
        typed = []
        for char in truth:
            draw = self.rng.random()
            if draw >= rate:
                typed.append(char)
            elif draw < rate / 3:
                typed.append(self.rng.choice(list(string.ascii_lowercase)))  # substitution
            elif draw < 2 * rate / 3:
                typed.append(char + self.rng.choice(list(string.ascii_lowercase)))  # insertion
            # else: deletion
        return "".join(typed).strip() or truth


def make_crowd(count: int, seed: int, naive_share: float) -> list[Persona]:
    rng = np.random.default_rng(seed)
    kinds = rng.choice(list(CROWD_MIX), size=count, p=list(CROWD_MIX.values()))
    personas = []
    for i, kind in enumerate(kinds):
        honest = kind in HONEST
        good = kind == "good"
        personas.append(
            Persona(
                kind=str(kind),
                sleeper=not honest and rng.random() >= naive_share,
                accuracy=rng.uniform(0.85, 0.95) if good else rng.uniform(0.6, 0.8),
                miss=rng.uniform(0.02, 0.06) if good else rng.uniform(0.1, 0.2),
                false_tick=rng.uniform(0.005, 0.02) if good else rng.uniform(0.03, 0.06),
                char_error=rng.uniform(0.005, 0.02) if good else rng.uniform(0.03, 0.08),
                constant_label=LABELS[rng.integers(len(LABELS))],
                constant_tags=[TAGS[rng.integers(len(TAGS))]],
                rng=np.random.default_rng([seed, i]),
            )
        )
    return personas


def make_truths(kind: str, count: int, rng: np.random.Generator) -> list:
    if kind == TaskSet.Kind.LABEL:
        return [LABELS[i] for i in rng.choice(len(LABELS), size=count, p=LABEL_PRIOR)]
    if kind == TaskSet.Kind.MULTILABEL:
        present = rng.random((count, len(TAGS))) < TAG_PREVALENCE
        return [[tag for tag, on in zip(TAGS, row, strict=True) if on] for row in present]
    return [" ".join(rng.choice(WORDS, size=rng.integers(3, 9))) for _ in range(count)]


# --- Safety and setup --------------------------------------------------------------


def refuse_unless_scratch() -> None:
    if connection.vendor != "postgresql":
        sys.exit("quality_eval needs PostgreSQL: point DATABASE_URL at a scratch database.")
    foreign = TaskSet.objects.exclude(title__startswith=TITLE_PREFIX).count()
    if foreign:
        sys.exit(
            f"This database holds {foreign} task sets this bench did not make: refusing. "
            "Point DATABASE_URL at a scratch database."
        )


def reset() -> None:
    """Delete what earlier runs made, as far as the append-only ledger and audit log
    allow (their rows, and the organizations and requesters they name, stay)."""
    set_ids = list(
        TaskSet.objects.filter(title__startswith=TITLE_PREFIX).values_list("pk", flat=True)
    )
    with transaction.atomic(), connection.cursor() as cursor:
        if set_ids:
            in_sets = "SELECT id FROM tasks_assignment WHERE task_set_id = ANY(%s)"
            cursor.execute(
                f"DELETE FROM reputation_appeal WHERE assignment_id IN ({in_sets})",
                [set_ids],
            )
            cursor.execute(
                f"DELETE FROM reputation_reputationevent WHERE assignment_id IN ({in_sets})",
                [set_ids],
            )
            cursor.execute("DELETE FROM tasks_assignment WHERE task_set_id = ANY(%s)", [set_ids])
            cursor.execute("DELETE FROM tasks_task WHERE task_set_id = ANY(%s)", [set_ids])
            cursor.execute("DELETE FROM tasks_taskset WHERE id = ANY(%s)", [set_ids])
        # Workers only: requesters and admins are named by ledger and audit rows.
        workers = User.objects.filter(
            username__startswith=USER_PREFIX, is_staff=False, memberships__isnull=True
        )
        deleted, _by_model = workers.delete()
    print(f"reset: deleted {len(set_ids)} bench task sets and {deleted} worker rows")


@dataclass
class Bench:
    tag: str
    organization: Organization
    requester: User
    admin: User  # staff: platform training is theirs (tasks.services.require_member)
    truth: dict[int, object] = field(default_factory=dict)  # task id -> true answer
    # task id -> the live weighted vote stored when it closed (the set's completion
    # later replaces it with the final Dawid-Skene answer)
    live: dict[int, object] = field(default_factory=dict)
    sets: dict[str, TaskSet] = field(default_factory=dict)


def make_bench(tag: str) -> Bench:
    admin = User.objects.create(username=f"{USER_PREFIX}{tag}-admin", is_staff=True)
    requester = User.objects.create(username=f"{USER_PREFIX}{tag}-requester")
    organization = Organization.objects.create(
        name=f"Quality bench {tag}", slug=f"{USER_PREFIX}{tag}", kind="requester"
    )
    Membership.objects.create(user=requester, organization=organization, role="admin")
    Membership.objects.create(user=admin, organization=organization, role="admin")
    credit_organization(
        organization=organization,
        amount_minor=10**12,
        currency="USD",
        actor=admin,
        reason="quality bench",
        idempotency_key=f"qbench:{tag}",
    )
    return Bench(tag, organization, requester, admin)


def make_set(
    bench: Bench,
    name: str,
    *,
    kind: str,
    regular: int,
    gold: int,
    rng: np.random.Generator,
    gold_ratio_permille: int = 0,
    training_budget: int | None = None,
    publish: bool = True,
) -> TaskSet:
    owner = bench.admin if training_budget is not None else bench.requester
    task_set = TaskSet.objects.create(
        organization=bench.organization,
        created_by=owner,
        title=f"{TITLE_PREFIX} {bench.tag} {name}",
        kind=kind,
        label_options=TAGS if kind == TaskSet.Kind.MULTILABEL else LABELS,
        language="en" if kind == TaskSet.Kind.TRANSCRIPTION else "",
        reward_minor=5,
        expected_seconds_per_task=20,
        assignments_per_task=3,
        gold_ratio_permille=gold_ratio_permille,
        is_training=training_budget is not None,
        training_answer_budget=training_budget,
    )
    truths = make_truths(kind, regular + gold, rng)
    tasks = [
        Task(
            task_set=task_set,
            external_id=f"{'g' if i >= regular else 'r'}{i}",
            payload_text=f"item {i}",
            is_gold=i >= regular,
            gold_answer=truth if i >= regular else None,
            gold_explanation="bench gold" if i >= regular else "",
        )
        for i, truth in enumerate(truths)
    ]
    for task, truth in zip(Task.objects.bulk_create(tasks, batch_size=5000), truths, strict=True):
        bench.truth[task.pk] = truth
    bench.sets[name] = task_set
    if publish:
        return services.publish_task_set(task_set_id=task_set.pk, actor=owner)
    return task_set


def make_workers(bench: Bench, personas: list[Persona]) -> None:
    users = User.objects.bulk_create(
        User(username=f"{USER_PREFIX}{bench.tag}-w{i:03d}-{p.kind}", password="!")
        for i, p in enumerate(personas)
    )
    WorkerProfile.objects.bulk_create(
        WorkerProfile(user=u, display_name=u.username, status="vetted", languages=["en"])
        for u in users
    )
    for persona, user in zip(personas, users, strict=True):
        persona.user = user


# --- Driving the crowd through the real services ---------------------------------


def run_crowd(bench: Bench, personas: list[Persona], rng, attempts: int) -> tuple[int, int]:
    """Round-robin over the workers in a new random order each round: each claims a
    task through claim_next_task (the server picks the set) and answers it through
    submit_answer. Ends when a round serves nobody. Returns (answers, rounds)."""
    sets = {task_set.pk: task_set for task_set in bench.sets.values()}
    worker_ids = [p.user.pk for p in personas]
    answers = rounds = 0
    while True:
        rounds += 1
        served = 0
        for index in rng.permutation(len(personas)):
            persona = personas[index]
            assignment = work.claim_next_task(worker=persona.user).assignment
            if assignment is None:
                continue
            task_set = sets[assignment.task_set_id]
            value = persona.answer(
                task_set.kind, bench.truth[assignment.task_id], training=task_set.is_training
            )
            work.submit_answer(
                worker=persona.user,
                assignment_id=assignment.pk,
                answer=value,
                submission_id=uuid.uuid4(),
                seconds_spent=15,
            )
            if not task_set.is_training:
                bench.live.update(
                    Task.objects.filter(
                        pk=assignment.task_id, aggregation_method="weighted_vote"
                    ).values_list("pk", "aggregated_answer")
                )
            served += 1
        answers += served
        # A day passes for those who failed training and may try again.
        now = timezone.now()
        retried = WorkerSkill.objects.filter(
            worker_id__in=worker_ids,
            state=WorkerSkill.State.TRAINING,
            cooldown_until__gt=now,
            attempts_failed__lt=attempts,
        ).update(cooldown_until=now - timedelta(seconds=1))
        if rounds % 10 == 0:
            print(f"  round {rounds}: {answers} answers so far", file=sys.stderr, flush=True)
        if not served and not retried:
            return answers, rounds


# --- Measuring -------------------------------------------------------------------


def rankdata(values) -> np.ndarray:
    """Ranks 1..n, ties sharing their average rank (as scipy's rankdata)."""
    values = np.asarray(values, dtype=float)
    _unique, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return ((ends - counts + 1 + ends) / 2)[inverse]


def spearman(a, b) -> float:
    return float(np.corrcoef(rankdata(a), rankdata(b))[0, 1])


def answers_of(task_set: TaskSet) -> list[tuple[int, int, object, bool]]:
    return list(
        Assignment.objects.filter(task_set=task_set, status=Assignment.Status.SUBMITTED)
        .order_by("pk")
        .values_list("task_id", "worker_id", "answer", "is_gold")
    )


def crowd_kit(python: str, arrays: dict) -> dict | None:
    """crowd-kit's aggregators on the same answers, in its own interpreter."""
    if not Path(python).exists():
        return None
    with tempfile.TemporaryDirectory() as directory:
        data = Path(directory) / "answers.npz"
        np.savez(data, **arrays)
        done = subprocess.run(
            [python, "-c", CROWD_KIT_SCRIPT, str(data)], capture_output=True, text=True
        )
    if done.returncode != 0:
        if "ModuleNotFoundError" in done.stderr:
            return None
        raise RuntimeError(f"crowd-kit comparison failed:\n{done.stderr}")
    return json.loads(done.stdout)


CROWD_KIT_SCRIPT = """
import json, sys, time
import numpy as np, pandas as pd
from crowdkit.aggregation import DawidSkene, MajorityVote, OneCoinDawidSkene
data = np.load(sys.argv[1])
frame = pd.DataFrame({"task": data["task"], "worker": data["worker"], "label": data["label"]})
gold = pd.Series(data["gold_label"], index=data["gold_task"])
n = int(data["n_tasks"])
def run(fit):
    started = time.perf_counter()
    labels = fit()
    seconds = time.perf_counter() - started
    return {"labels": labels.reindex(range(n)).fillna(-1).astype(int).tolist(), "seconds": seconds}
print(json.dumps({
    "MajorityVote": run(lambda: MajorityVote().fit_predict(frame)),
    "DawidSkene": run(lambda: DawidSkene(n_iter=100).fit_predict(frame)),
    "DawidSkene gold": run(lambda: DawidSkene(n_iter=100).fit(frame, true_labels=gold).labels_),
    "OneCoinDawidSkene": run(lambda: OneCoinDawidSkene(n_iter=100).fit_predict(frame)),
}))
"""


def index_answers(rows, truth: dict, encode):
    """Dense indices for (task, worker) ids; returns task_idx, worker_idx, values, task
    ids in index order and the gold (task index -> encoded truth)."""
    task_keys, task_idx = np.unique([r[0] for r in rows], return_inverse=True)
    _worker_keys, worker_idx = np.unique([r[1] for r in rows], return_inverse=True)
    values = [encode(r[2]) for r in rows]
    gold = {int(task_idx[i]): encode(truth[r[0]]) for i, r in enumerate(rows) if r[3]}
    return task_idx, worker_idx, values, task_keys, gold


def label_figures(bench: Bench, args) -> dict:
    task_set = bench.sets["label"]
    rows = answers_of(task_set)
    task_idx, worker_idx, values, task_keys, gold = index_answers(rows, bench.truth, LABELS.index)
    label_idx = np.array(values)
    n_tasks, n_workers = len(task_keys), int(worker_idx.max()) + 1
    truth = np.array([LABELS.index(bench.truth[int(k)]) for k in task_keys])
    is_regular = ~np.isin(task_keys, list(_gold_ids(task_set)))

    def accuracy(labels) -> float:
        return float((np.asarray(labels)[is_regular] == truth[is_regular]).mean())

    final = _final_answers(task_set)
    figures = {
        "tasks": int(is_regular.sum()),
        "answers": len(rows),
        "majority vote": accuracy(
            majority_vote(task_idx, worker_idx, label_idx, n_tasks, 4).labels
        ),
        "live weighted vote": accuracy(_encoded(bench.live, task_keys, LABELS.index, -1)),
        f"final stored ({final['method']})": accuracy(
            _encoded(final["answers"], task_keys, LABELS.index, -1)
        ),
    }
    for model in ("one_coin", "full"):
        result = dawid_skene(
            task_idx, worker_idx, label_idx, n_tasks, n_workers, 4, model=model, gold=gold
        )
        figures[f"DS {model}, gold fixed"] = accuracy(result.labels)
    kit = crowd_kit(
        args.crowd_kit_python, _kit_arrays(task_idx, worker_idx, label_idx, gold, n_tasks)
    )
    if kit is not None:
        for name, out in kit.items():
            figures[f"crowd-kit {name}"] = accuracy(out["labels"])
    return figures


def _final_answers(task_set: TaskSet) -> dict:
    """What the requester gets: each regular task's stored answer, and its method."""
    rows = Task.objects.filter(task_set=task_set, is_gold=False).values_list(
        "pk", "aggregated_answer", "aggregation_method"
    )
    methods = Counter(method for _pk, _answer, method in rows)
    return {"answers": {pk: answer for pk, answer, _m in rows}, "method": "+".join(methods)}


def _encoded(answers: dict, task_keys, encode, missing) -> np.ndarray:
    return np.array(
        [encode(answers[int(k)]) if answers.get(int(k)) is not None else missing for k in task_keys]
    )


def _gold_ids(task_set: TaskSet) -> set[int]:
    return set(Task.objects.filter(task_set=task_set, is_gold=True).values_list("pk", flat=True))


def _kit_arrays(task_idx, worker_idx, label_idx, gold, n_tasks) -> dict:
    return {
        "task": task_idx,
        "worker": worker_idx,
        "label": label_idx,
        "gold_task": np.array(list(gold), dtype=int),
        "gold_label": np.array(list(gold.values()), dtype=int),
        "n_tasks": np.array(n_tasks),
    }


def multilabel_figures(bench: Bench) -> dict:
    task_set = bench.sets["multilabel"]
    rows = answers_of(task_set)

    def encode(tags):
        return np.array([tag in tags for tag in TAGS])

    task_idx, worker_idx, values, task_keys, gold = index_answers(rows, bench.truth, encode)
    chosen = np.array(values)
    n_tasks, n_workers = len(task_keys), int(worker_idx.max()) + 1
    truth = np.array([encode(bench.truth[int(k)]) for k in task_keys])
    is_regular = ~np.isin(task_keys, list(_gold_ids(task_set)))

    def exact(chosen_sets) -> float:
        return float((chosen_sets == truth).all(axis=1)[is_regular].mean())

    counts = np.zeros((n_tasks, len(TAGS)))
    np.add.at(counts, task_idx, chosen)
    majority = counts / np.bincount(task_idx, minlength=n_tasks)[:, None] > 0.5
    final = _final_answers(task_set)
    no_tags = encode([])
    result = multilabel_dawid_skene(
        task_idx, worker_idx, chosen, n_tasks, n_workers, len(TAGS), gold=gold
    )
    return {
        "tasks": int(is_regular.sum()),
        "majority per tag": exact(majority),
        "live weighted vote": exact(_encoded(bench.live, task_keys, encode, no_tags)),
        f"final stored ({final['method']})": exact(
            _encoded(final["answers"], task_keys, encode, no_tags)
        ),
        "multilabel DS, gold fixed": exact(result.chosen),
    }


def transcription_figures(bench: Bench) -> dict:
    task_set = bench.sets["transcription"]
    by_task = defaultdict(list)
    for task_id, _worker, text, is_gold in answers_of(task_set):
        if not is_gold:
            by_task[task_id].append(normalise_text(text))
    final = _final_answers(task_set)

    def mean_wer(pick) -> float:
        return float(
            np.mean(
                [word_error_rate(pick(t, texts), bench.truth[t]) for t, texts in by_task.items()]
            )
        )

    return {
        "tasks": len(by_task),
        "one answer (the first)": mean_wer(lambda t, texts: texts[0]),
        "most common text": mean_wer(lambda t, texts: Counter(texts).most_common(1)[0][0]),
        "ROVER, equal weights": mean_wer(
            lambda t, texts: transcription_consensus(texts, [1.0] * len(texts))[0]
        ),
        "live ROVER, reputation": mean_wer(lambda t, texts: bench.live.get(t) or ""),
        f"final stored ({final['method']})": mean_wer(
            lambda t, texts: final["answers"].get(t) or ""
        ),
    }


def transitions(worker_ids: list[int]) -> dict[tuple[int, str], Counter]:
    """Fold each (worker, skill)'s events again, as rebuild_standing does, counting
    what happened to their access; also checks the fold equals the stored row."""
    events = defaultdict(list)
    for event in ReputationEvent.objects.filter(
        worker_id__in=worker_ids, voided_at__isnull=True
    ).order_by("pk"):
        events[(event.worker_id, event.skill)].append(event)
    stored = {
        (r.worker_id, r.skill): r for r in WorkerSkill.objects.filter(worker_id__in=worker_ids)
    }
    changes: dict[tuple[int, str], Counter] = {}
    for key, rows in events.items():
        standing, counted = Standing(), Counter()
        for e in rows:
            facts = EventFacts(
                e.pk,
                e.source,
                e.credit_permille,
                e.weight_permille,
                e.created_at,
                e.training_checks_left,
            )
            counted[apply_event(standing, facts)] += 1
        row = stored[key]
        if (standing.state, standing.score_permille) != (row.state, row.score_permille):
            counted["fold_mismatch"] += 1
        changes[key] = counted
    return changes


def crowd_figures(bench: Bench, personas: list[Persona]) -> tuple[dict, list[str]]:
    by_worker = {p.user.pk: p for p in personas}
    changes = transitions(list(by_worker))
    label_set = bench.sets["label"]
    right, total = Counter(), Counter()
    for task_id, worker_id, answer, _gold in answers_of(label_set):
        total[worker_id] += 1
        right[worker_id] += answer == bench.truth[task_id]
    scores = dict(
        WorkerSkill.objects.filter(worker_id__in=by_worker, skill="label").values_list(
            "worker_id", "score_permille"
        )
    )
    rated = [w for w in total if total[w] >= 10 and w in scores]
    true_accuracy = [right[w] / total[w] for w in rated]
    figures = {
        "spearman": spearman([scores[w] for w in rated], true_accuracy),
        "spearman_n": len(rated),
        "spearman_honest": spearman(
            [scores[w] for w in rated if by_worker[w].kind in HONEST],
            [right[w] / total[w] for w in rated if by_worker[w].kind in HONEST],
        ),
        "fold_mismatches": sum(c["fold_mismatch"] for c in changes.values()),
    }
    lines = []
    header = f"{'worker kind':<18}{'n':>4}  " + "  ".join(f"{s:>22}" for s in SKILLS)
    lines.append(header)
    lines.append(f"{'':<18}{'':>4}  " + "  ".join(f"{'qual/fail/demoted':>22}" for _ in SKILLS))
    groups = [
        ("good", lambda p: p.kind == "good"),
        ("mediocre", lambda p: p.kind == "mediocre"),
        ("spammer, naive", lambda p: p.kind == "spammer" and not p.sleeper),
        ("spammer, sleeper", lambda p: p.kind == "spammer" and p.sleeper),
        ("constant, naive", lambda p: p.kind == "constant" and not p.sleeper),
        ("constant, sleeper", lambda p: p.kind == "constant" and p.sleeper),
    ]
    for name, member in groups:
        ids = [w for w, p in by_worker.items() if member(p)]
        cells = []
        for skill in SKILLS:
            qualified = sum(1 for w in ids if changes.get((w, skill), {}).get("qualified"))
            never = sum(1 for w in ids if not changes.get((w, skill), {}).get("qualified"))
            demoted = sum(1 for w in ids if changes.get((w, skill), {}).get("demoted"))
            cells.append(f"{qualified:>3} /{never:>3} /{demoted:>3}")
        lines.append(f"{name:<18}{len(ids):>4}  " + "  ".join(f"{c:>22}" for c in cells))

    def floor(members, skills) -> tuple[int, int]:
        """(qualified at some point in the skills, demoted at some point)."""
        keys = [(w, s) for w, p in by_worker.items() if members(p) for s in skills]
        qualified = [k for k in keys if changes.get(k, {}).get("qualified")]
        return len(qualified), sum(1 for k in qualified if changes[k].get("demoted"))

    def bad(p):
        return p.kind not in HONEST

    def honest(p):
        return p.kind in HONEST

    figures["bad_label"] = floor(bad, ["label"])
    figures["honest_label"] = floor(honest, ["label"])
    figures["bad_all"] = floor(bad, SKILLS)
    figures["honest_all"] = floor(honest, SKILLS)
    naive = [w for w, p in by_worker.items() if bad(p) and not p.sleeper]
    figures["naive_stopped"] = (
        sum(1 for w in naive if not any(changes.get((w, s), {}).get("qualified") for s in SKILLS)),
        len(naive),
    )
    figures["honest_failed_label"] = sum(
        1
        for w, p in by_worker.items()
        if honest(p) and not changes.get((w, "label"), {}).get("qualified")
    )
    return figures, lines


# --- 100,000 tasks x 3 answers from the real tables -----------------------------


def make_big_set(bench: Bench, n_tasks: int, n_workers: int, seed: int, gold_share: float):
    """A draft set (never published, so no one claims it) of n_tasks with 3 submitted
    answers each, loaded with bulk_create and COPY (not timed)."""
    rng = np.random.default_rng([seed, 100])
    users = User.objects.bulk_create(
        (
            User(username=f"{USER_PREFIX}{bench.tag}-big{i:05d}", password="!")
            for i in range(n_workers)
        ),
        batch_size=5000,
    )
    personas = make_crowd(n_workers, seed + 1, naive_share=1.0)
    kinds = np.array([p.kind for p in personas])
    accuracy = np.array([p.accuracy if p.kind in HONEST else 0.25 for p in personas])
    constant = np.array([LABELS.index(p.constant_label) for p in personas])
    truth = rng.choice(len(LABELS), size=n_tasks, p=LABEL_PRIOR)
    is_gold = rng.random(n_tasks) < gold_share
    task_set = make_set(bench, "big", kind="label", regular=0, gold=0, rng=rng, publish=False)
    tasks = Task.objects.bulk_create(
        (
            Task(
                task_set=task_set,
                external_id=f"b{i}",
                is_gold=bool(is_gold[i]),
                gold_answer=LABELS[truth[i]] if is_gold[i] else None,
                submitted_count=3,
                is_open=False,
            )
            for i in range(n_tasks)
        ),
        batch_size=10_000,
    )
    first = rng.integers(0, n_workers, n_tasks)
    offset_a = rng.integers(1, n_workers, n_tasks)
    offset_b = rng.integers(1, n_workers - 1, n_tasks)
    offset_b += offset_b >= offset_a
    workers = np.stack([first, (first + offset_a) % n_workers, (first + offset_b) % n_workers], 1)
    task_of = np.repeat(np.arange(n_tasks), 3)
    worker_of = workers.ravel()
    right = rng.random(task_of.shape[0]) < accuracy[worker_of]
    wrong = (truth[task_of] + rng.integers(1, len(LABELS), task_of.shape[0])) % len(LABELS)
    label = np.where(right, truth[task_of], wrong)
    label = np.where(kinds[worker_of] == "spammer", rng.integers(0, 4, task_of.shape[0]), label)
    label = np.where(kinds[worker_of] == "constant", constant[worker_of], label)
    now = timezone.now()
    columns = (
        "task_id, task_set_id, is_gold, worker_id, status, claimed_at, expires_at, submitted_at, "
        "answer, reward_minor, currency, release_reason, review_status, review_reason"
    )
    answers = [json.dumps(option) for option in LABELS]
    with transaction.atomic(), connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY tasks_assignment ({columns}) FROM STDIN") as copy:
            for t, w, a in zip(task_of.tolist(), worker_of.tolist(), label.tolist(), strict=True):
                copy.write_row(
                    (
                        tasks[t].pk,
                        task_set.pk,
                        bool(is_gold[t]),
                        users[w].pk,
                        "submitted",
                        now,
                        now,
                        now,
                        answers[a],
                        5,
                        "USD",
                        "",
                        "approved",
                        "",
                    )
                )
        cursor.execute("ANALYZE tasks_assignment")
        cursor.execute("ANALYZE tasks_task")
    truth_by_id = {task.pk: int(truth[i]) for i, task in enumerate(tasks)}
    return task_set, truth_by_id


def time_big_aggregation(task_set: TaskSet, truth_by_id: dict, args) -> dict:
    """What a set's finalisation would do: read every answer (one query) and the gold
    (a second, small one), map ids to dense indices, run Dawid-Skene."""
    index = {option: i for i, option in enumerate(LABELS)}
    started = time.perf_counter()
    rows = list(
        Assignment.objects.filter(
            task_set=task_set, status=Assignment.Status.SUBMITTED
        ).values_list("task_id", "worker_id", "answer")
    )
    gold_rows = Task.objects.filter(task_set=task_set, is_gold=True).values_list(
        "pk", "gold_answer"
    )
    read = time.perf_counter()
    task_ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    worker_ids = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
    label_idx = np.fromiter((index[r[2]] for r in rows), dtype=np.intp, count=len(rows))
    task_keys, task_idx = np.unique(task_ids, return_inverse=True)
    worker_keys, worker_idx = np.unique(worker_ids, return_inverse=True)
    position = np.searchsorted(task_keys, [pk for pk, _answer in gold_rows])
    gold = {int(p): index[answer] for p, (_pk, answer) in zip(position, gold_rows, strict=True)}
    result = dawid_skene(
        task_idx, worker_idx, label_idx, len(task_keys), len(worker_keys), len(LABELS), gold=gold
    )
    finished = time.perf_counter()
    truth = np.array([truth_by_id[int(k)] for k in task_keys])
    regular = np.ones(len(task_keys), dtype=bool)
    regular[list(gold)] = False
    figures = {
        "answers": len(rows),
        "seconds": finished - started,
        "read seconds": read - started,
        "DS accuracy": float((result.labels == truth)[regular].mean()),
        "MV accuracy": float(
            (majority_vote(task_idx, worker_idx, label_idx, len(task_keys), 4).labels == truth)[
                regular
            ].mean()
        ),
    }
    # The product's own finalisation (reputation.consensus.aggregate_set): the same
    # read and Dawid-Skene, plus writing every task's answer back.
    started = time.perf_counter()
    aggregate_set(task_set_id=task_set.pk)
    figures["product seconds"] = time.perf_counter() - started
    stored = dict(
        Task.objects.filter(task_set=task_set, is_gold=False).values_list("pk", "aggregated_answer")
    )
    figures["product accuracy"] = float(
        np.mean([LABELS.index(stored[pk]) == truth_by_id[pk] for pk in stored])
    )
    kit = crowd_kit(
        args.crowd_kit_python, _kit_arrays(task_idx, worker_idx, label_idx, gold, len(task_keys))
    )
    if kit is not None:
        out = kit["DawidSkene gold"]
        figures["crowd-kit accuracy"] = float((np.array(out["labels"]) == truth)[regular].mean())
        figures["crowd-kit seconds"] = out["seconds"]
    return figures


# --- Output ----------------------------------------------------------------------


def percent(value: float) -> str:
    return f"{value * 100:6.2f} %"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--workers", type=int, default=60)
    parser.add_argument("--label-tasks", type=int, default=1200)
    parser.add_argument("--multilabel-tasks", type=int, default=200)
    parser.add_argument("--transcription-tasks", type=int, default=200)
    parser.add_argument("--gold-ratio", type=int, default=150, help="permille of served work")
    parser.add_argument("--naive-share", type=float, default=0.25, help="of the bad workers")
    parser.add_argument("--training-attempts", type=int, default=2)
    parser.add_argument("--big-tasks", type=int, default=100_000, help="0 skips the timing")
    parser.add_argument("--big-workers", type=int, default=1_000)
    parser.add_argument("--reset", action="store_true", help="delete earlier runs' data first")
    parser.add_argument("--crowd-kit-python", default=CROWD_KIT_PYTHON)
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="EXPERIMENT: override an integer QUALITY_* setting for this run",
    )
    args = parser.parse_args()

    refuse_unless_scratch()
    if args.reset:
        reset()
    # A crashed earlier run may have left its sets open: they would take this crowd's work.
    TaskSet.objects.filter(title__startswith=TITLE_PREFIX, status="published").update(
        status="completed"
    )
    overrides = {}
    for item in args.setting:
        name, _, value = item.partition("=")
        if not name.startswith("QUALITY_") or not hasattr(settings, name):
            parser.error(f"--setting {item!r}: not a QUALITY_* setting")
        overrides[name] = int(value)
        setattr(settings, name, int(value))

    random.seed(args.seed)  # the server's shuffle of equal-priority sets
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(%s)", [(args.seed % 1000) / 1000])  # ORDER BY random()
    rng = np.random.default_rng(args.seed)
    tag = f"{args.seed}-{uuid.uuid4().hex[:6]}"
    personas = make_crowd(args.workers, args.seed, args.naive_share)
    bench = make_bench(tag)
    budget = args.workers * settings.QUALITY_TRAINING_MAX_CHECKS * (args.training_attempts + 2)
    for skill_name, kind, regular in (
        ("label", TaskSet.Kind.LABEL, args.label_tasks),
        ("multilabel", TaskSet.Kind.MULTILABEL, args.multilabel_tasks),
        ("transcription", TaskSet.Kind.TRANSCRIPTION, args.transcription_tasks),
    ):
        make_set(
            bench,
            f"{skill_name} training",
            kind=kind,
            regular=0,
            # A worker answers each check once, ever: enough for every attempt at its longest.
            gold=settings.QUALITY_TRAINING_MAX_CHECKS * args.training_attempts,
            rng=rng,
            training_budget=budget,
        )
        make_set(
            bench,
            skill_name,
            kind=kind,
            regular=regular,
            gold=max(30, regular // 10),
            rng=rng,
            gold_ratio_permille=args.gold_ratio,
        )
    make_workers(bench, personas)

    started = time.perf_counter()
    try:
        answers, rounds = run_crowd(bench, personas, rng, args.training_attempts)
    finally:
        TaskSet.objects.filter(title__startswith=TITLE_PREFIX, status="published").update(
            status="completed"
        )
    crowd_seconds = time.perf_counter() - started
    labels = label_figures(bench, args)
    multi = multilabel_figures(bench)
    text = transcription_figures(bench)
    crowd, crowd_table = crowd_figures(bench, personas)
    big = None
    if args.big_tasks:
        big_set, big_truth = make_big_set(bench, args.big_tasks, args.big_workers, args.seed, 0.1)
        big = time_big_aggregation(big_set, big_truth, args)

    report(
        args,
        overrides,
        personas,
        answers,
        rounds,
        crowd_seconds,
        labels,
        multi,
        text,
        crowd,
        crowd_table,
        big,
    )
    # The consensus models on the hard scenarios (sparse, 90/10, confusing and colluding
    # pairs, unspaced Khmer), beside crowd-kit on the same answers.
    print("\nscenarios (bench/quality_scenarios.py), crowd-kit beside the product:")
    for line in quality_scenarios.label_table(args.seed, args.crowd_kit_python):
        print(line)
    for line in quality_scenarios.transcription_table(args.seed, args.crowd_kit_python):
        print(line)


def _final(figures: dict) -> float:
    return next(value for name, value in figures.items() if name.startswith("final stored"))


def report(
    args, overrides, personas, answers, rounds, seconds, labels, multi, text, crowd, table, big
):
    print("=" * 78)
    if overrides:
        print(f"EXPERIMENT, settings overridden: {overrides}")
    quality = {n: getattr(settings, n) for n in dir(settings) if n.startswith("QUALITY_")}
    print(f"seed {args.seed}; settings {quality}")
    mix = Counter(p.kind + (" sleeper" if p.sleeper else "") for p in personas)
    print(f"crowd: {args.workers} workers {dict(sorted(mix.items()))}")
    print(
        f"sets: label {args.label_tasks}, multilabel {args.multilabel_tasks}, transcription "
        f"{args.transcription_tasks} tasks x 3 answers, gold {args.gold_ratio / 10:.0f}% of "
        f"served work; training {settings.QUALITY_TRAINING_CHECKS}-"
        f"{settings.QUALITY_TRAINING_MAX_CHECKS} checks/attempt, "
        f"{args.training_attempts} attempts"
    )
    print(
        f"crowd run: {answers} answers through claim_next_task/submit_answer in {rounds} rounds, "
        f"{seconds:.0f} s ({seconds / max(answers, 1) * 1000:.1f} ms per claim+submit)"
    )
    print()
    print(
        f"Label set ({labels['tasks']} regular tasks, {labels['answers']} answers incl. gold), "
        "accuracy:"
    )
    for name, value in labels.items():
        if name not in ("tasks", "answers"):
            print(f"  {name:<38} {percent(value)}")
    if not any(name.startswith("crowd-kit") for name in labels):
        print("  crowd-kit not installed")
    print(f"Multi-label set ({multi['tasks']} regular tasks), exact-set accuracy:")
    for name, value in multi.items():
        if name != "tasks":
            print(f"  {name:<38} {percent(value)}")
    print(f"Transcription set ({text['tasks']} regular tasks), mean word error rate:")
    for name, value in text.items():
        if name != "tasks":
            print(f"  {name:<38} {percent(value)}")
    print()
    print(
        "Training and the floor per skill: workers who qualified / never qualified / were demoted"
    )
    for line in table:
        print("  " + line)
    stopped, naive = crowd["naive_stopped"]
    print(f"  naive bad workers stopped by training in every skill: {stopped} of {naive}")
    print(f"  honest workers who never qualified in label: {crowd['honest_failed_label']}")
    print(f"  rebuilt standings that differ from the stored rows: {crowd['fold_mismatches']}")
    print()
    ds = labels["DS one_coin, gold fixed"]
    kit = labels.get("crowd-kit DawidSkene gold")
    bad_q, bad_d = crowd["bad_label"]
    honest_q, honest_d = crowd["honest_label"]
    rows = [
        ("label accuracy, final stored (product)", percent(_final(labels)), ""),
        ("  DS one_coin, gold fixed (aggregation)", percent(ds), "= crowd-kit +/- 0.5 pt"),
        (
            "  crowd-kit DS (gold as true_labels)",
            percent(kit) if kit is not None else "not installed",
            "",
        ),
        ("  majority vote", percent(labels["majority vote"]), ""),
        (
            "transcription WER, final stored (product)",
            percent(_final(text)),
            "(lower is better)",
        ),
        (
            "  equal-weight ROVER / most common",
            f"{percent(text['ROVER, equal weights'])} / {percent(text['most common text'])}",
            "",
        ),
        ("multi-label exact-set, final stored", percent(_final(multi)), ""),
        ("  majority per tag", percent(multi["majority per tag"]), ""),
        (
            f"Spearman(label score, true acc.), n={crowd['spearman_n']}",
            f"{crowd['spearman']:8.3f}",
            ">= 0.9",
        ),
        ("  honest workers only", f"{crowd['spearman_honest']:8.3f}", ""),
        ("bad workers caught by the floor (label)", f"{bad_d} of {bad_q}", "all that qualified"),
        (
            "honest workers demoted (label)",
            f"{honest_d} of {honest_q}",
            f"<= 1% ({honest_d / max(honest_q, 1) * 100:.1f}%)",
        ),
        (
            "  same, all three skills",
            f"{crowd['bad_all'][1]} of {crowd['bad_all'][0]}; "
            f"{crowd['honest_all'][1]} of {crowd['honest_all'][0]}",
            "",
        ),
    ]
    if big is not None:
        rows += [
            (
                f"aggregate {big['answers'] // 3:,} tasks x 3, read incl.",
                f"{big['seconds']:6.2f} s",
                "<= 5 s",
            ),
            ("  of which the read", f"{big['read seconds']:6.2f} s", ""),
            (
                "  product aggregate_set (+ write-back)",
                f"{big['product seconds']:6.2f} s",
                f"accuracy {percent(big['product accuracy'])}",
            ),
            (
                "  accuracy DS / majority",
                f"{percent(big['DS accuracy'])} / {percent(big['MV accuracy'])}",
                "",
            ),
        ]
        if "crowd-kit accuracy" in big:
            rows.append(
                (
                    "  crowd-kit DS (gold) accuracy, time",
                    f"{percent(big['crowd-kit accuracy'])}, {big['crowd-kit seconds']:.2f} s",
                    "",
                )
            )
    print(f"{'figure':<44}{'value':>22}   aim")
    for name, value, aim in rows:
        print(f"{name:<44}{value:>22}   {aim}")


if __name__ == "__main__":
    main()
