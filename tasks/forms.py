import re

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from marketplace.models import Organization
from payouts.currency import CURRENCY_CHOICES, parse_amount, plain_amount
from tasks.models import TaskSet
from tasks.services import clean_label_options

LANGUAGE_CODE = re.compile(r"[a-z]{2,3}")


class TaskSetForm(forms.Form):
    organization = forms.ModelChoiceField(label=_("Organization"), queryset=None)
    title = forms.CharField(label=_("Title"), max_length=200)
    instructions = forms.CharField(
        label=_("Instructions for workers"),
        widget=forms.Textarea(attrs={"rows": 5}),
        required=False,
    )
    kind = forms.ChoiceField(label=_("Kind of task"), choices=TaskSet.Kind.choices)
    label_options = forms.CharField(
        label=_("Label options, one per line (2 to 50; not for transcription)"),
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
    )
    currency = forms.ChoiceField(label=_("Currency"), choices=CURRENCY_CHOICES, initial="USD")
    reward = forms.CharField(
        label=_("Reward per assignment"), max_length=20, help_text=_("For example 0.05")
    )
    assignments_per_task = forms.IntegerField(
        label=_("Workers per task"), min_value=1, max_value=15, initial=3
    )
    gold_ratio_percent = forms.IntegerField(
        label=_("Gold share of served work (%)"), min_value=0, max_value=50, initial=10
    )
    expected_seconds_per_task = forms.IntegerField(
        label=_("Expected seconds per task"), min_value=1, max_value=3600, initial=30
    )
    time_limit_minutes = forms.IntegerField(
        label=_("Time limit per assignment (minutes)"), min_value=1, max_value=240, initial=10
    )
    priority = forms.IntegerField(label=_("Priority"), min_value=-100, max_value=100, initial=0)
    language = forms.CharField(
        label=_("Workers must read this language (ISO code, e.g. km; optional)"),
        max_length=8,
        required=False,
    )
    centre = forms.ModelChoiceField(
        label=_("Only this partner centre's enrolled workers (optional)"),
        queryset=Organization.objects.filter(kind=Organization.Kind.CENTRE),
        required=False,
    )
    required_skill = forms.SlugField(
        label=_("Required skill (optional, e.g. khmer-handwriting)"),
        max_length=50,
        required=False,
    )
    min_reputation_percent = forms.IntegerField(
        label=_("Minimum reputation (%)"),
        min_value=0,
        max_value=100,
        initial=0,
        required=False,
        help_text=_(
            "A newly trained worker starts near 67 (of 100); gold checks and agreement with "
            "others move it."
        ),
    )
    # Staff only (removed from the form for anyone else): its pass qualifies workers
    # for every organization's sets (tasks.services.require_member).
    is_training = forms.BooleanField(
        label=_(
            "Platform training (staff only): gold tasks only; passing it qualifies workers "
            "in this kind of task for every organization's sets"
        ),
        required=False,
    )
    is_org_test = forms.BooleanField(
        label=_(
            "Our own qualification test (gold tasks only): passing it opens only our sets "
            "that require it"
        ),
        required=False,
    )
    requires_org_test = forms.BooleanField(
        label=_("Workers must also have passed our own qualification test for this kind of task"),
        required=False,
    )
    training_answer_budget = forms.IntegerField(
        label=_("Training answers to fund"), min_value=1, required=False
    )
    gold_pass_percent = forms.IntegerField(
        label=_("A check passes at this score (%)"),
        min_value=1,
        max_value=100,
        initial=80,
        required=False,
        help_text=_("Labels must match exactly; multi-label and transcription get partial credit."),
    )
    normalise_case = forms.BooleanField(
        label=_("Transcription: ignore upper and lower case"), required=False, initial=True
    )
    normalise_punctuation = forms.BooleanField(
        label=_("Transcription: ignore punctuation"), required=False
    )
    consensus_model = forms.ChoiceField(
        label=_("Final results"),
        choices=[
            ("one_coin", _("Dawid-Skene, one accuracy per worker (recommended)")),
            (
                "full",
                _(
                    "Dawid-Skene, full confusion matrix where every class has enough answers "
                    "(else one accuracy per worker; the results say which)"
                ),
            ),
        ],
        initial="one_coin",
        required=False,
    )
    target_confidence_percent = forms.IntegerField(
        label=_("Ask for more answers below this confidence (%; 0 = never)"),
        min_value=0,
        max_value=100,
        initial=0,
        required=False,
    )
    max_extra_assignments = forms.IntegerField(
        label=_("At most this many extra answers per task"),
        min_value=0,
        max_value=10,
        initial=0,
        required=False,
        help_text=_("The escrow covers them all; what is not used comes back."),
    )

    def __init__(
        self,
        *args,
        organizations=None,
        editing: TaskSet | None = None,
        staff: bool = False,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        if not staff:
            del self.fields["is_training"]  # platform training is staff's
        if editing is not None:
            del self.fields["organization"]  # a set never changes organization
            if editing.status != TaskSet.Status.DRAFT:
                for name, form_field in self.fields.items():
                    if name not in ("title", "instructions", "priority"):
                        form_field.disabled = True  # shown, never taken from the POST
            return
        self.fields["organization"].queryset = organizations
        if organizations.count() == 1:
            self.fields["organization"].initial = organizations.first()

    @staticmethod
    def initial_for(task_set: TaskSet) -> dict:
        return {
            "title": task_set.title,
            "instructions": task_set.instructions,
            "kind": task_set.kind,
            "label_options": "\n".join(task_set.label_options),
            "currency": task_set.currency,
            "reward": plain_amount(task_set.reward_minor, task_set.currency),
            "assignments_per_task": task_set.assignments_per_task,
            "gold_ratio_percent": task_set.gold_ratio_permille // 10,
            "expected_seconds_per_task": task_set.expected_seconds_per_task,
            "time_limit_minutes": task_set.time_limit_seconds // 60,
            "priority": task_set.priority,
            "language": task_set.language,
            "centre": task_set.centre,
            "required_skill": task_set.required_skill,
            "min_reputation_percent": task_set.min_reputation_permille // 10,
            "is_training": task_set.is_platform_training,
            "is_org_test": task_set.is_org_test,
            "requires_org_test": task_set.requires_org_test,
            "training_answer_budget": task_set.training_answer_budget,
            "gold_pass_percent": task_set.gold_pass_permille // 10,
            "normalise_case": task_set.normalise_case,
            "normalise_punctuation": task_set.normalise_punctuation,
            "consensus_model": task_set.consensus_model,
            "target_confidence_percent": task_set.target_confidence_permille // 10,
            "max_extra_assignments": task_set.max_extra_assignments,
        }

    def task_set_fields(self) -> dict:
        """The cleaned form in the model's terms."""
        data = self.cleaned_data
        return {
            "title": data["title"],
            "instructions": data["instructions"],
            "kind": data["kind"],
            "label_options": data["label_options"],
            "reward_minor": data["reward_minor"],
            "currency": data["currency"],
            "assignments_per_task": data["assignments_per_task"],
            "gold_ratio_permille": data["gold_ratio_percent"] * 10,
            "expected_seconds_per_task": data["expected_seconds_per_task"],
            "time_limit_seconds": data["time_limit_minutes"] * 60,
            "priority": data["priority"],
            "language": data["language"],
            "centre": data["centre"],
            "required_skill": data["required_skill"],
            "min_reputation_permille": (data["min_reputation_percent"] or 0) * 10,
            # An organization's own test is a training set too (of its own standing).
            "is_training": data.get("is_training", False) or data["is_org_test"],
            "is_org_test": data["is_org_test"],
            "requires_org_test": data["requires_org_test"],
            "training_answer_budget": data["training_answer_budget"],
            "gold_pass_permille": (data["gold_pass_percent"] or 80) * 10,
            "normalise_case": data["normalise_case"],
            "normalise_punctuation": data["normalise_punctuation"],
            "consensus_model": data["consensus_model"] or "one_coin",
            "target_confidence_permille": (data["target_confidence_percent"] or 0) * 10,
            "max_extra_assignments": data["max_extra_assignments"] or 0,
        }

    def clean_language(self) -> str:
        # Workers list ISO 639 codes: "Khmer" would silently match nobody.
        language = self.cleaned_data["language"].strip().lower()
        if language and not LANGUAGE_CODE.fullmatch(language):
            raise ValidationError(_("Give the language's ISO code, e.g. km or en."))
        return language

    def clean(self):
        cleaned = super().clean()
        try:
            cleaned["label_options"] = clean_label_options(
                kind=cleaned.get("kind", ""), options=cleaned.get("label_options", "").splitlines()
            )
        except ValidationError as exc:
            self.add_error(None, exc)  # the error dict names label_options
        if cleaned.get("reward", "").strip().startswith("-"):
            # parse_amount reads no sign: say what is wrong, not "enter an amount".
            self.add_error("reward", _("The reward must be positive."))
        elif cleaned.get("currency") and cleaned.get("reward"):
            try:
                cleaned["reward_minor"] = parse_amount(cleaned["reward"], cleaned["currency"])
            except ValidationError as exc:
                self.add_error("reward", exc)
            else:
                if cleaned["reward_minor"] <= 0:
                    self.add_error("reward", _("The reward must be positive."))
        return cleaned


class TaskFileForm(forms.Form):
    file = forms.FileField(label=_("Task file (.csv, .jsonl, or .zip with images)"))
