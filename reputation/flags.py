"""Flags and what admins do about them: raise or refresh a flag from a finding, decide
it (dismiss, warn, suspend, ban: always with a reason, always audited), take a
worker's appeal, and undo a decision completely when it is dismissed later.

Enforcement takes effect at once: suspending or banning goes through the vetting
decision (marketplace.services), which closes the worker's sockets through the
channel layer and withdraws their claims in the same transaction; their unpaid
earnings are frozen while they are suspended or banned (payouts.runs skips them); a
ban may void their unreviewed answers, so those tasks reopen and the requester never
pays for them. Dismissing the flag later restores all of it.

Lock order: the flag row, then worker profiles (by id), then assignments (by id),
then tasks (by id), then what payouts lock; the same as vetting and settlement."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from marketplace.models import User, WorkerProfile
from marketplace.services import DECISIONS, _decide_locked, notify, record_audit
from reputation.fraud import Finding
from reputation.models import Flag
from tasks.models import Assignment, Task

Status = Flag.Status
ProfileStatus = WorkerProfile.Status

ACTIONS = ("dismiss", "warn", "suspend", "ban")
# Which decided flags each action may still change: a warning can become a suspension,
# a suspension a ban, and any of them can be dismissed (which restores everything).
ALLOWED_FROM = {
    "dismiss": {Status.OPEN, Status.WARNED, Status.SUSPENDED, Status.BANNED},
    "warn": {Status.OPEN},
    "suspend": {Status.OPEN, Status.WARNED},
    "ban": {Status.OPEN, Status.WARNED, Status.SUSPENDED},
}
STATUS_AFTER = {
    "dismiss": Status.DISMISSED,
    "warn": Status.WARNED,
    "suspend": Status.SUSPENDED,
    "ban": Status.BANNED,
}


# --- Raising ---------------------------------------------------------------------------


def raise_flag(
    *,
    worker_id: int,
    signal: str,
    severity: int,
    evidence: dict,
    other_worker_id: int | None = None,
    merge: bool = False,
) -> Flag:
    """One open flag per worker (and partner) and signal: a repeat refreshes its
    evidence (replaced, or merged for signals that add facts one at a time) and keeps
    the highest severity seen."""
    for _attempt in range(2):
        with transaction.atomic():
            flag = (
                Flag.objects.select_for_update()
                .filter(
                    worker_id=worker_id,
                    other_worker_id=other_worker_id,
                    signal=signal,
                    status=Status.OPEN,
                )
                .first()
            )
            if flag is None:
                try:
                    with transaction.atomic():
                        return Flag.objects.create(
                            worker_id=worker_id,
                            other_worker_id=other_worker_id,
                            signal=signal,
                            severity=severity,
                            evidence=evidence,
                        )
                except IntegrityError:
                    continue  # raised at the same moment elsewhere: refresh that one
            flag.evidence = {**flag.evidence, **evidence} if merge else evidence
            flag.severity = max(flag.severity, severity)
            flag.save(update_fields=["evidence", "severity", "updated_at"])
            return flag
    raise RuntimeError("flag raised and removed concurrently")  # pragma: no cover


def raise_from_finding(finding: Finding) -> Flag:
    evidence = {**finding.evidence, "assignment_ids": finding.assignment_ids}
    return raise_flag(
        worker_id=finding.worker_id,
        other_worker_id=finding.other_worker_id,
        signal=finding.signal,
        severity=finding.severity,
        evidence=evidence,
    )


# --- Deciding --------------------------------------------------------------------------


def _require_staff(actor: User) -> None:
    if not (actor.is_active and actor.is_staff):
        raise PermissionDenied(_("Only admins may decide flags."))


def flag_workers(flag: Flag) -> list[int]:
    """A pair flag (copying, duplicate accounts) is about both accounts."""
    return sorted({flag.worker_id, *([flag.other_worker_id] if flag.other_worker_id else [])})


def decide_flag(
    *, flag_id: int, actor: User, action: str, reason: str, void_answers: bool = False
) -> Flag:
    """Dismiss, warn, suspend or ban, with a reason the worker reads."""
    _require_staff(actor)
    if action not in ACTIONS:
        raise ValidationError(_("Unknown action."))
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": _("A reason is required.")})
    with transaction.atomic():
        # Row lock: two admins deciding one flag at once must not both act.
        flag = Flag.objects.select_for_update().get(pk=flag_id)
        if flag.status not in ALLOWED_FROM[action]:
            raise ValidationError(
                _("This flag is %(status)s; it cannot be changed that way.")
                % {"status": flag.get_status_display().lower()}
            )
        previous = flag.status
        profiles = list(
            WorkerProfile.objects.select_for_update()
            .select_related("user")
            .filter(user_id__in=flag_workers(flag))
            .order_by("user_id")
        )
        enforcement = dict(flag.enforcement)
        if action == "dismiss":
            _restore(flag=flag, profiles=profiles, actor=actor, reason=reason)
            enforcement = {**enforcement, "restored_at": timezone.now().isoformat()}
        elif action == "warn":
            for profile in profiles:
                notify(
                    user=profile.user,
                    subject=gettext_noop("A warning about your work"),
                    body=gettext_noop(
                        "An admin looked at your recent work and warns you: %(reason)s. "
                        "If you think this is wrong, you can appeal on your quality page."
                    ),
                    params={"reason": reason},
                )
        else:
            voided: list[int] = []
            for profile in profiles:
                if profile.status in DECISIONS[action][0]:
                    _decide_locked(
                        profile=profile,
                        actor=actor,
                        action=action,
                        reason=reason,
                        data={"flag": flag.pk},
                    )
                if action == "ban" and void_answers:
                    voided.extend(void_unreviewed_answers(worker_id=profile.user_id))
            if voided:
                enforcement["voided_assignment_ids"] = sorted(
                    {*enforcement.get("voided_assignment_ids", []), *voided}
                )
        flag.status = STATUS_AFTER[action]
        flag.decided_at = timezone.now()
        flag.decided_by = actor
        flag.decision_reason = reason
        flag.enforcement = enforcement
        flag.save(
            update_fields=[
                "status",
                "decided_at",
                "decided_by",
                "decision_reason",
                "enforcement",
                "updated_at",
            ]
        )
        record_audit(
            actor=actor,
            action=f"flag.{action}",
            target=flag,
            reason=reason,
            data={
                "from": previous,
                "to": flag.status,
                "workers": flag_workers(flag),
                "voided_answers": len(enforcement.get("voided_assignment_ids", []))
                if action == "ban"
                else 0,
            },
        )
    return flag


def decide_flags(*, flag_ids: list[int], actor: User, action: str, reason: str) -> list[Flag]:
    """Bulk: the same action and reason for several flags, each in its own transaction
    (one refused flag does not undo the others); returns the flags it changed."""
    if action not in ("dismiss", "warn"):
        # Suspensions and bans are decided one at a time, with the evidence in view.
        raise ValidationError(_("Only dismiss and warn can be done in bulk."))
    changed = []
    for flag_id in sorted(set(flag_ids)):
        try:
            changed.append(decide_flag(flag_id=flag_id, actor=actor, action=action, reason=reason))
        except ValidationError:
            continue
    return changed


def _restore(*, flag: Flag, profiles: list[WorkerProfile], actor: User, reason: str) -> None:
    """Undo what this flag's decision did: its voided answers count again, and its
    workers work again unless another flag still holds them out."""
    restore_voided_answers(assignment_ids=flag.enforcement.get("voided_assignment_ids", []))
    if flag.status not in (Status.SUSPENDED, Status.BANNED):
        return
    for profile in profiles:
        held_elsewhere = (
            Flag.objects.filter(status__in=[Status.SUSPENDED, Status.BANNED])
            .filter(Q(worker_id=profile.user_id) | Q(other_worker_id=profile.user_id))
            .exclude(pk=flag.pk)
            .exists()
        )
        if held_elsewhere or profile.status not in (ProfileStatus.SUSPENDED, ProfileStatus.BANNED):
            continue
        _decide_locked(
            profile=profile, actor=actor, action="reinstate", reason=reason, data={"flag": flag.pk}
        )


# --- Voiding and restoring answers ---------------------------------------------------------


def _recount(task_ids: list[int], delta: int) -> None:
    """Move each task's answer count by delta and reopen (or close) it to match. Tasks
    are locked in id order, the order claimers and submitters lock them one at a time."""
    for task_id in sorted(task_ids):
        Task.objects.filter(pk=task_id).update(submitted_count=F("submitted_count") + delta)
        task = Task.objects.select_related("task_set").get(pk=task_id)
        wanted = task.task_set.assignments_per_task + task.extra_assignments
        # A task withdrawn on workers' reports stays closed whatever its count.
        is_open = task.withdrawn_at is None and (task.is_gold or task.submitted_count < wanted)
        if is_open != task.is_open:
            Task.objects.filter(pk=task_id).update(is_open=is_open)


def void_unreviewed_answers(*, worker_id: int) -> list[int]:
    """Strike out a banned worker's answers that were not reviewed yet: never paid,
    never used, and their slots go back to the pool."""
    pending = Assignment.objects.filter(
        worker_id=worker_id,
        status=Assignment.Status.SUBMITTED,
        review_status=Assignment.ReviewStatus.PENDING,
        is_gold=False,
    )
    with transaction.atomic():
        # Their tasks first, in id order, then the answers: the order a closed task's
        # settling takes them in (it locks the task, then reviews its answers), so a
        # ban racing a settlement waits instead of deadlocking. Settled meanwhile
        # means reviewed: the re-read under the locks leaves those alone.
        task_ids = sorted(set(pending.values_list("task_id", flat=True)))
        list(Task.objects.select_for_update().filter(pk__in=task_ids).order_by("pk"))
        rows = list(pending.select_for_update().order_by("pk").values_list("pk", "task_id"))
        if not rows:
            return []
        Assignment.objects.filter(pk__in=[pk for pk, _task in rows]).update(
            status=Assignment.Status.VOIDED
        )
        _recount([task_id for _pk, task_id in rows], -1)
    return [pk for pk, _task in rows]


def restore_voided_answers(*, assignment_ids: list[int]) -> int:
    """Count voided answers again, as if never struck out. A task that closed without
    them keeps its answers; the restored one waits for review like any other (and is
    reviewed at once if its task is already settled)."""
    from reputation.services import review_restored_answer

    if not assignment_ids:
        return 0
    with transaction.atomic():
        rows = list(
            Assignment.objects.select_for_update()
            .filter(pk__in=assignment_ids, status=Assignment.Status.VOIDED)
            .order_by("pk")
        )
        if not rows:
            return 0
        Assignment.objects.filter(pk__in=[a.pk for a in rows]).update(
            status=Assignment.Status.SUBMITTED
        )
        _recount([a.task_id for a in rows], +1)
        for assignment in rows:
            assignment.status = Assignment.Status.SUBMITTED
            review_restored_answer(assignment=assignment)
    return len(rows)


# --- Appeals ---------------------------------------------------------------------------


def appeal_flag(*, worker: User, flag_id: int, message: str) -> Flag:
    """A warned, suspended or banned worker says why the decision is wrong; the appeal
    goes to the top of the same queue."""
    message = message.strip()
    if not message:
        raise ValidationError({"message": _("Tell us why the decision is wrong.")})
    with transaction.atomic():
        flag = (
            Flag.objects.select_for_update()
            .filter(Q(worker=worker) | Q(other_worker=worker), pk=flag_id)
            .first()
        )
        if flag is None or flag.status not in (Status.WARNED, Status.SUSPENDED, Status.BANNED):
            raise ValidationError(_("There is no decision to appeal here."))
        if flag.appealed_at is not None:
            # One appeal per decision: an admin reads it and answers it.
            raise ValidationError(_("You already appealed this decision."))
        flag.appeal_message = message[:4000]
        flag.appealed_at = timezone.now()
        flag.save(update_fields=["appeal_message", "appealed_at", "updated_at"])
        record_audit(actor=worker, action="flag.appeal", target=flag, reason=message[:500])
    return flag


def keep_decision(*, flag_id: int, actor: User, reason: str) -> Flag:
    """An admin reads the appeal and keeps the decision: the worker hears why."""
    _require_staff(actor)
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": _("A reason is required.")})
    with transaction.atomic():
        flag = Flag.objects.select_for_update().get(pk=flag_id)
        if not flag.appeal_waiting:
            raise ValidationError(_("There is no appeal waiting on this flag."))
        flag.decided_at = timezone.now()
        flag.decided_by = actor
        flag.decision_reason = reason
        flag.save(update_fields=["decided_at", "decided_by", "decision_reason", "updated_at"])
        record_audit(actor=actor, action="flag.appeal_denied", target=flag, reason=reason)
        for worker_id in flag_workers(flag):
            notify(
                user=User.objects.get(pk=worker_id),
                subject=gettext_noop("Your appeal was not upheld"),
                body=gettext_noop("An admin read your appeal and kept the decision: %(reason)s"),
                params={"reason": reason},
            )
    return flag
