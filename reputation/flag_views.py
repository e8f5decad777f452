"""Staff: the flag review queue and the flag page (evidence and decisions); workers:
their decisions and appeals. Thin: forms in, reputation.flags does the work."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_POST

from marketplace.models import AuditLog
from marketplace.permissions import staff_required
from reputation import flag_selectors, flags
from reputation.forms import BulkFlagForm, FlagAppealForm, FlagDecisionForm, KeepDecisionForm
from reputation.models import Flag, WorkerSkill
from reputation.views import shown, skill_name, task_content
from tasks.images import derivative_response
from tasks.models import Assignment

FLAG_QUEUE_PAGE_SIZE = 50

# What a worker reads about a decision: the signal in plain words, never the other
# account of a pair.
WORKER_SIGNAL_NAMES = {
    Flag.Signal.QUALITY_FLOOR: gettext_lazy("Answers below the quality floor"),
    Flag.Signal.TOO_FAST: gettext_lazy("Answers given too fast to be read"),
    Flag.Signal.STRAIGHT_LINING: gettext_lazy("The same answer given again and again"),
    Flag.Signal.GOLD_FAILURES: gettext_lazy("Many checks failed in a row"),
    Flag.Signal.LOW_AGREEMENT: gettext_lazy("Answers that rarely agree with other workers"),
    Flag.Signal.CHURN: gettext_lazy("Most claimed tasks given back or left to expire"),
    Flag.Signal.COPYING: gettext_lazy("Answers identical to another worker's"),
    Flag.Signal.DUPLICATE_ACCOUNT: gettext_lazy("More than one account"),
    Flag.Signal.IMPOSSIBLE_ACTIVITY: gettext_lazy("Work from two places at the same time"),
}
WORKER_DECISION_NAMES = {
    Flag.Status.WARNED: gettext_lazy("Warning"),
    Flag.Status.SUSPENDED: gettext_lazy("Suspended"),
    Flag.Status.BANNED: gettext_lazy("Account closed"),
}


@staff_required
def flag_queue(request):
    status = request.GET.get("status", "open")
    signal = request.GET.get("signal", "")
    if status not in {"open", "appealed", "", *Flag.Status.values}:
        status = "open"
    if signal not in Flag.Signal.values:
        signal = ""
    page = Paginator(
        flag_selectors.flag_queue(status=status, signal=signal), FLAG_QUEUE_PAGE_SIZE
    ).get_page(request.GET.get("page"))
    rows = [(flag, flag_selectors.summary(flag)) for flag in page]
    context = {
        "page": page,
        "rows": rows,
        "status": status,
        "signal": signal,
        "signals": Flag.Signal.choices,
        "statuses": [("open", _("Open")), ("appealed", _("Appealed"))]
        + [(value, label) for value, label in Flag.Status.choices if value != "open"]
        + [("", _("All"))],
        "bulk_form": BulkFlagForm(),
        "appeals_waiting": Flag.objects.filter(flag_selectors.appeal_waiting_q()).count(),
    }
    return render(request, "reputation/flag_queue.html", context)


@staff_required
@require_POST
def flag_bulk(request):
    form = BulkFlagForm(request.POST)
    flag_ids = [int(value) for value in request.POST.getlist("flags") if value.isdigit()]
    if not form.is_valid() or not flag_ids:
        messages.error(request, _("Choose flags, an action and a reason."))
    else:
        changed = flags.decide_flags(
            flag_ids=flag_ids,
            actor=request.user,
            action=form.cleaned_data["action"],
            reason=form.cleaned_data["reason"],
        )
        skipped = len(set(flag_ids)) - len(changed)
        messages.success(
            request,
            _("%(n)d flags decided.") % {"n": len(changed)}
            + (" " + _("%(n)d could not be changed that way.") % {"n": skipped} if skipped else ""),
        )
    return redirect(request.POST.get("next") or reverse("flag_queue"))


@staff_required
def flag_detail(request, flag_id: int):
    flag = get_object_or_404(
        Flag.objects.select_related(
            "worker__worker_profile__centre", "other_worker__worker_profile", "decided_by"
        ),
        pk=flag_id,
    )
    form = FlagDecisionForm(request.POST or None)
    keep_form = KeepDecisionForm()
    if request.method == "POST" and form.is_valid():
        try:
            flags.decide_flag(
                flag_id=flag.pk,
                actor=request.user,
                action=form.cleaned_data["action"],
                reason=form.cleaned_data["reason"],
                void_answers=form.cleaned_data["void_answers"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Decision recorded; the worker has been told."))
            return redirect("flag_detail", flag_id=flag.pk)
    evidence_ids = set(flag.evidence.get("assignment_ids", []))
    workers = [flag.worker] + ([flag.other_worker] if flag.other_worker else [])
    context = {
        "flag": flag,
        "summary": flag_selectors.summary(flag),
        "evidence": sorted(
            (key.replace("_", " "), flag_selectors.evidence_lines(value))
            for key, value in flag.evidence.items()
            if key != "assignment_ids"
        ),
        "evidence_ids": sorted(evidence_ids, reverse=True),
        "people": [
            {
                "user": worker,
                "profile": getattr(worker, "worker_profile", None),
                "standings": [
                    (skill_name(row.skill), row)
                    for row in WorkerSkill.objects.filter(worker=worker).order_by("skill")
                ],
                "answers": flag_selectors.recent_answers(worker.pk, evidence_ids),
                "histogram": flag_selectors.time_histogram(worker.pk),
                "linked": flag_selectors.linked_accounts(worker.pk),
                "presence": flag_selectors.recent_presence(worker.pk),
                "other_flags": Flag.objects.filter(Q(worker=worker) | Q(other_worker=worker))
                .exclude(pk=flag.pk)
                .order_by("-updated_at")[:10],
            }
            for worker in workers
        ],
        "history": AuditLog.objects.filter(target_type="reputation.flag", target_id=str(flag.pk)),
        "form": form,
        "keep_form": keep_form,
    }
    status = 400 if request.method == "POST" else 200
    return render(request, "reputation/flag_detail.html", context, status=status)


@staff_required
@require_POST
def flag_keep_decision(request, flag_id: int):
    form = KeepDecisionForm(request.POST)
    if form.is_valid():
        try:
            flags.keep_decision(
                flag_id=flag_id, actor=request.user, reason=form.cleaned_data["reason"]
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("The decision stands; the worker has been told."))
    else:
        messages.error(request, _("A reason is required."))
    return redirect("flag_detail", flag_id=flag_id)


@staff_required
def flag_answer(request, assignment_id: int):
    """One answer behind a flag: the task as the worker saw it, their answer, and the
    consensus or gold answer beside it."""
    assignment = get_object_or_404(
        Assignment.objects.select_related("task", "task_set", "worker"), pk=assignment_id
    )
    task = assignment.task
    reference = task.gold_answer if task.is_gold else task.aggregated_answer
    context = {
        "assignment": assignment,
        "content": task_content(assignment, reverse("flag_answer_image", args=[assignment.pk])),
        "answer": shown(assignment.answer),
        "reference": shown(reference),
        "reference_kind": _("Gold answer") if task.is_gold else _("Consensus"),
        "others": Assignment.objects.filter(
            task=task, status__in=[Assignment.Status.SUBMITTED, Assignment.Status.VOIDED]
        )
        .exclude(pk=assignment.pk)
        .select_related("worker")
        .order_by("submitted_at"),
    }
    return render(request, "reputation/flag_answer.html", context)


@staff_required
@cache_control(private=True, max_age=3600)
def flag_answer_image(request, assignment_id: int):
    assignment = get_object_or_404(Assignment.objects.select_related("task"), pk=assignment_id)
    return derivative_response(assignment.task)


# --- The worker's side ---------------------------------------------------------------


def decisions_for_worker(user) -> list[dict]:
    """Warnings, suspensions and bans about this worker, newest first, with whether
    they may still appeal. Never names the other account of a pair flag."""
    rows = (
        Flag.objects.filter(Q(worker=user) | Q(other_worker=user))
        .filter(status__in=[Flag.Status.WARNED, Flag.Status.SUSPENDED, Flag.Status.BANNED])
        .order_by("-decided_at")
    )
    return [
        {
            "flag": flag,
            "what": WORKER_SIGNAL_NAMES.get(flag.signal, flag.get_signal_display()),
            "decision": WORKER_DECISION_NAMES[flag.status],
            "form": None if flag.appealed_at else FlagAppealForm(),
        }
        for flag in rows
    ]


@login_required
@require_POST
def worker_flag_appeal(request, flag_id: int):
    form = FlagAppealForm(request.POST)
    if form.is_valid():
        try:
            flags.appeal_flag(
                worker=request.user, flag_id=flag_id, message=form.cleaned_data["message"]
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Your appeal was sent. An admin will decide."))
    else:
        messages.error(request, _("Tell us why the decision is wrong."))
    return redirect(f"{reverse('worker_home')}#decisions")
