"""The worker's work page, and the HTTP fallback: the same services as the WebSocket
protocol behind plain form posts, for networks that block WebSockets (and phones
without JavaScript). Claiming is never a GET."""

import uuid
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_POST

from marketplace import presence
from tasks import protocol, work
from tasks.images import derivative_response
from tasks.models import Assignment, ExampleImage, TaskSet
from tasks.selectors import visible_task_sets


def vetted_worker_required(view):
    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            request.worker_profile = work.require_can_work(request.user)
        except work.WorkError:
            raise PermissionDenied from None
        return view(request, *args, **kwargs)

    return wrapper


def records_presence(view):
    """Where the work happens, for the duplicate-account and two-places signals: the
    page and its form posts, not every image and instructions fetch (a socket worker
    fetches one image per task; its socket already records where it is)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        presence.record_http_presence(
            worker_id=request.user.pk,
            device_id=getattr(request, "device_id", ""),
            ip_address=presence.request_address(request),
        )
        return view(request, *args, **kwargs)

    return wrapper


def work_page_strings() -> dict[str, str]:
    """What work.js says, translated here so the page needs no catalogue download."""
    return {
        "submit": _("Submit answer"),
        "skip": _("Skip"),
        "broken": _("Report broken"),
        "disturbing": _("Report disturbing"),
        "instructions": _("Instructions"),
        "reward": _("Reward"),
        "timeLeft": _("Time left"),
        "getTask": _("Get a task"),
        "chooseOne": _("Choose one"),
        "chooseAll": _("Choose all that apply"),
        "typeText": _("Type the text exactly as shown"),
        "today": _("Today"),
        "pending": _("Waiting for approval"),
        "live": _("Connected"),
        "offline": _("Offline: your answers are kept on this phone and sent when you are back."),
        "waiting": _("Answers waiting to send"),
        "saved": _("Answer saved."),
        "data": _("Data used"),
        "revoked": _("This task was withdrawn"),
        "setsOpen": _("New work is available."),
        "image": _("The image to answer about"),
        "keys": _("Keys: 1-9 choose, Enter submits, S skips."),
        "tooLong": _("That answer is too long."),
        "stopped": _(
            "Your account was suspended. Your answers and earnings are kept. "
            "Open My work to read why and to appeal."
        ),
        "myWork": _("My work"),
    }


@vetted_worker_required
@records_presence
def work_page(request):
    """Shows the held task (if any) and never claims one: that is a POST."""
    held = work.held_claims(request.user)
    current = protocol.task_message(held[0]) if held else None
    context = {
        "current": current,
        "assignment": held[0] if held else None,
        # Made now so that a re-posted form is the same submission, not a second one.
        "submission_id": uuid.uuid4(),
        "earnings": protocol.earnings_summary(request.user),
        "sets": protocol.available_sets(request.worker_profile),
        "strings": work_page_strings(),
    }
    return render(request, "tasks/work.html", context)


@require_POST
@vetted_worker_required
@records_presence
def work_claim(request):
    task_set_id = request.POST.get("set")
    try:
        claim = work.claim_next_task(
            worker=request.user,
            task_set_id=int(task_set_id) if _is_number(task_set_id) else None,
        )
    except work.WorkError as exc:
        messages.error(request, exc.message)
    else:
        if claim.assignment is None:
            messages.info(request, protocol.no_task_message(claim.reason)["message"])
    return redirect("work_page")


@require_POST
@vetted_worker_required
@records_presence
def work_submit(request):
    assignment = _own_assignment(request)
    if assignment.task_set.kind == TaskSet.Kind.MULTILABEL:
        answer = request.POST.getlist("answer")
    else:
        answer = request.POST.get("answer", "")
    seconds = request.POST.get("seconds", "")
    try:
        submission = work.submit_answer(
            worker=request.user,
            assignment_id=assignment.pk,
            answer=answer,
            submission_id=work.parse_submission_id(request.POST.get("submission_id")),
            seconds_spent=_seconds(seconds),
        )
    except work.WorkError as exc:
        messages.error(request, exc.message)
        return redirect("work_page")
    messages.success(request, _("Answer saved."))
    if submission.feedback is not None:  # training: the same feedback the script shows
        if assignment.task_set.kind == TaskSet.Kind.TRANSCRIPTION:
            # As the script does: the expected text beside the worker's own, right or not.
            feedback = submission.feedback
            verdict = _("Right!") if feedback.correct else _("Not quite.")
            messages.info(request, f"{verdict} {feedback.explanation}".strip())
            messages.info(request, _("Expected text: %(text)s") % {"text": feedback.right_answer})
            messages.info(request, _("Your answer: %(text)s") % {"text": answer})
        else:
            messages.info(request, _feedback_text(submission.feedback))
    if request.POST.get("next") == "1":
        return work_claim(request)
    return redirect("work_page")


def _feedback_text(feedback) -> str:
    right = feedback.right_answer
    shown = ", ".join(right) if isinstance(right, list) else str(right)
    verdict = (
        _("Right!")
        if feedback.correct
        else _("Not quite: the right answer is %(answer)s.") % {"answer": shown}
    )
    return f"{verdict} {feedback.explanation}".strip()


@require_POST
@vetted_worker_required
@records_presence
def work_release(request):
    assignment = _own_assignment(request)
    try:
        work.release_assignment(
            worker=request.user,
            assignment_id=assignment.pk,
            reason=request.POST.get("reason", "skip"),
        )
    except work.WorkError as exc:
        messages.error(request, exc.message)
    return redirect("work_page")


def _is_number(value: str | None) -> bool:
    # ASCII digits only: str.isdigit() accepts "²", which int() refuses.
    return bool(value) and value.isascii() and value.isdecimal() and len(value) < 19


def _seconds(value: str) -> int | None:
    """The time spent, if the form sent one the database can hold; else none (the
    answer stands without it)."""
    if not _is_number(value):
        return None
    low, high = protocol.SECONDS_RANGE
    return int(value) if low <= int(value) <= high else None


def _own_assignment(request) -> Assignment:
    assignment_id = request.POST.get("assignment", "")
    if not _is_number(assignment_id):
        raise Http404
    return get_object_or_404(
        Assignment.objects.select_related("task_set"), pk=assignment_id, worker=request.user
    )


@vetted_worker_required
@cache_control(private=True, max_age=86400, immutable=True)
def work_image(request, assignment_id: int):
    """The small image of the worker's own assignment. Addressed by the assignment, so
    the URL says nothing about the task (gold or not) and nobody else can fetch it."""
    assignment = get_object_or_404(
        Assignment.objects.select_related("task"), pk=assignment_id, worker=request.user
    )
    return derivative_response(assignment.task)


@vetted_worker_required
def work_instructions(request, task_set_id: int):
    task_set = get_object_or_404(TaskSet, pk=task_set_id)
    if not work.may_see_set(task_set, request.worker_profile):
        raise Http404
    return render(request, "tasks/work_instructions.html", {"task_set": task_set})


@login_required
@cache_control(private=True, max_age=86400)
def example_image(request, task_set_id: int, example_id: int):
    """An instructions image: for the set's requesters, and for workers the set is
    open to (or who worked on it)."""
    example = get_object_or_404(
        ExampleImage.objects.select_related("task_set"), pk=example_id, task_set_id=task_set_id
    )
    task_set = example.task_set
    if not visible_task_sets(request.user).filter(pk=task_set.pk).exists():
        try:
            profile = work.require_can_work(request.user)
        except work.WorkError:
            raise Http404 from None
        if not work.may_see_set(task_set, profile):
            raise Http404
    return FileResponse(example.image.open("rb"), content_type="image/webp")
