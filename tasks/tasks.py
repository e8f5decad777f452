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
