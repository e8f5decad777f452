"""Large task files are processed in the background: the request stores the file and
queues a Celery job (after commit); the job runs the same all-or-nothing upload and
keeps its report for the requester. With no broker configured (the embedded
default), Celery runs the job in-process right after the request's commit."""

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from marketplace.models import User
from marketplace.rows import RowErrors, require_size
from tasks.models import TaskSet, UploadJob
from tasks.services import require_member
from tasks.uploads import require_draft, upload_tasks

logger = logging.getLogger(__name__)
STALE_AFTER = timedelta(hours=1)  # far beyond the longest file a job can be given


def wants_background(size_bytes: int) -> bool:
    return size_bytes > settings.TASK_UPLOAD_BACKGROUND_BYTES


def start_upload_job(*, task_set: TaskSet, actor: User, data: bytes, filename: str) -> UploadJob:
    """Store the file and queue it. Refusals that need no reading of the file (not a
    member, not a draft, too large) come at once, as RowErrors like any upload's."""
    require_member(actor=actor, task_set=task_set)
    require_draft(task_set)
    require_size(data, max_bytes=settings.TASK_UPLOAD_MAX_BYTES)
    suffix = filename.rsplit(".", 1)[-1].lower()[:8] if "." in filename else "bin"
    stored = default_storage.save(f"uploads/{uuid.uuid4().hex}.{suffix}", ContentFile(data))
    try:
        with transaction.atomic():
            job = UploadJob.objects.create(
                task_set=task_set,
                created_by=actor,
                filename=filename[:200],
                stored_file=stored,
                size_bytes=len(data),
            )
            from tasks.tasks import process_upload_job

            transaction.on_commit(lambda: process_upload_job.delay(job.pk))
    except BaseException:
        default_storage.delete(stored)  # no job refers to it: do not leave it behind
        raise
    return job


def run_upload_job(job_id: int) -> UploadJob:
    """Run a queued job once: a redelivered message finds it no longer queued."""
    # Queued, or running for so long that its worker must have died (Celery
    # redelivers the message of a task that was not acknowledged).
    now = timezone.now()
    runnable = Q(status=UploadJob.Status.QUEUED) | Q(
        status=UploadJob.Status.RUNNING, started_at__lt=now - STALE_AFTER
    )
    claimed = UploadJob.objects.filter(runnable, pk=job_id).update(
        status=UploadJob.Status.RUNNING, started_at=now
    )
    job = UploadJob.objects.select_related("task_set", "created_by").get(pk=job_id)
    if not claimed:
        return job
    try:
        with default_storage.open(job.stored_file, "rb") as handle:
            data = handle.read()
        job.created_tasks = upload_tasks(
            task_set=job.task_set, actor=job.created_by, data=data, filename=job.filename
        )
        job.status = UploadJob.Status.SUCCEEDED
    except RowErrors as exc:
        job.status = UploadJob.Status.FAILED
        job.errors = exc.as_dicts()
        job.error_total = exc.total
    except Exception:
        logger.exception("upload job %s failed", job_id)
        job.status = UploadJob.Status.FAILED
        job.errors = [
            {"line": 0, "field": "file", "message": _("The file could not be processed.")}
        ]
        job.error_total = 1
    finally:
        default_storage.delete(job.stored_file)
    job.stored_file = ""
    job.finished_at = timezone.now()
    job.save(
        update_fields=[
            "status",
            "created_tasks",
            "errors",
            "error_total",
            "stored_file",
            "finished_at",
        ]
    )
    return job
