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
