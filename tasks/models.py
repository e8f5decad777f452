"""Task sets, their tasks, and the assignments workers claim.

Assignment is designed for the real-time issue: one row per (task, worker), a claim
that expires by time (no sweeper needed: an expired active claim simply stops
counting), and an idempotent submission keyed by the client's submission_id."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from payouts.currency import CURRENCY_CHOICES


class TaskSet(models.Model):
    class Kind(models.TextChoices):
        LABEL = "label", "Label (one choice per image)"
        MULTILABEL = "multilabel", "Multi-label (all that apply)"
        TRANSCRIPTION = "transcription", "Transcription (type the text shown)"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"
        PAUSED = "paused", "Paused"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"

    organization = models.ForeignKey(
        "marketplace.Organization", on_delete=models.PROTECT, related_name="task_sets"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    title = models.CharField(max_length=200)
    instructions = models.TextField(blank=True)  # Markdown, rendered sanitised
    kind = models.CharField(max_length=16, choices=Kind.choices)
    label_options = models.JSONField(default=list, blank=True)  # 2-50 for (multi)label
    reward_minor = models.BigIntegerField()  # per assignment, minor units of `currency`
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES, default="USD")
    assignments_per_task = models.PositiveSmallIntegerField(default=3)
    # Share of served assignments that are gold, in permille (100 = 10%): integers only.
    gold_ratio_permille = models.PositiveSmallIntegerField(default=100)
    time_limit_seconds = models.PositiveIntegerField(default=600)
    expected_seconds_per_task = models.PositiveIntegerField(default=30)
    min_reputation_permille = models.PositiveSmallIntegerField(default=0)
    # Who may work on the set (all optional): a language the worker reads, a centre's
    # own enrolled cohort, a skill the worker was trained in, a minimum reputation.
    language = models.CharField(max_length=8, blank=True)
    required_skill = models.SlugField(max_length=50, blank=True)
    centre = models.ForeignKey(
        "marketplace.Organization",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    priority = models.SmallIntegerField(default=0)
    # Training: a set of gold tasks only, for workers not yet qualified in its skill.
    # They see the right answer after each one, are paid as usual, and the set is
    # funded for a number of answers rather than per task.
    # Whose qualification training grants: the platform's (the skill everywhere, for
    # every organization's sets), so only staff create or change it; or, with
    # is_org_test, the organization's own test, which qualifies only for that
    # organization's sets that require it (requires_org_test) and never moves a
    # worker's platform standing (reputation keeps it under skill_for(...,
    # organization_id=...)). A requester cannot decide who is qualified for everyone.
    is_training = models.BooleanField(default=False)
    is_org_test = models.BooleanField(default=False)
    training_answer_budget = models.PositiveIntegerField(null=True, blank=True)
    # A regular set's extra gate: workers need the platform qualification in its skill
    # and also its organization's own test passed.
    requires_org_test = models.BooleanField(default=False)
    # Gold scoring: an answer passes at this credit (exact label 1000, multi-label
    # Jaccard, transcription 1 - character error rate after normalising as below).
    gold_pass_permille = models.PositiveSmallIntegerField(default=800)
    normalise_case = models.BooleanField(default=True)
    normalise_punctuation = models.BooleanField(default=False)
    consensus_model = models.CharField(
        max_length=10,
        choices=[("one_coin", "One accuracy per worker"), ("full", "Full confusion matrix")],
        default="one_coin",
    )
    # Dynamic redundancy: a task below this confidence after its answers gets more,
    # up to max_extra_assignments (0 = off). Escrow covers the cap at publishing.
    target_confidence_permille = models.PositiveSmallIntegerField(default=0)
    max_extra_assignments = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DRAFT)
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    # When the set last paused itself because workers reported its tasks (tasks.reports).
    # Reports made before then were acted on: they no longer count towards pausing it.
    paused_for_reports_at = models.DateTimeField(null=True, blank=True)
    # When the requesters were told the set is running out of live checks
    # (tasks.checks.LOW_LIVE_CHECKS). Cleared once it has enough again, so that each
    # time it runs low they are told once, not on every check retired.
    live_checks_low_notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(reward_minor__gt=0), name="taskset_reward_positive"),
            models.CheckConstraint(
                condition=Q(assignments_per_task__gte=1, assignments_per_task__lte=15),
                name="taskset_assignments_1_15",
            ),
            models.CheckConstraint(
                condition=Q(gold_ratio_permille__lte=500), name="taskset_gold_ratio_at_most_half"
            ),
            models.CheckConstraint(
                condition=Q(expected_seconds_per_task__gt=0),
                name="taskset_expected_seconds_positive",
            ),
            # An organization's test is a training set; only regular sets require one.
            models.CheckConstraint(
                condition=Q(is_org_test=False) | Q(is_training=True),
                name="taskset_org_test_is_training",
            ),
            models.CheckConstraint(
                condition=Q(requires_org_test=False) | Q(is_training=False),
                name="taskset_training_requires_no_test",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "-priority"], name="taskset_status_priority"),
            models.Index(fields=["organization", "-created_at"], name="taskset_org_recent"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_platform_training(self) -> bool:
        """Training whose pass qualifies a worker in the skill across the platform:
        created, changed and run by staff only (tasks.services.require_member)."""
        return self.is_training and not self.is_org_test

    @property
    def is_paused_for_reports(self) -> bool:
        """Paused now by itself, because of workers' reports (not by its requester)."""
        return (
            self.status == self.Status.PAUSED
            and self.paused_for_reports_at is not None
            and self.paused_for_reports_at == self.paused_at
        )

    @property
    def checks_in_use(self) -> bool:
        """Its checks are handed out now, or may be again (a draft or paused set): a
        regular set not completed or cancelled. Their answers must not reach workers
        (tasks.checks); a training set's answers are shown after each one."""
        return not self.is_training and self.status in CHECKS_IN_USE_STATUSES


# A regular set's checks are handed out now, or may be again, in these states
# (TaskSet.checks_in_use, tasks.checks.live_checks).
CHECKS_IN_USE_STATUSES = (
    TaskSet.Status.DRAFT,
    TaskSet.Status.PUBLISHED,
    TaskSet.Status.PAUSED,
)


class Task(models.Model):
    task_set = models.ForeignKey(TaskSet, on_delete=models.CASCADE, related_name="tasks")
    external_id = models.CharField(max_length=200)
    payload_text = models.TextField(blank=True)
    # Original without metadata (for the requester) and the small WebP workers download.
    image = models.FileField(upload_to="tasks/originals/", blank=True, max_length=200)
    image_derivative = models.FileField(upload_to="tasks/", blank=True, max_length=200)
    metadata = models.JSONField(default=dict, blank=True)
    is_gold = models.BooleanField(default=False)
    # Never sent to a worker before they answer: a label, a list of labels, or text.
    gold_answer = models.JSONField(null=True, blank=True)
    gold_explanation = models.TextField(blank=True)
    # Kept in the submit transaction so that claiming never counts answers: submitted
    # assignments so far, and whether the task still wants more (gold never closes,
    # since every worker may answer a gold task once).
    submitted_count = models.PositiveIntegerField(default=0)
    is_open = models.BooleanField(default=True)
    # Answers added beyond the set's count because consensus was still unsure.
    extra_assignments = models.PositiveSmallIntegerField(default=0)
    # The aggregated answer and its confidence: a reputation-weighted vote when the
    # task closes, replaced by Dawid-Skene when the set's results are computed.
    aggregated_answer = models.JSONField(null=True, blank=True)
    confidence_permille = models.PositiveSmallIntegerField(null=True, blank=True)
    aggregation_method = models.CharField(max_length=30, blank=True)
    # A gold task that qualified workers keep failing: its answer may be wrong.
    gold_contested_at = models.DateTimeField(null=True, blank=True)
    # Taken out of circulation because workers reported it disturbing (tasks.reports):
    # closed (is_open false), so it is handed to nobody else and the set can complete.
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    # A regular set's check shown back to a worker who failed it (tasks.checks): its
    # answer is out, so it is retired from the set's live pool. withdrawn_at is set at
    # the same moment (that is what the claim skips); these say why, and for whom, so
    # that the reveals one worker may ask for are counted.
    retired_at = models.DateTimeField(null=True, blank=True)
    retired_for = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    # When a closed regular task's answers were reviewed, paid and scored against their
    # consensus (reputation.services.settle_closed_task, a job after the closing answer
    # commits). Null while open or waiting for that job; gold is never settled.
    settled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["task_set", "external_id"], name="task_external_id_unique"
            ),
            models.CheckConstraint(
                condition=Q(is_gold=False) | Q(gold_answer__isnull=False),
                name="task_gold_has_answer",
            ),
        ]
        indexes = [
            models.Index(fields=["task_set", "is_gold"], name="task_set_gold"),
            # The claim query walks this in id order, so finished tasks cost nothing
            # however many there are.
            models.Index(
                fields=["task_set", "id"],
                condition=Q(is_open=True, is_gold=False),
                name="task_open_regular",
            ),
            # Closed tasks waiting for their settlement: a handful at any time, which
            # the safety net and the set's completion check look up.
            models.Index(
                fields=["task_set", "id"],
                condition=Q(is_open=False, is_gold=False, settled_at__isnull=True),
                name="task_closed_unsettled",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.task_set_id}:{self.external_id}"

    @property
    def is_live_check(self) -> bool:
        """A check still in its set's pool (not withdrawn or retired) of a set whose
        checks are in use: nobody may see its payload and its answer together."""
        return self.is_gold and self.withdrawn_at is None and self.task_set.checks_in_use

    @property
    def confidence_percent(self) -> int | None:
        return None if self.confidence_permille is None else self.confidence_permille // 10


class Assignment(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"  # claimed; counts only until expires_at
        SUBMITTED = "submitted", "Submitted"
        RELEASED = "released", "Released"
        # Answered, then struck out when the worker was banned for fraud: kept for the
        # evidence, never counted, paid or used; the task's slot went back to the pool.
        VOIDED = "voided", "Voided"

    class ReleaseReason(models.TextChoices):
        SKIP = "skip", "Skipped"
        BROKEN = "broken", "Reported broken"
        DISTURBING = "disturbing", "Reported disturbing"
        SET_PAUSED = "set_paused", "Set paused"
        SET_CANCELLED = "set_cancelled", "Set cancelled"
        WORKER_SUSPENDED = "worker_suspended", "Worker suspended"
        TASK_WITHDRAWN = "task_withdrawn", "Task withdrawn"

    class ReviewStatus(models.TextChoices):
        PENDING = "pending", "Waiting for review"
        APPROVED = "approved", "Approved"
        # Paid but left out of the results: the answer disagreed with the evidence.
        SOFT_REJECTED = "soft_rejected", "Not used (paid)"
        REJECTED = "rejected", "Rejected (not paid)"

    task = models.ForeignKey(Task, on_delete=models.PROTECT, related_name="assignments")
    # Copies of the task's set and gold flag: per-set and per-worker counts without a
    # join. is_gold is never sent to a worker.
    task_set = models.ForeignKey(TaskSet, on_delete=models.PROTECT, related_name="assignments")
    is_gold = models.BooleanField(default=False)
    worker = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="assignments"
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ACTIVE)
    claimed_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    submitted_at = models.DateTimeField(null=True, blank=True)
    answer = models.JSONField(null=True, blank=True)
    submission_id = models.UUIDField(null=True, blank=True, unique=True)
    seconds_spent = models.PositiveIntegerField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)
    release_reason = models.CharField(max_length=20, choices=ReleaseReason.choices, blank=True)
    reward_minor = models.BigIntegerField()  # fixed at claim time, minor units
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    # Quality review: gold credit (0..1000) for gold answers; the review decides
    # whether the answer is paid and used (see reputation.services).
    gold_credit_permille = models.PositiveSmallIntegerField(null=True, blank=True)
    review_status = models.CharField(
        max_length=14, choices=ReviewStatus.choices, default=ReviewStatus.PENDING
    )
    review_reason = models.TextField(blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # A worker answers (or holds) a task at most once.
            models.UniqueConstraint(
                fields=["task", "worker"], name="assignment_task_worker_unique"
            ),
            models.CheckConstraint(
                condition=~Q(status="submitted") | Q(answer__isnull=False),
                name="assignment_submitted_has_answer",
            ),
        ]
        indexes = [
            models.Index(fields=["task", "status", "expires_at"], name="assignment_task_status"),
            models.Index(fields=["worker", "status"], name="assignment_worker_status"),
            models.Index(fields=["worker", "task_set", "is_gold"], name="assignment_worker_set"),
            models.Index(fields=["task_set", "status"], name="assignment_set_status"),
            # Workers' reports (tasks.reports): few among many skips and answers.
            models.Index(
                fields=["task_set", "released_at"],
                condition=Q(release_reason__in=["broken", "disturbing"]),
                name="assignment_reports",
            ),
            # Check answers waiting for their scoring job (tasks.settling's safety net):
            # a handful at any moment.
            models.Index(
                fields=["submitted_at"],
                condition=Q(is_gold=True, status="submitted", gold_credit_permille__isnull=True),
                name="assignment_check_unscored",
            ),
            # What the work page shows after every answer (tasks.work.earnings_by_currency):
            # today's answers, and the answers not reviewed yet, not a whole history.
            models.Index(
                fields=["worker", "submitted_at"],
                condition=Q(status="submitted"),
                name="assignment_worker_answered",
            ),
            models.Index(
                fields=["worker"],
                condition=Q(status="submitted", review_status="pending"),
                name="assignment_worker_unreviewed",
            ),
        ]

    def __str__(self) -> str:
        return f"assignment {self.pk} ({self.status})"


def live_claim(now) -> Q:
    """An assignment that holds a slot of its task until it is answered: active and not
    yet expired. The one definition the claim, the late-answer check and the progress
    counts share; an expired claim simply stops matching (nothing sweeps it)."""
    return Q(status=Assignment.Status.ACTIVE, expires_at__gt=now)


class ExampleImage(models.Model):
    """An image for a set's instructions ("this counts as a stop sign"), served from
    our own site in the small worker format, to the set's workers and requesters."""

    task_set = models.ForeignKey(TaskSet, on_delete=models.CASCADE, related_name="examples")
    image = models.FileField(upload_to="examples/", max_length=200)  # WebP, metadata-free
    name = models.CharField(max_length=200)  # the uploaded file's name, for the requester
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class UploadJob(models.Model):
    """A large task file processed in the background (Celery), so that a ZIP of
    thousands of photos never holds a request open. Same validator, same all-or-nothing
    rule; the report is kept here for the requester to read."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    task_set = models.ForeignKey(TaskSet, on_delete=models.CASCADE, related_name="upload_jobs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    filename = models.CharField(max_length=200)
    stored_file = models.CharField(max_length=200, blank=True)  # removed once processed
    size_bytes = models.BigIntegerField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    created_tasks = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)  # [{line, field, message}], first 100
    error_total = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["task_set", "-created_at"], name="uploadjob_set_recent")]

    def __str__(self) -> str:
        return f"{self.filename} ({self.status})"
