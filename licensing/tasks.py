"""Celery tasks of licensing: thin wrappers around services."""

from celery import shared_task

from licensing import manifests, services, usage


@shared_task(acks_late=True, reject_on_worker_lost=True)
def expire_licenses_task() -> int:
    return services.expire_licenses()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def warn_expiring_licenses_task() -> int:
    return services.warn_expiring_licenses()


@shared_task
def expire_offers_task() -> int:
    return services.expire_offers()


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def build_version_manifest_task(*, version_id: str) -> str | None:
    manifest = manifests.build_version_manifest(version_id=version_id)
    return manifest.pk if manifest else None


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def build_license_manifest_task(*, license_id: str) -> str | None:
    try:
        return manifests.build_license_manifest(license_id=license_id).pk
    except manifests.DeliveriesIncomplete:
        return None  # the deliveries' own build enqueues this again when it completes


@shared_task(acks_late=True, reject_on_worker_lost=True)
def build_missing_manifests_task() -> int:
    """The sweep behind the approval signal and the deliveries: a lost message still ends in a
    manifest, for versions and licenses alike."""
    missing = manifests.versions_missing_manifests()
    for version_id in missing:
        build_version_manifest_task.delay(version_id=version_id)
    licenses = manifests.licenses_missing_manifests()
    for license_id in licenses:
        build_license_manifest_task.delay(license_id=license_id)
    return len(missing) + len(licenses)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def flag_missing_usage_reports_task() -> int:
    return usage.flag_missing_reports()
