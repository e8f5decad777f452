from django import forms
from django.contrib.auth import password_validation
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django_countries import countries
from django_countries.fields import LazyTypedChoiceField

from marketplace.eligibility import ELIGIBILITY_CHOICES
from marketplace.enrolment import WORKER_LANGUAGES
from marketplace.models import Organization, WorkerProfile


def language_choices() -> list[tuple[str, str]]:
    from django.conf.locale import LANG_INFO

    return [(code, f"{LANG_INFO[code]['name_local']} ({code})") for code in WORKER_LANGUAGES]


class SignupExtraForm(forms.Form):
    """Extra fields on allauth's sign-up form (ACCOUNT_SIGNUP_FORM_CLASS)."""

    ACCOUNT_TYPES = [
        ("worker", _("I want to work (worker application)")),
        ("requester", _("I want to post work (requester)")),
    ]
    account_type = forms.ChoiceField(
        label=_("Account type"), choices=ACCOUNT_TYPES, widget=forms.RadioSelect, initial="worker"
    )
    organization_name = forms.CharField(
        label=_("Organization name (requesters)"), max_length=200, required=False
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("account_type") == "requester":
            if not cleaned.get("organization_name", "").strip():
                self.add_error("organization_name", _("Requesters must name their organization."))
            if not cleaned.get("email"):
                self.add_error("email", _("Requesters must give an email address."))
        return cleaned

    def signup(self, request, user) -> None:
        from marketplace.services import create_organization

        if self.cleaned_data["account_type"] == "requester":
            create_organization(
                name=self.cleaned_data["organization_name"].strip(),
                kind=Organization.Kind.REQUESTER,
                owner=user,
            )


class ApplicationForm(forms.Form):
    display_name = forms.CharField(label=_("Display name"), max_length=100)
    country = LazyTypedChoiceField(label=_("Country"), choices=countries)
    languages = forms.MultipleChoiceField(
        label=_("Languages you read and write well"),
        choices=language_choices,
        # Tick boxes: a multi-select box needs Ctrl-click, which a phone does not have.
        widget=forms.CheckboxSelectMultiple,
    )
    centre = forms.ModelChoiceField(
        label=_("Partner centre (if one trained or recruited you)"),
        queryset=Organization.objects.filter(kind=Organization.Kind.CENTRE),
        required=False,
    )
    eligibility = forms.MultipleChoiceField(
        label=_("Which of these are true for you?"),
        help_text=_("This helps us give work to the people who need it most. Tick all that apply."),
        choices=ELIGIBILITY_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    consent = forms.BooleanField(
        label=_("I accept the terms of work and the privacy notice."), required=True
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Links beside the box, not inside its label: a tap on the label ticks the box.
        self.fields["consent"].help_text = format_html(
            '<a href="{}">{}</a> · <a href="{}">{}</a>',
            reverse("terms_of_work"),
            _("Read the terms of work"),
            reverse("privacy_notice"),
            _("Read the privacy notice"),
        )

    @classmethod
    def initial_from(cls, profile: WorkerProfile | None, user) -> dict:
        if profile is None:
            return {"display_name": user.get_full_name() or user.username}
        # A worker enrolled by a centre usually lives in the centre's country.
        country = profile.country or (profile.centre.country if profile.centre else "")
        return {
            "display_name": profile.display_name,
            "country": country.code if country else "",
            "languages": profile.languages,
            "centre": profile.centre_id,
            "eligibility": profile.eligibility,
        }


class DecisionForm(forms.Form):
    ACTIONS = [
        ("approve", _("Approve")),
        ("reject", _("Reject")),
        ("suspend", _("Suspend")),
        ("ban", _("Ban")),
    ]
    action = forms.ChoiceField(label=_("Decision"), choices=ACTIONS)
    reason = forms.CharField(
        label=_("Reason (the worker will read it)"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
    )


class CohortApprovalForm(forms.Form):
    centre = forms.ModelChoiceField(
        label=_("Partner centre"),
        queryset=Organization.objects.filter(kind=Organization.Kind.CENTRE),
    )
    reason = forms.CharField(label=_("Reason"), max_length=2000)


class VettingFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Status"),
        choices=[("", _("Any")), *list(WorkerProfile.Status.choices)],
        required=False,
    )
    country = LazyTypedChoiceField(
        label=_("Country"), choices=[("", _("Any")), *list(countries)], required=False
    )
    centre = forms.ModelChoiceField(
        label=_("Centre"),
        queryset=Organization.objects.filter(kind=Organization.Kind.CENTRE),
        required=False,
        empty_label=_("Any"),
    )


class EnrolmentForm(forms.Form):
    file = forms.FileField(label=_("CSV file (name, username, phone, language)"))


class SetupCodeForm(forms.Form):
    username = forms.CharField(label=_("Username"), max_length=150)
    code = forms.CharField(label=_("Set-up code"), max_length=20)
    password1 = forms.CharField(
        label=_("New password"), widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    password2 = forms.CharField(
        label=_("New password again"),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args, with_token: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if with_token:  # the link already identifies the worker
            del self.fields["username"]
            del self.fields["code"]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("password1") and cleaned.get("password1") != cleaned.get("password2"):
            self.add_error("password2", _("The two passwords differ."))
        return cleaned

    def validate_password_for(self, user) -> bool:
        try:
            password_validation.validate_password(self.cleaned_data["password1"], user)
        except forms.ValidationError as exc:
            self.add_error("password1", exc)
            return False
        return True


class MemberForm(forms.Form):
    login = forms.CharField(label=_("Username or email of an existing account"), max_length=254)
    role = forms.ChoiceField(
        label=_("Role"),
        choices=[("member", _("Member")), ("admin", _("Administrator"))],
        initial="member",
    )

    def clean_login(self):
        from django.core.validators import validate_email

        from marketplace.selectors import accounts_for_login

        login = self.cleaned_data["login"].strip()
        by_email, by_username = accounts_for_login(login)
        try:
            validate_email(login)
        except forms.ValidationError:
            looks_like_email = False
        else:
            looks_like_email = True
        candidates = {user.pk: user for user in [*by_email, *by_username]}
        if len(candidates) > 1:
            # E.g. Alice verified alice@corp.com and somebody else took it as a username:
            # guessing would add the wrong person to the organization.
            raise forms.ValidationError(
                _(
                    "More than one account matches %(login)s. Ask your colleague for "
                    "their exact username."
                ),
                params={"login": login},
            )
        if not candidates:
            raise forms.ValidationError(_("No account with that username or email."))
        if looks_like_email and not by_email:
            # Only a username that looks like the address: that account never proved it
            # owns the address, so it is not taken to be its owner.
            raise forms.ValidationError(
                _(
                    "No account has verified the email address %(login)s. Ask your "
                    "colleague to verify it, or to give you their username."
                ),
                params={"login": login},
            )
        self.cleaned_data["user"] = next(iter(candidates.values()))
        return login
