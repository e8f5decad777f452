from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from marketplace.models import Organization
from payouts.currency import CURRENCY_CHOICES, parse_amount


class AmountCleaningMixin:
    """Turns the form's `amount` text into `amount_minor` in its `currency`'s minor
    units, refusing what does not parse and what is not positive."""

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("currency") and cleaned.get("amount"):
            try:
                cleaned["amount_minor"] = parse_amount(cleaned["amount"], cleaned["currency"])
            except ValidationError as exc:
                self.add_error("amount", exc)
            else:
                if cleaned["amount_minor"] <= 0:
                    self.add_error("amount", _("The amount must be positive."))
        return cleaned


class CreditForm(AmountCleaningMixin, forms.Form):
    organization = forms.ModelChoiceField(
        label=_("Organization"),
        queryset=Organization.objects.filter(kind=Organization.Kind.REQUESTER),
    )
    currency = forms.ChoiceField(label=_("Currency"), choices=CURRENCY_CHOICES, initial="USD")
    amount = forms.CharField(label=_("Amount"), max_length=20, help_text=_("For example 250.00"))
    reason = forms.CharField(
        label=_("Reason (e.g. invoice number)"), max_length=300, widget=forms.TextInput
    )
