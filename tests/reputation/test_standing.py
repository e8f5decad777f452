"""The reputation fold on its own: qualification, cooldown, and demotion only on
clear evidence."""

from datetime import UTC, datetime, timedelta

from reputation.standing import (
    QUALIFIED,
    TRAINING,
    EventFacts,
    Standing,
    apply_event,
    wilson_bounds,
)

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def fold(standing, outcomes, source="gold", weight=1000, start_id=1):
    changes = []
    for offset, credit in enumerate(outcomes):
        event = EventFacts(
            start_id + offset, source, credit, weight, T0 + timedelta(minutes=offset)
        )
        changes.append(apply_event(standing, event))
    return [c for c in changes if c]


def test_wilson_bounds_bracket_the_rate_and_narrow_with_evidence():
    low_few, high_few = wilson_bounds(8, 10)
    low_many, high_many = wilson_bounds(80, 100)
    assert low_few < 0.8 < high_few
    assert low_few < low_many < 0.8 < high_many < high_few
    assert wilson_bounds(0, 0) == (0.0, 1.0)


def test_a_good_trainee_qualifies_after_the_attempt():
    standing = Standing()
    assert fold(standing, [1000] * 10, source="training") == ["qualified"]
    assert standing.state == QUALIFIED
    assert standing.qualified_at == T0 + timedelta(minutes=9)


def test_a_narrow_miss_gets_more_checks_at_once_instead_of_a_cooldown():
    standing = Standing()
    # 9 of 10 is not yet enough evidence of 75% against 50%: no verdict, no wait.
    assert fold(standing, [1000] * 9 + [0], source="training") == []
    assert standing.cooldown_until is None and standing.attempt_checks == 10
    assert fold(standing, [1000], source="training", start_id=11) == ["qualified"]


def test_seven_of_ten_no_longer_qualifies_a_coin_flipper():
    # A 50% worker gets 7 of 10 one time in six: the old bar qualified them then.
    standing = Standing()
    assert fold(standing, [1000] * 7 + [0] * 3, source="training") == []
    assert standing.state == TRAINING


def test_a_weak_trainee_waits_for_the_cooldown_and_starts_a_new_attempt():
    standing = Standing()
    # Half right: the evidence for "poor" reaches the bound after 22 checks.
    assert fold(standing, [1000, 0] * 11, source="training") == ["failed_training"]
    assert standing.state == TRAINING
    assert standing.attempts_failed == 1
    assert standing.cooldown_until == T0 + timedelta(minutes=21, hours=24)
    assert standing.attempt_checks == 0


def test_an_attempt_ends_at_the_most_checks_on_the_side_it_leans_to():
    standing = Standing()
    # Five right in eight, over and over: between the hypotheses for all 60 checks, and
    # the 60th leaves it leaning to "good".
    outcomes = ([1000, 1000, 0, 1000, 1000, 0, 1000, 0] * 8)[:60]
    assert fold(standing, outcomes, source="training") == ["qualified"]
    assert standing.qualified_at == T0 + timedelta(minutes=59)


def test_an_honest_newcomer_with_a_bad_start_is_not_demoted():
    standing = Standing(state=QUALIFIED)
    # 6 of 10 right: a poor run, but the optimistic end of the interval is above 0.5.
    assert fold(standing, [1000, 0, 1000, 0, 1000, 1000, 0, 1000, 0, 1000]) == []
    assert standing.state == QUALIFIED


def test_a_spammer_is_demoted_once_the_evidence_is_enough():
    standing = Standing(state=QUALIFIED)
    changes = fold(standing, [0, 0, 1000, 0, 0, 0, 0, 1000, 0, 0, 0, 0, 0, 0, 0, 0])
    assert changes == ["demoted"]
    assert standing.state == TRAINING
    assert standing.demoted_at is not None
    # Retraining waits, so careful training answers cannot buy a careless worker back.
    assert standing.cooldown_until == standing.demoted_at + timedelta(hours=24)


def test_recent_work_weighs_more_than_old_work():
    improving, declining = Standing(), Standing()
    fold(improving, [0] * 30 + [1000] * 30)
    fold(declining, [1000] * 30 + [0] * 30)
    assert improving.score_permille > 600 > 400 > declining.score_permille


def test_consensus_evidence_moves_the_score_less_than_a_check():
    by_check, by_consensus = Standing(), Standing()
    fold(by_check, [0])
    fold(by_consensus, [0], source="consensus", weight=250)
    assert by_check.score_permille < by_consensus.score_permille < Standing().score_permille


def test_the_fold_is_deterministic():
    outcomes = [1000, 0, 700, 1000, 1000, 300, 0, 1000] * 5
    first, second = Standing(state=QUALIFIED), Standing(state=QUALIFIED)
    fold(first, outcomes)
    fold(second, outcomes)
    assert first == second


def test_a_coin_flipper_is_demoted_although_forgetting_caps_the_evidence():
    # Right every other time: forgetting kept the Wilson upper bound near 0.64, above the
    # 60% floor, for ever; the sequential test's evidence keeps growing instead.
    standing = Standing(state=QUALIFIED)
    assert fold(standing, [1000, 0] * 60) == ["demoted"]
    assert standing.checks_since_qualified < 120


def test_an_honest_three_in_four_worker_is_never_demoted():
    standing = Standing(state=QUALIFIED)
    assert fold(standing, [1000, 1000, 0, 1000] * 125) == []


def test_agreement_evidence_alone_never_demotes():
    standing = Standing(state=QUALIFIED)
    assert fold(standing, [0] * 200, source="consensus", weight=250) == []
    # A few gold checks of their own then decide: the test's evidence is already there.
    assert fold(standing, [0] * 8, start_id=201) == ["demoted"]


def fold_reachable(standing, outcomes, checks_left):
    """Training checks whose events say how many more the worker could still reach."""
    changes = []
    for offset, (credit, left) in enumerate(zip(outcomes, checks_left, strict=True)):
        event = EventFacts(
            offset + 1, "training", credit, 1000, T0 + timedelta(minutes=offset), left
        )
        changes.append(apply_event(standing, event))
    return changes


# Seven of the first ten right leaves the attempt undecided (see above).
UNDECIDED_TEN = [1000] * 7 + [0] * 3


def test_an_attempt_ends_at_the_last_check_the_worker_can_reach():
    # A set of 12 gold tasks: the twelfth check is the worker's last, and decides on
    # the side the evidence leans to, as the 60th would.
    standing = Standing()
    changes = fold_reachable(standing, [*UNDECIDED_TEN, 1000, 0], range(11, -1, -1))
    assert changes == [None] * 11 + ["qualified"]
    assert standing.state == QUALIFIED
    standing = Standing()
    changes = fold_reachable(standing, [*UNDECIDED_TEN, 0, 0], range(11, -1, -1))
    assert changes == [None] * 11 + ["failed_training"]
    assert standing.attempts_failed == 1 and standing.attempt_checks == 0


def test_an_event_without_a_count_of_checks_left_decides_as_before():
    standing = Standing()
    assert fold_reachable(standing, [*UNDECIDED_TEN, 1000, 0], [None] * 12) == [None] * 12
    assert standing.state == TRAINING and standing.attempt_checks == 12


def test_checks_still_in_reach_keep_an_undecided_attempt_going():
    standing = Standing()
    assert fold_reachable(standing, UNDECIDED_TEN, range(14, 4, -1)) == [None] * 10
    assert standing.attempt_checks == 10


def test_an_attempt_cut_short_before_the_minimum_fails_however_it_leans():
    # Gold withdrawn or tasks given back: four right answers are no evidence to
    # qualify on, and choosing when to stop must not buy a verdict.
    standing = Standing()
    assert fold_reachable(standing, [1000] * 4, [3, 2, 1, 0]) == [None] * 3 + ["failed_training"]
    assert standing.state == TRAINING and standing.cooldown_until is not None
