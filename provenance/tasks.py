"""Celery tasks of provenance: thin wrappers around services."""

import logging

from celery import shared_task

from provenance import services

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def verify_ledger_task() -> dict:
    result = services.verify_ledger()
    if not result.is_intact:
        logger.error("ledger broken at entry #%s: %s", result.first_broken_seq, result.reason)
    return {"entries_checked": result.entries_checked, "first_broken_seq": result.first_broken_seq}


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def ingest_version_task(*, version_id: str) -> str:
    return services.ingest_version(version_id=version_id).merkle_root
