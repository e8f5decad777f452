"""Periodic quality jobs (Celery beat: marketplace/celery.py)."""

from celery import shared_task

from reputation import fraud


@shared_task
def scan_fraud_signals() -> int:
    return len(fraud.scan())


@shared_task
def score_checks(assignment_ids: list[int]) -> int:
    """Queued when regular sets' check answers commit (tasks.work.run_answer_effects),
    a moment's worth at a time; each scored in its own transaction."""
    from tasks.settling import score_checks as score

    return score(assignment_ids)
