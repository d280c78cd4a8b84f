"""Receivers of provenance's signals: licenses follow takedowns."""

from django.dispatch import receiver

from licensing.services import clear_license_flags, flag_licenses_of_dataset
from provenance.signals import dataset_reinstated, dataset_suspended


@receiver(dataset_suspended, dispatch_uid="licensing.flag_licenses")
def flag_licenses(sender, dataset, claim, actor, reason, now, **kwargs):
    flag_licenses_of_dataset(
        dataset=dataset, claim_id=claim.pk, reason=reason, actor=actor, now=now
    )


@receiver(dataset_reinstated, dispatch_uid="licensing.clear_flags")
def clear_flags(sender, dataset, claim, actor, reason, now, **kwargs):
    clear_license_flags(dataset=dataset, claim_id=claim.pk, reason=reason, actor=actor, now=now)
