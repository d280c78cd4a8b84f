"""Receivers of provenance's signals: the catalog follows reviews and takedowns."""

from django.dispatch import receiver

from marketplace.services import publish_listing, reinstate_listing, suspend_listing
from provenance.signals import dataset_reinstated, dataset_suspended, version_approved


@receiver(version_approved, dispatch_uid="marketplace.publish_on_approval")
def publish_on_approval(sender, version, actor, now, **kwargs):
    publish_listing(actor=actor, version=version, now=now)


@receiver(dataset_suspended, dispatch_uid="marketplace.suspend_listing")
def hide_suspended_listing(sender, dataset, actor, reason, now, **kwargs):
    suspend_listing(actor=actor, dataset=dataset, reason=reason, now=now)


@receiver(dataset_reinstated, dispatch_uid="marketplace.reinstate_listing")
def show_reinstated_listing(sender, dataset, actor, reason, now, **kwargs):
    reinstate_listing(actor=actor, dataset=dataset, reason=reason, now=now)
