"""Deciding flags: every action needs a reason and is audited; suspending ends the
worker's session at once and freezes their unpaid earnings; a ban can void their
unreviewed answers (tasks reopen, nothing charged); dismissing restores all of it;
workers appeal into the same queue."""

import uuid
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from marketplace.asgi import application
from marketplace.models import AuditLog, Notification
from payouts import runs
from payouts.models import Earning, PayoutDestination, PayoutLine
from reputation import flags
from reputation.models import Flag
from reputation.services import settle_closed_task
from tasks import work
from tasks.models import Assignment, Task
from tests.concurrency import errors, race
from tests.marketplace.test_websocket import session_headers
from tests.payouts.helpers import available, paid, via_centre
from tests.work_helpers import published_set, vetted_workers

PARTNER = PayoutDestination.Rail.PARTNER_CENTRE
LONG_AGO = timezone.now() - timedelta(days=30)


@pytest.fixture(autouse=True)
def _small_minimums(settings):
    settings.PAYOUT_MINIMUMS_MINOR = {**settings.PAYOUT_MINIMUMS_MINOR, PARTNER: {"USD": 10}}


@pytest.fixture
def animals(requester_org, requester, admin_user):
    return published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        regular=6,
        gold=5,
        gold_ratio_permille=0,
    )


def open_flag(worker, signal=Flag.Signal.TOO_FAST, other=None):
    return flags.raise_flag(
        worker_id=worker.pk,
        other_worker_id=other.pk if other else None,
        signal=signal,
        severity=2,
        evidence={"answers": 30, "too_fast": 25, "share_percent": 83},
    )


def answer_one(worker, task_set) -> Assignment:
    claim = work.claim_next_task(worker=worker, task_set_id=task_set.pk)
    work.submit_answer(
        worker=worker,
        assignment_id=claim.assignment.pk,
        answer="cat",
        submission_id=uuid.uuid4(),
    )
    return Assignment.objects.get(pk=claim.assignment.pk)


@pytest.mark.django_db(transaction=True)
def test_suspending_from_a_flag_ends_the_open_session_at_once(
    client, vetted_worker, admin_user, animals
):
    flag = open_flag(vetted_worker)
    headers = session_headers(client, vetted_worker)

    async def scenario():
        ws = WebsocketCommunicator(application, "/ws/work/", headers=headers)
        await ws.connect()
        await ws.send_json_to({"type": "claim"})
        task = await ws.receive_json_from(timeout=5)
        await database_sync_to_async(flags.decide_flag)(
            flag_id=flag.pk, actor=admin_user, action="suspend", reason="Answers too fast."
        )
        revoked = await ws.receive_json_from(timeout=5)
        error = await ws.receive_json_from(timeout=5)
        closed = await ws.receive_output(timeout=5)
        return task, revoked, error, closed

    task, revoked, error, closed = async_to_sync(scenario)()
    assert revoked == {
        "type": "revoked",
        "assignment": task["assignment"],
        "reason": "worker_suspended",
    }
    assert error["code"] == "account_suspended"
    assert closed == {"type": "websocket.close", "code": 4403}
    vetted_worker.worker_profile.refresh_from_db()
    assert vetted_worker.worker_profile.status == "suspended"
    assert Flag.objects.get(pk=flag.pk).status == "suspended"


@pytest.mark.django_db
def test_suspended_earnings_are_frozen_and_dismissal_restores_everything(
    animals, vetted_worker, admin_user, centre
):
    via_centre(vetted_worker, centre, mobile="+85512000111")
    for _ in range(4):
        paid(animals, vetted_worker, when=LONG_AGO)
    answers_before = Assignment.objects.filter(worker=vetted_worker).count()
    flag = open_flag(vetted_worker)
    flags.decide_flag(flag_id=flag.pk, actor=admin_user, action="suspend", reason="Checking.")

    frozen_run = runs.run_payouts(rail_name=PARTNER, currency="USD")
    assert not PayoutLine.objects.filter(run=frozen_run, worker=vetted_worker).exists()
    assert available(vetted_worker) == 20  # kept, not paid out

    flags.decide_flag(
        flag_id=flag.pk, actor=admin_user, action="dismiss", reason="A fast reader: checked."
    )
    vetted_worker.worker_profile.refresh_from_db()
    assert vetted_worker.worker_profile.status == "vetted"
    assert Assignment.objects.filter(worker=vetted_worker).count() == answers_before
    assert Earning.objects.filter(worker=vetted_worker).exclude(status="reversed").count() == 4
    run = runs.run_payouts(rail_name=PARTNER, currency="USD")
    assert PayoutLine.objects.get(run=run, worker=vetted_worker).amount_minor == 20
    actions = list(
        AuditLog.objects.filter(target_type="reputation.flag", target_id=str(flag.pk))
        .order_by("created_at", "pk")
        .values_list("action", flat=True)
    )
    assert actions == ["flag.suspend", "flag.dismiss"]
    subjects = list(
        Notification.objects.filter(user=vetted_worker).values_list("subject", flat=True)
    )
    assert "You can work again" in subjects and "Your account is suspended" in subjects


@pytest.mark.django_db
def test_a_ban_can_void_unreviewed_answers_and_dismissing_restores_them(
    animals, admin_user, requester_org
):
    cheat, honest = vetted_workers(2, prefix="ban")
    voided = answer_one(cheat, animals)
    assert voided.review_status == "pending"  # one answer of three: not reviewed yet
    flag = open_flag(cheat)
    flags.decide_flag(
        flag_id=flag.pk, actor=admin_user, action="ban", reason="Bot.", void_answers=True
    )
    voided.refresh_from_db()
    assert voided.status == "voided"
    task = Task.objects.get(pk=voided.task_id)
    assert (task.submitted_count, task.is_open) == (0, True)
    assert not Earning.objects.filter(assignment=voided).exists()  # the requester pays nothing
    assert Flag.objects.get(pk=flag.pk).enforcement["voided_assignment_ids"] == [voided.pk]
    # The reopened slot goes to someone else.
    taken = {answer_one(honest, animals).task_id for _ in range(6)}
    assert voided.task_id in taken

    flags.decide_flag(flag_id=flag.pk, actor=admin_user, action="dismiss", reason="Wrong person.")
    voided.refresh_from_db()
    cheat.worker_profile.refresh_from_db()
    assert voided.status == "submitted"
    assert cheat.worker_profile.status == "vetted"
    assert Task.objects.get(pk=voided.task_id).submitted_count == 2


@pytest.mark.django_db
def test_a_pair_flag_suspends_both_accounts(admin_user, animals):
    first, second = vetted_workers(2, prefix="pair")
    flag = open_flag(first, Flag.Signal.DUPLICATE_ACCOUNT, other=second)
    flags.decide_flag(flag_id=flag.pk, actor=admin_user, action="suspend", reason="One person.")
    for worker in (first, second):
        worker.worker_profile.refresh_from_db()
        assert worker.worker_profile.status == "suspended"


@pytest.mark.django_db
def test_a_restored_worker_stays_out_while_another_flag_still_holds_them(admin_user, animals):
    (worker,) = vetted_workers(1, prefix="two")
    fast = open_flag(worker)
    copy = open_flag(worker, Flag.Signal.GOLD_FAILURES)
    flags.decide_flag(flag_id=fast.pk, actor=admin_user, action="suspend", reason="Fast.")
    flags.decide_flag(flag_id=copy.pk, actor=admin_user, action="ban", reason="Failing checks.")
    flags.decide_flag(flag_id=fast.pk, actor=admin_user, action="dismiss", reason="Fine speed.")
    worker.worker_profile.refresh_from_db()
    assert worker.worker_profile.status == "banned"


@pytest.mark.django_db
def test_every_action_needs_a_reason_and_staff(admin_user, vetted_worker):
    flag = open_flag(vetted_worker)
    with pytest.raises(ValidationError):
        flags.decide_flag(flag_id=flag.pk, actor=admin_user, action="warn", reason="  ")
    with pytest.raises(PermissionDenied):
        flags.decide_flag(flag_id=flag.pk, actor=vetted_worker, action="dismiss", reason="me")
    flags.decide_flag(flag_id=flag.pk, actor=admin_user, action="warn", reason="Slow down.")
    with pytest.raises(ValidationError):  # a warned flag is not warned again
        flags.decide_flag(flag_id=flag.pk, actor=admin_user, action="warn", reason="Again.")
    assert Flag.objects.get(pk=flag.pk).status == "warned"


@pytest.mark.django_db
def test_bulk_dismisses_and_warns_but_never_suspends(admin_user):
    workers = vetted_workers(3, prefix="bulk")
    ids = [open_flag(w).pk for w in workers]
    with pytest.raises(ValidationError):
        flags.decide_flags(flag_ids=ids, actor=admin_user, action="suspend", reason="All.")
    flags.decide_flag(flag_id=ids[0], actor=admin_user, action="warn", reason="First.")
    changed = flags.decide_flags(flag_ids=ids, actor=admin_user, action="warn", reason="Slow.")
    assert sorted(f.pk for f in changed) == ids[1:]  # the warned one is skipped
    assert set(Flag.objects.values_list("status", flat=True)) == {"warned"}


@pytest.mark.django_db
def test_a_worker_appeals_once_and_the_appeal_tops_the_queue(client, admin_user):
    appellant, other = vetted_workers(2, prefix="app")
    mine = open_flag(appellant)
    severe = flags.raise_flag(worker_id=other.pk, signal="copying", severity=3, evidence={})
    flags.decide_flag(flag_id=mine.pk, actor=admin_user, action="suspend", reason="Fast.")
    client.force_login(appellant)
    page = client.get(reverse("worker_home"))
    assert "Answers given too fast to be read" in page.content.decode()
    client.post(reverse("worker_flag_appeal", args=[mine.pk]), {"message": "I read fast; test me."})
    with pytest.raises(ValidationError):
        flags.appeal_flag(worker=appellant, flag_id=mine.pk, message="Again")
    with pytest.raises(ValidationError):  # not theirs
        flags.appeal_flag(worker=other, flag_id=mine.pk, message="Me too")
    client.force_login(admin_user)
    queue = client.get(reverse("flag_queue") + "?status=")
    body = queue.content.decode()
    assert body.index(f'href="/staff/flags/{mine.pk}/"') < body.index(
        f'href="/staff/flags/{severe.pk}/"'
    )
    flags.keep_decision(flag_id=mine.pk, actor=admin_user, reason="The times are not possible.")
    assert not Flag.objects.get(pk=mine.pk).appeal_waiting
    assert Notification.objects.filter(
        user=appellant, subject="Your appeal was not upheld"
    ).exists()


@pytest.mark.django_db
def test_flag_pages_are_for_staff_only(client, vetted_worker, requester):
    flag = open_flag(vetted_worker)
    for user in (vetted_worker, requester):
        client.force_login(user)
        assert client.get(reverse("flag_queue")).status_code == 403
        assert client.get(reverse("flag_detail", args=[flag.pk])).status_code == 403
        assert client.post(reverse("flag_bulk"), {"flags": [flag.pk]}).status_code == 403


@pytest.mark.django_db
def test_the_flag_page_shows_why_the_answers_and_decides(client, admin_user, animals):
    (worker,) = vetted_workers(1, prefix="page")
    answered = answer_one(worker, animals)
    flag = flags.raise_flag(
        worker_id=worker.pk,
        signal=Flag.Signal.TOO_FAST,
        severity=3,
        evidence={
            "answers": 30,
            "too_fast": 25,
            "share_percent": 83,
            "worker_median_seconds": 0.8,
            "assignment_ids": [answered.pk],
        },
    )
    client.force_login(admin_user)
    page = client.get(reverse("flag_detail", args=[flag.pk])).content.decode()
    assert "83% of 30 answers were too fast (median 0.8 s per task)." in page
    assert reverse("flag_answer", args=[answered.pk]) in page
    assert "Seconds per task" in page
    answer_page = client.get(reverse("flag_answer", args=[answered.pk]))
    assert answer_page.status_code == 200 and "item" in answer_page.content.decode()
    refused = client.post(reverse("flag_detail", args=[flag.pk]), {"action": "warn", "reason": ""})
    assert refused.status_code == 400
    client.post(
        reverse("flag_detail", args=[flag.pk]), {"action": "warn", "reason": "Read each image."}
    )
    assert Flag.objects.get(pk=flag.pk).status == "warned"


@pytest.mark.django_db
def test_restoring_an_answer_never_reopens_a_task_withdrawn_meanwhile(animals, admin_user):
    (cheat,) = vetted_workers(1, prefix="wd")
    voided = answer_one(cheat, animals)
    flag = open_flag(cheat)
    flags.decide_flag(
        flag_id=flag.pk, actor=admin_user, action="ban", reason="Bot.", void_answers=True
    )
    # Meanwhile workers reported the task disturbing and it was withdrawn.
    Task.objects.filter(pk=voided.task_id).update(withdrawn_at=timezone.now(), is_open=False)
    flags.decide_flag(flag_id=flag.pk, actor=admin_user, action="dismiss", reason="Mistake.")
    task = Task.objects.get(pk=voided.task_id)
    assert (task.submitted_count, task.is_open) == (1, False)
    voided.refresh_from_db()
    assert voided.review_status == "approved"  # accepted and paid, as withdrawal does
    assert Earning.objects.filter(assignment=voided).exists()


@pytest.mark.django_db(transaction=True)
def test_a_ban_racing_the_settling_of_its_task_leaves_one_consistent_outcome(
    requester_org, requester, admin_user
):
    """The task closed with the banned worker's answer in it and waits for its settling
    job; the ban (voiding) and the job run at once: whichever wins, the count matches
    the answers, a voided answer is never paid, and a reviewed one is never voided."""
    if connection.vendor != "postgresql":
        pytest.skip("racing writers need PostgreSQL's row locks")
    task_set = published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        regular=30,
        gold=5,
        gold_ratio_permille=0,
        assignments_per_task=2,
    )
    for round_number in range(8):
        cheat, other = vetted_workers(2, prefix=f"race{round_number}-")
        mine = answer_one(cheat, task_set)
        assert answer_one(other, task_set).task_id == mine.task_id  # closes it, unsettled
        jobs = [
            lambda task_id=mine.task_id: settle_closed_task(task_id=task_id),
            lambda worker_id=cheat.pk: flags.void_unreviewed_answers(worker_id=worker_id),
        ]
        if round_number % 2:  # either may start first
            jobs.reverse()
        assert errors(race(*jobs)) == []
        mine.refresh_from_db()
        task = Task.objects.get(pk=mine.task_id)
        assert task.submitted_count == task.assignments.filter(status="submitted").count()
        if mine.status == "voided":  # the ban came first: the slot is free again
            assert task.is_open and task.settled_at is None
            assert not Earning.objects.filter(assignment=mine).exists()
        else:  # the settling came first: a reviewed answer stays
            assert mine.review_status != "pending" and task.settled_at is not None


@pytest.mark.django_db
def test_voiding_an_answer_of_a_closed_unsettled_task_reopens_it_and_the_job_waits(
    animals, admin_user
):
    cheat, other, third = vetted_workers(3, prefix="v")
    mine = answer_one(cheat, animals)
    answer_one(other, animals)
    answer_one(third, animals)  # the third answer closes the task; its job has not run
    assert not Task.objects.get(pk=mine.task_id).is_open
    assert flags.void_unreviewed_answers(worker_id=cheat.pk) == [mine.pk]
    assert settle_closed_task(task_id=mine.task_id) is None  # open again: nothing to settle
    task = Task.objects.get(pk=mine.task_id)
    assert (task.is_open, task.submitted_count, task.settled_at) == (True, 2, None)
