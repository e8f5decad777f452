from allauth.core import ratelimit
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from marketplace import services
from marketplace.compression import uncompressed
from marketplace.enrolment import REQUIRED_COLUMNS, EnrolmentError, enrol_cohort
from marketplace.forms import (
    ApplicationForm,
    CohortApprovalForm,
    DecisionForm,
    EnrolmentForm,
    MemberForm,
    SetupCodeForm,
    VettingFilterForm,
)
from marketplace.models import (
    ApiKey,
    AuditLog,
    Membership,
    Notification,
    Organization,
    WorkerProfile,
)
from marketplace.permissions import coordinator_required, requester_required, staff_required
from marketplace.selectors import (
    centre_cohort,
    recent_notifications,
    requester_organizations,
    vetting_queue,
)
from payouts.currency import format_amount
from payouts.selectors import organization_balances
from reputation.selectors import standings_for
from tasks import work

VETTING_PAGE_SIZE = 50


def add_service_errors(form, exc: ValidationError) -> None:
    """Show a service's ValidationError on the form: beside the field it names when the
    form has that field, otherwise at the top (form.add_error would raise for a field
    the form does not have, e.g. a model field the service validated)."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for field, errors in exc.error_dict.items():
        form.add_error(field if field in form.fields else None, errors)


def home(request):
    return render(request, "marketplace/home.html")


# --- Workers -------------------------------------------------------------------------


@login_required
def worker_home(request):
    profile = WorkerProfile.objects.filter(user=request.user).select_related("centre").first()
    notifications = recent_notifications(request.user)
    Notification.objects.filter(user=request.user, read_at__isnull=True).update(
        read_at=timezone.now()
    )
    from reputation.flag_views import decisions_for_worker  # reputation imports this app

    open_sets = []
    if profile and profile.status == WorkerProfile.Status.VETTED:
        # The same rule the claim applies (tasks.work), so the page never says "work
        # will appear" while the work page has some.
        standings = standings_for(profile.user_id)
        open_sets = [
            s for s in work.eligible_sets(profile) if work.set_is_open_to(s, profile, standings)
        ]
    return render(
        request,
        "marketplace/worker_home.html",
        {
            "profile": profile,
            "notifications": notifications,
            "decisions": decisions_for_worker(request.user) if profile else [],
            "paid_sets_open": sum(1 for s in open_sets if not s.is_training),
            "training_open": any(s.is_training for s in open_sets),
        },
    )


def terms_of_work(request):
    return render(
        request,
        "marketplace/terms.html",
        {
            "version": settings.TERMS_VERSION,
            "hold_days": settings.EARNINGS_HOLD_DAYS,
            "appeal_days": settings.APPEAL_WINDOW_DAYS,
        },
    )


def privacy_notice(request):
    return render(request, "marketplace/privacy.html", {"version": settings.TERMS_VERSION})


@login_required
def worker_apply(request):
    profile = WorkerProfile.objects.filter(user=request.user).select_related("centre").first()
    if profile and profile.status not in (
        WorkerProfile.Status.INVITED,
        WorkerProfile.Status.APPLIED,
        WorkerProfile.Status.REJECTED,
    ):
        messages.info(request, _("Your application has already been decided."))
        return redirect("worker_home")
    if request.method == "POST":
        form = ApplicationForm(request.POST)
        if form.is_valid():
            try:
                services.submit_application(
                    user=request.user,
                    application=services.ApplicationInput(**form.cleaned_data),
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, _("Thank you. Your application was received."))
                return redirect("worker_home")
    else:
        form = ApplicationForm(initial=ApplicationForm.initial_from(profile, request.user))
    return render(request, "marketplace/worker_apply.html", {"form": form, "profile": profile})


def setup_account(request, token: str = ""):
    """Enrolled workers set their password with a code from their centre (or a link)."""
    setup_code = services.find_setup_code(token=token) if token else None
    if token and setup_code is None:
        return render(request, "marketplace/setup_invalid.html", status=404)
    form = SetupCodeForm(request.POST or None, with_token=bool(token))
    if request.method == "POST" and form.is_valid():
        if not token:
            # Strict per username (the code is short), loose per address: a centre's
            # whole cohort may set up from one shared address (RATE_LIMIT_SETUP_CODE).
            username = form.cleaned_data["username"].strip().lower()
            if not ratelimit.consume(request, action="setup_code", key=username):
                return render(request, "429.html", status=429)
            setup_code = services.find_setup_code(
                username=form.cleaned_data["username"], code=form.cleaned_data["code"]
            )
            if setup_code is None:
                form.add_error("code", _("That username and code do not match a valid code."))
        if setup_code is not None and form.validate_password_for(setup_code.user):
            try:
                user = services.redeem_setup_code(
                    setup_code=setup_code, password=form.cleaned_data["password1"]
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                messages.success(
                    request, _("Your password is set. Please complete your application.")
                )
                return redirect("worker_apply")
    status = 400 if request.method == "POST" else 200
    return render(
        request, "marketplace/setup_account.html", {"form": form, "token": token}, status=status
    )


# --- Partner centres ------------------------------------------------------------------


@coordinator_required
def centre_home(request, centre: Organization):
    return _render_centre(request, centre)


def _render_centre(request, centre: Organization, enrolment_errors=None, status=200):
    cohort = centre_cohort(centre)
    counts = dict(cohort.values_list("status").annotate(n=Count("pk")).order_by())
    return render(
        request,
        "marketplace/centre_home.html",
        {
            "centre": centre,
            "cohort": cohort,
            "counts": counts,
            "form": EnrolmentForm(),
            "columns": REQUIRED_COLUMNS,
            "enrolment_errors": enrolment_errors,
        },
        status=status,
    )


@require_POST
@coordinator_required
@uncompressed
def centre_enrol(request, centre: Organization):
    form = EnrolmentForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, _("Choose a CSV file to upload."))
        return redirect("centre_home", slug=centre.slug)
    try:
        # Read one byte past the limit so an oversized file is reported, not loaded whole.
        data = form.cleaned_data["file"].read(settings.ENROLMENT_MAX_BYTES + 1)
        issued = enrol_cohort(centre=centre, coordinator=request.user, data=data)
    except EnrolmentError as exc:
        return _render_centre(request, centre, enrolment_errors=exc, status=400)
    return render(request, "marketplace/centre_codes.html", {"centre": centre, "issued": issued})


@require_POST
@coordinator_required
@uncompressed
def centre_reissue_code(request, centre: Organization, profile_id: int):
    profile = get_object_or_404(centre_cohort(centre), pk=profile_id)
    if profile.user.has_usable_password():
        messages.error(request, _("This worker has already set a password."))
        return redirect("centre_home", slug=centre.slug)
    issued = services.issue_setup_code(user=profile.user, created_by=request.user)
    return render(request, "marketplace/centre_codes.html", {"centre": centre, "issued": [issued]})


@require_POST
@coordinator_required
def centre_unlock_sign_in(request, centre: Organization, profile_id: int):
    profile = get_object_or_404(centre_cohort(centre), pk=profile_id)
    services.unlock_sign_in(profile=profile, actor=request.user)
    messages.success(request, _sign_in_unlocked(profile))
    return redirect("centre_home", slug=centre.slug)


def _sign_in_unlocked(profile: WorkerProfile) -> str:
    return _("%(name)s may sign in again now, from any device.") % {
        "name": profile.display_name or profile.user.username
    }


# --- Requesters -------------------------------------------------------------------------


@requester_required
def requester_home(request):
    return _render_requester_home(request)


def _render_requester_home(request, member_form=None, status=200):
    organizations = requester_organizations(request.user).prefetch_related(
        "memberships__user", "api_keys"
    )
    rows = [
        {
            "organization": org,
            "balances": [
                format_amount(amount, currency)
                for currency, amount in sorted(organization_balances(org).items())
            ],
            "is_admin": any(
                m.user_id == request.user.pk and m.role == Membership.Role.ADMIN
                for m in org.memberships.all()
            ),
        }
        for org in organizations
    ]
    return render(
        request,
        "marketplace/requester_home.html",
        {"rows": rows, "member_form": member_form or MemberForm()},
        status=status,
    )


@require_POST
@requester_required
@uncompressed
def api_key_create(request, slug: str):
    organization = get_object_or_404(requester_organizations(request.user), slug=slug)
    try:
        issued = services.create_api_key(
            organization=organization, actor=request.user, name=request.POST.get("name", "")
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("requester_home")
    # Shown once: only its hash is kept.
    return render(request, "marketplace/api_key_created.html", {"issued": issued})


@require_POST
@requester_required
def api_key_revoke(request, key_id: int):
    key = get_object_or_404(
        ApiKey, pk=key_id, organization__in=requester_organizations(request.user)
    )
    services.revoke_api_key(key_id=key.pk, actor=request.user)
    messages.success(request, _("Key revoked."))
    return redirect("requester_home")


@require_POST
@requester_required
def organization_add_member(request, slug: str):
    organization = get_object_or_404(requester_organizations(request.user), slug=slug)
    form = MemberForm(request.POST)
    if form.is_valid():
        try:
            services.add_member(
                organization=organization,
                actor=request.user,
                user=form.cleaned_data["user"],
                role=form.cleaned_data["role"],
            )
        except ValidationError as exc:
            form.add_error("login", exc)
        else:
            messages.success(request, _("Member added."))
            return redirect("requester_home")
    return _render_requester_home(request, member_form=form, status=400)


# --- Admin vetting ----------------------------------------------------------------------


@staff_required
def vetting_queue_view(request):
    query = request.GET.copy()
    query.pop("page", None)
    # No status parameter at all (a first visit, or a bare "?page=2") means the default
    # filter, Applied; only an explicit empty status (the "Any" choice) means every status.
    query.setdefault("status", WorkerProfile.Status.APPLIED)
    filters = VettingFilterForm(query)
    filters.is_valid()
    data = filters.cleaned_data
    profiles = vetting_queue(
        status=data.get("status", ""), country=data.get("country", ""), centre=data.get("centre")
    )
    page = Paginator(profiles, VETTING_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "marketplace/vetting_queue.html",
        {
            "filters": filters,
            "page": page,
            "query": query.urlencode(),
            "cohort_form": CohortApprovalForm(),
        },
    )


@staff_required
def vetting_detail(request, profile_id: int):
    profile = get_object_or_404(
        WorkerProfile.objects.select_related("user", "centre"), pk=profile_id
    )
    form = DecisionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.decide_application(
                profile_id=profile.pk,
                actor=request.user,
                action=form.cleaned_data["action"],
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Decision recorded; the worker has been notified."))
            return redirect("vetting_detail", profile_id=profile.pk)
    history = AuditLog.objects.filter(
        target_type=WorkerProfile._meta.label_lower, target_id=str(profile.pk)
    )
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "marketplace/vetting_detail.html",
        {"profile": profile, "form": form, "history": history},
        status=status,
    )


@require_POST
@staff_required
def vetting_unlock_sign_in(request, profile_id: int):
    profile = get_object_or_404(WorkerProfile.objects.select_related("user"), pk=profile_id)
    services.unlock_sign_in(profile=profile, actor=request.user)
    messages.success(request, _sign_in_unlocked(profile))
    return redirect("vetting_detail", profile_id=profile.pk)


@require_POST
@staff_required
def vetting_approve_cohort(request):
    form = CohortApprovalForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a centre and give a reason."))
        return redirect("vetting_queue")
    try:
        approved = services.approve_cohort(
            centre=form.cleaned_data["centre"],
            actor=request.user,
            reason=form.cleaned_data["reason"],
        )
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            ngettext(
                "Approved %(n)d worker of %(centre)s.",
                "Approved %(n)d workers of %(centre)s.",
                len(approved),
            )
            % {"n": len(approved), "centre": form.cleaned_data["centre"]},
        )
    return redirect("vetting_queue")
