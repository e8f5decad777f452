"""How much a worker's word counts (reputation.selectors.trust_permille): by their
score, and by how much evidence stands behind it."""

from reputation.models import WorkerSkill
from reputation.selectors import TRUST_MIN_PERMILLE, trust_permille
from reputation.standing import posterior_permille


def standing(right: float, wrong: float) -> WorkerSkill:
    return WorkerSkill(
        evidence_right=right, evidence_wrong=wrong, score_permille=posterior_permille(right, wrong)
    )


def test_a_worker_never_seen_in_the_skill_counts_the_minimum():
    assert trust_permille(None) == TRUST_MIN_PERMILLE == 100


def test_a_good_track_record_counts_fully():
    assert trust_permille(standing(18, 2)) == 1000  # score 870, twenty checks' worth


def test_an_account_fresh_from_training_counts_half_however_well_it_did():
    assert trust_permille(standing(10, 0)) == 500


def test_a_low_score_counts_less_and_a_coin_toss_only_the_minimum():
    assert trust_permille(standing(13, 7)) == 507  # score 652: half the way from 500 to 800
    assert trust_permille(standing(8, 12)) == TRUST_MIN_PERMILLE  # score 435
