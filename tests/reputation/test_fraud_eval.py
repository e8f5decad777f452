"""The fraud signals against bench/fraud_eval.py's synthetic crowd, small and seeded
(~7 s): every fraud type caught at the aim's recall, and honest workers (among them a
centre's cohort sharing its phones and address) left alone. Pure Python: no database."""

import importlib.util
from pathlib import Path

import pytest

from reputation.fraud import Signal

BENCH = Path(__file__).resolve().parents[2] / "bench" / "fraud_eval.py"
RECALL_AIM = 0.90
FALSE_POSITIVE_AIM = 0.01


@pytest.fixture(scope="module")
def result():
    spec = importlib.util.spec_from_file_location("fraud_eval", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    outcome = bench.simulate(seed=11, workers=100, days=2, per_type=10)
    assert set(outcome["types"]) == set(bench.FRAUD_TYPES)
    return outcome


def test_every_fraud_type_is_caught_by_its_signal(result):
    recalls = {name: t["recall"] for name, t in result["types"].items()}
    assert all(recall >= RECALL_AIM for recall in recalls.values()), recalls


def test_centre_workers_are_never_flagged_for_sharing_its_phones_or_address(result):
    assert result["centre_sharing"] == 0
    assert result["per_signal"].get(Signal.DUPLICATE_ACCOUNT, 0) == 0
    assert result["per_signal"].get(Signal.IMPOSSIBLE_ACTIVITY, 0) == 0


def test_honest_workers_are_rarely_flagged_by_the_answer_signals(result):
    for signal in (
        Signal.TOO_FAST,
        Signal.STRAIGHT_LINING,
        Signal.GOLD_FAILURES,
        Signal.LOW_AGREEMENT,
        Signal.CHURN,
    ):
        rate = result["per_signal"].get(signal, 0) / result["honest"]
        assert rate <= FALSE_POSITIVE_AIM, (signal, rate)


def test_honest_workers_are_rarely_flagged_for_copying(result):
    rate = result["per_signal"].get(Signal.COPYING, 0) / result["honest"]
    assert rate <= FALSE_POSITIVE_AIM, result["flagged_honest_detail"]
