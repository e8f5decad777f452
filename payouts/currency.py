"""Currencies and their minor-unit exponents (ISO 4217). Money is always an integer
count of minor units plus a currency; this module is the one place that converts
between that and what people type."""

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

# Currencies we may settle in. Zero-decimal currencies exist (JPY, UGX, ...), and
# Stripe treats some (e.g. UGX) as zero-decimal although ISO says otherwise.
CURRENCY_EXPONENTS: dict[str, int] = {
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "KHR": 2,
    "KES": 2,
    "INR": 2,
    "PHP": 2,
    "BDT": 2,
    "NGN": 2,
    "ZAR": 2,
    "JPY": 0,
    "UGX": 0,
    "RWF": 0,
    "VND": 0,
}
CURRENCY_CHOICES = [(code, code) for code in sorted(CURRENCY_EXPONENTS)]
_AMOUNT = re.compile(r"^(\d{1,15})(?:\.(\d+))?$")


def exponent(currency: str) -> int:
    try:
        return CURRENCY_EXPONENTS[currency]
    except KeyError:
        raise ValidationError(_("Unsupported currency %(c)s.") % {"c": currency}) from None


def parse_amount(text: str, currency: str) -> int:
    """'12.34' USD -> 1234. Exact: more decimals than the currency has is an error,
    never a rounding."""
    match = _AMOUNT.match(text.strip().replace(",", ""))
    if not match:
        raise ValidationError(_("Enter an amount such as 125.50."))
    whole, fraction = match.group(1), match.group(2) or ""
    places = exponent(currency)
    if len(fraction) > places:
        raise ValidationError(
            _("%(c)s amounts have at most %(n)d decimal places.") % {"c": currency, "n": places}
        )
    return int(whole) * 10**places + int(fraction.ljust(places, "0") or 0)


def format_amount(amount_minor: int, currency: str) -> str:
    places = exponent(currency)
    sign = "-" if amount_minor < 0 else ""
    whole, fraction = divmod(abs(amount_minor), 10**places)
    text = f"{whole:,}" + (f".{fraction:0{places}d}" if places else "")
    return f"{sign}{text} {currency}"


def plain_amount(amount_minor: int, currency: str) -> str:
    """'0.05' for 5 USD cents: what parse_amount reads back, for pre-filled forms."""
    places = exponent(currency)
    if not places:
        return str(amount_minor)
    # The sign apart: divmod(-5, 100) is (-1, 95), which would print -5 cents as -1.95.
    sign = "-" if amount_minor < 0 else ""
    whole, fraction = divmod(abs(amount_minor), 10**places)
    return f"{sign}{whole}.{fraction:0{places}d}"
