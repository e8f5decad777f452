"""Periodic payout jobs (Celery beat: marketplace/celery.py)."""

from celery import shared_task

from payouts.earnings import mature_earnings
from payouts.runs import run_all


@shared_task
def mature_held_earnings() -> int:
    return mature_earnings()


@shared_task
def weekly_payout_run() -> list[int]:
    return [run.pk for run in run_all(trigger="beat")]
