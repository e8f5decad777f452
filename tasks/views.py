from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_POST

from marketplace.permissions import requester_required, staff_required
from marketplace.rows import RowErrors
from marketplace.selectors import requester_organizations
from payouts.currency import format_amount
from payouts.selectors import organization_balances
from reputation.services import correct_gold_answer, reject_answer
from tasks import checks, reports, services
from tasks.forms import TaskFileForm, TaskSetForm
from tasks.images import derivative_response
from tasks.models import Task
from tasks.pricing import hourly_pay_minor, pay_floor_minor
from tasks.reach import reach_of
from tasks.results import csv_lines, jsonl_lines
from tasks.selectors import (
    set_progress,
    task_sets_with_counts,
    tasks_with_answers,
    visible_task_sets,
)
from tasks.upload_jobs import start_upload_job, wants_background
from tasks.uploads import upload_tasks


@requester_required
def task_set_list(request):
    task_sets = list(task_sets_with_counts(request.user))
    live_checks = checks.live_check_counts(task_sets)
    for task_set in task_sets:
        task_set.live_check_count = live_checks[task_set.pk]
        task_set.live_checks_low = checks.runs_low(task_set, task_set.live_check_count)
    return render(request, "tasks/set_list.html", {"task_sets": task_sets})


@requester_required
def task_set_create(request):
    organizations = requester_organizations(request.user)
    form = TaskSetForm(
        request.POST or None, organizations=organizations, staff=request.user.is_staff
    )
    if request.method == "POST" and form.is_valid():
        try:
            task_set = services.create_task_set(
                organization=form.cleaned_data["organization"],
                actor=request.user,
                **form.task_set_fields(),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            return redirect("task_set_detail", task_set_id=task_set.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "tasks/set_form.html", {"form": form}, status=status)


@requester_required
def task_set_edit(request, task_set_id: int):
    task_set = get_object_or_404(visible_task_sets(request.user), pk=task_set_id)
    initial = TaskSetForm.initial_for(task_set)
    form = TaskSetForm(
        request.POST or None, initial=initial, editing=task_set, staff=request.user.is_staff
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.update_task_set(
                task_set_id=task_set.pk, actor=request.user, changes=form.task_set_fields()
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect("task_set_detail", task_set_id=task_set.pk)
    status = 400 if request.method == "POST" else 200
    return render(
        request, "tasks/set_form.html", {"form": form, "task_set": task_set}, status=status
    )


def _render_detail(request, task_set, *, upload_errors=None, action_error=None, status=200):
    preview = services.preview_for(task_set)
    hourly = hourly_pay_minor(
        reward_minor=task_set.reward_minor, seconds_per_task=task_set.expected_seconds_per_task
    )
    floor = pay_floor_minor(task_set.currency)
    balance = organization_balances(task_set.organization).get(task_set.currency, 0)
    money = {
        "reward": format_amount(task_set.reward_minor, task_set.currency),
        "hourly": format_amount(hourly, task_set.currency),
        "floor": format_amount(floor, task_set.currency) if floor is not None else None,
        "below_floor": floor is None or hourly < floor,
        "worker_pay": format_amount(preview.worker_pay_minor, task_set.currency),
        "fee": format_amount(preview.fee_minor, task_set.currency),
        "total": format_amount(preview.total_minor, task_set.currency),
        "balance": format_amount(balance, task_set.currency),
        "short": balance < preview.total_minor,
    }
    progress = set_progress(task_set)
    live_checks = checks.live_check_count(task_set)
    upload_jobs = list(task_set.upload_jobs.order_by("-created_at")[:5])
    money.update(
        spent=format_amount(progress.spent_minor, task_set.currency),
        real_hourly=(
            format_amount(progress.real_hourly_minor, task_set.currency)
            if progress.real_hourly_minor is not None
            else None
        ),
    )
    return render(
        request,
        "tasks/set_detail.html",
        {
            "task_set": task_set,
            "preview": preview,
            "money": money,
            "progress": progress,
            "tasks": tasks_with_answers(task_set)[:50],
            "upload_jobs": upload_jobs,
            # The page reloads itself while a job is under way.
            "upload_processing": any(job.status in ("queued", "running") for job in upload_jobs),
            "examples": [
                (example, example_markdown(example)) for example in task_set.examples.all()
            ],
            "task_count": task_set.tasks.count(),
            "upload_form": TaskFileForm(),
            "upload_errors": upload_errors,
            "contested_gold": _contested_gold(task_set),
            "not_used": task_set.assignments.filter(
                status="submitted", review_status="soft_rejected"
            )
            .select_related("task")
            .order_by("-reviewed_at")[:50],
            "rejection_cap": settings.QUALITY_REJECTIONS_PER_REQUESTER,
            "reports": reports.set_reports(task_set),
            "live_checks": live_checks,
            "live_checks_low": checks.runs_low(task_set, live_checks),
            "low_live_checks": checks.LOW_LIVE_CHECKS,
            "action_error": action_error,
            "reach": reach_of(task_set) if task_set.status in ("draft", "published") else None,
        },
        status=status,
    )


@requester_required
def task_set_detail(request, task_set_id: int):
    task_set = get_object_or_404(visible_task_sets(request.user), pk=task_set_id)
    return _render_detail(request, task_set)


@require_POST
@requester_required
def task_set_upload(request, task_set_id: int):
    task_set = get_object_or_404(visible_task_sets(request.user), pk=task_set_id)
    form = TaskFileForm(request.POST, request.FILES)
    if not form.is_valid():
        return _render_detail(
            request, task_set, action_error=_("Choose a file to upload."), status=400
        )
    upload = form.cleaned_data["file"]
    if wants_background(upload.size):
        try:
            start_upload_job(
                task_set=task_set,
                actor=request.user,
                data=upload.read(settings.TASK_UPLOAD_MAX_BYTES + 1),
                filename=upload.name,
            )
        except RowErrors as exc:
            return _render_detail(request, task_set, upload_errors=exc, status=400)
        messages.info(
            request,
            _("The file is being processed in the background. This page shows the result."),
        )
        return redirect("task_set_detail", task_set_id=task_set.pk)
    try:
        created = upload_tasks(
            task_set=task_set,
            actor=request.user,
            # One byte past the limit: an oversized file is reported, never loaded whole.
            data=upload.read(settings.TASK_UPLOAD_MAX_BYTES + 1),
            filename=upload.name,
        )
    except RowErrors as exc:
        return _render_detail(request, task_set, upload_errors=exc, status=400)
    messages.success(request, _("Added %(n)d tasks.") % {"n": created})
    return redirect("task_set_detail", task_set_id=task_set.pk)


@require_POST
@requester_required
def task_set_example_upload(request, task_set_id: int):
    task_set = get_object_or_404(visible_task_sets(request.user), pk=task_set_id)
    upload = request.FILES.get("image")
    if upload is None:
        return _render_detail(
            request, task_set, action_error=_("Choose an image to upload."), status=400
        )
    try:
        example = services.add_example_image(
            task_set_id=task_set.pk,
            actor=request.user,
            data=upload.read(settings.IMAGE_MAX_BYTES + 1),
            filename=upload.name,
        )
    except ValidationError as exc:
        return _render_detail(request, task_set, action_error=" ".join(exc.messages), status=400)
    messages.success(
        request,
        _("Image added. Paste this line into the instructions: %(markdown)s")
        % {"markdown": example_markdown(example)},
    )
    return redirect("task_set_detail", task_set_id=task_set.pk)


def example_markdown(example) -> str:
    url = reverse("example_image", args=[example.task_set_id, example.pk])
    return f"![{example.name}]({url})"


ACTIONS = {
    "publish": services.publish_task_set,
    "pause": services.pause_task_set,
    "resume": services.resume_task_set,
    "cancel": services.cancel_task_set,
}


def _contested_gold(task_set) -> list:
    contested = list(task_set.tasks.filter(is_gold=True, gold_contested_at__isnull=False))
    for task in contested:
        answer = task.gold_answer
        task.gold_answer_text = ", ".join(answer) if isinstance(answer, list) else answer
    return contested


@require_POST
@requester_required
def task_set_reject_answer(request, task_set_id: int, assignment_id: int):
    task_set = get_object_or_404(visible_task_sets(request.user), pk=task_set_id)
    get_object_or_404(task_set.assignments, pk=assignment_id)
    try:
        reject_answer(
            actor=request.user, assignment_id=assignment_id, reason=request.POST.get("reason", "")
        )
    except ValidationError as exc:
        return _render_detail(request, task_set, action_error=" ".join(exc.messages), status=400)
    messages.success(request, _("The answer was rejected and the worker told why."))
    return redirect("task_set_detail", task_set_id=task_set.pk)


@require_POST
@requester_required
def task_set_correct_gold(request, task_set_id: int, task_id: int):
    task_set = get_object_or_404(visible_task_sets(request.user), pk=task_set_id)
    task = get_object_or_404(task_set.tasks, pk=task_id, is_gold=True)
    raw = request.POST.get("gold_answer", "").strip()
    # Multi-label gold is typed as "a, b".
    answer = [part.strip() for part in raw.split(",") if part.strip()]
    if task_set.kind != "multilabel":
        answer = raw
    try:
        rescored = correct_gold_answer(
            actor=request.user,
            task_id=task.pk,
            gold_answer=answer,
            gold_explanation=request.POST.get("gold_explanation"),
        )
    except ValidationError as exc:
        return _render_detail(request, task_set, action_error=" ".join(exc.messages), status=400)
    messages.success(
        request, _("Gold answer corrected; %(n)d answers were scored again.") % {"n": rescored}
    )
    return redirect("task_set_detail", task_set_id=task_set.pk)


@require_POST
@requester_required
def task_set_action(request, task_set_id: int, action: str):
    task_set = get_object_or_404(visible_task_sets(request.user), pk=task_set_id)
    if action not in ACTIONS:
        return _render_detail(request, task_set, action_error=_("Unknown action."), status=400)
    try:
        changed = ACTIONS[action](task_set_id=task_set.pk, actor=request.user)
    except ValidationError as exc:
        task_set.refresh_from_db()
        return _render_detail(request, task_set, action_error=" ".join(exc.messages), status=400)
    if action == "publish":
        _tell_published(request, changed)
    else:
        messages.success(request, _("Done."))
    return redirect("task_set_detail", task_set_id=task_set.pk)


def _tell_published(request, task_set) -> None:
    """What publishing did: the money now in escrow, and who sees the set, with a
    warning naming why the others do not."""
    reach = reach_of(task_set)
    messages.success(
        request,
        _("Published. %(escrow)s moved from your balance into escrow. %(reach)s")
        % {
            "escrow": format_amount(services.preview_for(task_set).total_minor, task_set.currency),
            "reach": ngettext(
                "%(n)d vetted worker can see the set now.",
                "%(n)d vetted workers can see the set now.",
                reach.open_now,
            )
            % {"n": reach.open_now},
        },
    )
    if reach.partial and reach.reasons:
        messages.warning(request, reach.explanation())


@requester_required
@cache_control(private=True, max_age=3600)
def task_set_task_image(request, task_set_id: int, task_id: int):
    """A task's small image, beside it on its requester's set page."""
    task_set = get_object_or_404(visible_task_sets(request.user), pk=task_set_id)
    return derivative_response(get_object_or_404(task_set.tasks, pk=task_id))


@requester_required
def task_set_export(request, task_set_id: int, fmt: str):
    if fmt not in EXPORT_FORMATS:
        raise Http404
    task_set = get_object_or_404(visible_task_sets(request.user), pk=task_set_id)
    return streaming_export(task_set, fmt)


EXPORT_FORMATS = ("csv", "jsonl")


def streaming_export(task_set, fmt: str) -> StreamingHttpResponse:
    """Streamed so that 200,000 tasks never sit in memory."""
    if fmt == "csv":
        response = StreamingHttpResponse(
            csv_lines(task_set), content_type="text/csv; charset=utf-8"
        )
    else:
        response = StreamingHttpResponse(jsonl_lines(task_set), content_type="application/x-ndjson")
    response["Content-Disposition"] = f'attachment; filename="task-set-{task_set.pk}-results.{fmt}"'
    return response


# --- Staff: reported tasks across sets ------------------------------------------------


@staff_required
def staff_reports(request):
    return render(
        request, "tasks/staff_reports.html", {"reports": reports.reports_across_sets(limit=100)}
    )


@staff_required
@cache_control(private=True, max_age=3600)
def staff_report_image(request, task_id: int):
    """A reported task's small image, for the staff judging the report. Only reported
    tasks: this is not a way to browse every set's images."""
    task = get_object_or_404(
        Task.objects.filter(assignments__release_reason__in=reports.REPORT_REASONS).distinct(),
        pk=task_id,
    )
    return derivative_response(task)
