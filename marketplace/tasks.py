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
    """Beat's monthly statements, through their report job; how many this run issued."""
    from marketplace import reports, royalties

    starts_on = royalties.parse_period(period) if period else None
    job = reports.run_statements_for_beat(period_starts_on=starts_on)
    if job is None or not job.has_succeeded:
        return 0
    return len(job.result["statements"])


@shared_task(acks_late=True, reject_on_worker_lost=True)
def run_report_job_task(*, job_id: str) -> str:
    """Run a report job asked for in the portal; its status afterwards ("skipped" when it was
    done, or alive on another worker)."""
    from marketplace import reports

    job = reports.run_report_job(job_id=job_id)
    return job.status if job is not None else "skipped"


@shared_task(acks_late=True, reject_on_worker_lost=True)
def pay_out_statements_task() -> int:
    from marketplace import royalties

    return len(royalties.pay_out_statements())
