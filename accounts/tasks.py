"""Celery tasks of accounts: thin wrappers around services."""

from celery import shared_task

from accounts import services


@shared_task
def prune_api_records_task() -> dict[str, int]:
    return services.prune_api_records()
