from celery import shared_task


@shared_task
def process_upload_job(job_id: int) -> None:
    from tasks.upload_jobs import run_upload_job

    run_upload_job(job_id)
