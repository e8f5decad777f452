from celery import shared_task


@shared_task
def process_upload_job(job_id: int) -> None:
    from tasks.upload_jobs import run_upload_job

    run_upload_job(job_id)


@shared_task
def aggregate_task_set(task_set_id: int) -> int:
    from reputation.consensus import aggregate_set

    return aggregate_set(task_set_id=task_set_id)


@shared_task
def return_leftover_escrow(task_set_id: int) -> int:
    from tasks.services import return_escrow_of_completed_set

    return return_escrow_of_completed_set(task_set_id=task_set_id)


@shared_task
def settle_closed_task(task_id: int) -> str | None:
    """One closed task (jobs queued before settle_closed_tasks took their place)."""
    from tasks.settling import settle_and_complete

    return settle_and_complete(task_id=task_id)


@shared_task
def settle_closed_tasks(task_ids: list[int]) -> int:
    """Queued when answers that closed regular tasks commit (tasks.work.
    run_answer_effects), a moment's worth at a time."""
    from tasks.settling import settle_tasks

    return settle_tasks(task_ids)


@shared_task
def settle_overdue_tasks() -> int:
    """The safety net for lost settle_closed_tasks and score_checks jobs (Celery beat,
    every minute)."""
    from tasks.settling import score_overdue_checks
    from tasks.settling import settle_overdue_tasks as settle_overdue

    return score_overdue_checks() + settle_overdue()
