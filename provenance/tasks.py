"""Celery tasks of provenance: thin wrappers around services."""

import logging

from celery import Task, shared_task

from provenance import ingest, services, uploads

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
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def ingest_version_task(*, version_id: str, run_token: str = "") -> str:
    return ingest.ingest_version(version_id=version_id, run_token=run_token).merkle_root


@shared_task(acks_late=True)
def expire_uploads_task() -> int:
    return uploads.expire_uploads()
