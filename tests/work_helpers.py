"""Published sets and vetted workers for the real-time work tests."""

import uuid

from django.test import TestCase
from django.utils import timezone

from marketplace.models import Membership, WorkerProfile
from payouts import services as ledger
from reputation.models import WorkerSkill
from reputation.standing import posterior_permille
from tasks import services, work
from tasks.models import Task, TaskSet
from tests.factories import UserFactory, WorkerProfileFactory


def published_set(
    *,
    organization,
    requester,
    admin,
    regular=10,
    gold=5,
    options=("cat", "dog", "bird"),
    publish=True,
    **fields,
) -> TaskSet:
    """A label set of `regular` text tasks plus `gold` gold ones, funded and published.
    Platform training is staff's (tasks.services.require_member): the admin, made a
    member of the organization that funds it, creates and publishes it."""
    if fields.get("is_training") and not fields.get("is_org_test"):
        Membership.objects.get_or_create(
            user=admin, organization=organization, defaults={"role": Membership.Role.ADMIN}
        )
        requester = admin
    ledger.credit_organization(
        organization=organization,
        amount_minor=10_000_000,
        currency="USD",
        actor=admin,
        reason="test funds",
        idempotency_key=f"test-funds:{organization.pk}:{timezone.now().timestamp()}",
    )
    task_set = TaskSet.objects.create(
        organization=organization,
        created_by=requester,
        title=fields.pop("title", "Animals"),
        kind=fields.pop("kind", TaskSet.Kind.LABEL),
        label_options=list(options),
        reward_minor=fields.pop("reward_minor", 5),
        expected_seconds_per_task=fields.pop("expected_seconds_per_task", 20),
        **fields,
    )
    Task.objects.bulk_create(
        [
            Task(task_set=task_set, external_id=f"r{i}", payload_text=f"item {i}")
            for i in range(regular)
        ]
        + [
            Task(
                task_set=task_set,
                external_id=f"g{i}",
                payload_text=f"check {i}",
                is_gold=True,
                gold_answer={"label": options[0], "multilabel": [options[0]]}.get(
                    task_set.kind, f"check {i}"
                ),
                gold_explanation="SECRET-EXPLANATION",
            )
            for i in range(gold)
        ]
    )
    if not publish:
        return task_set
    return services.publish_task_set(task_set_id=task_set.pk, actor=requester)


ALL_SKILLS = ("label", "multilabel", "transcription")


def qualify(worker, skills=ALL_SKILLS, right=18.0, wrong=2.0):
    """As if the worker had passed training in these skills and then done some good
    work (18 of 20 checks right, unless told otherwise). Rows made here have no events
    behind them: tests of rebuilding standings train their workers for real."""
    for skill in skills:
        WorkerSkill.objects.update_or_create(
            worker=worker,
            skill=skill,
            defaults={
                "state": WorkerSkill.State.QUALIFIED,
                "evidence_right": right,
                "evidence_wrong": wrong,
                "score_permille": posterior_permille(right, wrong),
                "qualified_at": timezone.now(),
            },
        )
    return worker


def vetted_workers(count: int, *, prefix="w", qualified=True, **profile_fields):
    """Vetted workers, by default already past training in every skill."""
    workers = [
        WorkerProfileFactory(
            user=UserFactory(username=f"{prefix}{i}"),
            status=WorkerProfile.Status.VETTED,
            **profile_fields,
        ).user
        for i in range(count)
    ]
    return [qualify(worker) if qualified else worker for worker in workers]


def submit_committed(worker, assignment, value, *, submission_id=None, seconds_spent=10):
    """Submit an answer and run what its commit sets off (the closed task's settling
    job, eager in tests), as if the test's own transaction had committed."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return work.submit_answer(
            worker=worker,
            assignment_id=assignment.pk,
            answer=value,
            submission_id=submission_id or uuid.uuid4(),
            seconds_spent=seconds_spent,
        )
