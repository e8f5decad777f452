"""Each injected fraud pattern raises its flag through the real scan over the
database; an honest centre cohort sharing phones and one address raises none."""

from datetime import timedelta

import pytest

from marketplace.models import Organization, WorkerProfile
from payouts.models import PayoutDestination
from reputation import flags as flag_services
from reputation import fraud
from reputation.models import Flag
from tasks.models import Assignment, TaskSet
from tests.factories import OrganizationFactory
from tests.reputation.fraud_helpers import CENTRE_RANGE, OPTIONS, Crowd, present
from tests.work_helpers import vetted_workers

pytestmark = pytest.mark.django_db


@pytest.fixture
def label_set(requester_org, requester):
    return TaskSet.objects.create(
        organization=requester_org,
        created_by=requester,
        title="Animals",
        kind=TaskSet.Kind.LABEL,
        label_options=OPTIONS,
        reward_minor=5,
        status=TaskSet.Status.PUBLISHED,
    )


@pytest.fixture
def cohort(centre):
    """Eight honest workers of one centre: shared phones, the centre's address."""
    centre.network_ranges = CENTRE_RANGE
    centre.save()
    return vetted_workers(8, prefix="cohort", centre=centre)


@pytest.fixture
def crowd(label_set, cohort):
    crowd = Crowd(label_set)
    crowd.honest(cohort)
    return crowd


def flags_of(worker, signal=None):
    found = Flag.objects.filter(worker=worker) | Flag.objects.filter(other_worker=worker)
    return found.filter(signal=signal) if signal else found


def test_an_honest_centre_cohort_on_shared_phones_and_one_address_raises_nothing(crowd, cohort):
    crowd.save()
    for index, worker in enumerate(cohort):
        # Two phones between eight people, all day, behind the centre's one address;
        # some also work from home on their own phone in the evening.
        present(
            worker,
            device=f"{index % 2:032x}",
            ip="203.0.113.7",
            start=crowd.start,
            minutes=240,
        )
        present(
            worker,
            device=f"{100 + index:032x}",
            ip=f"198.51.100.{index + 10}",
            start=crowd.start + timedelta(hours=5),
            minutes=40,
        )
    fraud.scan()
    assert list(Flag.objects.values_list("signal", "worker__username")) == []


def test_a_speeder_is_flagged_too_fast(crowd, cohort):
    (speeder,) = vetted_workers(1, prefix="speedy")
    for index, task in enumerate(crowd.regular[:30]):
        crowd.answer(
            speeder,
            task,
            OPTIONS[index % 4],
            at=crowd.start + timedelta(seconds=index * 0.8 + 1),
            seconds=0.7,
        )
    crowd.save()
    fraud.scan()
    flag = flags_of(speeder, Flag.Signal.TOO_FAST).get()
    assert flag.evidence["too_fast"] == 30
    assert flag.severity == 3
    assert len(flag.evidence["assignment_ids"]) == 20
    assert not flags_of(cohort[0]).exists()


def test_a_straight_liner_is_flagged(crowd):
    (liner,) = vetted_workers(1, prefix="liner")
    for index, task in enumerate(crowd.regular[:40]):
        crowd.answer(
            liner, task, "fish", at=crowd.start + timedelta(seconds=9 * index + 9), seconds=8
        )
    crowd.save()
    fraud.scan()
    flag = flags_of(liner, Flag.Signal.STRAIGHT_LINING).get()
    assert flag.evidence["same_answer"] == "fish"
    assert flag.evidence["share_percent"] == 100


def test_a_random_clicker_is_flagged_for_low_agreement_and_failed_checks(crowd):
    (clicker,) = vetted_workers(1, prefix="clicker")
    rng = crowd.rng
    at = crowd.start
    for task in crowd.regular[:40] + crowd.gold:
        at += timedelta(seconds=7)
        wrong = [o for o in OPTIONS if o != crowd.truth[task.pk]]
        # Random among the wrong ones on checks: a streak, as a clicker often has.
        answer = rng.choice(wrong) if task.is_gold else rng.choice(OPTIONS)
        crowd.answer(clicker, task, answer, at=at, seconds=6)
    crowd.save()
    fraud.scan()
    assert flags_of(clicker, Flag.Signal.LOW_AGREEMENT).exists()
    streak = flags_of(clicker, Flag.Signal.GOLD_FAILURES).get()
    assert streak.evidence["longest_streak"] == len(crowd.gold)


def test_a_copy_pair_is_flagged_as_a_pair(crowd, cohort):
    source, copier = vetted_workers(2, prefix="pair")
    at = crowd.start
    for task in crowd.regular[:30] + crowd.gold:
        at += timedelta(seconds=9)
        # The source is careless (60%): the copier copies its mistakes too, seconds later.
        right = crowd.truth[task.pk]
        answer = right if crowd.rng.random() < 0.6 else OPTIONS[(OPTIONS.index(right) + 1) % 4]
        crowd.answer(source, task, answer, at=at, seconds=8)
        crowd.answer(copier, task, answer, at=at + timedelta(seconds=4), seconds=10)
    crowd.save()
    fraud.scan()
    flag = Flag.objects.get(signal=Flag.Signal.COPYING)
    assert {flag.worker_id, flag.other_worker_id} == {source.pk, copier.pk}
    assert flag.evidence["identical"] == flag.evidence["common_tasks"]
    assert flag.evidence["identical_within_seconds"] == flag.evidence["identical"]
    assert not Flag.objects.filter(signal=Flag.Signal.COPYING).exclude(pk=flag.pk).exists()


def test_a_second_account_on_the_same_phone_or_payout_number_is_flagged(crowd, centre):
    first, second, third = vetted_workers(3, prefix="dup")
    crowd.save()
    present(first, device="a" * 32, ip="198.51.100.20", start=crowd.start, minutes=30)
    present(
        second,
        device="a" * 32,
        ip="198.51.100.20",
        start=crowd.start + timedelta(hours=1),
        minutes=30,
    )
    for worker in (first, third):
        PayoutDestination.objects.create(
            worker=worker,
            rail=PayoutDestination.Rail.PARTNER_CENTRE,
            centre=centre,
            mobile_money_number="+855 12 345 678",
        )
    fraud.scan()
    device_flag = Flag.objects.get(
        signal=Flag.Signal.DUPLICATE_ACCOUNT, worker=first, other_worker=second
    )
    assert device_flag.evidence["shared_devices"] == 1
    assert device_flag.evidence["shared_addresses"] == ["198.51.100.20"]
    payout_flag = Flag.objects.get(
        signal=Flag.Signal.DUPLICATE_ACCOUNT, worker=first, other_worker=third
    )
    assert payout_flag.severity == 3
    assert "345 678" not in str(payout_flag.evidence)  # never the whole number
    assert payout_flag.evidence["shared_payout"].startswith("mobile money …5678")


def test_one_account_in_two_places_at_once_is_flagged_but_a_phone_changing_network_is_not(
    crowd,
):
    traveller, roamer = vetted_workers(2, prefix="where")
    crowd.save()
    start = crowd.start
    present(traveller, device="b" * 32, ip="198.51.100.30", start=start, minutes=60)
    present(
        traveller, device="c" * 32, ip="192.0.2.40", start=start + timedelta(minutes=20), minutes=30
    )
    # One phone moving from Wi-Fi to mobile data: same device, two networks.
    present(roamer, device="d" * 32, ip="198.51.100.31", start=start, minutes=60)
    present(
        roamer, device="d" * 32, ip="192.0.2.41", start=start + timedelta(minutes=20), minutes=30
    )
    fraud.scan()
    flag = flags_of(traveller, Flag.Signal.IMPOSSIBLE_ACTIVITY).get()
    assert flag.evidence["overlaps"] == 1
    assert not flags_of(roamer).exists()


def test_claim_and_release_churn_is_flagged_but_reports_are_not(crowd, label_set):
    churner, reporter = vetted_workers(2, prefix="churn")
    crowd.save()
    now = crowd.start
    for index, task in enumerate(crowd.regular[:40]):
        for worker, reason in (
            (churner, "skip" if index % 4 else ""),
            (reporter, "broken" if index % 4 else ""),
        ):
            Assignment.objects.create(
                task=task,
                task_set=label_set,
                worker=worker,
                status="released" if reason else "submitted",
                release_reason=reason,
                answer=None if reason else "cat",
                claimed_at=now,
                expires_at=now + timedelta(minutes=10),
                submitted_at=None if reason else now,
                reward_minor=5,
                currency="USD",
            )
    fraud.scan()
    flag = flags_of(churner, Flag.Signal.CHURN).get()
    assert flag.evidence["skipped"] == 30
    assert flag.severity == 1
    assert not flags_of(reporter, Flag.Signal.CHURN).exists()


def test_a_scan_refreshes_its_flags_and_a_dismissal_is_respected(crowd, admin_user):
    (speeder,) = vetted_workers(1, prefix="speedy")
    for index, task in enumerate(crowd.regular[:30]):
        crowd.answer(
            speeder,
            task,
            "cat",
            at=crowd.start + timedelta(seconds=index + 1),
            seconds=0.7,
        )
    crowd.save()
    first = fraud.scan()
    again = fraud.scan()
    assert [f.pk for f in again] == [f.pk for f in first]
    flag = flags_of(speeder, Flag.Signal.TOO_FAST).get()
    flag_services.decide_flag(
        flag_id=flag.pk, actor=admin_user, action="dismiss", reason="A fast reader, checked."
    )
    fraud.scan()
    assert flags_of(speeder, Flag.Signal.TOO_FAST).count() == 1  # not raised again
    # Carrying on after the decision: the new answers alone raise a new flag.
    later = crowd.start + timedelta(hours=5)
    for index, task in enumerate(crowd.regular[30:55]):
        crowd.answer(speeder, task, "dog", at=later + timedelta(seconds=index + 1), seconds=0.6)
    crowd.save()
    Flag.objects.filter(pk=flag.pk).update(decided_at=later - timedelta(minutes=1))
    fraud.scan()
    reopened = flags_of(speeder, Flag.Signal.TOO_FAST).get(status="open")
    assert reopened.evidence["answers"] == 25


def test_centre_workers_sharing_a_phone_with_an_outsider_link_the_outsider(crowd, cohort):
    """The cohort's own phone sharing never counts; someone outside the centre on the
    same phone does."""
    (outsider,) = vetted_workers(1, prefix="outside")
    crowd.save()
    other_centre = OrganizationFactory(name="Battambang", kind=Organization.Kind.CENTRE)
    WorkerProfile.objects.filter(user=outsider).update(centre=other_centre)
    for worker in [*cohort[:3], outsider]:
        present(worker, device="e" * 32, ip="203.0.113.9", start=crowd.start, minutes=10)
    fraud.scan()
    linked = Flag.objects.filter(signal=Flag.Signal.DUPLICATE_ACCOUNT)
    assert linked.count() == 3
    assert all(outsider.pk in (f.worker_id, f.other_worker_id) for f in linked)
    assert all(f.evidence["shared_addresses"] == [] for f in linked)  # the centre's address
