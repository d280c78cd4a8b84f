"""Celery tasks of accounts: thin wrappers around services."""

from celery import shared_task

from accounts import services, webhooks


@shared_task
def prune_api_records_task() -> dict[str, int]:
    return services.prune_api_records()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def deliver_webhook_task(*, delivery_id: str) -> None:
    webhooks.attempt_delivery(delivery_id=delivery_id)
