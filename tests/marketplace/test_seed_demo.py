import re
from io import StringIO

import pytest
from django.core.management import call_command

from marketplace.models import User
from reputation.models import Flag, WorkerSkill
from reputation.services import skill_for
from tasks import services, work
from tasks.models import Task, TaskSet
from tasks.reach import reach_of

pytestmark = pytest.mark.django_db


def test_demo_data_is_idempotent_and_a_demo_worker_has_work_at_once():
    call_command("seed_demo", stdout=StringIO())
    call_command("seed_demo", stdout=StringIO())
    demo_set = TaskSet.objects.get(title="Street signs (demo)")
    assert demo_set.status == "published"
    assert TaskSet.objects.filter(title="Street signs (demo)").count() == 1
    # A new worker starts on the paid training; trained ones get the demo set.
    claim = work.claim_next_task(worker=User.objects.get(username="sokha"))
    assert claim.assignment is not None and claim.assignment.task_set.is_platform_training
    claim = work.claim_next_task(worker=User.objects.get(username="dara"))
    assert claim.assignment is not None and claim.assignment.task_set_id == demo_set.pk
    assert WorkerSkill.objects.get(worker__username="vibol", skill="label").state == "qualified"


def test_demo_data_has_one_flag_for_the_admin_to_review():
    call_command("seed_demo", stdout=StringIO())
    call_command("seed_demo", stdout=StringIO())
    flag = Flag.objects.get(status="open")
    assert (flag.worker.username, flag.signal) == ("dara", "impossible_activity")


def test_demo_checks_are_numbered_like_any_other_task():
    call_command("seed_demo", stdout=StringIO())
    tasks = Task.objects.filter(task_set__title="Street signs (demo)")
    numbers = {}
    for task in tasks:
        # One pattern for all: neither the id nor the photo number says "check".
        external = re.fullmatch(r"sign-(\d+)", task.external_id)
        photo = re.fullmatch(r".* \(photo (\d+)\)", task.payload_text)
        assert external and photo and external[1] == photo[1]
        numbers[int(photo[1])] = task.is_gold
    assert sorted(numbers) == list(range(1, 47))
    gold = sorted(number for number, is_gold in numbers.items() if is_gold)
    assert len(gold) == 6
    # Mixed in among the regular photos, not a block of their own at either end.
    assert gold != list(range(41, 47)) and gold != list(range(1, 7))
    assert min(gold) < 40 and max(gold) > 7


def test_demo_training_is_the_platforms_made_by_staff():
    call_command("seed_demo", stdout=StringIO())
    training = TaskSet.objects.get(title="Road sign training (demo)")
    assert training.is_platform_training and training.created_by.is_staff
    assert training.organization.slug == "platform-training"
    requester_org = TaskSet.objects.get(title="Street signs (demo)").organization
    assert training.organization != requester_org


def test_demo_trains_every_skill_it_offers_so_every_kind_of_set_reaches_workers():
    """Issue 19: a multi-label and a Khmer transcription set once sat unanswered in the
    demo, which trained workers in labelling only."""
    call_command("seed_demo", stdout=StringIO())
    trainings = TaskSet.objects.filter(is_training=True, status="published")
    assert {skill_for(t.kind, t.language) for t in trainings} == {
        "label",
        "multilabel",
        "transcription:km",
        "transcription:en",
    }
    qualified = {
        (row.worker.username, row.skill)
        for row in WorkerSkill.objects.filter(state="qualified").select_related("worker")
    }
    for username in ("dara", "sreymom"):
        assert {(username, "multilabel"), (username, "transcription:km")} <= qualified
    assert ("vibol", "transcription:en") in qualified
    assert ("vibol", "transcription:km") not in qualified  # reads English only

    requester = User.objects.get(username="requester")
    organization = TaskSet.objects.get(title="Street signs (demo)").organization
    for kind, language, readers in (
        ("multilabel", "", 3),
        ("transcription", "km", 2),
        ("transcription", "en", 3),
    ):
        task_set = TaskSet.objects.create(
            organization=organization,
            created_by=requester,
            title=f"{kind} {language}",
            kind=kind,
            language=language,
            label_options=["person", "car"] if kind == "multilabel" else [],
            reward_minor=5,
            expected_seconds_per_task=20,
        )
        Task.objects.bulk_create(
            Task(
                task_set=task_set,
                external_id=f"t{i}",
                payload_text=f"text {i}",
                is_gold=i < 5,
                gold_answer=(["car"] if kind == "multilabel" else f"text {i}") if i < 5 else None,
            )
            for i in range(10)
        )
        assert reach_of(task_set).open_now == readers
        services.publish_task_set(task_set_id=task_set.pk, actor=requester)
        claim = work.claim_next_task(
            worker=User.objects.get(username="dara"), task_set_id=task_set.pk
        )
        assert claim.assignment is not None, (kind, language)
