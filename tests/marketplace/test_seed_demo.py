from io import StringIO

import pytest
from django.core.management import call_command

from marketplace.models import User
from reputation.models import Flag, WorkerSkill
from tasks import work
from tasks.models import TaskSet

pytestmark = pytest.mark.django_db


def test_demo_data_is_idempotent_and_a_demo_worker_has_work_at_once():
    call_command("seed_demo", stdout=StringIO())
    call_command("seed_demo", stdout=StringIO())
    demo_set = TaskSet.objects.get(title="Street signs (demo)")
    assert demo_set.status == "published"
    assert TaskSet.objects.filter(title="Street signs (demo)").count() == 1
    training = TaskSet.objects.get(title="Road sign training (demo)", is_training=True)
    # A new worker starts on the paid training set; trained ones get the demo set.
    claim = work.claim_next_task(worker=User.objects.get(username="sokha"))
    assert claim.assignment is not None and claim.assignment.task_set_id == training.pk
    claim = work.claim_next_task(worker=User.objects.get(username="dara"))
    assert claim.assignment is not None and claim.assignment.task_set_id == demo_set.pk
    assert WorkerSkill.objects.get(worker__username="vibol", skill="label").state == "qualified"


def test_demo_data_has_one_flag_for_the_admin_to_review():
    call_command("seed_demo", stdout=StringIO())
    call_command("seed_demo", stdout=StringIO())
    flag = Flag.objects.get(status="open")
    assert (flag.worker.username, flag.signal) == ("dara", "impossible_activity")
