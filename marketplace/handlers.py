"""Receivers of lower layers' signals: the catalog follows reviews and takedowns; negotiation
respects the orders that reserve or buy a dataset."""

from django.db.models.signals import post_save
from django.dispatch import receiver

from licensing.signals import negotiation_hold_check
from marketplace.models import Listing
from marketplace.services import (
    exclusivity_conflict,
    publish_listing,
    refresh_search_documents,
    reinstate_listing,
    suspend_listing,
)
from provenance.models import Dataset
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


@receiver(post_save, sender=Dataset, dispatch_uid="marketplace.reindex_dataset")
def reindex_changed_dataset(sender, instance, **kwargs):
    listing_ids = list(Listing.objects.filter(dataset=instance).values_list("pk", flat=True))
    if listing_ids:
        refresh_search_documents(listing_ids=listing_ids)


@receiver(negotiation_hold_check, dispatch_uid="marketplace.orders_hold_datasets")
def orders_hold_datasets(sender, dataset, is_exclusive, now, **kwargs):
    # Offers follow the same rule as checkout: an exclusive order or license keeps everyone
    # else out, and exclusive terms need a dataset nobody else holds or is buying.
    return exclusivity_conflict(dataset=dataset, is_exclusive=is_exclusive, now=now)
