"""Celery tasks of the marketplace: thin wrappers around services."""

from celery import shared_task

from marketplace import services


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(ConnectionError, TimeoutError),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def process_stripe_event_task(*, event_id: str) -> None:
    services.process_stripe_event(event_id=event_id)


@shared_task(acks_late=True, reject_on_worker_lost=True, max_retries=5, retry_backoff=True)
def fulfil_order_task(*, order_id: str) -> str:
    return services.fulfil_order(order_id=order_id).status


@shared_task(acks_late=True, reject_on_worker_lost=True)
def expire_orders_task() -> int:
    return services.expire_orders()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def reconcile_orders_task() -> int:
    return services.reconcile_pending_orders()
