"""The worker's quality page (their own standings, checks and appeals) and the staff
appeal queue. Server-rendered, no script: it must open on a cheap phone over a slow,
metered connection, and each page is one small HTML document."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_POST

from marketplace.models import WorkerProfile
from marketplace.permissions import staff_required
from marketplace.skills import skill_name
from reputation import services
from reputation.forms import AppealDecisionForm, AppealForm
from reputation.models import Appeal, ReputationEvent, WorkerSkill
from reputation.selectors import attempt_last_check, recent_checks, score_interval, standings_for
from reputation.standing import EventFacts, Standing, apply_event, training_verdict
from tasks import checks, work
from tasks.images import derivative_response
from tasks.models import Assignment, Task, TaskSet

Review = Assignment.ReviewStatus
NOT_ACCEPTED = [Review.SOFT_REJECTED, Review.REJECTED]
RECENT_CHECKS_SHOWN = 20
# Voided checks (gold corrected, appeal upheld) no longer count and are not shown;
# fetch a few more so that a handful of them does not shorten the list.
RECENT_CHECKS_FETCHED = 40
APPEALABLE_SHOWN = 50
# "About N wrong checks in a row would send you back to training": beyond this many
# the worker is simply far above the floor, and the page says so.
DEMOTION_LOOKAHEAD = 30
# At or below this many, the page warns that the worker is close to the floor.
DEMOTION_CLOSE = 5
APPEAL_QUEUE_PAGE_SIZE = 50


def shown(value) -> str:
    """An answer as a person reads it: labels joined, nothing as a dash."""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "—"
    if value is None or value == "":
        return "—"
    return str(value)


def task_content(assignment: Assignment, image_url: str) -> dict:
    task = assignment.task
    if task.image_derivative:
        return {"image": image_url}
    return {"text": task.payload_text}


def is_hidden_check(assignment: Assignment) -> bool:
    """The worker's answer to a live check (Task.is_live_check): the page says only the
    set, the day and whether it was accepted. Not its payload, image, answers or
    explanation, nor the assignment's id, which a worker's client saw with the task."""
    return assignment.task.is_live_check


# A hidden check is named on the page by this, not by its assignment's id: an id would
# tie the row to the task the worker's client received under it.
CHECK_HANDLE_SALT = "reputation.views.check_handle"
# How many of the worker's latest not-accepted checks a handle is looked for among:
# more than the page lists, fewer than makes the look-up costly.
CHECK_HANDLES_SEARCHED = 200


def check_handle(assignment: Assignment) -> str:
    value = f"{assignment.worker_id}:{assignment.pk}"
    return salted_hmac(CHECK_HANDLE_SALT, value, algorithm="sha256").hexdigest()[:32]


def _assignment_for_handle(worker, handle: str) -> int:
    """The id of the worker's own not-accepted check that this handle names, or 404."""
    candidates = (
        Assignment.objects.filter(
            worker=worker,
            is_gold=True,
            status=Assignment.Status.SUBMITTED,
            review_status__in=NOT_ACCEPTED,
        )
        .order_by("-pk")
        .only("pk", "worker_id")[:CHECK_HANDLES_SEARCHED]
    )
    for assignment in candidates:
        if constant_time_compare(check_handle(assignment), handle):
            return assignment.pk
    raise Http404


# --- The worker's own page -----------------------------------------------------


@dataclass(frozen=True)
class CheckResult:
    assignment: Assignment
    content: dict
    answer: str
    right_answer: str
    explanation: str
    passed: bool
    credit_percent: int
    partial: bool  # some credit, not all: "90% right"
    training: bool
    at: datetime
    hidden: bool  # a live check: none of the above but passed, training and at
    handle: str  # to ask to see a hidden check not passed; "" otherwise


@dataclass(frozen=True)
class TrainingProgress:
    checks_left: int
    right_needed: int  # of the checks left, about how many must be right
    can_pass: bool
    least_checks: int  # an attempt's fewest and most checks, for this worker here
    most_checks: int


@dataclass(frozen=True)
class SkillPage:
    skill: str
    name: str
    standing: WorkerSkill
    score_percent: int
    checks: list[CheckResult]
    right_count: int
    cooling_until: datetime | None
    training: TrainingProgress | None
    wrong_to_demotion: int | None  # None: more than DEMOTION_LOOKAHEAD
    close_to_floor: bool
    # Qualified: the demotion test's evidence as a share of what sends a worker back.
    floor_evidence_percent: int
    locked_sets: list[tuple[str, int]]  # (title, minimum score in percent)


def _check_results(worker_id: int, skill: str) -> list[CheckResult]:
    results = []
    for event in recent_checks(worker_id, skill, limit=RECENT_CHECKS_FETCHED):
        if event.voided_at is not None:
            continue
        assignment = event.assignment
        task, task_set = assignment.task, assignment.task_set
        credit = event.credit_permille
        passed = credit >= task_set.gold_pass_permille
        training = event.source == ReputationEvent.Source.TRAINING
        if is_hidden_check(assignment):
            results.append(
                CheckResult(
                    assignment=assignment,
                    content={},
                    answer="",
                    right_answer="",
                    explanation="",
                    passed=passed,
                    credit_percent=0,
                    partial=False,
                    training=training,
                    at=event.created_at,
                    hidden=True,
                    handle=(
                        check_handle(assignment)
                        if not passed and assignment.review_status in NOT_ACCEPTED
                        else ""
                    ),
                )
            )
        else:
            # A training check, or one no longer live (retired, withdrawn, its set
            # finished): its answer gives nothing away about a check still in use.
            results.append(
                CheckResult(
                    assignment=assignment,
                    content=task_content(assignment, reverse("work_image", args=[assignment.pk])),
                    answer=shown(assignment.answer),
                    right_answer=shown(task.gold_answer),
                    explanation=task.gold_explanation,
                    passed=passed,
                    credit_percent=credit // 10,
                    partial=0 < credit < 1000,
                    training=training,
                    at=event.created_at,
                    hidden=False,
                    handle="",
                )
            )
        if len(results) == RECENT_CHECKS_SHOWN:
            break
    return results


def _training_progress(row: WorkerSkill) -> TrainingProgress:
    """How many right answers in a row would pass the attempt from here, by the fold's own
    rule (standing.training_verdict; partial credit counts as part of a right answer);
    can_pass is False when not even that would before the attempt's last check, which
    comes early when the worker's training sets hold fewer checks than the most."""
    credit, checks = row.attempt_credit_permille, row.attempt_checks
    last_check = attempt_last_check(row)
    most = settings.QUALITY_TRAINING_MAX_CHECKS
    if last_check is not None:
        most = min(most, last_check)
    least = min(settings.QUALITY_TRAINING_CHECKS, most)
    for right in range(max(0, most - checks) + 1):
        if training_verdict(credit + 1000 * right, checks + right, last_check=last_check):
            left = max(right, least - checks)
            return TrainingProgress(left, right, True, least, most)
    return TrainingProgress(max(0, most - checks), 0, False, least, most)


def _wrong_checks_to_demotion(row: WorkerSkill) -> int | None:
    """How many wrong gold checks in a row would take the worker back to training,
    by folding them into a copy of the standing: the same rule the real fold uses."""
    standing = Standing.of(row)
    now = timezone.now()
    for count in range(1, DEMOTION_LOOKAHEAD + 1):
        if apply_event(standing, EventFacts(0, "gold", 0, 1000, now)) == "demoted":
            return count
    return None


def _skill_page(row: WorkerSkill, regular_sets: list[TaskSet], now) -> SkillPage:
    checks = _check_results(row.worker_id, row.skill)
    qualified = row.state == WorkerSkill.State.QUALIFIED
    cooling = row.cooldown_until if row.cooldown_until and row.cooldown_until > now else None
    wrong_to_demotion = _wrong_checks_to_demotion(row) if qualified else None
    return SkillPage(
        skill=row.skill,
        name=skill_name(row.skill),
        standing=row,
        score_percent=row.score_permille // 10,
        checks=checks,
        right_count=sum(check.passed for check in checks),
        cooling_until=None if qualified else cooling,
        training=None if qualified or cooling else _training_progress(row),
        wrong_to_demotion=wrong_to_demotion,
        close_to_floor=wrong_to_demotion is not None and wrong_to_demotion <= DEMOTION_CLOSE,
        floor_evidence_percent=min(
            100,
            100 * row.attempt_credit_permille // settings.QUALITY_DEMOTION_EVIDENCE_MILLINATS,
        )
        if qualified
        else 0,
        locked_sets=[
            (task_set.title, task_set.min_reputation_permille // 10)
            for task_set in regular_sets
            if services.set_skill(task_set) == row.skill
            and task_set.min_reputation_permille > row.score_permille
        ],
    )


@dataclass(frozen=True)
class NotAccepted:
    assignment: Assignment
    content: dict
    answer: str
    appeal: Appeal | None
    deadline: datetime | None
    can_appeal: bool
    hidden: bool  # a live check: only the set, the day and that it was not accepted
    handle: str  # to ask to see it (which retires it); "" unless hidden


def _not_accepted(worker, now) -> list[NotAccepted]:
    """Answers not accepted within the appeal window, and any appealed answer whose
    appeal is open or was decided within it (so the worker reads the decision)."""
    cutoff = now - timedelta(days=settings.APPEAL_WINDOW_DAYS)
    assignments = (
        Assignment.objects.filter(worker=worker, status=Assignment.Status.SUBMITTED)
        .filter(
            Q(review_status__in=NOT_ACCEPTED, reviewed_at__gte=cutoff)
            | Q(appeal__status=Appeal.Status.OPEN)
            | Q(appeal__decided_at__gte=cutoff)
        )
        .select_related("task__task_set", "task_set", "appeal")
        .order_by("-reviewed_at", "-pk")[:APPEALABLE_SHOWN]
    )
    rows = []
    for assignment in assignments:
        # A missing reverse one-to-one raises a subclass of AttributeError.
        appeal = getattr(assignment, "appeal", None)
        deadline = services.appeal_deadline(assignment)
        in_window = (
            appeal is None
            and assignment.review_status in NOT_ACCEPTED
            and deadline is not None
            and now <= deadline
        )
        if is_hidden_check(assignment):
            # To appeal a live check the worker sees it first, which retires it: an
            # appeal's decision may then say anything about its answer.
            rows.append(
                NotAccepted(
                    assignment=assignment,
                    content={},
                    answer="",
                    appeal=appeal,
                    deadline=deadline,
                    can_appeal=False,
                    hidden=True,
                    handle=check_handle(assignment) if in_window else "",
                )
            )
            continue
        rows.append(
            NotAccepted(
                assignment=assignment,
                content=task_content(assignment, reverse("work_image", args=[assignment.pk])),
                answer=shown(assignment.answer),
                appeal=appeal,
                deadline=deadline,
                can_appeal=in_window,
                hidden=False,
                handle="",
            )
        )
    return rows


def worker_profile_required(view):
    """Any worker, whatever their status: a suspended worker may still read why, and
    appeal. Nobody else has a quality page."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        profile = WorkerProfile.objects.filter(user=request.user).first()
        if profile is None:
            raise PermissionDenied
        request.worker_profile = profile
        return view(request, *args, **kwargs)

    return wrapper


@worker_profile_required
def quality_page(request):
    now = timezone.now()
    regular_sets = [s for s in work.eligible_sets(request.worker_profile) if not s.is_training]
    standings = sorted(standings_for(request.user.pk).values(), key=lambda row: row.skill)
    context = {
        "skills": [_skill_page(row, regular_sets, now) for row in standings],
        "not_accepted": _not_accepted(request.user, now),
        "appeal_days": settings.APPEAL_WINDOW_DAYS,
        "floor_percent": settings.QUALITY_FLOOR_PERMILLE // 10,
        "form": AppealForm(),
    }
    return render(request, "reputation/quality.html", context)


@require_POST
@worker_profile_required
def quality_appeal(request, assignment_id: int):
    form = AppealForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Say why you think your answer was right."))
    else:
        try:
            checks.file_appeal(
                worker=request.user,
                assignment_id=assignment_id,
                message=form.cleaned_data["message"],
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(
                request, _("Your appeal was sent. An admin will decide; you will be told here.")
            )
    return redirect(f"{reverse('quality_page')}#answer-{assignment_id}")


@require_POST
@worker_profile_required
def quality_show_check(request):
    """Show a check the worker did not pass. A live one is retired from its set first
    (tasks.checks.show_back_check), so what they learn is of no use to anyone else."""
    assignment_id = _assignment_for_handle(request.user, request.POST.get("check", ""))
    try:
        shown_back = checks.show_back_check(worker=request.user, assignment_id=assignment_id)
    except Assignment.DoesNotExist:
        raise Http404 from None
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(f"{reverse('quality_page')}#appeals")
    if shown_back.retired:
        messages.success(
            request,
            _("This check is retired: nobody else will be given it. Here is its answer."),
        )
    return redirect("quality_check", assignment_id=assignment_id)


@worker_profile_required
def quality_check(request, assignment_id: int):
    """One check the worker answered, with its right answer and explanation: a training
    check, or one no longer live. The same 404 for a live check and for anything else,
    so the address says nothing about which of the worker's tasks were checks."""
    assignment = get_object_or_404(
        Assignment.objects.select_related("task__task_set", "task_set", "appeal"),
        pk=assignment_id,
        worker=request.user,
        is_gold=True,
        status=Assignment.Status.SUBMITTED,
        gold_credit_permille__isnull=False,
    )
    if is_hidden_check(assignment):
        raise Http404
    task = assignment.task
    deadline = services.appeal_deadline(assignment)
    credit = assignment.gold_credit_permille
    context = {
        "assignment": assignment,
        "content": task_content(assignment, reverse("work_image", args=[assignment.pk])),
        "answer": shown(assignment.answer),
        "right_answer": shown(task.gold_answer),
        "explanation": task.gold_explanation,
        "passed": credit >= assignment.task_set.gold_pass_permille,
        "credit_percent": credit // 10,
        "partial": 0 < credit < 1000,
        "appeal": getattr(assignment, "appeal", None),
        "can_appeal": getattr(assignment, "appeal", None) is None
        and assignment.review_status in NOT_ACCEPTED
        and deadline is not None
        and timezone.now() <= deadline,
        "deadline": deadline,
        "form": AppealForm(),
    }
    return render(request, "reputation/check.html", context)


# --- Staff: the appeal queue --------------------------------------------------


@staff_required
def appeal_queue(request):
    open_appeals = (
        Appeal.objects.filter(status=Appeal.Status.OPEN)
        .select_related("worker", "assignment__task_set")
        .order_by("created_at", "pk")
    )
    page = Paginator(open_appeals, APPEAL_QUEUE_PAGE_SIZE).get_page(request.GET.get("page"))
    decided = (
        Appeal.objects.exclude(status=Appeal.Status.OPEN)
        .select_related("worker", "decided_by", "assignment__task_set")
        .order_by("-decided_at", "-pk")[:20]
    )
    return render(request, "reputation/appeal_queue.html", {"page": page, "decided": decided})


@dataclass(frozen=True)
class OtherAnswer:
    pseudonym: str
    answer: str
    review_status: str
    gold_credit_percent: int | None
    score_percent: int | None


def _other_answers(assignment: Assignment, skill: str) -> list[OtherAnswer]:
    """The task's other answers, under pseudonyms: what matters is how they answered
    and how much their vote weighs, not who they are."""
    others = list(
        Assignment.objects.filter(task_id=assignment.task_id, status=Assignment.Status.SUBMITTED)
        .exclude(pk=assignment.pk)
        .order_by("submitted_at", "pk")
    )
    scores = dict(
        WorkerSkill.objects.filter(
            worker_id__in=[other.worker_id for other in others], skill=skill
        ).values_list("worker_id", "score_permille")
    )
    return [
        OtherAnswer(
            pseudonym=_("Worker %(n)d") % {"n": index},
            answer=shown(other.answer),
            review_status=other.review_status,
            gold_credit_percent=(
                None if other.gold_credit_permille is None else other.gold_credit_permille // 10
            ),
            score_percent=scores[other.worker_id] // 10 if other.worker_id in scores else None,
        )
        for index, other in enumerate(others, start=1)
    ]


@staff_required
def appeal_detail(request, appeal_id: int):
    appeal = get_object_or_404(
        Appeal.objects.select_related(
            "worker", "decided_by", "assignment__task", "assignment__task_set"
        ),
        pk=appeal_id,
    )
    form = AppealDecisionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.decide_appeal(
                actor=request.user,
                appeal_id=appeal.pk,
                uphold=form.cleaned_data["decision"] == "uphold",
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Decision recorded; the worker has been told."))
            return redirect("appeal_queue")
    assignment = appeal.assignment
    task: Task = assignment.task
    skill = services.set_skill(assignment.task_set)
    standing = WorkerSkill.objects.filter(worker_id=appeal.worker_id, skill=skill).first()
    history = dict(
        Appeal.objects.filter(worker_id=appeal.worker_id)
        .order_by()
        .values("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    context = {
        "appeal": appeal,
        "assignment": assignment,
        "task": task,
        "content": task_content(assignment, reverse("appeal_image", args=[appeal.pk])),
        "answer": shown(assignment.answer),
        "others": _other_answers(assignment, skill),
        "aggregated": shown(task.aggregated_answer) if task.aggregated_answer is not None else "",
        "gold_answer": shown(task.gold_answer) if task.is_gold else "",
        "skill_name": skill_name(skill),
        "standing": standing,
        "interval": score_interval(standing) if standing else None,
        "history": history,
        "form": form,
    }
    status = 400 if request.method == "POST" else 200
    return render(request, "reputation/appeal_detail.html", context, status=status)


@staff_required
@cache_control(private=True, max_age=3600)
def appeal_image(request, appeal_id: int):
    """The appealed task's small image, for the admin deciding (the worker's own image
    address is theirs alone)."""
    appeal = get_object_or_404(Appeal.objects.select_related("assignment__task"), pk=appeal_id)
    return derivative_response(appeal.assignment.task)
