"""Celery tasks of licensing: thin wrappers around services."""

from celery import shared_task

from licensing import services


@shared_task(acks_late=True, reject_on_worker_lost=True)
def expire_licenses_task() -> int:
    return services.expire_licenses()


@shared_task
def expire_offers_task() -> int:
    return services.expire_offers()
