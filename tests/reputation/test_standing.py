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
    assert fold(standing, [1000] * 9 + [0], source="training") == ["qualified"]
    assert standing.state == QUALIFIED
    assert standing.qualified_at == T0 + timedelta(minutes=9)


def test_a_weak_trainee_waits_for_the_cooldown_and_starts_a_new_attempt():
    standing = Standing()
    assert fold(standing, [1000, 0] * 5, source="training") == ["failed_training"]
    assert standing.state == TRAINING
    assert standing.attempts_failed == 1
    assert standing.cooldown_until == T0 + timedelta(minutes=9, hours=24)
    assert standing.attempt_checks == 0


def test_an_honest_newcomer_with_a_bad_start_is_not_demoted():
    standing = Standing(state=QUALIFIED)
    # 6 of 10 right: a poor run, but the optimistic end of the interval is above 0.5.
    assert fold(standing, [1000, 0, 1000, 0, 1000, 1000, 0, 1000, 0, 1000]) == []
    assert standing.state == QUALIFIED


def test_a_spammer_is_demoted_once_even_the_upper_bound_is_below_the_floor():
    standing = Standing(state=QUALIFIED)
    changes = fold(standing, [0, 0, 1000, 0, 0, 0, 0, 1000, 0, 0, 0, 0, 0, 0])
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
