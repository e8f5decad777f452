"""Periodic quality jobs (Celery beat: marketplace/celery.py)."""

from celery import shared_task

from reputation import fraud


@shared_task
def scan_fraud_signals() -> int:
    return len(fraud.scan())
