"""Receivers of provenance's signals: licenses follow takedowns; approvals get manifests."""

from functools import partial

from django.db import transaction
from django.dispatch import receiver

from licensing.services import clear_license_flags, flag_licenses_of_dataset
from provenance.signals import dataset_reinstated, dataset_suspended, version_approved


@receiver(dataset_suspended, dispatch_uid="licensing.flag_licenses")
def flag_licenses(sender, dataset, claim, actor, reason, now, **kwargs):
    flag_licenses_of_dataset(
        dataset=dataset, claim_id=claim.pk, reason=reason, actor=actor, now=now
    )


@receiver(dataset_reinstated, dispatch_uid="licensing.clear_flags")
def clear_flags(sender, dataset, claim, actor, reason, now, **kwargs):
    clear_license_flags(dataset=dataset, claim_id=claim.pk, reason=reason, actor=actor, now=now)


@receiver(version_approved, dispatch_uid="licensing.build_manifest_on_approval")
def build_manifest_on_approval(sender, version, **kwargs):
    # The signal is sent inside the approval's transaction: sign once it is committed.
    from licensing.tasks import build_version_manifest_task

    transaction.on_commit(partial(build_version_manifest_task.delay, version_id=version.pk))
