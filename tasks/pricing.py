"""Cost preview and fair-pay arithmetic, in integer minor units only.

Rounding, stated once: counts of gold assignments and the platform fee round UP
(the requester never funds less than the work costs); effective hourly pay rounds
DOWN (a worker is never promised more than the rate gives)."""

from dataclasses import dataclass

from django.conf import settings

PERMILLE = 1000


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


@dataclass(frozen=True)
class CostPreview:
    regular_assignments: int
    gold_assignments: int
    worker_pay_minor: int
    fee_minor: int
    total_minor: int
    currency: str


def cost_preview(
    *,
    regular_tasks: int,
    assignments_per_task: int,
    reward_minor: int,
    gold_ratio_permille: int,
    currency: str,
    fee_permille: int | None = None,
) -> CostPreview:
    """Gold is a share of *served* assignments: with ratio g, gold = regular * g / (1 - g)."""
    fee_permille = settings.PLATFORM_FEE_PERMILLE if fee_permille is None else fee_permille
    regular = regular_tasks * assignments_per_task
    gold = (
        _ceil_div(regular * gold_ratio_permille, PERMILLE - gold_ratio_permille)
        if gold_ratio_permille
        else 0
    )
    worker_pay = (regular + gold) * reward_minor
    fee = platform_fee_minor(worker_pay, fee_permille=fee_permille)
    return CostPreview(regular, gold, worker_pay, fee, worker_pay + fee, currency)


def platform_fee_minor(worker_pay_minor: int, *, fee_permille: int | None = None) -> int:
    """The platform's fee on an amount of worker pay, rounded up."""
    fee_permille = settings.PLATFORM_FEE_PERMILLE if fee_permille is None else fee_permille
    return _ceil_div(worker_pay_minor * fee_permille, PERMILLE)


def hourly_pay_minor(*, reward_minor: int, seconds_per_task: int) -> int:
    return reward_minor * 3600 // seconds_per_task


def pay_floor_minor(currency: str) -> int | None:
    """The configured minimum hourly pay for a currency (None: no floor set)."""
    return settings.PAY_FLOOR_HOURLY_MINOR.get(currency)
