"""Consensus over crowd answers: the reputation-weighted vote as the live estimate, Dawid-Skene for
a set's final labels, per-label Dawid-Skene for multilabel tasks, and (from text_align) the
transcription consensus.

Pure NumPy and no Django, so it can run in a worker, a shell or a benchmark alike. Answers come in
as parallel integer arrays, one entry per answer, already mapped to dense indices 0..n-1 (the
caller maps database ids, e.g. with np.unique(..., return_inverse=True)). EM loops over
iterations only; every step inside is a bincount over the answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np

from reputation.text_align import (
    character_error_rate,
    normalise_text,
    transcription_consensus,
    transcription_medoid,
    word_error_rate,
)

__all__ = [
    "LabelResult",
    "MultilabelResult",
    "character_error_rate",
    "dawid_skene",
    "majority_vote",
    "multilabel_dawid_skene",
    "normalise_text",
    "transcription_consensus",
    "transcription_medoid",
    "weighted_vote",
    "word_error_rate",
]

# Reputation is a posterior mean; capping it keeps the log-odds finite and stops one near-perfect
# worker from overruling any number of others (0.99 is ~5.7 nats with 4 labels, ~2.9 votes of 0.7).
MAX_VOTE_ACCURACY = 0.99
# Sums of equal weights taken in a different order differ in the last bits: scores this close are a
# tie, so the documented tie-break decides and not the summation order.
TIE_TOLERANCE = 1e-9
# Laplace smoothing: one pseudo-count per estimated cell, so no probability is 0 and no log is -inf.
SMOOTHING = 1.0
# Full Dawid-Skene: each row of a worker's confusion matrix starts as this many pseudo-answers
# spread like the worker's own one-coin row (accuracy on the diagonal, the rest even), so a worker
# with a handful of answers in a class stays close to their one-coin self instead of being
# flattened toward 1/K by per-cell pseudo-counts (23.5% accuracy on sparse sets that way).
FULL_SHRINKAGE = 12.0
# ... and that one-coin row's accuracy starts as this many answers at the crowd's pooled accuracy.
POOLED_STRENGTH = 2.0
# No class prior may fall below this share of an even split: once a prior nears 0, EM can never
# bring the class back, and a rare class (10% of a 90/10 set) must stay reachable.
MIN_CLASS_PRIOR_SHARE = 0.1
# model="auto" uses the full matrices only when the answers carry enough evidence per class:
# at least this share of the answers comes from workers with FULL_MIN_ANSWERS_PER_CLASS expected
# answers in every class. Below that, most rows would be the shrinkage target anyway, and the
# extra K*K parameters per worker only add variance (sparse sets, one-answer workers).
FULL_MIN_ANSWERS_PER_CLASS = 10
FULL_MIN_ANSWER_SHARE = 0.8
# Ties that weights cannot break are drawn at random from this seed, per task, so a tie is
# neither biased toward label 0 nor different between two runs over the same set.
TIE_SEED = 20_261_207


@dataclass(frozen=True)
class LabelResult:
    labels: np.ndarray  # (n_tasks,) int label index per task, -1 if the task has no answers
    confidence: np.ndarray  # (n_tasks,) posterior probability of the chosen label, 0 if no answers
    worker_accuracy: np.ndarray  # (n_workers,) estimated P(correct); see each function
    # Dawid-Skene only: the model that produced the labels and why ("requested", or for
    # model="auto" "enough_answers_per_class" / "too_few_answers_per_class").
    model: str = ""
    model_reason: str = ""


class MultilabelResult(NamedTuple):
    chosen: np.ndarray  # (n_tasks, n_labels) bool
    confidence: np.ndarray  # (n_tasks,) P(the whole chosen set is right), 0 if no answers
    worker_accuracy: np.ndarray  # (n_workers,) balanced accuracy (sensitivity + specificity) / 2


def weighted_vote(
    task_idx, worker_idx, label_idx, n_tasks: int, n_labels: int, worker_weight
) -> LabelResult:
    """Reputation-weighted vote, the live estimate while a set is still collecting answers.

    worker_weight is each worker's P(correct), e.g. the reputation posterior mean. Each answer
    counts log(p (K-1) / (1-p)): under the one-coin model (wrong answers spread evenly over the
    other K-1 labels) that sum is the task's log-posterior up to a constant, so the vote is the
    Bayes decision and softmax(scores) its posterior, which is the confidence. Plain weights have
    no such reading: three 0.6 workers would outvote one 0.99 worker, which the data says not to.
    p is clipped to [1/K, MAX_VOTE_ACCURACY]: a below-chance reputation is more likely noise than
    a reliable contrarian, so it counts 0 rather than against its label.

    Ties (within TIE_TOLERANCE) go to the label with more answers, then the lower label index; a
    label nobody chose is never picked. worker_accuracy is each worker's smoothed agreement with
    the chosen labels, (agree + 1) / (answers + 2).
    """
    accuracy = np.asarray(worker_weight, dtype=float)
    if accuracy.ndim != 1 or not np.all(np.isfinite(accuracy)):
        raise ValueError("worker_weight must be a 1-D array of finite probabilities")
    n_workers = accuracy.shape[0]
    task_idx, worker_idx, label_idx = _checked_answers(
        task_idx, worker_idx, label_idx, n_tasks, n_workers, n_labels
    )
    answer_weight = _vote_log_odds(accuracy, n_labels)[worker_idx]
    scores = _per_task_label_sum(task_idx, label_idx, answer_weight, n_tasks, n_labels)
    counts = _per_task_label_sum(task_idx, label_idx, None, n_tasks, n_labels)
    answered = counts.sum(axis=1) > 0
    labels = _argmax_with_ties(scores, tie_key=counts)
    posterior = _softmax(scores)
    return _finish(labels, posterior, answered, worker_idx, task_idx, label_idx, n_workers)


def majority_vote(task_idx, worker_idx, label_idx, n_tasks: int, n_labels: int) -> LabelResult:
    """One answer, one vote; ties go to the lower label index.

    confidence is the chosen label's share of the task's answers. worker_accuracy is the
    smoothed agreement with the chosen labels, (agree + 1) / (answers + 2); workers are numbered
    0..max(worker_idx).
    """
    worker_idx = np.asarray(worker_idx)
    n_workers = int(worker_idx.max()) + 1 if worker_idx.size else 0
    task_idx, worker_idx, label_idx = _checked_answers(
        task_idx, worker_idx, label_idx, n_tasks, n_workers, n_labels
    )
    counts = _per_task_label_sum(task_idx, label_idx, None, n_tasks, n_labels)
    totals = counts.sum(axis=1, keepdims=True)
    answered = totals[:, 0] > 0
    labels = _argmax_with_ties(counts)
    share = counts / np.maximum(totals, 1)
    return _finish(labels, share, answered, worker_idx, task_idx, label_idx, n_workers)


def dawid_skene(
    task_idx,
    worker_idx,
    label_idx,
    n_tasks: int,
    n_workers: int,
    n_labels: int,
    *,
    model: Literal["one_coin", "full", "auto"] = "one_coin",
    gold: dict[int, int] | None = None,
    max_iter: int = 100,
    tol: float = 1e-6,
    prior_accuracy=None,
    seed: int = TIE_SEED,
) -> LabelResult:
    """Dawid-Skene EM for a set's final labels.

    one_coin: each worker has one accuracy p, wrong answers spread evenly over the other labels;
    few parameters, so it is the default for sparse sets. full: a K x K confusion matrix per
    worker, which also learns systematic confusions (a worker who swaps two labels still informs);
    each row is shrunk toward the worker's one-coin row by FULL_SHRINKAGE pseudo-answers, so
    workers with little evidence in a class fall back to one accuracy instead of to noise. auto:
    one_coin first, then full from its posterior only when the answers carry enough evidence per
    class (see FULL_MIN_ANSWERS_PER_CLASS); result.model and result.model_reason say which ran.
    Class priors are estimated and floored (MIN_CLASS_PRIOR_SHARE). Gold tasks (task -> true
    label) are one-hot on every iteration, so they anchor the worker estimates; a gold task keeps
    its gold label with confidence 1 even without answers.

    Starts from the majority-vote shares, or, given prior_accuracy (n_workers,) of probabilities
    e.g. from reputation, from the one-coin posterior with those accuracies. Stops when no
    posterior moves by tol or after max_iter iterations. worker_accuracy: p (one_coin) or the mean
    of the confusion matrix's diagonal (full); a worker with no answers gets the smoothed prior.

    Ties (within TIE_TOLERANCE) go to the label whose answers weigh more (each answer weighs its
    worker's estimated log-odds), then to a label drawn at random from seed, per task: the same
    set gives the same labels on every run, and no label index is favoured.

    Known limit of one_coin (crowd-kit's OneCoinDawidSkene shares it): it cannot describe a
    worker who always gives the same answer, and when several such workers give the same label,
    "every task is that label and they are perfect" is its most likely explanation. Gold tasks
    (about a third in tests/reputation) or model="full" avoid that collapse.
    """
    if model not in ("one_coin", "full", "auto"):
        raise ValueError(f"model must be 'one_coin', 'full' or 'auto', not {model!r}")
    task_idx, worker_idx, label_idx = _checked_answers(
        task_idx, worker_idx, label_idx, n_tasks, n_workers, n_labels
    )
    gold_tasks, gold_labels = _gold_arrays(gold, n_tasks)
    if gold_labels.size and (gold_labels.min() < 0 or gold_labels.max() >= n_labels):
        raise ValueError(f"gold labels must be in 0..{n_labels - 1}")
    gold_rows = np.eye(n_labels)[gold_labels]
    answered = np.bincount(task_idx, minlength=n_tasks) > 0
    # Tasks that carry evidence for the class priors; unanswered ones would only echo the prior.
    informative = answered.copy()
    informative[gold_tasks] = True
    fixed = (gold_tasks, gold_rows)

    if prior_accuracy is not None:
        accuracy = np.asarray(prior_accuracy, dtype=float)
        if accuracy.shape != (n_workers,):
            raise ValueError("prior_accuracy must have one entry per worker")
        if (
            not np.all(np.isfinite(accuracy))
            or accuracy.min(initial=0) < 0
            or accuracy.max(initial=0) > 1
        ):
            raise ValueError("prior_accuracy must hold probabilities in [0, 1]")
        # Clipped only now that it is known to be a probability: 0 and 1 would give infinite
        # log-odds, and one reputation must not decide a task alone.
        accuracy = np.clip(accuracy, 1e-3, 1 - 1e-3)
        posterior = _softmax(
            _one_coin_log_lik(task_idx, worker_idx, label_idx, accuracy, n_tasks, n_labels)
        )
    else:
        counts = _per_task_label_sum(task_idx, label_idx, None, n_tasks, n_labels)
        totals = counts.sum(axis=1, keepdims=True)
        posterior = np.where(totals > 0, counts / np.maximum(totals, 1), 1.0 / n_labels)
    posterior[gold_tasks] = gold_rows

    answers = (task_idx, worker_idx, label_idx)
    reason = "requested"
    chosen = model
    if model != "one_coin":
        # Full starts from the converged one-coin posterior: from the vote shares its first
        # M-step sees rows of a few answers each and can lock a rare class out for good.
        posterior = _em(posterior, answers, informative, fixed, n_workers, n_labels, "one_coin",
                        max_iter, tol)  # fmt: skip
    if model == "auto":
        if _enough_for_full(posterior, answers, n_workers, n_labels):
            chosen, reason = "full", "enough_answers_per_class"
        else:
            chosen, reason = "one_coin", "too_few_answers_per_class"
    if chosen == "full" or model == "one_coin":
        posterior = _em(posterior, answers, informative, fixed, n_workers, n_labels, chosen,
                        max_iter, tol)  # fmt: skip

    # Re-estimate the workers from the final posteriors, so accuracies and labels agree.
    _, worker_params = _m_step(
        posterior, informative, task_idx, worker_idx, label_idx, n_workers, n_labels, chosen
    )
    if chosen == "one_coin":
        worker_accuracy = worker_params
    else:
        worker_accuracy = worker_params.diagonal(axis1=1, axis2=2).mean(axis=1)

    answer_weight = _vote_log_odds(worker_accuracy, n_labels)[worker_idx]
    weight = _per_task_label_sum(task_idx, label_idx, answer_weight, n_tasks, n_labels)
    draw = np.random.default_rng(seed).random((n_tasks, n_labels))
    labels = _argmax_with_ties(posterior, tie_key=weight, then=draw)
    confidence = posterior[np.arange(n_tasks), labels]
    labels[~informative] = -1
    confidence[~informative] = 0.0
    return LabelResult(
        labels=labels,
        confidence=confidence,
        worker_accuracy=worker_accuracy,
        model=chosen,
        model_reason=reason,
    )


def _em(posterior, answers, informative, fixed, n_workers, n_labels, model, max_iter, tol):
    """Alternate M and E steps from posterior until nothing moves by tol; gold rows stay fixed."""
    task_idx, worker_idx, label_idx = answers
    gold_tasks, gold_rows = fixed
    n_tasks = posterior.shape[0]
    for _ in range(max_iter):
        class_prior, worker_params = _m_step(
            posterior, informative, task_idx, worker_idx, label_idx, n_workers, n_labels, model
        )
        if model == "one_coin":
            log_lik = _one_coin_log_lik(
                task_idx, worker_idx, label_idx, worker_params, n_tasks, n_labels
            )
        else:
            log_lik = _full_log_lik(task_idx, worker_idx, label_idx, worker_params, n_tasks)
        updated = _softmax(np.log(class_prior) + log_lik)
        updated[gold_tasks] = gold_rows
        moved = float(np.abs(updated - posterior).max()) if n_tasks else 0.0
        posterior = updated
        if moved < tol:
            break
    return posterior


def _enough_for_full(posterior, answers, n_workers, n_labels) -> bool:
    """Whether FULL_MIN_ANSWER_SHARE of the answers come from workers with at least
    FULL_MIN_ANSWERS_PER_CLASS expected answers on tasks of every class."""
    task_idx, worker_idx, _label_idx = answers
    if task_idx.size == 0 or n_labels < 2:
        return False
    per_class = _rows_sum(worker_idx, posterior[task_idx], n_workers)  # (n_workers, n_labels)
    rich = per_class.min(axis=1) >= FULL_MIN_ANSWERS_PER_CLASS
    return bool(rich[worker_idx].mean() >= FULL_MIN_ANSWER_SHARE)


def multilabel_dawid_skene(
    task_idx,
    worker_idx,
    chosen,
    n_tasks: int,
    n_workers: int,
    n_labels: int,
    *,
    gold: dict[int, np.ndarray] | None = None,
    max_iter: int = 100,
    tol: float = 1e-6,
) -> MultilabelResult:
    """Binary Dawid-Skene per label for multilabel tasks ("tick all that apply").

    Each worker has one shared 2x2 confusion across labels: a sensitivity (ticks a label that
    applies) and a specificity (leaves off one that does not). Shared, because every answer gives
    n_labels observations of the same habits, which keeps the estimates stable where a per-label
    accuracy would have a handful of answers each; two numbers rather than one coin, because
    multilabel errors are lopsided (missing a label is far more common than inventing one). Each
    label has its own estimated prevalence.

    chosen is (n_answers, n_labels) bool. confidence is the product of the per-label posteriors of
    the chosen values: the probability that the whole set is right, assuming labels independent
    (the minimum would only bound it). A task with no answers gets nothing chosen and confidence
    0; a gold task keeps its gold set with confidence 1.
    """
    chosen = np.asarray(chosen, dtype=bool)
    task_idx, worker_idx, _ = _checked_answers(
        task_idx, worker_idx, np.zeros(len(chosen), dtype=np.intp), n_tasks, n_workers, 1
    )
    if chosen.shape != (task_idx.shape[0], n_labels):
        raise ValueError("chosen must be (n_answers, n_labels)")
    gold_tasks, gold_sets = _gold_arrays(gold, n_tasks, width=n_labels)
    answers_per_task = np.bincount(task_idx, minlength=n_tasks)
    informative = answers_per_task > 0
    informative[gold_tasks] = True
    not_chosen = ~chosen

    # Start from the share of answers that ticked each label.
    present = (
        _rows_sum(task_idx, chosen.astype(float), n_tasks)
        / np.maximum(answers_per_task, 1)[:, None]
    )
    present[gold_tasks] = gold_sets

    def estimate_workers(present):
        present_ans = present[task_idx]
        absent_ans = 1.0 - present_ans
        sensitivity = (
            np.bincount(worker_idx, (present_ans * chosen).sum(axis=1), n_workers) + SMOOTHING
        ) / (np.bincount(worker_idx, present_ans.sum(axis=1), n_workers) + 2 * SMOOTHING)
        specificity = (
            np.bincount(worker_idx, (absent_ans * not_chosen).sum(axis=1), n_workers) + SMOOTHING
        ) / (np.bincount(worker_idx, absent_ans.sum(axis=1), n_workers) + 2 * SMOOTHING)
        return sensitivity, specificity

    for _ in range(max_iter):
        prevalence = (present[informative].sum(axis=0) + SMOOTHING) / (
            informative.sum() + 2 * SMOOTHING
        )
        sensitivity, specificity = estimate_workers(present)
        # Log-likelihood ratio (label applies : does not) of a tick and of a blank, per worker.
        tick_llr = np.log(sensitivity / (1 - specificity))
        blank_llr = np.log((1 - sensitivity) / specificity)
        answer_llr = np.where(chosen, tick_llr[worker_idx, None], blank_llr[worker_idx, None])
        logit = np.log(prevalence / (1 - prevalence)) + _rows_sum(task_idx, answer_llr, n_tasks)
        updated = np.exp(-np.logaddexp(0.0, -logit))
        updated[gold_tasks] = gold_sets
        moved = float(np.abs(updated - present).max()) if present.size else 0.0
        present = updated
        if moved < tol:
            break

    sensitivity, specificity = estimate_workers(present)
    result = present > 0.5
    confidence = np.where(result, present, 1.0 - present).prod(axis=1)
    result[~informative] = False
    confidence[~informative] = 0.0
    return MultilabelResult(result, confidence, (sensitivity + specificity) / 2)


def _checked_answers(task_idx, worker_idx, label_idx, n_tasks, n_workers, n_labels):
    """Validate parallel answer arrays and return them as intp."""
    checked = []
    for name, values, bound in (
        ("task_idx", task_idx, n_tasks),
        ("worker_idx", worker_idx, n_workers),
        ("label_idx", label_idx, n_labels),
    ):
        values = np.asarray(values)
        if values.ndim != 1:
            raise ValueError(f"{name} must be 1-D")
        if values.size == 0:
            values = values.astype(np.intp)
        elif not np.issubdtype(values.dtype, np.integer):
            raise ValueError(f"{name} must hold integers")
        elif values.min() < 0 or values.max() >= bound:
            raise ValueError(f"{name} must be in 0..{bound - 1}")
        checked.append(values.astype(np.intp, copy=False))
    if len({values.shape[0] for values in checked}) != 1:
        raise ValueError("task_idx, worker_idx and label_idx must have the same length")
    return tuple(checked)


def _gold_arrays(gold, n_tasks, width=None):
    """Gold dict -> (task indices, labels) arrays; labels are rows of bools when width is set."""
    if not gold:
        empty_labels = np.zeros((0, width), dtype=float) if width else np.zeros(0, dtype=np.intp)
        return np.zeros(0, dtype=np.intp), empty_labels
    tasks = np.fromiter(gold.keys(), dtype=np.intp, count=len(gold))
    if tasks.min() < 0 or tasks.max() >= n_tasks:
        raise ValueError(f"gold tasks must be in 0..{n_tasks - 1}")
    if width is None:
        return tasks, np.fromiter(gold.values(), dtype=np.intp, count=len(gold))
    labels = np.array([np.asarray(value, dtype=bool) for value in gold.values()], dtype=float)
    if labels.shape != (len(gold), width):
        raise ValueError("each gold set must have one bool per label")
    return tasks, labels


def _per_task_label_sum(task_idx, label_idx, weights, n_tasks, n_labels):
    """(n_tasks, n_labels) sum of the answers' weights (or counts) per task and label."""
    flat = task_idx * n_labels + label_idx
    summed = np.bincount(flat, weights=weights, minlength=n_tasks * n_labels)
    return summed.astype(float, copy=False).reshape(n_tasks, n_labels)


def _rows_sum(row_idx, values, n_rows):
    """Sum the rows of values (n_answers, m) into n_rows groups; a bincount per column."""
    summed = np.zeros((n_rows, values.shape[1]))
    for column in range(values.shape[1]):
        summed[:, column] = np.bincount(row_idx, weights=values[:, column], minlength=n_rows)
    return summed


def _vote_log_odds(accuracy, n_labels):
    if n_labels < 2:
        return np.zeros_like(accuracy)
    clipped = np.clip(accuracy, 1.0 / n_labels, MAX_VOTE_ACCURACY)
    return np.log(clipped * (n_labels - 1) / (1 - clipped))


def _argmax_with_ties(scores, tie_key=None, then=None):
    """Row argmax treating scores within TIE_TOLERANCE as equal: the larger tie_key wins (also
    within TIE_TOLERANCE), then the larger `then` (a per-cell random draw), else the lower index.
    With a non-negative tie_key (vote counts), a column with tie_key 0 only wins a row of zeros."""
    if scores.shape[0] == 0:
        return np.zeros(0, dtype=np.intp)
    on_top = scores >= scores.max(axis=1, keepdims=True) - TIE_TOLERANCE
    if tie_key is None:
        return on_top.argmax(axis=1)
    keyed = np.where(on_top, tie_key, -np.inf)
    if then is None:
        return keyed.argmax(axis=1)
    on_top &= keyed >= keyed.max(axis=1, keepdims=True) - TIE_TOLERANCE
    return np.where(on_top, then, -1.0).argmax(axis=1)


def _softmax(log_scores):
    shifted = np.exp(log_scores - log_scores.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _finish(labels, posterior, answered, worker_idx, task_idx, label_idx, n_workers):
    confidence = posterior[np.arange(labels.shape[0]), labels]
    labels = np.where(answered, labels, -1)
    confidence = np.where(answered, confidence, 0.0)
    agrees = (labels[task_idx] == label_idx).astype(float)
    worker_accuracy = (np.bincount(worker_idx, agrees, n_workers) + SMOOTHING) / (
        np.bincount(worker_idx, minlength=n_workers) + 2 * SMOOTHING
    )
    return LabelResult(labels=labels, confidence=confidence, worker_accuracy=worker_accuracy)


def _m_step(posterior, informative, task_idx, worker_idx, label_idx, n_workers, n_labels, model):
    """Class priors (from the informative tasks' posteriors) and worker parameters, smoothed (see
    SMOOTHING, FULL_SHRINKAGE) and with the class priors floored (MIN_CLASS_PRIOR_SHARE)."""
    class_prior = (posterior[informative].sum(axis=0) + SMOOTHING) / (
        informative.sum() + n_labels * SMOOTHING
    )
    class_prior = np.maximum(class_prior, MIN_CLASS_PRIOR_SHARE / n_labels)
    class_prior /= class_prior.sum()
    # Expected number of right answers over the number of answers.
    right = posterior[task_idx, label_idx]
    accuracy = (np.bincount(worker_idx, right, n_workers) + SMOOTHING) / (
        np.bincount(worker_idx, minlength=n_workers) + 2 * SMOOTHING
    )
    if model == "one_coin":
        return class_prior, accuracy
    # The shrinkage target's accuracy leans on the crowd's pooled accuracy rather than on 0.5: a
    # worker seen once is more likely as good as the crowd than a coin, and with a coin as target
    # single-answer tasks lose their answer's weight and drift to the largest class.
    pooled = (right.sum() + SMOOTHING) / (right.size + 2 * SMOOTHING)
    accuracy = (np.bincount(worker_idx, right, n_workers) + POOLED_STRENGTH * pooled) / (
        np.bincount(worker_idx, minlength=n_workers) + POOLED_STRENGTH
    )
    # counts[w, true, answered]: expected counts; each row then gets FULL_SHRINKAGE
    # pseudo-answers shaped like the worker's one-coin row before it is normalised.
    answer_posterior = posterior[task_idx]
    cell = worker_idx * n_labels + label_idx
    counts = np.zeros((n_workers, n_labels, n_labels))
    for true_label in range(n_labels):
        counts[:, true_label, :] = np.bincount(
            cell, answer_posterior[:, true_label], n_workers * n_labels
        ).reshape(n_workers, n_labels)
    wrong = (1 - accuracy) / max(1, n_labels - 1)
    target = np.broadcast_to(wrong[:, None, None], counts.shape).copy()
    target[:, np.arange(n_labels), np.arange(n_labels)] = accuracy[:, None]
    confusion = counts + FULL_SHRINKAGE * target
    confusion /= confusion.sum(axis=2, keepdims=True)
    return class_prior, confusion


def _one_coin_log_lik(task_idx, worker_idx, label_idx, accuracy, n_tasks, n_labels):
    """Per task and label, the answers' log-likelihood up to a per-task constant: an answer
    adds log(p (K-1) / (1-p)) to its own label; the log((1-p)/(K-1)) every label gets cancels
    in the softmax."""
    if n_labels < 2:
        return np.zeros((n_tasks, n_labels))
    log_odds = np.log(accuracy * (n_labels - 1) / (1 - accuracy))
    return _per_task_label_sum(task_idx, label_idx, log_odds[worker_idx], n_tasks, n_labels)


def _full_log_lik(task_idx, worker_idx, label_idx, confusion, n_tasks):
    """Per task and true label, the sum over answers of log confusion[w, true, answered]."""
    per_answer = np.log(confusion)[worker_idx, :, label_idx]  # (n_answers, n_labels)
    return _rows_sum(task_idx, per_answer, n_tasks)
