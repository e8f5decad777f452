"""How right an answer is, per kind, as credit in permille (0..1000).

- label: exact match (1000 or 0).
- multilabel: Jaccard similarity of the chosen sets (two empty sets agree fully).
- transcription: 1 - character error rate, after the normalisation the set
  configures (always Unicode NFC and collapsed whitespace; case and punctuation by
  option), floored at 0. Partial credit: one typo in a sentence still earns most."""

from reputation.aggregation import character_error_rate, normalise_text


def normalised(task_set, text: str) -> str:
    return normalise_text(
        text,
        casefold=task_set.normalise_case,
        strip_punctuation=task_set.normalise_punctuation,
    )


def credit_permille(task_set, answer, reference) -> int:
    kind = task_set.kind
    if kind == "label":
        return 1000 if answer == reference else 0
    if kind == "multilabel":
        chosen, right = set(answer or []), set(reference or [])
        union = chosen | right
        if not union:
            return 1000
        return round(1000 * len(chosen & right) / len(union))
    error_rate = character_error_rate(
        normalised(task_set, answer or ""), normalised(task_set, reference or "")
    )
    return max(0, round(1000 * (1 - error_rate)))


def passes(task_set, credit: int) -> bool:
    return credit >= task_set.gold_pass_permille
