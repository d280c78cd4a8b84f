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


@shared_task(acks_late=True, reject_on_worker_lost=True)
def issue_all_royalty_statements_task(*, period: str = "") -> int:
    from marketplace import royalties

    starts_on = royalties.parse_period(period) if period else None
    return len(royalties.issue_all_royalty_statements(period_starts_on=starts_on))


@shared_task(acks_late=True, reject_on_worker_lost=True)
def pay_out_statements_task() -> int:
    from marketplace import royalties

    return len(royalties.pay_out_statements())
