"""Transcription consensus: text normalisation, edit distances, a ROVER-style weighted
alignment, and the weighted medoid as the simpler fallback.

The unit of alignment is the word for scripts written with spaces, and the extended grapheme
cluster (Unicode text segmentation, `regex`'s \\X) for scripts written without them, such as
Khmer, where one answer is one "word" and a word-level vote could only pick a whole answer. A
grapheme is what a reader sees as one character: a Khmer consonant with its coeng subscript and
vowel signs is one unit, so an edit never splits it. Words are compared by a key (casefolded,
punctuation removed), so "Hello," and "hello" vote together; the output keeps the surface form
(NFC, single spaces) that carried the most weight. Plain Python: transcriptions are short, and
each function is O(units^2) per pair of texts.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import regex

# Weight sums this close are a tie (then the pivot's word, or the earlier text, wins).
TIE_TOLERANCE = 1e-12
GRAPHEME = regex.compile(r"\X")
# Zero-width space and word joiner: invisible word-break hints in Khmer, Thai and Lao text. Some
# keyboards insert them and some do not, so they are dropped rather than compared.
INVISIBLE_BREAKS = dict.fromkeys(map(ord, "\u200b\u2060\ufeff"))
# Scripts written without spaces between words: Thai, Lao, Tibetan, Myanmar, Khmer (and Khmer
# symbols), Han, Hiragana, Katakana. A text is aligned by graphemes when most of its letters
# are in these blocks.
UNSPACED_BLOCKS = (
    (0x0E00, 0x0FFF),
    (0x1000, 0x109F),
    (0x1780, 0x17FF),
    (0x19E0, 0x19FF),
    (0x3040, 0x30FF),
    (0x3400, 0x9FFF),
)


def graphemes(text: str) -> list[str]:
    """The text's extended grapheme clusters, in order."""
    return GRAPHEME.findall(text)


def is_unspaced_script(text: str) -> bool:
    """Whether most of the text's letters are in a script written without spaces."""
    letters = [ord(char) for char in text if char.isalpha()]
    unspaced = sum(any(low <= code <= high for low, high in UNSPACED_BLOCKS) for code in letters)
    return 2 * unspaced > len(letters)


def normalise_text(text: str, *, casefold: bool = True, strip_punctuation: bool = False) -> str:
    """Unicode NFC, invisible word breaks (zero-width space) removed, optional casefold,
    optional removal of punctuation (categories P*), then runs of whitespace collapsed to one
    space and the ends trimmed."""
    text = unicodedata.normalize("NFC", text).translate(INVISIBLE_BREAKS)
    if casefold:
        # Casefolding can yield decomposed sequences ("İ" -> "i" + combining dot): compose again.
        text = unicodedata.normalize("NFC", text.casefold())
    if strip_punctuation:
        # Removed, not replaced by a space, so "don't" stays one word as WER scoring expects.
        text = "".join(char for char in text if not unicodedata.category(char).startswith("P"))
    return " ".join(text.split())


def edit_distance(source: Sequence, target: Sequence) -> int:
    """Levenshtein distance between two sequences (strings, or lists of words)."""
    if source == target:
        return 0
    # A shared prefix and suffix never change the distance; trimming them is the common case.
    start = 0
    shortest = min(len(source), len(target))
    while start < shortest and source[start] == target[start]:
        start += 1
    end = 0
    while end < shortest - start and source[-1 - end] == target[-1 - end]:
        end += 1
    source = source[start : len(source) - end]
    target = target[start : len(target) - end]
    if len(source) < len(target):
        source, target = target, source  # keep the DP row the shorter one
    if not target:
        return len(source)
    previous = list(range(len(target) + 1))
    for row, source_item in enumerate(source, 1):
        current = [row]
        for column, target_item in enumerate(target, 1):
            current.append(
                min(
                    previous[column] + 1,
                    current[column - 1] + 1,
                    previous[column - 1] + (source_item != target_item),
                )
            )
        previous = current
    return previous[-1]


def character_error_rate(hypothesis: str, reference: str) -> float:
    """Levenshtein distance over grapheme clusters / max(1, graphemes in reference); normalise
    both first. Graphemes, not code points: a Khmer consonant with a wrong vowel sign is one
    wrong character to a reader, and Unicode NFC does not compose Khmer into single points."""
    reference_units = graphemes(reference)
    return edit_distance(graphemes(hypothesis), reference_units) / max(1, len(reference_units))


def word_error_rate(hypothesis: str, reference: str) -> float:
    """Levenshtein distance over whitespace-separated words / max(1, words in reference)."""
    reference_words = reference.split()
    return edit_distance(hypothesis.split(), reference_words) / max(1, len(reference_words))


@dataclass(frozen=True)
class _Word:
    key: str  # what votes: casefolded, punctuation removed
    surface: str  # what is output: NFC, as typed


def _words(text: str) -> list[_Word]:
    words = []
    for surface in normalise_text(text, casefold=False).split():
        # A word of punctuation only ("-") keeps itself as key rather than vanishing.
        key = normalise_text(surface, strip_punctuation=True) or surface.casefold()
        words.append(_Word(key, surface))
    return words


def _grapheme_units(text: str) -> list[_Word]:
    """Graphemes as units, the space between words included (it is a character a worker can
    miss like any other); keys casefolded, punctuation kept, since one mark is one unit."""
    return [
        _Word(unit.casefold(), unit) for unit in graphemes(normalise_text(text, casefold=False))
    ]


def _units(texts: Sequence[str]) -> tuple[list[list[_Word]], str]:
    """Each text's units and the joiner: graphemes ("") when most texts are in a script
    written without spaces, else words (" ")."""
    by_graphemes = 2 * sum(is_unspaced_script(text) for text in texts) > len(texts)
    if by_graphemes:
        return [_grapheme_units(text) for text in texts], ""
    return [_words(text) for text in texts], " "


def _joined(units: list[str], joiner: str) -> str:
    return " ".join(joiner.join(units).split())


def _checked_weights(texts: Sequence[str], weights: Sequence[float]) -> list[float]:
    if len(texts) != len(weights):
        raise ValueError("texts and weights must have the same length")
    checked = [float(weight) for weight in weights]
    if any(not math.isfinite(weight) or weight < 0 for weight in checked):
        raise ValueError("weights must be finite and non-negative")
    if sum(checked) == 0:
        # Nobody has a reputation yet: count every answer equally rather than not at all.
        return [1.0] * len(checked)
    return checked


def _weighted_medoid(keys: list[list[str]], weights: list[float]) -> tuple[int, list[list[int]]]:
    """Index of the text with the least weighted word edit distance to all others (ties: more
    weight, then the earlier text), and the distance matrix."""
    count = len(keys)
    distances = [[0] * count for _ in range(count)]
    for first in range(count):
        for second in range(first + 1, count):
            distance = edit_distance(keys[first], keys[second])
            distances[first][second] = distances[second][first] = distance
    costs = [sum(w * d for w, d in zip(weights, row, strict=True)) for row in distances]
    medoid = min(range(count), key=lambda index: (costs[index], -weights[index], index))
    return medoid, distances


def transcription_medoid(texts: Sequence[str], weights: Sequence[float]) -> tuple[str, float]:
    """The weighted medoid by word edit distance, as an existing answer in normalised form.

    confidence: the weighted mean over all answers (the medoid included) of 1 - their word error
    rate against the medoid, floored at 0. One answer returns itself with confidence 1.0, which
    only says nothing disagreed.
    """
    if not texts:
        return "", 0.0
    weights = _checked_weights(texts, weights)
    words, joiner = _units(texts)
    keys = [[word.key for word in text_words] for text_words in words]
    medoid, distances = _weighted_medoid(keys, weights)
    reference_length = max(1, len(keys[medoid]))
    agreement = [max(0.0, 1.0 - distance / reference_length) for distance in distances[medoid]]
    confidence = sum(w * a for w, a in zip(weights, agreement, strict=True)) / sum(weights)
    return _joined([word.surface for word in words[medoid]], joiner), confidence


def transcription_consensus(texts: Sequence[str], weights: Sequence[float]) -> tuple[str, float]:
    """ROVER-style consensus (Fiscus 1997) of several transcriptions of one item, by words, or
    by graphemes when most texts are in a script written without spaces (see _units).

    The weighted medoid is the pivot; the other texts, nearest first, are aligned one at a time
    into a growing network of slots (one word or a gap per text per slot), matching a word to a
    slot at no cost when some text already has that word there and a gap to a slot that already
    has one. Each slot then votes with the texts' weights, the gap included, so a word most
    answers lack is dropped; ties go to the pivot's entry.

    confidence: the mean over slots of the winning entry's share of the weight, i.e. how much of
    the weight agreed with the output, word by word (1.0 when all agree). One answer returns
    itself with confidence 1.0, which only says nothing disagreed.
    """
    if not texts:
        return "", 0.0
    weights = _checked_weights(texts, weights)
    words, joiner = _units(texts)
    if len(texts) == 1:
        return _joined([word.surface for word in words[0]], joiner), 1.0
    keys = [[word.key for word in text_words] for text_words in words]
    pivot, distances = _weighted_medoid(keys, weights)

    aligned = [pivot]  # text indices in network column order
    slots: list[list[int | None]] = [[position] for position in range(len(words[pivot]))]
    others = sorted(
        (index for index in range(len(texts)) if index != pivot),
        key=lambda index: (distances[pivot][index], -weights[index], index),
    )
    for text_index in others:
        slots = _align_into(slots, aligned, keys, text_index)
        aligned.append(text_index)

    total_weight = sum(weights)
    output: list[str] = []
    winning_shares: list[float] = []
    for slot in slots:
        weight_by_key: dict[str | None, float] = {}
        for text_index, position in zip(aligned, slot, strict=True):
            key = None if position is None else keys[text_index][position]
            weight_by_key[key] = weight_by_key.get(key, 0.0) + weights[text_index]
        best_weight = max(weight_by_key.values())
        # Dicts keep insertion order and the pivot comes first, so ties go to the pivot.
        winner = next(k for k, w in weight_by_key.items() if w >= best_weight - TIE_TOLERANCE)
        winning_shares.append(weight_by_key[winner] / total_weight)
        if winner is not None:
            output.append(_heaviest_surface(slot, aligned, words, weights, winner))
    confidence = sum(winning_shares) / len(winning_shares) if winning_shares else 1.0
    return _joined(output, joiner), confidence


def _align_into(
    slots: list[list[int | None]], aligned: list[int], keys: list[list[str]], text_index: int
) -> list[list[int | None]]:
    """Align one text's words into the network by edit-distance DP; returns the new slots with
    one more column (the word's position in that text, or None for a gap)."""
    new_keys = keys[text_index]
    slot_keys = [
        {
            keys[aligned_index][pos]
            for aligned_index, pos in zip(aligned, slot, strict=True)
            if pos is not None
        }
        for slot in slots
    ]
    slot_has_gap = [any(pos is None for pos in slot) for slot in slots]
    n_slots, n_words = len(slots), len(new_keys)
    # cost[i][j]: aligning the first i slots with the first j words.
    cost = [[0] * (n_words + 1) for _ in range(n_slots + 1)]
    for j in range(1, n_words + 1):
        cost[0][j] = j
    for i in range(1, n_slots + 1):
        cost[i][0] = cost[i - 1][0] + (0 if slot_has_gap[i - 1] else 1)
        for j in range(1, n_words + 1):
            cost[i][j] = min(
                cost[i - 1][j - 1] + (0 if new_keys[j - 1] in slot_keys[i - 1] else 1),
                cost[i - 1][j] + (0 if slot_has_gap[i - 1] else 1),
                cost[i][j - 1] + 1,
            )

    # Trace back, preferring word-in-slot, then gap-in-slot, then a new slot: deterministic.
    merged: list[list[int | None]] = []
    i, j = n_slots, n_words
    gap_column: list[int | None] = [None] * len(aligned)
    while i > 0 or j > 0:
        if (
            i > 0
            and j > 0
            and cost[i][j] == cost[i - 1][j - 1] + (0 if new_keys[j - 1] in slot_keys[i - 1] else 1)
        ):
            merged.append([*slots[i - 1], j - 1])
            i, j = i - 1, j - 1
        elif i > 0 and cost[i][j] == cost[i - 1][j] + (0 if slot_has_gap[i - 1] else 1):
            merged.append([*slots[i - 1], None])
            i -= 1
        else:
            merged.append([*gap_column, j - 1])
            j -= 1
    merged.reverse()
    return merged


def _heaviest_surface(slot, aligned, words, weights, key) -> str:
    """Among the texts whose word in this slot has this key, the surface form with most weight
    (ties: the earlier text in the network, so the pivot first)."""
    weight_by_surface: dict[str, float] = {}
    for text_index, position in zip(aligned, slot, strict=True):
        if position is not None and words[text_index][position].key == key:
            surface = words[text_index][position].surface
            weight_by_surface[surface] = weight_by_surface.get(surface, 0.0) + weights[text_index]
    best_weight = max(weight_by_surface.values())
    return next(s for s, w in weight_by_surface.items() if w >= best_weight - TIE_TOLERANCE)
