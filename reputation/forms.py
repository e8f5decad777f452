from django import forms
from django.utils.translation import gettext_lazy as _

APPEAL_MESSAGE_MAX_CHARS = 2000  # what reputation.services.file_appeal keeps


class AppealForm(forms.Form):
    message = forms.CharField(
        label=_("Why was your answer right?"),
        max_length=APPEAL_MESSAGE_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class AppealDecisionForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[("uphold", _("Uphold: accept the answer")), ("deny", _("Deny"))]
    )
    reason = forms.CharField(
        label=_("Reason (the worker reads it)"),
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class FlagDecisionForm(forms.Form):
    action = forms.ChoiceField(
        label=_("Decision"),
        choices=[
            ("dismiss", _("Dismiss (and undo any suspension or ban)")),
            ("warn", _("Warn the worker")),
            ("suspend", _("Suspend: end their sessions now and freeze unpaid earnings")),
            ("ban", _("Ban")),
        ],
        widget=forms.RadioSelect,
    )
    void_answers = forms.BooleanField(
        label=_("With a ban: void their answers not yet reviewed (tasks reopen, not charged)"),
        required=False,
    )
    reason = forms.CharField(
        label=_("Reason (the worker reads it)"),
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class BulkFlagForm(forms.Form):
    action = forms.ChoiceField(
        label=_("For the selected flags"),
        choices=[("dismiss", _("Dismiss")), ("warn", _("Warn"))],
    )
    reason = forms.CharField(label=_("Reason (the workers read it)"), max_length=1000)


class KeepDecisionForm(forms.Form):
    reason = forms.CharField(
        label=_("Why the decision stands (the worker reads it)"),
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class FlagAppealForm(forms.Form):
    message = forms.CharField(
        label=_("Why is this decision wrong?"),
        max_length=APPEAL_MESSAGE_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
