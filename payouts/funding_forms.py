"""Forms for the requester's top-up and refund pages."""

from django import forms
from django.utils.translation import gettext_lazy as _

from marketplace.models import User
from marketplace.selectors import requester_organizations
from payouts.currency import CURRENCY_CHOICES
from payouts.forms import AmountCleaningMixin


class _MoneyForm(AmountCleaningMixin, forms.Form):
    organization = forms.ModelChoiceField(label=_("Organization"), queryset=None)
    currency = forms.ChoiceField(label=_("Currency"), choices=CURRENCY_CHOICES, initial="USD")
    amount = forms.CharField(label=_("Amount"), max_length=20, help_text=_("For example 50.00"))

    def __init__(self, user: User, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Only the organizations the user belongs to: another's id is "not a valid choice".
        organizations = requester_organizations(user)
        self.fields["organization"].queryset = organizations
        if len(organizations) == 1:
            self.fields["organization"].initial = organizations[0].pk
            self.fields["organization"].widget = forms.HiddenInput()


class FundForm(_MoneyForm):
    pass


class RefundForm(_MoneyForm):
    pass
