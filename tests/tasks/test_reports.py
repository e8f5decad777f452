"""Workers' reports (tasks given back as broken or disturbing): the requester and the
staff see them, a set that enough trusted workers report pauses itself once, a task
that enough of them found disturbing is handed to nobody else and its answers are
reviewed, and no one worker (nor a few fresh accounts) can do either alone.

Workers from vetted_workers have a good track record (18 of 20 checks right): each
counts one full report unit. fresh_accounts have just passed training: half a unit."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from rest_framework.test import APIClient

from marketplace import services as accounts
from marketplace.models import AuditLog, Membership, Notification
from payouts.models import Earning
from reputation.models import ReputationEvent, WorkerSkill
from tasks import reports, services, work
from tasks.models import Assignment, Task, TaskSet
from tests.concurrency import errors, race
from tests.factories import UserFactory
from tests.work_helpers import published_set, qualify, submit_committed, vetted_workers

pytestmark = pytest.mark.django_db


def make_set(requester_org, requester, admin_user, **fields) -> TaskSet:
    return published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        **{"regular": 10, "gold": 5, "assignments_per_task": 1, "gold_ratio_permille": 0, **fields},
    )


def fresh_accounts(count: int, prefix="f"):
    """Workers who have just passed training (ten checks, all right) and done nothing
    since: half a report unit each, however well they did."""
    return [
        qualify(worker, right=10.0, wrong=0.0)
        for worker in vetted_workers(count, prefix=prefix, qualified=False)
    ]


def report(worker, reason="broken", task_set=None) -> Assignment:
    """The worker takes the next task (of this set) and gives it back with this reason."""
    assignment = work.claim_next_task(
        worker=worker, task_set_id=task_set.pk if task_set else None
    ).assignment
    assert assignment is not None
    return work.release_assignment(worker=worker, assignment_id=assignment.pk, reason=reason)


def answer(worker, assignment, value="dog"):
    # With what its commit sets off (a closed task's settling job), as in production.
    return submit_committed(worker, assignment, value)


def status_of(task_set) -> str:
    task_set.refresh_from_db()
    return task_set.status


def organization_of(user):
    return user.memberships.get().organization


# --- The requester sees them -------------------------------------------------------


@pytest.fixture
def reported_set(requester_org, requester, admin_user):
    """r0 reported broken by one worker and disturbing by two (so withdrawn), then r1
    reported broken."""
    task_set = make_set(requester_org, requester, admin_user, assignments_per_task=2)
    w0, w1, w2, w3 = vetted_workers(4)
    report(w0, "broken")
    report(w1, "disturbing")
    report(w2, "disturbing")  # r0 again: both its slots were given back
    report(w3, "broken")  # r0 is withdrawn: r1
    return task_set


def test_the_requester_sees_reports_on_their_set_page(client, requester, reported_set):
    client.force_login(requester)
    response = client.get(reverse("task_set_detail", args=[reported_set.pk]))
    assert response.status_code == 200
    rows = [
        (r.external_id, r.broken, r.disturbing, r.withdrawn_at is not None)
        for r in response.context["reports"].tasks
    ]
    assert rows == [("r1", 1, 0, False), ("r0", 1, 2, True)]  # the latest report first
    page = response.content.decode()
    assert 'id="reports"' in page and "Reports from workers" in page
    assert "<strong>Withdrawn</strong>" in page


def test_another_requester_sees_no_reports_of_the_set(client, outsider, reported_set):
    client.force_login(outsider)
    assert client.get(reverse("task_set_detail", args=[reported_set.pk])).status_code == 404
    key = accounts.create_api_key(
        organization=organization_of(outsider), actor=outsider, name="theirs"
    )
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key.secret}")
    assert api.get(reverse("api_reports", args=[reported_set.pk])).status_code == 404


def test_the_api_lists_the_same_reports(requester, requester_org, reported_set):
    key = accounts.create_api_key(organization=requester_org, actor=requester, name="script")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key.secret}")
    body = api.get(reverse("api_reports", args=[reported_set.pk])).json()
    assert body["count"] == 2 and body["paused_for_reports"] is False
    rows = [
        (r["external_id"], r["broken"], r["disturbing"], r["withdrawn_at"] is not None)
        for r in body["results"]
    ]
    assert rows == [("r1", 1, 0, False), ("r0", 1, 2, True)]


def test_the_set_page_caps_the_list_and_says_how_many_in_all(
    client, requester, requester_org, admin_user, settings
):
    settings.TASK_REPORTS_PAUSE_MIN = 100
    task_set = make_set(requester_org, requester, admin_user, regular=60)
    (worker,) = vetted_workers(1)
    for _ in range(52):
        report(worker)  # a reported task never comes back to its reporter: 52 tasks
    client.force_login(requester)
    response = client.get(reverse("task_set_detail", args=[task_set.pk]))
    assert len(response.context["reports"].tasks) == 50
    assert "The 50 most recently reported of 52 tasks." in response.content.decode()


# --- The staff see them --------------------------------------------------------------


def test_staff_see_reported_tasks_of_every_set_most_reported_first(
    client, admin_user, requester, requester_org, outsider, settings
):
    settings.TASK_REPORTS_PAUSE_MIN = 2
    acme = make_set(requester_org, requester, admin_user, title="Acme cats", assignments_per_task=2)
    other = make_set(organization_of(outsider), outsider, admin_user, title="Other dogs")
    w0, w1, w2 = vetted_workers(3)
    report(w0, "broken", acme)  # r0
    report(w1, "disturbing", acme)  # r0 again: two reports pause Acme's set
    report(w2, "broken", other)
    assert (status_of(acme), status_of(other)) == ("paused", "published")
    client.force_login(admin_user)
    response = client.get(reverse("staff_reports"))
    assert response.status_code == 200
    rows = [
        (r.task_set.title, r.task_set.organization.name, r.broken, r.disturbing)
        for r in response.context["reports"].tasks
    ]
    assert rows == [("Acme cats", "Acme Labels", 1, 1), ("Other dogs", "Other Corp", 1, 0)]
    page = response.content.decode()
    assert page.count("paused automatically") == 1
    assert page.index("paused automatically") < page.index("Other dogs")


@pytest.mark.parametrize("persona", ["requester", "outsider", "vetted_worker"])
def test_only_staff_open_the_reports_page(client, request, persona, reported_set):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(reverse("staff_reports")).status_code == 403
    task = Task.objects.get(task_set=reported_set, external_id="r0")
    assert client.get(reverse("staff_report_image", args=[task.pk])).status_code == 403


def test_staff_view_a_reported_image_and_no_other(
    client, admin_user, reported_set, settings, tmp_path
):
    from tests.tasks.test_work_pages import _webp_bytes

    settings.MEDIA_ROOT = tmp_path
    reported = Task.objects.get(task_set=reported_set, external_id="r1")
    unreported = Task.objects.get(task_set=reported_set, external_id="r5")
    for task in (reported, unreported):
        task.image_derivative.save("tasks/x.webp", _webp_bytes(), save=True)
    client.force_login(admin_user)
    assert (
        reverse("staff_report_image", args=[reported.pk])
        in client.get(reverse("staff_reports")).content.decode()
    )
    response = client.get(reverse("staff_report_image", args=[reported.pk]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content)[:4] == b"RIFF"
    assert client.get(reverse("staff_report_image", args=[unreported.pk])).status_code == 404


# --- A set with many reports pauses itself ----------------------------------------


def test_the_threshold_is_the_larger_of_the_minimum_and_the_share(settings):
    settings.TASK_REPORTS_PAUSE_MIN = 1
    settings.TASK_REPORTS_PAUSE_PERMILLE = 20
    assert [reports.pause_threshold(n) for n in (10, 100, 101, 1000)] == [1, 2, 3, 20]
    settings.TASK_REPORTS_PAUSE_MIN = 5
    assert [reports.pause_threshold(n) for n in (10, 250, 251)] == [5, 5, 6]


def test_the_set_pauses_itself_at_the_threshold_and_not_below(requester_org, requester, admin_user):
    task_set = make_set(requester_org, requester, admin_user)  # 10 tasks: 5 workers
    *reporters, holder = vetted_workers(6)
    held = work.claim_next_task(worker=holder).assignment
    for worker in reporters[:4]:
        report(worker, "broken")
    assert status_of(task_set) == "published"
    assert not Notification.objects.exists()
    report(reporters[4], "disturbing")
    assert status_of(task_set) == "paused"
    assert task_set.paused_for_reports_at == task_set.paused_at
    held.refresh_from_db()
    assert (held.status, held.release_reason) == ("released", "set_paused")
    audit = AuditLog.objects.get(action="task_set.auto_paused")
    assert (audit.actor, audit.actor_label, audit.target_id) == (None, "system", str(task_set.pk))
    assert audit.data == {
        "from": "published",
        "claims_withdrawn": 1,
        "reporters": 5,
        "trust_permille": 5000,
        "needed_permille": 5000,
    }
    told = {n.user.username: n for n in Notification.objects.all()}
    assert set(told) == {requester.username, admin_user.username}
    assert "5 workers reported" in told[requester.username].body
    assert "resume" in told[requester.username].body


def test_a_member_of_the_organization_is_not_told_only_its_admins(
    requester_org, requester, admin_user, settings
):
    settings.TASK_REPORTS_PAUSE_MIN = 1
    member = UserFactory(username="mia")
    Membership.objects.create(user=member, organization=requester_org, role="member")
    task_set = make_set(requester_org, requester, admin_user)
    for worker in vetted_workers(2, prefix="r"):  # one worker never pauses a set alone
        report(worker)
    assert status_of(task_set) == "paused"
    assert set(Notification.objects.values_list("user__username", flat=True)) == {
        requester.username,
        admin_user.username,
    }


def test_after_a_resume_old_reports_do_not_pause_the_set_again(
    requester_org, requester, admin_user
):
    task_set = make_set(requester_org, requester, admin_user)
    workers = vetted_workers(10)
    for worker in workers[:5]:
        report(worker)
    assert status_of(task_set) == "paused"
    services.resume_task_set(task_set_id=task_set.pk, actor=requester)
    for worker in workers[5:9]:
        report(worker)  # 9 reports in all, 4 since the pause
    assert status_of(task_set) == "published"
    report(workers[9])  # 5 since the pause
    assert status_of(task_set) == "paused"
    assert AuditLog.objects.filter(action="task_set.auto_paused").count() == 2


def test_skips_are_not_reports(requester_org, requester, admin_user):
    task_set = make_set(requester_org, requester, admin_user)
    for worker in vetted_workers(6):
        report(worker, "skip")
    assert status_of(task_set) == "published"
    assert reports.set_reports(task_set).total == 0


def test_reports_through_the_http_fallback_pause_the_set_too(
    client, requester_org, requester, admin_user, settings
):
    settings.TASK_REPORTS_PAUSE_MIN = 1
    task_set = make_set(requester_org, requester, admin_user)
    first, worker = vetted_workers(2)
    report(first)  # half of what pauses it: one worker never pauses a set alone
    assert status_of(task_set) == "published"
    client.force_login(worker)
    client.post(reverse("work_claim"))
    assignment = Assignment.objects.get(worker=worker)
    client.post(reverse("work_release"), {"assignment": assignment.pk, "reason": "broken"})
    assert status_of(task_set) == "paused"


# --- No one worker, and no few fresh accounts, pause a set --------------------------


def test_one_worker_reporting_five_broken_tasks_does_not_pause_the_set(
    requester_org, requester, admin_user
):
    task_set = make_set(requester_org, requester, admin_user)  # 10 tasks: 5 workers
    (worker,) = vetted_workers(1)
    for _ in range(5):
        report(worker, "broken")
    assert status_of(task_set) == "published"
    counted = reports.pause_tally(task_set)
    assert (counted.reporters, counted.trust_permille) == (1, 1000)


def test_one_workers_share_is_capped_at_half_of_what_pauses_the_set(
    requester_org, requester, admin_user, settings
):
    settings.TASK_REPORTS_PAUSE_MIN = 1  # one unit pauses it: a worker adds half at most
    task_set = make_set(requester_org, requester, admin_user)
    first, second = vetted_workers(2)
    for _ in range(3):
        report(first)
    assert status_of(task_set) == "published"
    assert reports.pause_tally(task_set).trust_permille == 500
    report(second)
    assert status_of(task_set) == "paused"


def test_the_share_cap_is_one_unit_and_never_more_than_half():
    assert [reports.report_share_cap(n) for n in (1000, 1500, 2000, 5000)] == [
        500,
        750,
        1000,
        1000,
    ]


def test_fresh_accounts_count_for_less_than_workers_with_a_track_record(
    requester_org, requester, admin_user
):
    task_set = make_set(requester_org, requester, admin_user, regular=20)  # 5 units
    for worker in fresh_accounts(5):
        report(worker)
    for worker in vetted_workers(2):
        report(worker)
    assert status_of(task_set) == "published"  # 5 x 0.5 + 2 x 1 = 4.5 units
    assert reports.pause_tally(task_set).trust_permille == 4500
    report(vetted_workers(1, prefix="t")[0])
    assert status_of(task_set) == "paused"


def test_after_a_resume_the_same_workers_do_not_pause_the_set_again(
    requester_org, requester, admin_user, settings
):
    settings.TASK_REPORTS_PAUSE_MIN = 2
    task_set = make_set(requester_org, requester, admin_user)
    w0, w1, w2, w3 = vetted_workers(4)
    report(w0)
    report(w1)
    assert status_of(task_set) == "paused"
    services.resume_task_set(task_set_id=task_set.pk, actor=requester)
    for worker in (w0, w1, w0, w1):
        report(worker)  # their concern was heard: the requester resumed the set
    assert status_of(task_set) == "published"
    assert reports.pause_tally(task_set).reporters == 0
    report(w2)
    report(w3)
    assert status_of(task_set) == "paused"


# --- A task that trusted workers found disturbing is withdrawn ------------------------


def test_a_task_two_workers_found_disturbing_goes_to_nobody_else_and_the_set_completes(
    requester_org, requester, admin_user, django_capture_on_commit_callbacks
):
    task_set = make_set(requester_org, requester, admin_user, regular=2, assignments_per_task=2)
    w0, w1, w2, w3 = vetted_workers(4)
    first = report(w0, "disturbing")
    assert Task.objects.get(pk=first.task_id).withdrawn_at is None  # one report is not enough
    second = report(w1, "disturbing")
    assert second.task_id == first.task_id
    withdrawn = Task.objects.get(pk=first.task_id)
    assert withdrawn.withdrawn_at is not None and not withdrawn.is_open
    for worker in (w2, w3):
        claim = work.claim_next_task(worker=worker).assignment
        assert claim.task_id != withdrawn.pk
        with django_capture_on_commit_callbacks(execute=True):
            answer(worker, claim)
    assert status_of(task_set) == "completed"
    assert not Assignment.objects.filter(task=withdrawn, worker__in=[w2, w3]).exists()
    assert AuditLog.objects.filter(action="task.withdrawn", target_id=str(withdrawn.pk)).exists()


def test_a_withdrawn_task_is_the_last_open_one_and_the_set_completes(
    requester_org, requester, admin_user, django_capture_on_commit_callbacks
):
    task_set = make_set(requester_org, requester, admin_user, regular=2, assignments_per_task=2)
    w0, w1, w2, w3 = vetted_workers(4)
    first, second = (work.claim_next_task(worker=w).assignment for w in (w0, w1))  # both r0
    for worker in (w2, w3):
        answer(worker, work.claim_next_task(worker=worker).assignment)  # r1 closes
    assert status_of(task_set) == "published"
    work.release_assignment(worker=w0, assignment_id=first.pk, reason="disturbing")
    with django_capture_on_commit_callbacks(execute=True):
        work.release_assignment(worker=w1, assignment_id=second.pk, reason="disturbing")
    assert status_of(task_set) == "completed"


def test_withdrawing_takes_back_other_claims_and_pays_answers_already_given(
    requester_org, requester, admin_user
):
    make_set(requester_org, requester, admin_user, regular=2, assignments_per_task=4)
    answered, holding, *reporters = vetted_workers(4)
    claims = {w: work.claim_next_task(worker=w).assignment for w in (answered, holding)}
    given = answer(answered, claims[answered]).assignment
    for worker in reporters:
        report(worker, "disturbing")
    task = Task.objects.get(pk=given.task_id)
    assert task.withdrawn_at is not None and (task.submitted_count, task.is_open) == (1, False)
    held = Assignment.objects.get(pk=claims[holding].pk)
    assert (held.status, held.release_reason) == ("released", "task_withdrawn")
    with pytest.raises(work.WorkError) as refusal:
        answer(holding, claims[holding])
    assert refusal.value.code == "released" and "taken out of use" in refusal.value.message
    given.refresh_from_db()
    assert given.review_status == "approved"
    assert Earning.objects.filter(assignment=given, status="live").exists()


def test_two_fresh_accounts_cannot_withdraw_a_task_and_count_half_each(
    requester_org, requester, admin_user
):
    """(Two trusted workers can: test_a_task_two_workers_found_disturbing_...)"""
    make_set(requester_org, requester, admin_user, regular=2, assignments_per_task=4)
    f0, f1 = fresh_accounts(2)
    first = report(f0, "disturbing")
    assert report(f1, "disturbing").task_id == first.task_id
    task = Task.objects.get(pk=first.task_id)
    assert task.withdrawn_at is None and task.is_open
    assert reports.disturbing_tally(task_id=task.pk, task_set=task.task_set).trust_permille == 1000
    (trusted,) = vetted_workers(1)
    assert report(trusted, "disturbing").task_id == task.pk  # 0.5 + 0.5 + 1 units
    task.refresh_from_db()
    assert task.withdrawn_at is not None and not task.is_open


def test_a_lone_answer_from_a_fresh_account_is_paid_but_left_for_the_requester_to_review(
    client, requester_org, requester, admin_user
):
    """Nothing can check one answer: a fresh account's is not used (paid), with a
    reason, and waits in the requester's "not used" list, where they may reject it."""
    task_set = make_set(requester_org, requester, admin_user, regular=2, assignments_per_task=4)
    (fresh,) = fresh_accounts(1)
    given = answer(fresh, work.claim_next_task(worker=fresh).assignment, "bird").assignment
    for worker in vetted_workers(2):
        report(worker, "disturbing")
    given.refresh_from_db()
    assert Task.objects.get(pk=given.task_id).withdrawn_at is not None
    assert given.review_status == "soft_rejected"
    assert "withdrawn" in given.review_reason
    assert Earning.objects.filter(assignment=given, status="live").exists()
    assert not ReputationEvent.objects.filter(assignment=given).exists()
    client.force_login(requester)
    page = client.get(reverse("task_set_detail", args=[task_set.pk]))
    assert given in page.context["not_used"]
    audit = AuditLog.objects.get(action="task.withdrawn", target_id=str(given.task_id))
    assert audit.data["answers_approved"] == 0 and audit.data["answers_not_used"] == 1


def test_a_withdrawn_tasks_answers_are_reviewed_against_each_other(
    requester_org, requester, admin_user
):
    make_set(requester_org, requester, admin_user, regular=2, assignments_per_task=5)
    a, b, c, *reporters = vetted_workers(5)
    claims = {w: work.claim_next_task(worker=w).assignment for w in (a, b, c)}
    given = {
        w: answer(w, claims[w], value).assignment
        for w, value in ((a, "dog"), (b, "dog"), (c, "cat"))
    }
    for worker in reporters:
        report(worker, "disturbing")
    for assignment in given.values():
        assignment.refresh_from_db()
    assert Task.objects.get(pk=given[a].task_id).withdrawn_at is not None
    assert [given[w].review_status for w in (a, b, c)] == ["approved", "approved", "soft_rejected"]
    assert "Other workers" in given[c].review_reason
    assert ReputationEvent.objects.filter(source="consensus").count() == 3
    assert Earning.objects.filter(assignment__in=given.values(), status="live").count() == 3


def test_answers_that_disagree_on_a_withdrawn_task_are_judged_by_their_workers_standing(
    requester_org, requester, admin_user
):
    """Two answers and no sure consensus among them: the trusted worker's is approved,
    the fresh account's is not used (both paid)."""
    make_set(requester_org, requester, admin_user, regular=2, assignments_per_task=4)
    (trusted,) = vetted_workers(1, prefix="t")
    (fresh,) = fresh_accounts(1)
    trusted_answer = answer(trusted, work.claim_next_task(worker=trusted).assignment, "dog")
    fresh_answer = answer(fresh, work.claim_next_task(worker=fresh).assignment, "cat")
    assert trusted_answer.assignment.task_id == fresh_answer.assignment.task_id
    for worker in vetted_workers(2):
        report(worker, "disturbing")
    reviews = dict(
        Assignment.objects.filter(worker__in=[trusted, fresh], status="submitted").values_list(
            "worker__username", "review_status"
        )
    )
    assert reviews == {trusted.username: "approved", fresh.username: "soft_rejected"}
    assert not ReputationEvent.objects.filter(source="consensus").exists()
    assert (
        Earning.objects.filter(assignment__worker__in=[trusted, fresh], status="live").count() == 2
    )


def claim_a_check(worker, task_id=None) -> Assignment:
    """Claims, skipping the rest as a worker may, until a check (this one) comes."""
    for _ in range(60):
        claim = work.claim_next_task(worker=worker).assignment
        if claim.is_gold and task_id in (None, claim.task_id):
            return claim
        work.release_assignment(worker=worker, assignment_id=claim.pk, reason="skip")
    raise AssertionError("no such check in 60 claims")


def checks_claimed_until_none_is_left(worker) -> list[int]:
    """The checks the worker is given, claim after claim, skipping everything."""
    checks = []
    for _ in range(30):
        claim = work.claim_next_task(worker=worker).assignment
        if claim is None:
            break
        if claim.is_gold:
            checks.append(claim.task_id)
        work.release_assignment(worker=worker, assignment_id=claim.pk, reason="skip")
    return checks


def test_a_check_two_workers_found_disturbing_goes_to_nobody_else(
    requester_org, requester, admin_user
):
    # A check goes to every worker of the set in time: a disturbing one would be shown
    # to all of them.
    make_set(requester_org, requester, admin_user, regular=60, gold=5, gold_ratio_permille=500)
    holding, w0, w1, later = vetted_workers(4)
    held = claim_a_check(holding)
    for worker in (w0, w1):
        mine = claim_a_check(worker, held.task_id)
        work.release_assignment(worker=worker, assignment_id=mine.pk, reason="disturbing")
    check = Task.objects.get(pk=held.task_id)
    assert check.withdrawn_at is not None
    held.refresh_from_db()
    assert (held.status, held.release_reason) == ("released", "task_withdrawn")
    given = checks_claimed_until_none_is_left(later)
    assert len(given) == 4 and check.pk not in given  # the other four only
    audit = AuditLog.objects.get(action="task.withdrawn", target_id=str(check.pk))
    assert audit.data == {
        "disturbing_reporters": 2,
        "trust_permille": 2000,
        "needed_permille": 2000,
        "gold": True,
    }


def test_a_training_check_enough_trainees_found_disturbing_goes_to_nobody_else(
    requester_org, requester, admin_user
):
    """Trainees have little evidence yet, so each counts for less than a worker with a
    track record: these four, with one training attempt's worth (half a unit) each."""
    make_set(
        requester_org,
        requester,
        admin_user,
        regular=0,
        gold=10,
        is_training=True,
        training_answer_budget=100,
    )
    *trainees, later = vetted_workers(5, qualified=False)
    for trainee in trainees:
        WorkerSkill.objects.create(
            worker=trainee,
            skill="label",
            evidence_right=9.0,
            evidence_wrong=1.0,
            score_permille=846,
        )
    first = claim_a_check(trainees[0])
    work.release_assignment(worker=trainees[0], assignment_id=first.pk, reason="disturbing")
    for trainee in trainees[1:]:
        assert Task.objects.get(pk=first.task_id).withdrawn_at is None
        mine = claim_a_check(trainee, first.task_id)
        work.release_assignment(worker=trainee, assignment_id=mine.pk, reason="disturbing")
    assert Task.objects.get(pk=first.task_id).withdrawn_at is not None
    given = checks_claimed_until_none_is_left(later)
    assert len(given) == 9 and first.task_id not in given


def test_reports_that_are_not_two_disturbing_ones_withdraw_nothing(
    requester_org, requester, admin_user
):
    make_set(requester_org, requester, admin_user, regular=2, assignments_per_task=3)
    w0, w1, w2, w3 = vetted_workers(4)
    first = report(w0, "disturbing")
    report(w1, "broken")
    report(w2, "broken")
    task = Task.objects.get(pk=first.task_id)
    assert task.withdrawn_at is None and task.is_open
    assert work.claim_next_task(worker=w3).assignment.task_id == task.pk


# --- Racing ----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_racing_reports_answers_and_a_pause_keep_the_rules(
    requester_org, requester, admin_user, settings
):
    """Reports that withdraw tasks and pause the set, answers to the same tasks and the
    requester's own pause, all at once: no deadlock, the set pauses, a task is withdrawn
    exactly when two workers reported it disturbing, and no claim is left active."""
    settings.TASK_REPORTS_PAUSE_MIN = 4
    task_set = make_set(requester_org, requester, admin_user, regular=3, assignments_per_task=3)
    workers = vetted_workers(9)
    claims = [work.claim_next_task(worker=w).assignment for w in workers]  # r0, r1, r2 x 3
    calls = []
    for i, (worker, claim) in enumerate(zip(workers, claims, strict=True)):
        if i % 3 == 2:
            calls.append(lambda w=worker, c=claim: answer(w, c))
        else:
            calls.append(
                lambda w=worker, c=claim: work.release_assignment(
                    worker=w, assignment_id=c.pk, reason="disturbing"
                )
            )
    calls.append(lambda: services.pause_task_set(task_set_id=task_set.pk, actor=requester))
    outcomes = race(*calls)
    for failure in errors(outcomes):
        # Only refusals that say what happened: a claim withdrawn before its answer
        # came, or a set the reports paused before its requester could.
        assert isinstance(failure, work.WorkError | ValidationError), repr(failure)
    assert status_of(task_set) == "paused"
    for task in Task.objects.filter(task_set=task_set, is_gold=False):
        disturbing = Assignment.objects.filter(task=task, release_reason="disturbing").count()
        assert (task.withdrawn_at is not None) == (disturbing >= 2)  # trusted workers
        assert (
            task.submitted_count == Assignment.objects.filter(task=task, status="submitted").count()
        )
    assert not Assignment.objects.filter(task_set=task_set, status="active").exists()
    assert AuditLog.objects.filter(action="task_set.auto_paused").count() <= 1


@pytest.mark.django_db(transaction=True)
def test_racing_reports_and_answers_on_one_task_review_and_pay_each_answer_once(
    requester_org, requester, admin_user
):
    """Two trusted workers report a task disturbing while two others answer it: it is
    withdrawn once, each answer that made it in is reviewed and paid exactly once, and
    an answer that came too late is refused, not half-saved."""
    make_set(requester_org, requester, admin_user, regular=2, assignments_per_task=4)
    workers = vetted_workers(4)
    claims = [work.claim_next_task(worker=w).assignment for w in workers]
    assert len({c.task_id for c in claims}) == 1
    task_id = claims[0].task_id
    outcomes = race(
        lambda: work.release_assignment(
            worker=workers[0], assignment_id=claims[0].pk, reason="disturbing"
        ),
        lambda: work.release_assignment(
            worker=workers[1], assignment_id=claims[1].pk, reason="disturbing"
        ),
        lambda: answer(workers[2], claims[2], "dog"),
        lambda: answer(workers[3], claims[3], "dog"),
    )
    for failure in errors(outcomes):
        assert isinstance(failure, work.WorkError) and failure.code == "released", repr(failure)
    task = Task.objects.get(pk=task_id)
    assert task.withdrawn_at is not None and task.settled_at is not None
    answers = Assignment.objects.filter(task_id=task_id, status="submitted")
    assert task.submitted_count == answers.count() == 2 - len(errors(outcomes))
    assert not answers.filter(review_status="pending").exists()
    for given in answers:
        assert Earning.objects.filter(assignment=given, status="live").count() == 1
    assert AuditLog.objects.filter(action="task.withdrawn", target_id=str(task_id)).count() == 1
    assert not Assignment.objects.filter(task_id=task_id, status="active").exists()
