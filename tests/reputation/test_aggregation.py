"""Consensus functions in reputation.aggregation: pure NumPy, no database."""

import numpy as np
import pytest

from reputation.aggregation import (
    character_error_rate,
    dawid_skene,
    majority_vote,
    multilabel_dawid_skene,
    normalise_text,
    transcription_consensus,
    transcription_medoid,
    weighted_vote,
    word_error_rate,
)

N_LABELS = 4


def synthetic_crowd(seed, *, n_tasks, accuracy, answers_per_task=3):
    """Each task answered by distinct random workers; a worker is right with its accuracy and
    otherwise picks one of the other labels uniformly. Returns answers and the true labels."""
    rng = np.random.default_rng(seed)
    true_labels = rng.integers(0, N_LABELS, n_tasks)
    workers = np.argsort(rng.random((n_tasks, accuracy.shape[0])), axis=1)[:, :answers_per_task]
    task_idx = np.repeat(np.arange(n_tasks), answers_per_task)
    worker_idx = workers.ravel()
    truth = true_labels[task_idx]
    wrong = (truth + rng.integers(1, N_LABELS, truth.shape[0])) % N_LABELS
    label_idx = np.where(rng.random(truth.shape[0]) < accuracy[worker_idx], truth, wrong)
    return task_idx, worker_idx, label_idx, true_labels, rng


def test_dawid_skene_beats_majority_when_two_spammers_outvote_a_good_worker():
    # Workers 0-3 are good; 4-5 answer at random, 6 always says 1 and 7 always says 2.
    accuracy = np.array([0.9, 0.9, 0.9, 0.9, 0.25, 0.25, 0.25, 0.25])
    task_idx, worker_idx, label_idx, true_labels, rng = synthetic_crowd(
        7, n_tasks=2000, accuracy=accuracy
    )
    label_idx = np.where(worker_idx >= 4, rng.integers(0, N_LABELS, label_idx.shape[0]), label_idx)
    label_idx = np.where(worker_idx == 6, 1, label_idx)
    label_idx = np.where(worker_idx == 7, 2, label_idx)
    two_spammers = np.bincount(task_idx, weights=worker_idx >= 4) == 2

    majority = majority_vote(task_idx, worker_idx, label_idx, 2000, N_LABELS)
    ds = dawid_skene(task_idx, worker_idx, label_idx, 2000, 8, N_LABELS)

    majority_right = majority.labels == true_labels
    ds_right = ds.labels == true_labels
    assert ds_right.mean() > majority_right.mean() + 0.10
    assert ds_right[two_spammers].mean() > majority_right[two_spammers].mean() + 0.25
    assert np.all(ds.worker_accuracy[:4] > 0.8)
    assert np.all(ds.worker_accuracy[4:] < 0.35)


def test_dawid_skene_confidence_is_a_posterior_and_tracks_accuracy():
    accuracy = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    task_idx, worker_idx, label_idx, true_labels, _ = synthetic_crowd(
        3, n_tasks=3000, accuracy=accuracy
    )
    ds = dawid_skene(task_idx, worker_idx, label_idx, 3000, 5, N_LABELS)

    assert np.all((ds.confidence > 0) & (ds.confidence <= 1))
    # Calibrated within a few points: mean confidence ~ accuracy.
    assert abs(ds.confidence.mean() - (ds.labels == true_labels).mean()) < 0.05


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gold_anchors_worker_estimates_that_colluders_would_capture(seed):
    # Workers 6 and 7 always answer 0. The one-coin model cannot say "always the same answer",
    # and without gold it explains the data best as "every task is 0 and they are perfect".
    accuracy = np.array([0.7] * 6 + [0.25] * 2)
    task_idx, worker_idx, label_idx, true_labels, _ = synthetic_crowd(
        seed, n_tasks=600, accuracy=accuracy
    )
    label_idx = np.where(worker_idx >= 6, 0, label_idx)
    gold = {task: int(true_labels[task]) for task in range(0, 600, 3)}
    not_gold = np.setdiff1d(np.arange(600), list(gold))

    without = dawid_skene(task_idx, worker_idx, label_idx, 600, 8, N_LABELS)
    with_gold = dawid_skene(task_idx, worker_idx, label_idx, 600, 8, N_LABELS, gold=gold)

    error_without = np.abs(without.worker_accuracy - accuracy).mean()
    error_with = np.abs(with_gold.worker_accuracy - accuracy).mean()
    assert error_with < 0.1 < error_without
    accuracy_without = (without.labels == true_labels)[not_gold].mean()
    accuracy_with = (with_gold.labels == true_labels)[not_gold].mean()
    assert accuracy_with > accuracy_without + 0.2


@pytest.mark.parametrize("model", ["one_coin", "full"])
def test_gold_label_stays_fixed_against_unanimous_answers(model):
    # Task 0: three workers say 1, gold says 2. Task 2 has no answers but is gold.
    task_idx = np.array([0, 0, 0, 1, 1, 1])
    worker_idx = np.array([0, 1, 2, 0, 1, 2])
    label_idx = np.array([1, 1, 1, 3, 3, 3])

    result = dawid_skene(
        task_idx, worker_idx, label_idx, 3, 3, N_LABELS, model=model, gold={0: 2, 2: 0}
    )

    assert result.labels[[0, 2]].tolist() == [2, 0]
    assert result.confidence[[0, 2]].tolist() == [1.0, 1.0]
    if model == "one_coin":
        # (The full model has no anchor for label 3 here: with unanimous answers, which label
        # they mean is a permutation it cannot resolve without gold for that label.)
        assert result.labels[1] == 3


def test_full_confusion_recovers_a_worker_who_swaps_two_labels():
    # Worker 4 is careful (0.95) but swaps labels 1 and 2; the others are honest and mediocre.
    accuracy = np.array([0.65, 0.65, 0.65, 0.65, 0.95])
    task_idx, worker_idx, label_idx, true_labels, _ = synthetic_crowd(
        11, n_tasks=1500, accuracy=accuracy
    )
    label_idx = np.where(worker_idx == 4, np.array([0, 2, 1, 3])[label_idx], label_idx)
    swapped_truth = np.isin(true_labels, [1, 2])

    one_coin = dawid_skene(task_idx, worker_idx, label_idx, 1500, 5, N_LABELS)
    full = dawid_skene(task_idx, worker_idx, label_idx, 1500, 5, N_LABELS, model="full")

    one_coin_right = one_coin.labels == true_labels
    full_right = full.labels == true_labels
    assert full_right.mean() > one_coin_right.mean() + 0.08
    # The swapper's answers are used, reversed: better than the honest workers alone could do.
    assert full_right[swapped_truth].mean() > 0.8 > one_coin_right[swapped_truth].mean() + 0.15
    # Two of four diagonal cells are ~0: the mean diagonal says "half right", not "good".
    assert 0.4 < full.worker_accuracy[4] < 0.6


def test_dawid_skene_starts_from_reputation_and_is_deterministic():
    accuracy = np.array([0.9, 0.8, 0.6, 0.4, 0.3])
    task_idx, worker_idx, label_idx, true_labels, _ = synthetic_crowd(
        5, n_tasks=500, accuracy=accuracy
    )
    first = dawid_skene(task_idx, worker_idx, label_idx, 500, 5, N_LABELS, prior_accuracy=accuracy)
    second = dawid_skene(task_idx, worker_idx, label_idx, 500, 5, N_LABELS, prior_accuracy=accuracy)

    np.testing.assert_array_equal(first.labels, second.labels)
    np.testing.assert_array_equal(first.confidence, second.confidence)
    assert (first.labels == true_labels).mean() > 0.75


def test_weighted_vote_prefers_the_high_reputation_worker():
    # One task: worker 0 (reputation 0.95) says 3, workers 1 and 2 (0.4 each) say 1.
    task_idx = np.array([0, 0, 0])
    worker_idx = np.array([0, 1, 2])
    label_idx = np.array([3, 1, 1])
    reputation = np.array([0.95, 0.4, 0.4])

    weighted = weighted_vote(task_idx, worker_idx, label_idx, 1, N_LABELS, reputation)
    majority = majority_vote(task_idx, worker_idx, label_idx, 1, N_LABELS)

    assert weighted.labels.tolist() == [3]
    assert majority.labels.tolist() == [1]
    # One-coin posterior: 0.95*3/0.05 = 57 against (0.4*3/0.6)^2 = 4 and 1 for the others.
    assert weighted.confidence[0] == pytest.approx(57 / (57 + 4 + 1 + 1))


def test_weighted_vote_breaks_ties_by_votes_then_lower_label():
    # Task 0: equal weights on labels 2 and 1 -> 1. Task 1: two below-chance workers count 0,
    # yet their label (3) beats labels nobody chose; the lone vote for 2 loses on count.
    task_idx = np.array([0, 0, 1, 1, 1])
    worker_idx = np.array([0, 1, 2, 3, 4])
    label_idx = np.array([2, 1, 3, 3, 2])
    reputation = np.array([0.8, 0.8, 0.1, 0.1, 0.2])

    result = weighted_vote(task_idx, worker_idx, label_idx, 2, N_LABELS, reputation)

    assert result.labels.tolist() == [1, 3]
    assert result.confidence[1] == pytest.approx(1 / N_LABELS)


def test_majority_vote_ties_go_to_the_lower_label_and_confidence_is_the_share():
    task_idx = np.array([0, 0, 1, 1, 1])
    worker_idx = np.array([0, 1, 0, 1, 2])
    label_idx = np.array([3, 2, 1, 1, 0])

    result = majority_vote(task_idx, worker_idx, label_idx, 2, N_LABELS)

    assert result.labels.tolist() == [2, 1]
    np.testing.assert_allclose(result.confidence, [0.5, 2 / 3])


def test_tasks_without_answers_get_minus_one_and_zero_confidence():
    no_answers = np.array([], dtype=np.int64)
    one_answer = (np.array([1]), np.array([0]), np.array([2]))

    for task_idx, worker_idx, label_idx in [(no_answers, no_answers, no_answers), one_answer]:
        results = [
            majority_vote(task_idx, worker_idx, label_idx, 3, N_LABELS),
            weighted_vote(task_idx, worker_idx, label_idx, 3, N_LABELS, np.array([0.8])),
            dawid_skene(task_idx, worker_idx, label_idx, 3, 1, N_LABELS),
            dawid_skene(task_idx, worker_idx, label_idx, 3, 1, N_LABELS, model="full"),
        ]
        for result in results:
            assert result.labels[[0, 2]].tolist() == [-1, -1]
            assert result.confidence[[0, 2]].tolist() == [0.0, 0.0]
            if task_idx.size:
                assert result.labels[1] == 2

    multilabel = multilabel_dawid_skene(
        no_answers, no_answers, np.zeros((0, 3), dtype=bool), 2, 1, 3
    )
    assert not multilabel.chosen.any()
    assert multilabel.confidence.tolist() == [0.0, 0.0]


def test_out_of_range_indices_are_refused():
    with pytest.raises(ValueError, match="label_idx"):
        dawid_skene(np.array([0]), np.array([0]), np.array([N_LABELS]), 1, 1, N_LABELS)


def test_multilabel_dawid_skene_ignores_spammers_and_a_worker_who_ticks_nothing():
    rng = np.random.default_rng(4)
    n_tasks, n_workers, n_labels = 1000, 8, 5
    true_sets = rng.random((n_tasks, n_labels)) < 0.3
    workers = np.argsort(rng.random((n_tasks, n_workers)), axis=1)[:, :3]
    task_idx = np.repeat(np.arange(n_tasks), 3)
    worker_idx = workers.ravel()
    truth = true_sets[task_idx]
    # Workers 0-3 tick 90% of what applies and 5% of what does not; 4-6 tick at random; 7 never.
    careful = np.where(truth, rng.random(truth.shape) < 0.9, rng.random(truth.shape) < 0.05)
    chosen = np.where((worker_idx < 4)[:, None], careful, rng.random(truth.shape) < 0.5)
    chosen[worker_idx == 7] = False

    result = multilabel_dawid_skene(task_idx, worker_idx, chosen, n_tasks, n_workers, n_labels)

    votes = np.zeros((n_tasks, n_labels))
    np.add.at(votes, task_idx, chosen)
    majority_right = ((votes >= 2) == true_sets).all(axis=1).mean()
    ds_right = (result.chosen == true_sets).all(axis=1).mean()
    assert ds_right > majority_right + 0.15
    assert np.all(result.worker_accuracy[:4] > 0.85)
    assert np.all(np.abs(result.worker_accuracy[4:] - 0.5) < 0.07)
    # confidence is P(whole set right): on average close to the share of sets that are right.
    assert abs(result.confidence.mean() - ds_right) < 0.05


def test_multilabel_gold_set_stays_fixed():
    task_idx = np.array([0, 0, 1])
    worker_idx = np.array([0, 1, 0])
    chosen = np.array([[True, False], [True, False], [False, True]])
    gold = {0: np.array([False, True])}

    result = multilabel_dawid_skene(task_idx, worker_idx, chosen, 2, 2, 2, gold=gold)

    assert result.chosen[0].tolist() == [False, True]
    assert result.confidence[0] == 1.0


def test_rover_combines_three_single_word_errors_where_the_medoid_cannot():
    texts = [
        "the quick brown fox jumps over the lazy dog",
        "the quick brown box jumps over the lazy dog",
        "the quick brown fox jumps over a lazy dog",
    ]
    texts[0] = texts[0].replace("quick", "quack")
    weights = [1.0, 1.0, 1.0]

    consensus, confidence = transcription_consensus(texts, weights)
    medoid, _ = transcription_medoid(texts, weights)

    assert consensus == "the quick brown fox jumps over the lazy dog"
    assert medoid in texts
    assert medoid != consensus
    # Six slots agree fully, three by two thirds.
    assert confidence == pytest.approx((6 + 3 * 2 / 3) / 9)


def test_rover_aligns_insertions_and_deletions_and_keeps_the_surface_form():
    # Words vote casefolded and without punctuation; the output is the heavier spelling.
    texts = ["The cat sat on the mat.", "The cat sat on mat.", "the big cat sat on the mat"]

    consensus, _ = transcription_consensus(texts, [1.0, 1.0, 1.0])

    assert consensus == "The cat sat on the mat."


def test_rover_follows_the_weight():
    texts = ["a red car", "a rod car", "a rod car"]

    assert transcription_consensus(texts, [0.9, 0.2, 0.2])[0] == "a red car"
    assert transcription_consensus(texts, [0.3, 0.2, 0.2])[0] == "a rod car"


def test_transcription_edge_cases():
    assert transcription_consensus([], []) == ("", 0.0)
    assert transcription_medoid([], []) == ("", 0.0)
    assert transcription_consensus(["  only   one "], [0.3]) == ("only one", 1.0)
    assert transcription_consensus(["", ""], [1.0, 1.0]) == ("", 1.0)
    # No reputation anywhere yet: everyone counts the same.
    assert transcription_consensus(["x y", "x z", "x y"], [0, 0, 0])[0] == "x y"
    with pytest.raises(ValueError):
        transcription_consensus(["a", "b"], [1.0])


def test_character_and_word_error_rates():
    assert character_error_rate("kitten", "sitting") == pytest.approx(3 / 7)
    assert character_error_rate("abc", "abc") == 0.0
    assert character_error_rate("abc", "") == 3.0
    assert word_error_rate("the cat sat", "the cat sat down") == pytest.approx(1 / 4)
    assert word_error_rate("a cat sat", "the cat sat") == pytest.approx(1 / 3)
    assert word_error_rate("", "") == 0.0


def test_normalise_text():
    composed, decomposed = "caf\u00e9", "cafe\u0301"
    assert composed != decomposed
    assert normalise_text(composed) == normalise_text(decomposed)
    assert normalise_text("  Hello \t\n  World  ") == "hello world"
    assert normalise_text("Hello  World", casefold=False) == "Hello World"
    assert normalise_text("Straße") == "strasse"
    assert normalise_text("Hello, world! «Don't» — ok", strip_punctuation=True) == (
        "hello world dont ok"
    )


# --- Full Dawid-Skene on sparse and skewed sets; model choice; priors; ties (issue 20) ---


def sparse_crowd(seed, n_tasks=1500):
    """Two answers a task: one from a core of 30 workers, one from a worker who answers once."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, N_LABELS, n_tasks)
    accuracy = np.concatenate([rng.uniform(0.6, 0.95, 30), rng.uniform(0.5, 0.95, n_tasks)])
    task_idx = np.repeat(np.arange(n_tasks), 2)
    worker_idx = np.empty(2 * n_tasks, dtype=np.intp)
    worker_idx[0::2] = rng.integers(0, 30, n_tasks)
    worker_idx[1::2] = 30 + np.arange(n_tasks)
    right = truth[task_idx]
    wrong = (right + rng.integers(1, N_LABELS, right.size)) % N_LABELS
    label_idx = np.where(rng.random(right.size) < accuracy[worker_idx], right, wrong)
    return task_idx, worker_idx, label_idx, truth, 30 + n_tasks


def test_full_dawid_skene_stays_near_one_coin_on_sparse_answers():
    task_idx, worker_idx, label_idx, truth, n_workers = sparse_crowd(5)
    args = (task_idx, worker_idx, label_idx, truth.size, n_workers, N_LABELS)
    one_coin = (dawid_skene(*args).labels == truth).mean()
    full = (dawid_skene(*args, model="full").labels == truth).mean()
    # Unregularised, full collapsed whole classes here (23.5% in the simulator).
    assert one_coin > 0.7
    assert full > one_coin - 0.04


def test_full_dawid_skene_follows_single_answers_and_is_not_swayed_by_a_gold_task():
    # 40 tasks answered once each, by 40 different workers.
    n_tasks = 40
    answers = np.arange(n_tasks) % N_LABELS
    single = dawid_skene(
        np.arange(n_tasks), np.arange(n_tasks), answers, n_tasks, n_tasks, N_LABELS, model="full"
    )
    assert np.array_equal(single.labels, answers)
    assert np.all(single.confidence > 0.3)  # unregularised: 0.25, the answer counted for nothing

    # Two workers agree on 3 for task 0; task 1 is gold, label 1 (unregularised: all three 1).
    task_idx, worker_idx, label_idx = [0, 0, 1, 1, 2], [0, 1, 2, 3, 4], [3, 3, 0, 0, 2]
    result = dawid_skene(task_idx, worker_idx, label_idx, 3, 5, N_LABELS, model="full", gold={1: 1})
    assert result.labels.tolist() == [3, 1, 2]


def test_auto_uses_full_only_where_every_class_has_enough_answers():
    task_idx, worker_idx, label_idx, truth, n_workers = sparse_crowd(6)
    sparse = dawid_skene(
        task_idx, worker_idx, label_idx, truth.size, n_workers, N_LABELS, model="auto"
    )
    assert (sparse.model, sparse.model_reason) == ("one_coin", "too_few_answers_per_class")

    accuracy = np.full(8, 0.85)
    task_idx, worker_idx, label_idx, truth, _ = synthetic_crowd(8, n_tasks=2000, accuracy=accuracy)
    dense = dawid_skene(task_idx, worker_idx, label_idx, 2000, 8, N_LABELS, model="auto")
    assert (dense.model, dense.model_reason) == ("full", "enough_answers_per_class")
    assert (dense.labels == truth).mean() > 0.9
    assert dawid_skene(task_idx, worker_idx, label_idx, 2000, 8, N_LABELS).model == "one_coin"


def test_a_rare_class_survives_when_full_is_asked_for_on_sparse_answers():
    # 90/10 over two labels, two answers a task: one from a core of 30, one from a newcomer.
    task_idx, worker_idx, _labels, _truth, n_workers = sparse_crowd(12)
    rng = np.random.default_rng(12)
    n_tasks = task_idx.size // 2
    truth = (rng.random(n_tasks) < 0.1).astype(np.intp)
    label_idx = np.where(rng.random(task_idx.size) < 0.85, truth[task_idx], 1 - truth[task_idx])
    args = (task_idx, worker_idx, label_idx, n_tasks, n_workers, 2)
    one_coin = dawid_skene(*args).labels
    auto = dawid_skene(*args, model="auto")
    rare = truth == 1
    # What a requester who asks for the full model gets: one-coin here, and the reason why
    # (unregularised full recalled the rare class on 1% of its tasks on these answers).
    assert auto.model_reason == "too_few_answers_per_class"
    assert (auto.labels[rare] == 1).mean() >= (one_coin[rare] == 1).mean() - 0.05 > 0.6


@pytest.mark.parametrize("bad", [np.nan, -0.1, 1.5, np.inf])
def test_dawid_skene_refuses_a_prior_that_is_not_a_probability(bad):
    prior = np.array([0.8, bad])
    with pytest.raises(ValueError, match="probabilities"):
        dawid_skene([0, 0], [0, 1], [1, 2], 1, 2, N_LABELS, prior_accuracy=prior)


def test_dawid_skene_ties_are_drawn_per_task_not_given_to_the_lower_label():
    # Two workers who always disagree, symmetrically: every task is an exact tie of 0 and 1.
    n_tasks = 200
    task_idx = np.repeat(np.arange(n_tasks), 2)
    worker_idx = np.tile([0, 1], n_tasks)
    label_idx = np.where(
        np.arange(2 * n_tasks) % 4 < 2, np.tile([0, 1], n_tasks), np.tile([1, 0], n_tasks)
    )
    first = dawid_skene(task_idx, worker_idx, label_idx, n_tasks, 2, N_LABELS)
    again = dawid_skene(task_idx, worker_idx, label_idx, n_tasks, 2, N_LABELS)
    assert set(first.labels.tolist()) == {0, 1}
    assert 0.3 < (first.labels == 0).mean() < 0.7
    assert np.array_equal(first.labels, again.labels)


def test_dawid_skene_ties_go_to_the_heavier_answers_first():
    # Task 0: worker 0 (right on every other task) says 2, worker 1 (wrong elsewhere) says 3;
    # the one-coin posterior is no tie there, so this pins the label to the heavier answer.
    task_idx = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    worker_idx = np.array([0, 1, 0, 2, 0, 2, 1, 2])
    label_idx = np.array([2, 3, 1, 1, 0, 0, 3, 0])
    result = dawid_skene(task_idx, worker_idx, label_idx, 4, 3, N_LABELS)
    assert result.labels[0] == 2


# --- Unspaced scripts: grapheme alignment and grapheme CER (issue 20 point 2) ---

KHMER = "ក្មេងរៀនភាសាខ្មែរនៅសាលា"  # "a child learns Khmer at school", no spaces


def test_rover_combines_grapheme_errors_in_unspaced_khmer():
    # Each answer has one different grapheme wrong; word by word, each answer is one "word" and
    # the vote could only pick a whole answer with its error.
    answers = [
        KHMER.replace("ក្មេ", "ក្ម"),  # vowel sign missing
        KHMER.replace("ភា", "ព"),  # wrong consonant and vowel
        KHMER.replace("សាលា", "សាលាា"),  # a doubled vowel sign
    ]
    assert all(answer != KHMER for answer in answers)
    text, confidence = transcription_consensus(answers, [1.0, 1.0, 1.0])
    assert text == KHMER
    assert 0.5 < confidence < 1.0


def test_zero_width_spaces_do_not_count_and_spaced_text_stays_word_level():
    with_breaks = "ក្មេង\u200bរៀន\u200bភាសា"
    assert normalise_text(with_breaks) == "ក្មេងរៀនភាសា"
    text, _ = transcription_consensus([with_breaks, "ក្មេងរៀនភាសា", "ក្មេងរៀនភាសា"], [1, 1, 1])
    assert text == "ក្មេងរៀនភាសា"
    # English keeps word-level ROVER: a misspelt word loses as a whole.
    text, _ = transcription_consensus(["the red sign", "the rad sign", "the red sign"], [1, 1, 1])
    assert text == "the red sign"


def test_character_error_rate_counts_graphemes():
    # A missing vowel sign is one wrong character of the two a reader sees in "ក្មេង".
    assert character_error_rate("ក្មង", "ក្មេង") == pytest.approx(1 / 2)
    assert character_error_rate("kitten", "sitting") == pytest.approx(3 / 7)
