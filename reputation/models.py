"""Reputation: every piece of evidence about a worker's quality is an event; a worker's
standing per skill is a fold of those events in order, kept up to date in constant time
and rebuildable from them (`manage.py recompute_reputation`).

A skill is a task kind, and for transcription also the language ("transcription:km"):
someone who reads Khmer well may not read Thai."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class ReputationEvent(models.Model):
    class Source(models.TextChoices):
        GOLD = "gold", "Gold check"
        TRAINING = "training", "Training check"
        CONSENSUS = "consensus", "Agreement with other workers"
        REJECTION = "rejection", "Rejected by the requester"

    worker = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reputation_events"
    )
    skill = models.CharField(max_length=40)
    source = models.CharField(max_length=12, choices=Source.choices)
    assignment = models.ForeignKey(
        "tasks.Assignment", on_delete=models.PROTECT, related_name="reputation_events"
    )
    # Whose work it was, so that one requester's rejections can be bounded.
    organization = models.ForeignKey(
        "marketplace.Organization", on_delete=models.PROTECT, related_name="+"
    )
    credit_permille = models.PositiveSmallIntegerField()  # 0..1000: how right the answer was
    weight_permille = models.PositiveSmallIntegerField()  # how much this evidence counts
    created_at = models.DateTimeField()
    # A training check: how many more checks of its set the worker could still reach
    # when it was recorded (live gold they have not claimed), so that the attempt ends
    # at its last reachable check (reputation.standing.training_verdict). Null on other
    # sources and on events recorded before it was counted.
    training_checks_left = models.PositiveSmallIntegerField(null=True, blank=True)
    # A voided event (gold corrected, appeal upheld) is skipped by every fold; the
    # worker's standing is rebuilt from the remaining events.
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            # One live piece of evidence of each source per answer: recording is
            # idempotent; a correction voids the old event and records a new one.
            models.UniqueConstraint(
                fields=["assignment", "source"],
                condition=Q(voided_at__isnull=True),
                name="reputation_event_once_per_source",
            ),
            models.CheckConstraint(
                condition=Q(credit_permille__lte=1000) & Q(weight_permille__lte=1000),
                name="reputation_event_permille_range",
            ),
        ]
        indexes = [
            models.Index(fields=["worker", "skill", "id"], name="repevent_worker_skill"),
            models.Index(fields=["worker", "source", "-id"], name="repevent_worker_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.worker_id} {self.skill} {self.source} {self.credit_permille}"


class WorkerSkill(models.Model):
    """A worker's standing in one skill: the fold of their non-voided events."""

    class State(models.TextChoices):
        TRAINING = "training", "In training"
        QUALIFIED = "qualified", "Qualified"

    worker = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="skill_standings"
    )
    skill = models.CharField(max_length=40)
    state = models.CharField(max_length=12, choices=State.choices, default=State.TRAINING)
    # Beta evidence with forgetting (prior not included): each event first multiplies
    # both by the forgetting factor, so recent work weighs more.
    evidence_right = models.FloatField(default=0.0)
    evidence_wrong = models.FloatField(default=0.0)
    score_permille = models.PositiveSmallIntegerField(default=0)  # posterior mean, prior in
    checks_total = models.PositiveIntegerField(default=0)  # gold and training results, ever
    checks_since_qualified = models.PositiveIntegerField(default=0)  # any evidence event
    # The current training attempt: its checks and the sum of their credit. While
    # qualified (no attempt runs) the same two hold the gold checks since qualifying and
    # the demotion test's statistic in millinats (reputation/standing.py).
    attempt_checks = models.PositiveSmallIntegerField(default=0)
    attempt_credit_permille = models.PositiveIntegerField(default=0)
    attempts_failed = models.PositiveSmallIntegerField(default=0)
    cooldown_until = models.DateTimeField(null=True, blank=True)
    qualified_at = models.DateTimeField(null=True, blank=True)
    demoted_at = models.DateTimeField(null=True, blank=True)
    last_event_id = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["worker", "skill"], name="worker_skill_unique")
        ]

    def __str__(self) -> str:
        return f"{self.worker_id} {self.skill} {self.state} {self.score_permille}"


class Flag(models.Model):
    """Something an admin should look at about a worker, or a pair of workers (copying).
    Raised by the quality floor and by the fraud signals (reputation.fraud); one open
    flag per worker (and partner) and signal, its evidence refreshed as it grows."""

    class Signal(models.TextChoices):
        QUALITY_FLOOR = "quality_floor", "Fell below the quality floor"
        TOO_FAST = "too_fast", "Answers too fast"
        STRAIGHT_LINING = "straight_lining", "Same answer again and again"
        GOLD_FAILURES = "gold_failures", "Failed checks in a row"
        LOW_AGREEMENT = "low_agreement", "Low agreement with others"
        CHURN = "churn", "Claims and gives back most tasks"
        COPYING = "copying", "Answers copied between two workers"
        DUPLICATE_ACCOUNT = "duplicate_account", "Possible second account"
        IMPOSSIBLE_ACTIVITY = "impossible_activity", "Active in two places at once"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DISMISSED = "dismissed", "Dismissed"
        WARNED = "warned", "Warned"
        SUSPENDED = "suspended", "Suspended"
        BANNED = "banned", "Banned"

    worker = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    other_worker = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    signal = models.CharField(max_length=30, choices=Signal.choices)
    severity = models.PositiveSmallIntegerField(default=1)  # 1 low .. 3 high
    # The numbers behind the flag (rates, counts, thresholds) and the assignment ids it
    # rests on; its shape depends on the signal (see reputation.fraud).
    evidence = models.JSONField(default=dict)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decision_reason = models.TextField(blank=True)
    # What a suspension or ban changed, so that dismissing it later undoes exactly that:
    # {"voided_assignment_ids": [...]}.
    enforcement = models.JSONField(default=dict, blank=True)
    # The worker's side, after a warning, suspension or ban: the appeal waits in the
    # same queue as the flags, on top.
    appeal_message = models.TextField(blank=True)
    appealed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["worker", "signal"],
                condition=Q(status="open", other_worker__isnull=True),
                name="flag_one_open_per_worker_signal",
            ),
            models.UniqueConstraint(
                fields=["worker", "other_worker", "signal"],
                condition=Q(status="open", other_worker__isnull=False),
                name="flag_one_open_per_pair_signal",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "-severity"], name="flag_queue"),
            models.Index(fields=["worker", "status"], name="flag_worker_status"),
        ]

    def __str__(self) -> str:
        return f"{self.signal} on {self.worker_id} ({self.status})"

    @property
    def appeal_waiting(self) -> bool:
        return self.appealed_at is not None and (
            self.decided_at is None or self.appealed_at > self.decided_at
        )


class Appeal(models.Model):
    """A worker contests a soft-rejected or rejected answer; an admin decides."""

    class Status(models.TextChoices):
        OPEN = "open", "Waiting for a decision"
        UPHELD = "upheld", "Upheld: the answer was accepted"
        DENIED = "denied", "Denied"

    assignment = models.OneToOneField(
        "tasks.Assignment", on_delete=models.PROTECT, related_name="appeal"
    )
    worker = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="appeals"
    )
    message = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decision_reason = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "created_at"], name="appeal_queue")]

    def __str__(self) -> str:
        return f"appeal on {self.assignment_id} ({self.status})"
