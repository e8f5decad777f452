"""Task-set lifecycle: publish (funding escrow from the organization's balance in the
same transaction), pause, resume and cancel (returning unspent escrow)."""

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from marketplace.models import Membership, User
from marketplace.services import record_audit
from payouts.currency import format_amount
from payouts.earnings import escrow_account, still_owed_minor
from payouts.models import LedgerAccount
from payouts.services import InsufficientFunds, get_account, post_entry
from tasks import events
from tasks.images import ImageRejected, process_image
from tasks.models import Assignment, ExampleImage, TaskSet
from tasks.pricing import (
    CostPreview,
    cost_preview,
    hourly_pay_minor,
    pay_floor_minor,
    platform_fee_minor,
)
from tasks.reach import reach_of
from tasks.tasks import aggregate_task_set
from tasks.work import complete_if_finished, withdraw_claims

Status = TaskSet.Status


def require_member(*, actor: User, task_set: TaskSet) -> None:
    """Who may change a set (create, edit, upload, publish, pause, cancel): members of
    its organization; and for platform training, only staff among them.

    Platform training decides who is qualified in a skill for every organization's
    sets, so it is the platform's: a staff member creates it in an organization they
    belong to (the one that funds it; the demo uses a platform organization), and no
    requester, even of that organization, can change it."""
    if not Membership.objects.filter(
        user=actor,
        organization_id=task_set.organization_id,
        role__in=[Membership.Role.ADMIN, Membership.Role.MEMBER],
    ).exists():
        raise PermissionDenied(_("Only members of the set's organization may change it."))
    if task_set.is_platform_training and not actor.is_staff:
        raise PermissionDenied(
            _("Only platform staff may change training that qualifies workers platform-wide.")
        )


def _clean_qualification(*, actor: User, task_set: TaskSet) -> None:
    """The set's training settings, checked for its new state on every write: an
    organization's own test is training; only staff may make platform training."""
    if task_set.is_org_test:
        task_set.is_training = True
    if task_set.is_training and task_set.requires_org_test:
        raise ValidationError(
            {"requires_org_test": _("A training set cannot itself require a test.")}
        )
    if task_set.is_platform_training and not actor.is_staff:
        raise ValidationError(
            {
                "is_training": _(
                    "Only platform staff can create training that qualifies workers across "
                    "the platform. For a test that gates only your organization's sets, "
                    "mark the set as your organization's own qualification test "
                    "(is_org_test)."
                )
            }
        )


def clean_label_options(*, kind: str, options: list[str]) -> list[str]:
    """The options for a set of this kind, or ValidationError saying what is wrong."""
    options = [option.strip() for option in options if option.strip()]
    if kind in (TaskSet.Kind.LABEL, TaskSet.Kind.MULTILABEL):
        if not 2 <= len(options) <= 50:
            raise ValidationError({"label_options": _("Give between 2 and 50 options.")})
        if len(set(options)) != len(options):
            raise ValidationError({"label_options": _("An option is repeated.")})
        if any(len(option) > 100 for option in options):
            raise ValidationError({"label_options": _("Options are at most 100 characters.")})
    elif options:
        raise ValidationError({"label_options": _("Transcription sets have no options.")})
    return options


@transaction.atomic
def create_task_set(*, organization, actor: User, **fields) -> TaskSet:
    """A draft set; its settings are checked again when it is published."""
    task_set = TaskSet(organization=organization, created_by=actor, **fields)
    _clean_qualification(actor=actor, task_set=task_set)
    require_member(actor=actor, task_set=task_set)
    task_set.label_options = clean_label_options(kind=task_set.kind, options=task_set.label_options)
    task_set.full_clean()
    task_set.save()
    record_audit(actor=actor, action="task_set.create", target=task_set)
    return task_set


# Fields that change neither what workers are paid nor what answers mean: the only
# ones that may change once a set is published.
SAFE_FIELDS_AFTER_PUBLISH = frozenset({"title", "instructions", "priority"})
EDITABLE_FIELDS = SAFE_FIELDS_AFTER_PUBLISH | {
    "kind",
    "label_options",
    "reward_minor",
    "currency",
    "assignments_per_task",
    "gold_ratio_permille",
    "time_limit_seconds",
    "expected_seconds_per_task",
    # Who may work on it: changing that under running work would strand claims.
    "language",
    "centre",
    "required_skill",
    "min_reputation_permille",
    # Quality: how answers are checked and combined, and training.
    "is_training",
    "is_org_test",
    "requires_org_test",
    "training_answer_budget",
    "gold_pass_permille",
    "normalise_case",
    "normalise_punctuation",
    "consensus_model",
    "target_confidence_permille",
    "max_extra_assignments",
}


def update_task_set(*, task_set_id: int, actor: User, changes: dict) -> TaskSet:
    """Drafts change freely; published or paused sets only in safe fields."""
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise ValidationError(
            _("These fields cannot be edited: %(f)s.") % {"f": ", ".join(sorted(unknown))}
        )
    with transaction.atomic():
        task_set = _locked(task_set_id)
        require_member(actor=actor, task_set=task_set)
        changed = {name for name, value in changes.items() if getattr(task_set, name) != value}
        if task_set.status in (Status.COMPLETED, Status.CANCELLED) and changed:
            raise ValidationError(_("A finished set cannot be edited."))
        if task_set.status != Status.DRAFT and changed - SAFE_FIELDS_AFTER_PUBLISH:
            raise ValidationError(
                _(
                    "Once published, only the title, instructions and priority can change "
                    "(not: %(f)s)."
                )
                % {"f": ", ".join(sorted(changed - SAFE_FIELDS_AFTER_PUBLISH))}
            )
        if not changed:
            return task_set
        for name in changed:
            setattr(task_set, name, changes[name])
        # The new state is checked too: a requester cannot turn its set into platform
        # training (require_member above checked only the old one).
        _clean_qualification(actor=actor, task_set=task_set)
        if "is_org_test" in changed:
            changed.add("is_training")
        task_set.label_options = clean_label_options(
            kind=task_set.kind, options=task_set.label_options
        )
        task_set.full_clean()
        task_set.save(update_fields=sorted(changed | {"label_options"}))
        record_audit(
            actor=actor, action="task_set.edit", target=task_set, data={"fields": sorted(changed)}
        )
    return task_set


def preview_for(task_set: TaskSet) -> CostPreview:
    if task_set.is_training:
        # Training is all gold and funded per answer, not per task.
        answers = task_set.training_answer_budget or 0
        pay = answers * task_set.reward_minor
        fee = platform_fee_minor(pay)
        return CostPreview(0, answers, pay, fee, pay + fee, task_set.currency)
    return cost_preview(
        regular_tasks=task_set.tasks.filter(is_gold=False).count(),
        # Escrow covers the most answers dynamic redundancy may add.
        assignments_per_task=task_set.assignments_per_task + task_set.max_extra_assignments,
        reward_minor=task_set.reward_minor,
        gold_ratio_permille=task_set.gold_ratio_permille,
        currency=task_set.currency,
    )


def check_fair_pay(task_set: TaskSet) -> None:
    hourly = hourly_pay_minor(
        reward_minor=task_set.reward_minor, seconds_per_task=task_set.expected_seconds_per_task
    )
    floor = pay_floor_minor(task_set.currency)
    if floor is None:
        raise ValidationError(
            _("No pay floor is configured for %(c)s, so sets cannot be published in it.")
            % {"c": task_set.currency}
        )
    if hourly < floor:
        raise ValidationError(
            _(
                "Effective pay is %(hourly)s per hour, below the floor of %(floor)s. Raise the "
                "reward or lower the expected seconds per task."
            )
            % {
                "hourly": format_amount(hourly, task_set.currency),
                "floor": format_amount(floor, task_set.currency),
            }
        )


def _check_training_set(task_set: TaskSet, gold_count: int) -> None:
    if task_set.tasks.filter(is_gold=False).exists():
        raise ValidationError(_("A training set holds gold tasks only."))
    if gold_count < settings.QUALITY_TRAINING_CHECKS:
        raise ValidationError(
            _("A training set needs at least %(n)d gold tasks, one per check of an attempt.")
            % {"n": settings.QUALITY_TRAINING_CHECKS}
        )
    if not task_set.training_answer_budget:
        raise ValidationError(_("Set how many training answers to fund."))


def _locked(task_set_id: int) -> TaskSet:
    # Row lock: the status rule holds only if no one else moves the set meanwhile.
    return TaskSet.objects.select_for_update().select_related("organization").get(pk=task_set_id)


def publish_task_set(*, task_set_id: int, actor: User) -> TaskSet:
    with transaction.atomic():
        task_set = _locked(task_set_id)
        require_member(actor=actor, task_set=task_set)
        if task_set.status != Status.DRAFT:
            raise ValidationError(_("Only a draft can be published."))
        if task_set.upload_jobs.filter(status__in=["queued", "running"]).exists():
            raise ValidationError(
                _("A file is still being processed for this set. Publish when it is done.")
            )
        gold_count = task_set.tasks.filter(is_gold=True).count()
        if gold_count < settings.MIN_GOLD_TASKS_TO_PUBLISH:
            raise ValidationError(
                _("Publishing needs at least %(n)d gold tasks; this set has %(have)d.")
                % {"n": settings.MIN_GOLD_TASKS_TO_PUBLISH, "have": gold_count}
            )
        preview = preview_for(task_set)
        if task_set.is_training:
            _check_training_set(task_set, gold_count)
        elif preview.regular_assignments == 0:
            raise ValidationError(_("The set has no tasks to publish."))
        check_fair_pay(task_set)
        # Money in escrow for a set nobody could ever work on would sit there unseen:
        # refuse it with the reason (a language nobody reads, no training in its
        # skill...). A set that only some can reach is published; the page says who.
        reach = reach_of(task_set)
        if reach.never:
            raise ValidationError(
                _("No vetted worker could ever work on this set. %(why)s")
                % {"why": reach.explanation()}
            )
        balance = get_account(
            kind=LedgerAccount.Kind.ORGANIZATION_BALANCE,
            currency=task_set.currency,
            organization=task_set.organization,
        )
        try:
            post_entry(
                kind="escrow.fund",
                memo=f"Escrow for task set {task_set.pk}: {task_set.title}",
                lines=[
                    (balance, -preview.total_minor),
                    (escrow_account(task_set), preview.total_minor),
                ],
                idempotency_key=f"escrow:fund:{task_set.pk}",
                created_by=actor,
                no_overdraft=[balance],
            )
        except InsufficientFunds as exc:
            raise ValidationError(
                _("The set costs %(cost)s but the balance is %(balance)s. Add funds first.")
                % {
                    "cost": format_amount(preview.total_minor, task_set.currency),
                    "balance": format_amount(exc.available_minor, task_set.currency),
                }
            ) from None
        task_set.status = Status.PUBLISHED
        task_set.published_at = timezone.now()
        task_set.save(update_fields=["status", "published_at"])
        record_audit(
            actor=actor,
            action="task_set.publish",
            target=task_set,
            data={"escrow_minor": preview.total_minor, "currency": task_set.currency},
        )
        events.sets_changed_on_commit([task_set])
    return task_set


def _transition(
    *, task_set_id: int, actor: User, action: str, allowed_from: set[str], to: str, field: str
) -> TaskSet:
    with transaction.atomic():
        task_set = _locked(task_set_id)
        require_member(actor=actor, task_set=task_set)
        if task_set.status not in allowed_from:
            raise ValidationError(
                _("A %(status)s set cannot become %(to)s.") % {"status": task_set.status, "to": to}
            )
        _move(task_set, actor=actor, action=action, to=to, field=field)
    return task_set


def _move(
    task_set: TaskSet,
    *,
    actor: User | None,
    action: str,
    to: str,
    field: str,
    reason: str = "",
    data: dict | None = None,
) -> None:
    """Change the set's status, withdraw its claims if it stops, audit and tell the
    workers. The caller holds the set's row lock and has checked the move is allowed."""
    previous = task_set.status
    task_set.status = to
    setattr(task_set, field, timezone.now())
    task_set.save(update_fields=["status", field])
    withdrawn = 0
    if to in WITHDRAW_REASON:
        # Under the set's row lock: a claim in progress holds a share lock on it,
        # so every claim made before this point is visible and withdrawn here.
        withdrawn = withdraw_claims(
            assignments=Assignment.objects.filter(task_set=task_set),
            reason=WITHDRAW_REASON[to],
        )
    record_audit(
        actor=actor,
        action=f"task_set.{action}",
        target=task_set,
        reason=reason,
        data={"from": previous, "claims_withdrawn": withdrawn, **(data or {})},
    )
    events.sets_changed_on_commit([task_set])


WITHDRAW_REASON = {
    Status.PAUSED: Assignment.ReleaseReason.SET_PAUSED,
    Status.CANCELLED: Assignment.ReleaseReason.SET_CANCELLED,
}


def pause_task_set(*, task_set_id: int, actor: User) -> TaskSet:
    return _transition(
        task_set_id=task_set_id,
        actor=actor,
        action="pause",
        allowed_from={Status.PUBLISHED},
        to=Status.PAUSED,
        field="paused_at",
    )


def pause_locked_task_set_as_system(
    *, task_set: TaskSet, action: str, reason: str, data: dict | None = None
) -> None:
    """Pause a published set on the platform's own rule (no actor: the audit log says
    "system", with the reason). The caller holds the set's row lock, read the set
    under it and decided; the requester resumes it as after any pause."""
    if task_set.status != Status.PUBLISHED:
        raise ValidationError(_("Only a published set can be paused."))
    _move(
        task_set,
        actor=None,
        action=action,
        to=Status.PAUSED,
        field="paused_at",
        reason=reason,
        data=data,
    )


def resume_task_set(*, task_set_id: int, actor: User) -> TaskSet:
    # Its last task may have closed while it was paused: completion is checked again.
    transaction.on_commit(lambda: complete_if_finished(task_set_id=task_set_id), robust=True)
    return _transition(
        task_set_id=task_set_id,
        actor=actor,
        action="resume",
        allowed_from={Status.PAUSED},
        to=Status.PUBLISHED,
        field="published_at",
    )


def cancel_task_set(*, task_set_id: int, actor: User) -> TaskSet:
    """Cancel and return whatever escrow is unspent to the organization's balance."""
    with transaction.atomic():
        task_set = _transition(
            task_set_id=task_set_id,
            actor=actor,
            action="cancel",
            allowed_from={Status.DRAFT, Status.PUBLISHED, Status.PAUSED},
            to=Status.CANCELLED,
            field="cancelled_at",
        )
        _return_unspent_escrow(task_set, actor=actor, why="cancelled")
        # The answers given so far still get their final results.
        transaction.on_commit(lambda: aggregate_task_set.delay(task_set.pk), robust=True)
    return task_set


def _return_unspent_escrow(task_set: TaskSet, *, actor: User | None, why: str) -> int:
    """Give the organization back what its set's escrow no longer needs. Call in the
    transaction that stopped the set (the set's row is locked)."""
    # Lock before reading: the amount returned must be what is left, not what was.
    escrow = LedgerAccount.objects.select_for_update().get(pk=escrow_account(task_set).pk)
    # Answers given but not yet paid out of the escrow (and the fee still to take on
    # them) stay in it for the approvals, or appeals, that pay them.
    unspent = escrow.balance_minor - still_owed_minor(task_set)
    if unspent <= 0:
        return 0
    balance = get_account(
        kind=LedgerAccount.Kind.ORGANIZATION_BALANCE,
        currency=task_set.currency,
        organization=task_set.organization,
    )
    post_entry(
        kind="escrow.return",
        memo=f"Unspent escrow returned: task set {task_set.pk} {why}",
        lines=[(escrow, -unspent), (balance, unspent)],
        idempotency_key=f"escrow:return:{task_set.pk}",
        created_by=actor,
        no_overdraft=[escrow],
    )
    return unspent


def return_escrow_of_completed_set(*, task_set_id: int) -> int:
    """A completed set's leftover escrow (the unused gold share and extra-answer cap)
    goes back to its organization."""
    with transaction.atomic():
        task_set = _locked(task_set_id)
        if task_set.status != Status.COMPLETED:
            return 0
        return _return_unspent_escrow(task_set, actor=None, why="completed")


MAX_EXAMPLES_PER_SET = 20


def add_example_image(*, task_set_id: int, actor: User, data: bytes, filename: str):
    """Verify an instructions image like a task image (Pillow, size and bomb guards,
    EXIF stripped) and keep only the small WebP workers download."""
    try:
        processed = process_image(data)
    except ImageRejected as exc:
        raise ValidationError(str(exc)) from None
    stored_name = default_storage.save(
        f"examples/{processed.derivative_name.removeprefix('tasks/')}",
        ContentFile(processed.derivative),
    )
    try:
        with transaction.atomic():
            task_set = _locked(task_set_id)
            require_member(actor=actor, task_set=task_set)
            if task_set.status in (Status.COMPLETED, Status.CANCELLED):
                raise ValidationError(_("A finished set cannot be edited."))
            if task_set.examples.count() >= MAX_EXAMPLES_PER_SET:
                raise ValidationError(
                    _("A set has at most %(n)d example images.") % {"n": MAX_EXAMPLES_PER_SET}
                )
            example = ExampleImage.objects.create(
                task_set=task_set, image=stored_name, name=filename[:200], created_by=actor
            )
            record_audit(
                actor=actor,
                action="task_set.example_image",
                target=task_set,
                data={"name": filename},
            )
    except BaseException:
        default_storage.delete(stored_name)  # nothing refers to it: do not leave it behind
        raise
    return example
