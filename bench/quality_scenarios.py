"""Label and transcription scenarios that hurt consensus models, run on the product's
aggregation beside crowd-kit on the same answers: sparse (two answers a task, many
one-answer workers), 90/10 imbalanced classes, confusing pairs, colluding pairs, 30%
spammers, and transcriptions in English and in Khmer written without spaces.

Pure NumPy, no database: `.venv/bin/python bench/quality_scenarios.py [--seed N]` prints
one table; bench/quality_eval.py prints it too. crowd-kit runs under --crowd-kit-python
(a separate venv: `python3 -m venv /tmp/crowdkit-venv && /tmp/crowdkit-venv/bin/pip
install crowd-kit`), never in the project's environment; without it its columns are "-".
crowd-kit's character ROVER splits on code points (its tokenizer is list(text)); every CER
here is counted in graphemes (reputation.text_align.character_error_rate).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reputation.aggregation import dawid_skene, majority_vote
from reputation.text_align import (
    character_error_rate,
    transcription_consensus,
)

CROWD_KIT_PYTHON = "/tmp/crowdkit-venv/bin/python"


@dataclass
class LabelScenario:
    name: str
    task_idx: np.ndarray
    worker_idx: np.ndarray
    label_idx: np.ndarray
    truth: np.ndarray
    n_workers: int
    n_labels: int


def _answers(rng, truth, task_idx, worker_idx, accuracy, n_labels, confusion_pair=None):
    """Each answer right with its worker's accuracy; a wrong answer goes to the confusing
    partner of the true label when confusion_pair is set (half the time), else uniformly."""
    true = truth[task_idx]
    wrong = (true + rng.integers(1, n_labels, true.size)) % n_labels
    if confusion_pair is not None:
        partner = true ^ 1  # 0<->1, 2<->3
        wrong = np.where(rng.random(true.size) < confusion_pair, partner, wrong)
    return np.where(rng.random(true.size) < accuracy[worker_idx], true, wrong)


def label_scenarios(seed: int) -> list[LabelScenario]:
    rng = np.random.default_rng(seed)
    scenarios = []
    k = 4

    def crowd(n_workers, spam_share=0.3):
        accuracy = rng.uniform(0.55, 0.95, n_workers)
        spam = rng.random(n_workers) < spam_share
        accuracy[spam] = 1.0 / k
        return accuracy

    # Dense and balanced: 2,000 tasks, 5 answers each, 60 workers, 30% spammers.
    n, w = 2000, 60
    truth = rng.integers(0, k, n)
    acc = crowd(w)
    t = np.repeat(np.arange(n), 5)
    wk = np.concatenate([rng.choice(w, 5, replace=False) for _ in range(n)])
    scenarios.append(LabelScenario("dense, 30% spam", t, wk, _answers(rng, truth, t, wk, acc, k),
                                   truth, w, k))  # fmt: skip

    # Sparse: 3,000 tasks, 2 answers each; a core of 40 workers gives half the answers,
    # 2,000 one-answer workers the other half.
    n = 3000
    truth = rng.integers(0, k, n)
    core, singles = 40, 3000
    acc = np.concatenate([crowd(core), crowd(singles)])
    t = np.repeat(np.arange(n), 2)
    wk = np.empty(2 * n, dtype=np.intp)
    wk[0::2] = rng.integers(0, core, n)
    wk[1::2] = core + np.arange(n)
    scenarios.append(LabelScenario("sparse, 2 a task", t, wk, _answers(rng, truth, t, wk, acc, k),
                                   truth, core + singles, k))  # fmt: skip

    # Imbalanced 90/10 over two labels, 3 answers a task.
    n, w, k2 = 3000, 50, 2
    truth = (rng.random(n) < 0.1).astype(np.intp)
    acc = rng.uniform(0.6, 0.95, w)
    acc[rng.random(w) < 0.3] = 0.5
    t = np.repeat(np.arange(n), 3)
    wk = np.concatenate([rng.choice(w, 3, replace=False) for _ in range(n)])
    scenarios.append(LabelScenario("imbalanced 90/10", t, wk,
                                   _answers(rng, truth, t, wk, acc, k2), truth, w, k2))  # fmt: skip

    # Confusing pairs: wrong answers go to the partner label 80% of the time.
    n, w = 2000, 40
    truth = rng.integers(0, k, n)
    acc = crowd(w, spam_share=0.1)
    t = np.repeat(np.arange(n), 3)
    wk = np.concatenate([rng.choice(w, 3, replace=False) for _ in range(n)])
    scenarios.append(LabelScenario("confusing pairs", t, wk,
                                   _answers(rng, truth, t, wk, acc, k, confusion_pair=0.8),
                                   truth, w, k))  # fmt: skip

    # Colluding pairs: 10 pairs; 30% of tasks are worked by one pair, who give one shared
    # random answer, beside one honest worker; the other tasks get 3 honest workers.
    n, w, pairs = 2000, 60, 10
    truth = rng.integers(0, k, n)
    acc = crowd(w, spam_share=0.0)
    honest = np.arange(2 * pairs, w)
    t = np.repeat(np.arange(n), 3)
    wk = np.concatenate([rng.choice(honest, 3, replace=False) for _ in range(n)])
    labels = _answers(rng, truth, t, wk, acc, k)
    by_pair = np.flatnonzero(rng.random(n) < 0.3)
    pair = rng.integers(0, pairs, by_pair.size)
    shared = rng.integers(0, k, by_pair.size)
    wk[3 * by_pair], wk[3 * by_pair + 1] = 2 * pair, 2 * pair + 1
    labels[3 * by_pair], labels[3 * by_pair + 1] = shared, shared
    scenarios.append(LabelScenario("colluding pairs", t, wk, labels, truth, w, k))
    return scenarios


def macro_f1(predicted, truth, n_labels) -> float:
    scores = []
    for label in range(n_labels):
        tp = np.sum((predicted == label) & (truth == label))
        fp = np.sum((predicted == label) & (truth != label))
        fn = np.sum((predicted != label) & (truth == label))
        scores.append(2 * tp / max(1, 2 * tp + fp + fn))
    return float(np.mean(scores))


def ours(scenario: LabelScenario) -> dict:
    figures = {}
    args = (scenario.task_idx, scenario.worker_idx, scenario.label_idx, scenario.truth.size)
    for name, model in (("one_coin", "one_coin"), ("full", "full"), ("auto", "auto")):
        started = time.perf_counter()
        result = dawid_skene(*args, scenario.n_workers, scenario.n_labels, model=model)
        seconds = time.perf_counter() - started
        figures[name] = (
            float((result.labels == scenario.truth).mean()),
            macro_f1(result.labels, scenario.truth, scenario.n_labels),
            seconds,
            result.model,
        )
    mv = majority_vote(*args, scenario.n_labels)
    figures["majority"] = (
        float((mv.labels == scenario.truth).mean()),
        macro_f1(mv.labels, scenario.truth, scenario.n_labels),
        0.0,
        "",
    )
    return figures


KIT_SCRIPT = r"""
import json, sys, time
import numpy as np, pandas as pd
from crowdkit.aggregation import DawidSkene, OneCoinDawidSkene, ROVER
out = {}
for path in sys.argv[1:]:
    data = np.load(path, allow_pickle=True)
    if "texts" in data:
        texts = [str(t) for t in data["texts"]]
        frame = pd.DataFrame({"task": data["task"], "worker": data["worker"], "text": texts})
        result = {}
        for level, tokenizer, detokenizer in (
            ("char", lambda s: list(s), lambda toks: "".join(toks)),
            ("word", lambda s: s.split(" "), lambda toks: " ".join(toks)),
        ):
            started = time.perf_counter()
            got = ROVER(tokenizer=tokenizer, detokenizer=detokenizer).fit_predict(frame)
            result[level] = ([str(got.get(i, "")) for i in range(int(data["n"]))],
                             time.perf_counter() - started)
        out[path] = result
        continue
    frame = pd.DataFrame({"task": data["task"], "worker": data["worker"], "label": data["label"]})
    result = {}
    models = (("ds", DawidSkene(n_iter=100)), ("one_coin", OneCoinDawidSkene(n_iter=100)))
    for name, model in models:
        started = time.perf_counter()
        got = model.fit_predict(frame)
        result[name] = ([int(got.get(i, -1)) for i in range(int(data["n"]))],
                        time.perf_counter() - started)
    out[path] = result
print(json.dumps(out))
"""


def crowd_kit(python: str, payloads: list[dict]) -> list[dict] | None:
    """crowd-kit's aggregators on the same answers, in its own interpreter."""
    if not Path(python).exists():
        return None
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for number, payload in enumerate(payloads):
            path = str(Path(folder) / f"s{number}.npz")
            np.savez(path, **payload)
            paths.append(path)
        done = subprocess.run(
            [python, "-c", KIT_SCRIPT, *paths], capture_output=True, text=True, check=False
        )
        if done.returncode:
            raise RuntimeError(f"crowd-kit comparison failed:\n{done.stderr}")
        out = json.loads(done.stdout)
        return [out[path] for path in paths]


def label_table(seed: int, python: str) -> list[str]:
    scenarios = label_scenarios(seed)
    kit = crowd_kit(
        python,
        [
            {"task": s.task_idx, "worker": s.worker_idx, "label": s.label_idx, "n": s.truth.size}
            for s in scenarios
        ],
    )
    lines = [
        f"{'labels (acc. / macro-F1 / s)':30} {'MV':>11} {'DS 1-coin':>17} {'DS full':>17} "
        f"{'DS auto':>22} {'kit 1-coin':>17} {'kit DS':>17}"
    ]
    for number, scenario in enumerate(scenarios):
        figures = ours(scenario)

        def cell(fig):
            return f"{100 * fig[0]:5.1f} {fig[1]:.2f} {fig[2]:5.2f}"

        kit_cells = ["-", "-"]
        if kit:
            kit_cells = []
            for name in ("one_coin", "ds"):
                labels, seconds = kit[number][name]
                labels = np.array(labels)
                kit_cells.append(
                    f"{100 * (labels == scenario.truth).mean():5.1f} "
                    f"{macro_f1(labels, scenario.truth, scenario.n_labels):.2f} {seconds:5.2f}"
                )
        auto = figures["auto"]
        lines.append(
            f"{scenario.name:30} {100 * figures['majority'][0]:5.1f} {figures['majority'][1]:.2f} "
            f"{cell(figures['one_coin']):>17} {cell(figures['full']):>17} "
            f"{cell(auto) + ' ' + auto[3][:4]:>22} {kit_cells[0]:>17} {kit_cells[1]:>17}"
        )
    return lines


# --- Transcriptions -----------------------------------------------------------------

KHMER_WORDS = [
    "ក្មេង", "សាលា", "រៀន", "ភាសា", "ខ្មែរ", "ទឹក", "ផ្ទះ", "ស្រី", "ប្រុស", "ញ៉ាំ",
    "បាយ", "ក្រុង", "ភ្នំពេញ", "សៀវភៅ", "គ្រូ", "ម្ដាយ", "ឪពុក", "ដើរ", "លេង", "ល្អ",
]  # fmt: skip
ENGLISH_WORDS = [
    "the", "a", "red", "stop", "sign", "near", "school", "house", "river", "bank", "green",
    "light", "road", "city", "park", "tree", "water", "bridge", "market", "street", "morning",
]  # fmt: skip


def _typo(rng, text: str, units: list[str], rate: float) -> str:
    """Drop, double or swap units (graphemes for Khmer, letters for English) at rate."""
    out = []
    for unit in units:
        roll = rng.random()
        if roll < rate / 3:
            continue
        if roll < 2 * rate / 3:
            out.append(unit)
            out.append(unit)
        elif roll < rate:
            out.append(units[rng.integers(0, len(units))])
        else:
            out.append(unit)
    return "".join(out)


def transcription_scenario(seed: int, *, khmer: bool, n_texts: int = 600, answers: int = 5):
    import regex

    rng = np.random.default_rng(seed)
    words = KHMER_WORDS if khmer else ENGLISH_WORDS
    separator = "" if khmer else " "
    truths, rows = [], []
    for task in range(n_texts):
        sentence = separator.join(words[i] for i in rng.integers(0, len(words), 6))
        truths.append(sentence)
        units = regex.findall(r"\X", sentence)
        for worker in range(answers):
            careless = worker == 0 and rng.random() < 0.5
            text = _typo(rng, sentence, units, 0.25 if careless else 0.04)
            rows.append((task, int(rng.integers(0, 50)), text))
    return truths, rows


def mean_cer(outputs, truths) -> float:
    return float(
        np.mean([character_error_rate(o, t) for o, t in zip(outputs, truths, strict=True)])
    )


def transcription_table(seed: int, python: str) -> list[str]:
    lines = [f"{'transcriptions (mean CER / s)':30} {'ours':>15} {'kit ROVER char':>16} "
             f"{'kit ROVER word':>16}"]  # fmt: skip
    scenarios = [
        ("English, spaced", transcription_scenario(seed, khmer=False)),
        ("Khmer, unspaced", transcription_scenario(seed, khmer=True)),
    ]
    kit = crowd_kit(
        python,
        [
            {
                "task": np.array([r[0] for r in rows]),
                "worker": np.array([f"{r[0]}-{i}" for i, r in enumerate(rows)]),
                "texts": np.array([r[2] for r in rows], dtype=object),
                "n": len(truths),
            }
            for _name, (truths, rows) in scenarios
        ],
    )
    for number, (name, (truths, rows)) in enumerate(scenarios):
        by_task: list[list[str]] = [[] for _ in truths]
        for task, _worker, text in rows:
            by_task[task].append(text)
        started = time.perf_counter()
        outputs = [transcription_consensus(texts, [1.0] * len(texts))[0] for texts in by_task]
        seconds = time.perf_counter() - started
        ours_cer = np.mean(
            [character_error_rate(o, t) for o, t in zip(outputs, truths, strict=True)]
        )
        cells = ["-", "-"]
        if kit:
            cells = []
            for level in ("char", "word"):
                got, kit_seconds = kit[number][level]
                cer = np.mean(
                    [character_error_rate(o, t) for o, t in zip(got, truths, strict=True)]
                )
                cells.append(f"{cer:.4f} {kit_seconds:6.2f}")
        lines.append(f"{name:30} {ours_cer:.4f} {seconds:6.2f} {cells[0]:>16} {cells[1]:>16}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--crowd-kit-python", default=CROWD_KIT_PYTHON)
    args = parser.parse_args()
    for line in label_table(args.seed, args.crowd_kit_python):
        print(line)
    for line in transcription_table(args.seed, args.crowd_kit_python):
        print(line)


if __name__ == "__main__":
    main()
