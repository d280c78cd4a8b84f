"""Receivers of lower layers' signals: the catalog follows reviews, takedowns and whatever its
listings copy; negotiation respects the orders that reserve or buy a dataset."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from licensing.models import LicenseOption
from licensing.signals import license_options_changed, negotiation_hold_check
from marketplace.models import Listing
from marketplace.services import (
    exclusivity_conflict,
    publish_listing,
    refresh_search_fields,
    reinstate_listing,
    suspend_listing,
)
from provenance.models import Dataset, QualityReport
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


# --- Keeping the listings' copied search fields in step (see refresh_search_fields) --------
# What a listing copies changes only here: its own row (publishing a version, takedowns, the
# admin), its dataset, its dataset's license options and its version's quality report. The
# version's facts and declaration are frozen once approved, and a listing shows an approved
# version only, so they change with `listing.version`. Fixture loading (`raw`) is left alone.


@receiver(post_save, sender=Listing, dispatch_uid="marketplace.refresh_saved_listing")
def refresh_saved_listing(sender, instance, raw=False, **kwargs):
    if not raw:
        refresh_search_fields(listing_ids=[instance.pk])


@receiver(post_save, sender=Dataset, dispatch_uid="marketplace.reindex_dataset")
def reindex_changed_dataset(sender, instance, raw=False, **kwargs):
    if not raw:
        refresh_search_fields(dataset_ids=[instance.pk])


@receiver(post_save, sender=LicenseOption, dispatch_uid="marketplace.refresh_saved_option")
@receiver(post_delete, sender=LicenseOption, dispatch_uid="marketplace.refresh_deleted_option")
def refresh_listing_of_option(sender, instance, raw=False, **kwargs):
    if not raw:
        refresh_search_fields(dataset_ids=[instance.dataset_id])


@receiver(license_options_changed, dispatch_uid="marketplace.refresh_changed_options")
def refresh_listings_of_options(sender, dataset_ids, **kwargs):
    refresh_search_fields(dataset_ids=dataset_ids)


# A report's state moves idle -> queued -> running -> done or failed, each by a save but the
# last: `fail_quality` updates the queryset, from queued or running, and the copy is the same
# for every state but done. Progress while running is written by `update()` and copied never.
@receiver(post_save, sender=QualityReport, dispatch_uid="marketplace.refresh_measured_listing")
@receiver(post_delete, sender=QualityReport, dispatch_uid="marketplace.refresh_unmeasured")
def refresh_listing_of_report(sender, instance, raw=False, **kwargs):
    if not raw:
        refresh_search_fields(version_ids=[instance.version_id])


@receiver(negotiation_hold_check, dispatch_uid="marketplace.orders_hold_datasets")
def orders_hold_datasets(sender, dataset, is_exclusive, now, **kwargs):
    # Offers follow the same rule as checkout: an exclusive order or license keeps everyone
    # else out, and exclusive terms need a dataset nobody else holds or is buying.
    return exclusivity_conflict(dataset=dataset, is_exclusive=is_exclusive, now=now)
