"""Quality aggregation: accuracy and speed of the consensus in reputation/aggregation.py on a
seeded synthetic crowd, against crowd-kit's Dawid-Skene when it is importable.

The crowd answers single-label tasks with 4 labels (skewed class priors); each task gets 3 answers
from 3 different workers drawn from: good (accuracy ~0.9), mediocre (~0.7), uniform spammers, and
workers who always give the same answer. Reputation for the weighted vote is the Beta(1, 1)
posterior mean after 20 gold questions per worker, as the live system would have it.

    .venv/bin/python bench/quality_aggregate.py --tasks 100000
    createdb marketplace_bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/marketplace_bench \\
        .venv/bin/python bench/quality_aggregate.py --tasks 100000 --database

--database loads the answers into a scratch table (quality_bench_answers, dropped at the end)
and times one SELECT of them, the id mapping and Dawid-Skene together, as a set's finalisation
would run. crowd-kit is a comparison only, never a runtime dependency: `pip install crowd-kit`
into a scratch environment to see its figures.
"""

import argparse
import io
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reputation.aggregation import dawid_skene, majority_vote, weighted_vote

N_LABELS = 4
CLASS_PRIOR = np.array([0.4, 0.3, 0.2, 0.1])
ANSWERS_PER_TASK = 3
GOLD_QUESTIONS = 20  # per worker, for the simulated reputation
# Share of each kind of worker in the crowd.
CROWD_MIX = {"good": 0.4, "mediocre": 0.3, "spammer": 0.2, "constant": 0.1}


def make_crowd(n_tasks: int, n_workers: int, seed: int):
    """(task_idx, worker_idx, label_idx, true_labels, true_accuracy, reputation)."""
    rng = np.random.default_rng(seed)
    kinds = rng.choice(list(CROWD_MIX), size=n_workers, p=list(CROWD_MIX.values()))
    accuracy = np.where(
        kinds == "good",
        rng.uniform(0.85, 0.95, n_workers),
        np.where(kinds == "mediocre", rng.uniform(0.6, 0.8, n_workers), 1.0 / N_LABELS),
    )
    constant_answer = rng.integers(0, N_LABELS, n_workers)
    true_labels = rng.choice(N_LABELS, size=n_tasks, p=CLASS_PRIOR)

    # Three different workers per task: a random first, then two distinct nonzero offsets.
    first = rng.integers(0, n_workers, n_tasks)
    offset_a = rng.integers(1, n_workers, n_tasks)
    offset_b = rng.integers(1, n_workers - 1, n_tasks)
    offset_b += offset_b >= offset_a
    workers = np.stack([first, (first + offset_a) % n_workers, (first + offset_b) % n_workers], 1)

    task_idx = np.repeat(np.arange(n_tasks), ANSWERS_PER_TASK)
    worker_idx = workers.ravel()
    truth = true_labels[task_idx]
    # A wrong answer is one of the other labels, uniformly.
    wrong = (truth + rng.integers(1, N_LABELS, truth.shape[0])) % N_LABELS
    is_right = rng.random(truth.shape[0]) < accuracy[worker_idx]
    label_idx = np.where(is_right, truth, wrong)
    answer_kind = kinds[worker_idx]
    label_idx = np.where(
        answer_kind == "spammer", rng.integers(0, N_LABELS, truth.shape[0]), label_idx
    )
    label_idx = np.where(answer_kind == "constant", constant_answer[worker_idx], label_idx)

    gold_right = rng.binomial(GOLD_QUESTIONS, accuracy)
    reputation = (gold_right + 1) / (GOLD_QUESTIONS + 2)
    return task_idx, worker_idx, label_idx, true_labels, reputation


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


def report(name: str, labels, true_labels, seconds: float) -> None:
    accuracy = float((np.asarray(labels) == true_labels).mean())
    print(f"{name:<32} accuracy {accuracy * 100:6.2f} %   {seconds:7.3f} s")


def run_crowd_kit(task_idx, worker_idx, label_idx, true_labels) -> None:
    try:
        import pandas as pd
        from crowdkit.aggregation import DawidSkene, MajorityVote, OneCoinDawidSkene
    except ImportError:
        print("crowd-kit not installed: pip install crowd-kit to compare")
        return
    frame = pd.DataFrame({"task": task_idx, "worker": worker_idx, "label": label_idx})
    for name, model in (
        ("crowd-kit MajorityVote", MajorityVote()),
        ("crowd-kit DawidSkene", DawidSkene(n_iter=100)),
        ("crowd-kit OneCoinDawidSkene", OneCoinDawidSkene(n_iter=100)),
    ):
        predicted, seconds = timed(model.fit_predict, frame)
        labels = predicted.reindex(np.arange(true_labels.shape[0])).to_numpy()
        report(name, labels, true_labels, seconds)


def run_database(database_url: str, task_idx, worker_idx, label_idx, true_labels) -> None:
    import psycopg

    # Database ids are sparse and large, as real primary keys are; the mapping is timed too.
    task_ids = task_idx.astype(np.int64) * 7 + 1_000_003
    worker_ids = worker_idx.astype(np.int64) * 13 + 5_000_011
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("DROP TABLE IF EXISTS quality_bench_answers")
        connection.execute(
            "CREATE TABLE quality_bench_answers"
            " (id bigserial PRIMARY KEY, task_id bigint NOT NULL, worker_id bigint NOT NULL,"
            " label smallint NOT NULL)"
        )
        try:
            rows = np.stack([task_ids, worker_ids, label_idx.astype(np.int64)], axis=1)
            buffer = io.StringIO()
            np.savetxt(buffer, rows, fmt="%d", delimiter="\t")
            started = time.perf_counter()
            with connection.cursor().copy(
                "COPY quality_bench_answers (task_id, worker_id, label) FROM STDIN"
            ) as copy:
                copy.write(buffer.getvalue())
            print(f"{'load (COPY, not timed below)':<32} {time.perf_counter() - started:>22.3f} s")
            connection.execute("ANALYZE quality_bench_answers")

            for model in ("one_coin", "full"):
                started = time.perf_counter()
                fetched = (
                    connection.cursor()
                    .execute("SELECT task_id, worker_id, label FROM quality_bench_answers")
                    .fetchall()
                )
                answers = np.array(fetched, dtype=np.int64)
                read_seconds = time.perf_counter() - started
                task_keys, task_of_answer = np.unique(answers[:, 0], return_inverse=True)
                worker_keys, worker_of_answer = np.unique(answers[:, 1], return_inverse=True)
                result = dawid_skene(
                    task_of_answer,
                    worker_of_answer,
                    answers[:, 2],
                    task_keys.shape[0],
                    worker_keys.shape[0],
                    N_LABELS,
                    model=model,
                )
                total_seconds = time.perf_counter() - started
                truth = true_labels[(task_keys - 1_000_003) // 7]
                report(f"DB read + DS {model}", result.labels, truth, total_seconds)
                print(f"{'  of which SELECT + fetch':<32} {read_seconds:>22.3f} s")
        finally:
            connection.execute("DROP TABLE IF EXISTS quality_bench_answers")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--database", action="store_true", help="time a read from PostgreSQL")
    parser.add_argument("--no-crowd-kit", action="store_true", help="skip the comparison")
    options = parser.parse_args()

    task_idx, worker_idx, label_idx, true_labels, reputation = make_crowd(
        options.tasks, options.workers, options.seed
    )
    n_tasks, n_workers = options.tasks, options.workers
    print(
        f"{n_tasks} tasks x {ANSWERS_PER_TASK} answers, {n_workers} workers, {N_LABELS} labels,"
        f" seed {options.seed}"
    )
    result, seconds = timed(majority_vote, task_idx, worker_idx, label_idx, n_tasks, N_LABELS)
    report("majority vote", result.labels, true_labels, seconds)
    result, seconds = timed(
        weighted_vote, task_idx, worker_idx, label_idx, n_tasks, N_LABELS, reputation
    )
    report("weighted vote (reputation)", result.labels, true_labels, seconds)
    for model in ("one_coin", "full"):
        result, seconds = timed(
            dawid_skene, task_idx, worker_idx, label_idx, n_tasks, n_workers, N_LABELS, model=model
        )
        report(f"DS {model}", result.labels, true_labels, seconds)
    result, seconds = timed(
        dawid_skene,
        task_idx,
        worker_idx,
        label_idx,
        n_tasks,
        n_workers,
        N_LABELS,
        prior_accuracy=reputation,
    )
    report("DS one_coin, reputation start", result.labels, true_labels, seconds)

    if not options.no_crowd_kit:
        run_crowd_kit(task_idx, worker_idx, label_idx, true_labels)
    if options.database:
        database_url = os.environ.get("DATABASE_URL")
        if not database_url:
            parser.error("--database needs DATABASE_URL, e.g. postgres://postgres@127.0.0.1/x")
        run_database(database_url, task_idx, worker_idx, label_idx, true_labels)


if __name__ == "__main__":
    main()
