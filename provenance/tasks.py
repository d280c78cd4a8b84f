"""Celery tasks of provenance: thin wrappers around services."""

import logging

from celery import Task, shared_task
from django.conf import settings

from provenance import ingest, services, uploads
from provenance.quality import service as quality

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def verify_ledger_task() -> dict:
    result = services.verify_ledger()
    if not result.is_intact:
        logger.error("ledger broken at entry #%s: %s", result.first_broken_seq, result.reason)
    return {"entries_checked": result.entries_checked, "first_broken_seq": result.first_broken_seq}


class IngestTask(Task):
    """Marks the run failed where the creator sees it once retries are used up."""

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        ingest.fail_ingest(
            version_id=kwargs.get("version_id", ""), run_token=kwargs.get("run_token", "")
        )


@shared_task(
    base=IngestTask,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def ingest_version_task(self, *, version_id: str, run_token: str = "") -> str:
    try:
        return ingest.ingest_version(version_id=version_id, run_token=run_token).merkle_root
    except ingest.RunBusy as busy:
        # Check back until the other worker finished (a duplicate then) or went silent (taken
        # over); never give up while it lives, or the run would be marked failed under it.
        raise self.retry(
            exc=busy, countdown=settings.INGEST_STALE_SECONDS, max_retries=None
        ) from busy


@shared_task(acks_late=True)
def expire_uploads_task() -> int:
    return uploads.expire_uploads()


class QualityTask(Task):
    """Marks the measurement failed where people see it once retries are used up."""

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        quality.fail_quality(
            version_id=kwargs.get("version_id", ""), run_token=kwargs.get("run_token", "")
        )


@shared_task(
    base=QualityTask,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=3,
)
def measure_quality_task(*, version_id: str, run_token: str = "") -> str:
    return quality.measure_quality(version_id=version_id, run_token=run_token).figures_sha256
