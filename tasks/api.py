"""REST API for task sets. One view per operation; every query is limited to the
caller's organizations (a key: its own organization only)."""

from django.conf import settings
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.models import ApiKey, Organization
from marketplace.selectors import requester_organizations
from payouts.currency import CURRENCY_CHOICES
from tasks import checks, reports, services
from tasks.models import TaskSet, UploadJob
from tasks.pricing import hourly_pay_minor
from tasks.results import results_page
from tasks.upload_jobs import start_upload_job, wants_background
from tasks.uploads import upload_tasks
from tasks.views import EXPORT_FORMATS, streaming_export


def organizations_for(request):
    if isinstance(request.auth, ApiKey):
        return Organization.objects.filter(pk=request.auth.organization_id)
    return requester_organizations(request.user)


def task_sets_for(request):
    return TaskSet.objects.filter(organization__in=organizations_for(request)).select_related(
        "organization"
    )


class CostSerializer(serializers.Serializer):
    regular_assignments = serializers.IntegerField()
    gold_assignments = serializers.IntegerField()
    worker_pay_minor = serializers.IntegerField()
    fee_minor = serializers.IntegerField()
    total_minor = serializers.IntegerField()
    currency = serializers.CharField()


class TaskSetSerializer(serializers.ModelSerializer):
    organization = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    task_count = serializers.SerializerMethodField()
    gold_count = serializers.SerializerMethodField()
    hourly_pay_minor = serializers.SerializerMethodField()
    cost = serializers.SerializerMethodField()
    live_check_count = serializers.SerializerMethodField(
        help_text="Checks whose answer no worker has been shown; null when the set's "
        "checks are not in use (training, completed or cancelled)."
    )
    live_checks_low = serializers.SerializerMethodField(
        help_text="A published set with fewer live checks than tasks.checks.LOW_LIVE_CHECKS."
    )

    class Meta:
        model = TaskSet
        fields = [
            "id", "organization", "title", "instructions", "kind", "label_options",
            "reward_minor", "currency", "assignments_per_task", "gold_ratio_permille",
            "time_limit_seconds", "expected_seconds_per_task", "priority", "language",
            "required_skill", "min_reputation_permille", "is_training", "is_org_test",
            "requires_org_test", "training_answer_budget", "gold_pass_permille", "normalise_case",
            "normalise_punctuation", "consensus_model", "target_confidence_permille",
            "max_extra_assignments", "status",
            "created_at", "published_at", "paused_at", "cancelled_at", "paused_for_reports_at",
            "task_count", "gold_count", "hourly_pay_minor", "cost",
            "live_check_count", "live_checks_low",
        ]  # fmt: skip

    def get_task_count(self, task_set) -> int:
        return task_set.tasks.filter(is_gold=False).count()

    def get_gold_count(self, task_set) -> int:
        return task_set.tasks.filter(is_gold=True).count()

    def get_live_check_count(self, task_set) -> int | None:
        return checks.live_check_count(task_set)

    def get_live_checks_low(self, task_set) -> bool:
        return checks.runs_low(task_set, checks.live_check_count(task_set))

    def get_hourly_pay_minor(self, task_set) -> int:
        return hourly_pay_minor(
            reward_minor=task_set.reward_minor, seconds_per_task=task_set.expected_seconds_per_task
        )

    @extend_schema(responses=CostSerializer)
    def get_cost(self, task_set) -> dict:
        return CostSerializer(services.preview_for(task_set)).data


class TaskSetCreateSerializer(serializers.Serializer):
    organization = serializers.SlugField(required=False, help_text="Needed only with several.")
    title = serializers.CharField(max_length=200)
    instructions = serializers.CharField(required=False, allow_blank=True, default="")
    kind = serializers.ChoiceField(choices=TaskSet.Kind.choices)
    label_options = serializers.ListField(
        child=serializers.CharField(), required=False, default=list
    )
    reward_minor = serializers.IntegerField(
        min_value=1,
        help_text="Per assignment, minor units.",
        error_messages={"min_value": _("The reward must be positive.")},
    )
    currency = serializers.ChoiceField(choices=CURRENCY_CHOICES, default="USD")
    assignments_per_task = serializers.IntegerField(min_value=1, max_value=15, default=3)
    gold_ratio_permille = serializers.IntegerField(min_value=0, max_value=500, default=100)
    time_limit_seconds = serializers.IntegerField(min_value=60, max_value=14_400, default=600)
    expected_seconds_per_task = serializers.IntegerField(min_value=1, max_value=3600, default=30)
    priority = serializers.IntegerField(min_value=-100, max_value=100, default=0)
    language = serializers.RegexField(
        r"^[a-z]{2,3}$", required=False, allow_blank=True, default="", help_text="ISO 639, e.g. km"
    )
    required_skill = serializers.SlugField(
        max_length=50, required=False, allow_blank=True, default=""
    )
    min_reputation_permille = serializers.IntegerField(min_value=0, max_value=1000, default=0)
    is_training = serializers.BooleanField(
        default=False,
        help_text=(
            "Gold tasks only, for workers not yet qualified in the skill. Without is_org_test "
            "this is platform training, whose pass qualifies for every organization's sets: "
            "staff only (anyone else gets a 400 naming is_training)."
        ),
    )
    is_org_test = serializers.BooleanField(
        default=False,
        help_text=(
            "Your organization's own qualification test (a training set): passing it opens "
            "only your sets with requires_org_test, never anything on the platform."
        ),
    )
    requires_org_test = serializers.BooleanField(
        default=False,
        help_text="Regular sets: workers must also have passed your organization's own test.",
    )
    training_answer_budget = serializers.IntegerField(
        min_value=1, required=False, allow_null=True, default=None,
        help_text="Training sets: how many answers to fund.",
    )  # fmt: skip
    gold_pass_permille = serializers.IntegerField(min_value=1, max_value=1000, default=800)
    normalise_case = serializers.BooleanField(default=True)
    normalise_punctuation = serializers.BooleanField(default=False)
    consensus_model = serializers.ChoiceField(
        choices=TaskSet._meta.get_field("consensus_model").choices, default="one_coin"
    )
    target_confidence_permille = serializers.IntegerField(min_value=0, max_value=1000, default=0)
    max_extra_assignments = serializers.IntegerField(min_value=0, max_value=10, default=0)


class TaskSetListView(APIView):
    @extend_schema(responses=TaskSetSerializer(many=True), summary="List your task sets")
    def get(self, request):
        return Response(
            TaskSetSerializer(task_sets_for(request).order_by("-created_at"), many=True).data
        )

    @extend_schema(
        request=TaskSetCreateSerializer,
        responses={201: TaskSetSerializer},
        summary="Create a draft task set",
    )
    def post(self, request):
        incoming = TaskSetCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = dict(incoming.validated_data)
        organizations = organizations_for(request)
        slug = data.pop("organization", None)
        if slug:
            organization = get_object_or_404(organizations, slug=slug)
        elif organizations.count() == 1:
            organization = organizations.get()
        else:
            raise serializers.ValidationError(
                {"organization": ["Name the organization (its slug)."]}
            )
        task_set = services.create_task_set(organization=organization, actor=request.user, **data)
        return Response(TaskSetSerializer(task_set).data, status=status.HTTP_201_CREATED)


class TaskSetUpdateSerializer(TaskSetCreateSerializer):
    organization = None  # a set never changes organization


class TaskSetDetailView(APIView):
    @extend_schema(responses=TaskSetSerializer, summary="Read a task set with its cost")
    def get(self, request, task_set_id: int):
        return Response(
            TaskSetSerializer(get_object_or_404(task_sets_for(request), pk=task_set_id)).data
        )

    @extend_schema(
        request=TaskSetUpdateSerializer(partial=True),
        responses=TaskSetSerializer,
        summary="Edit a set: anything while a draft; title, instructions, priority once published",
    )
    def patch(self, request, task_set_id: int):
        task_set = get_object_or_404(task_sets_for(request), pk=task_set_id)
        incoming = TaskSetUpdateSerializer(data=request.data, partial=True)
        incoming.is_valid(raise_exception=True)
        # Only what the caller sent: partial validation must not apply the defaults.
        changes = {
            name: value for name, value in incoming.validated_data.items() if name in request.data
        }
        updated = services.update_task_set(
            task_set_id=task_set.pk, actor=request.user, changes=changes
        )
        return Response(TaskSetSerializer(updated).data)


class UploadResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()


class UploadJobSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = UploadJob
        fields = [
            "id",
            "url",
            "filename",
            "size_bytes",
            "status",
            "created_tasks",
            "errors",
            "error_total",
            "created_at",
            "started_at",
            "finished_at",
        ]

    def get_url(self, job) -> str:
        return reverse("api_upload_job", args=[job.task_set_id, job.pk])


class UploadJobView(APIView):
    @extend_schema(responses=UploadJobSerializer, summary="A background upload's status and report")
    def get(self, request, task_set_id: int, job_id: int):
        task_set = get_object_or_404(task_sets_for(request), pk=task_set_id)
        job = get_object_or_404(UploadJob, pk=job_id, task_set=task_set)
        return Response(UploadJobSerializer(job, context={"request": request}).data)


class TaskUploadView(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={
            "multipart/form-data": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
            }
        },
        responses={
            201: UploadResultSerializer,
            202: UploadJobSerializer,
            400: OpenApiResponse(description="Every bad row, by line and field"),
        },
        summary="Add tasks from a CSV, JSON Lines or ZIP file (all or nothing)",
        description=(
            "Files larger than TASK_UPLOAD_BACKGROUND_BYTES are processed in the "
            "background: the answer is 202 with a job to poll at its `url`."
        ),
    )
    def post(self, request, task_set_id: int):
        task_set = get_object_or_404(task_sets_for(request), pk=task_set_id)
        upload = request.FILES.get("file")
        if upload is None:
            raise serializers.ValidationError({"file": ["Attach the task file as 'file'."]})
        if wants_background(upload.size):
            job = start_upload_job(
                task_set=task_set,
                actor=request.user,
                data=upload.read(settings.TASK_UPLOAD_MAX_BYTES + 1),
                filename=upload.name,
            )
            job.refresh_from_db()  # an in-process job (no broker) has already run
            return Response(
                UploadJobSerializer(job, context={"request": request}).data,
                status=status.HTTP_202_ACCEPTED,
            )
        created = upload_tasks(
            task_set=task_set,
            actor=request.user,
            data=upload.read(settings.TASK_UPLOAD_MAX_BYTES + 1),
            filename=upload.name,
        )
        return Response({"created": created}, status=status.HTTP_201_CREATED)


def _action_view(name: str, service, summary: str):
    class ActionView(APIView):
        @extend_schema(
            request=None,
            responses=TaskSetSerializer,
            summary=summary,
            operation_id=f"task_set_{name}",
        )
        def post(self, request, task_set_id: int):
            task_set = get_object_or_404(task_sets_for(request), pk=task_set_id)
            return Response(
                TaskSetSerializer(service(task_set_id=task_set.pk, actor=request.user)).data
            )

    ActionView.__name__ = f"TaskSet{name.title()}View"
    return ActionView


TaskSetPublishView = _action_view(
    "publish", services.publish_task_set, "Publish: funds escrow from the balance"
)
TaskSetPauseView = _action_view("pause", services.pause_task_set, "Pause a published set")
TaskSetResumeView = _action_view("resume", services.resume_task_set, "Resume a paused set")
TaskSetCancelView = _action_view(
    "cancel", services.cancel_task_set, "Cancel; unspent escrow returns"
)


class AnswerSerializer(serializers.Serializer):
    worker = serializers.CharField(help_text="Pseudonymous, stable within the set.")
    answer = serializers.JSONField()
    seconds = serializers.IntegerField(allow_null=True)
    submitted_at = serializers.DateTimeField(allow_null=True)


class ResultSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    aggregated_answer = serializers.JSONField(allow_null=True)
    confidence = serializers.FloatField(allow_null=True)
    method = serializers.CharField(
        help_text="The model behind aggregated_answer: majority, weighted_vote, "
        "dawid_skene_one_coin, dawid_skene_full, dawid_skene_one_coin_fallback (full was "
        "asked for, too few answers per class), dawid_skene_per_label or rover."
    )
    method_note = serializers.CharField(help_text="The same, and why, in plain words.")
    answers = AnswerSerializer(many=True)
    metadata = serializers.JSONField()


class ResultsPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    offset = serializers.IntegerField()
    limit = serializers.IntegerField()
    results = ResultSerializer(many=True)


class ResultsQuerySerializer(serializers.Serializer):
    offset = serializers.IntegerField(min_value=0, default=0)
    limit = serializers.IntegerField(min_value=1, max_value=500, default=100)


class TaskSetResultsView(APIView):
    @extend_schema(
        parameters=[ResultsQuerySerializer],
        responses=ResultsPageSerializer,
        summary="Results, a page at a time (majority vote for now)",
    )
    def get(self, request, task_set_id: int):
        task_set = get_object_or_404(task_sets_for(request), pk=task_set_id)
        query = ResultsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        offset, limit = query.validated_data["offset"], query.validated_data["limit"]
        count, results = results_page(task_set, offset=offset, limit=limit)
        return Response({"count": count, "offset": offset, "limit": limit, "results": results})


class ReportedTaskSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    is_gold = serializers.BooleanField()
    broken = serializers.IntegerField(help_text="Workers who reported it broken.")
    disturbing = serializers.IntegerField(help_text="Workers who reported it disturbing.")
    latest_at = serializers.DateTimeField(help_text="The latest report.")
    withdrawn_at = serializers.DateTimeField(
        allow_null=True,
        help_text=(
            "Set once enough workers with a good track record found it disturbing: nobody "
            "else sees it."
        ),
    )


class ReportsSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Reported tasks in all.")
    paused_for_reports = serializers.BooleanField(
        help_text="The set paused itself because of reports; resume it once fixed."
    )
    results = ReportedTaskSerializer(many=True)


class TaskSetReportsView(APIView):
    @extend_schema(
        responses=ReportsSerializer,
        summary="Tasks workers reported as broken or disturbing, the latest first (50)",
    )
    def get(self, request, task_set_id: int):
        task_set = get_object_or_404(task_sets_for(request), pk=task_set_id)
        found = reports.set_reports(task_set)
        return Response(
            ReportsSerializer(
                {
                    "count": found.total,
                    "paused_for_reports": task_set.is_paused_for_reports,
                    "results": found.tasks,
                }
            ).data
        )


class TaskSetResultsExportView(APIView):
    @extend_schema(
        responses={
            (200, "application/x-ndjson"): OpenApiResponse(
                response=OpenApiTypes.STR, description="One result per line"
            ),
            (200, "text/csv"): OpenApiResponse(
                response=OpenApiTypes.STR, description="One row each"
            ),
        },
        summary="All results, streamed as CSV or JSON Lines",
        operation_id="task_set_results_export",
        parameters=[
            OpenApiParameter(
                "fmt", OpenApiTypes.STR, OpenApiParameter.PATH, enum=list(EXPORT_FORMATS)
            )
        ],
    )
    def get(self, request, task_set_id: int, fmt: str):
        if fmt not in EXPORT_FORMATS:
            raise NotFound()
        task_set = get_object_or_404(task_sets_for(request), pk=task_set_id)
        return streaming_export(task_set, fmt)
