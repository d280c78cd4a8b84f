"""The listing's copied search fields stay in step with what they copy, whichever writer changes
it: publishing, dataset edits, license options added, changed, withdrawn or taken off the market
by an exclusive sale or agreement, quality reports, a new version, the admin; the migration
fills the listings that existed before; the counts of the whole catalog follow every change."""

import importlib
import threading
from types import SimpleNamespace

import pytest
from django.apps import apps as django_apps
from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext

from licensing import services as licensing
from licensing.models import LicenseOption
from marketplace import selectors
from marketplace import services as marketplace
from marketplace.models import Listing
from provenance import services as provenance
from provenance.models import Dataset, DatasetVersion, ProvenanceDeclaration, QualityReport
from provenance.quality import service as quality
from tests import quality_assets as assets
from tests.helpers import require, wait_until

pytestmark = pytest.mark.django_db

COPIED = [
    "title",
    "modality",
    "languages",
    "permitted_uses",
    "price_from_minor",
    "price_from_currency",
    "has_exclusive_option",
    "authorship",
    "total_bytes",
    "total_records",
    "measured_near_duplicate_bps",
    "has_measured_synthetic_signals",
]
EXCLUSIVE = {
    "permitted_uses": ["training"],
    "price_minor": 5_000_000,
    "currency": "USD",
    "is_exclusive": True,
    "term_days": 365,
}


def stored(listing) -> dict:
    return Listing.objects.filter(pk=listing.pk).values(*COPIED).get()


def from_sources(listing) -> dict:
    """What the listing should hold, read afresh from the rows it copies, in plain Python."""
    listing = Listing.objects.get(pk=listing.pk)
    dataset = Dataset.objects.get(pk=listing.dataset_id)
    version = DatasetVersion.objects.get(pk=listing.version_id)
    options = sorted(
        LicenseOption.objects.filter(dataset=dataset, is_active=True),
        key=lambda option: (option.price_minor, option.pk),
    )
    declaration = ProvenanceDeclaration.objects.filter(version=version).first()
    report = QualityReport.objects.filter(version=version, state=QualityReport.State.DONE).first()
    return {
        "title": dataset.title,
        "modality": dataset.modality,
        "languages": dataset.languages,
        "permitted_uses": sorted({use for option in options for use in option.permitted_uses}),
        "price_from_minor": options[0].price_minor if options else None,
        "price_from_currency": options[0].currency if options else "",
        "has_exclusive_option": any(option.is_exclusive for option in options),
        "authorship": declaration.authorship if declaration else "",
        "total_bytes": version.total_bytes,
        "total_records": version.total_records,
        "measured_near_duplicate_bps": report.near_duplicate_bps if report else None,
        "has_measured_synthetic_signals": report.has_synthetic_signals if report else None,
    }


def assert_in_step(listing) -> dict:
    fields = stored(listing)
    assert fields == from_sources(listing)
    return fields


def change_option(cast, option, **terms) -> LicenseOption:
    return licensing.update_license_option(
        actor=cast.creator,
        organization=cast.creator_org,
        option=option,
        name=option.name,
        terms={**option.terms_dict(), **terms},
    )


def test_publishing_copies_the_dataset_version_and_options_onto_the_listing(make_listing):
    listing = make_listing(
        "Harbour voices",
        modality="audio",
        languages=["cy", "en"],
        uses=["training", "evaluation"],
        price_minor=25_000,
        files={"a.jsonl": b'{"text": "one"}\n{"text": "two"}\n{"text": "three"}\n'},
    )
    fields = assert_in_step(listing)
    assert fields["title"] == "Harbour voices"
    assert fields["modality"] == "audio"
    assert fields["languages"] == ["cy", "en"]
    assert fields["permitted_uses"] == ["evaluation", "training"]
    assert (fields["price_from_minor"], fields["price_from_currency"]) == (25_000, "USD")
    assert fields["has_exclusive_option"] is False
    assert fields["authorship"] == "human"
    assert fields["total_bytes"] == listing.version.total_bytes > 0
    assert fields["total_records"] == 3
    assert Listing.objects.get(pk=listing.pk).search_refreshed_at is not None


def test_editing_the_dataset_updates_its_listing(make_listing, cast, api_client):
    listing = make_listing("Old name", modality="text", languages=["en"])
    provenance.update_dataset(
        actor=cast.creator,
        dataset=listing.dataset,
        changes={"title": "Seabird colonies", "modality": "image", "languages": ["fr", "ga"]},
    )
    fields = assert_in_step(listing)
    assert (fields["title"], fields["modality"], fields["languages"]) == (
        "Seabird colonies",
        "image",
        ["fr", "ga"],
    )
    found = api_client.get("/api/v1/listings/", {"modality": "image", "language": "ga"}).json()
    assert [item["title"] for item in found["results"]] == ["Seabird colonies"]


def test_adding_an_option_updates_uses_price_and_exclusivity(make_listing, cast):
    listing = make_listing("Tide tables", uses=["evaluation"], price_minor=50_000)
    licensing.add_license_option(
        actor=cast.creator,
        organization=cast.creator_org,
        dataset=listing.dataset,
        name="Cheaper, exclusive",
        terms={**EXCLUSIVE, "price_minor": 20_000, "currency": "EUR"},
    )
    fields = assert_in_step(listing)
    assert fields["permitted_uses"] == ["evaluation", "training"]
    assert (fields["price_from_minor"], fields["price_from_currency"]) == (20_000, "EUR")
    assert fields["has_exclusive_option"] is True


def test_changing_an_option_updates_its_listing(make_listing, cast):
    listing = make_listing("Tide tables", uses=["evaluation"], price_minor=50_000)
    option = listing.dataset.license_options.get()
    change_option(cast, option, price_minor=2_000_000, permitted_uses=["retrieval"])
    fields = assert_in_step(listing)
    assert fields["price_from_minor"] == 2_000_000
    assert fields["permitted_uses"] == ["retrieval"]
    assert selectors.listings_for_catalog(
        filters=selectors.CatalogFilters(price="10k-plus", use="retrieval")
    ).get() == Listing.objects.get(pk=listing.pk)


def test_withdrawing_and_restoring_an_option_updates_its_listing(make_listing, cast):
    listing = make_listing("Tide tables", uses=["evaluation"], price_minor=50_000)
    option = listing.dataset.license_options.get()
    licensing.set_license_option_active(
        actor=cast.creator, organization=cast.creator_org, option=option, is_active=False
    )
    fields = assert_in_step(listing)
    assert (fields["permitted_uses"], fields["price_from_minor"]) == ([], None)
    licensing.set_license_option_active(
        actor=cast.creator, organization=cast.creator_org, option=option, is_active=True
    )
    fields = assert_in_step(listing)
    assert (fields["permitted_uses"], fields["price_from_minor"]) == (["evaluation"], 50_000)


@pytest.mark.usefixtures("stripe_settings")
def test_an_exclusive_sale_takes_the_options_off_the_listing(
    make_listing, cast, django_capture_on_commit_callbacks
):
    listing = make_listing("Tide tables", uses=["evaluation"])
    exclusive = licensing.add_license_option(
        actor=cast.creator,
        organization=cast.creator_org,
        dataset=listing.dataset,
        name="Exclusive training",
        terms=EXCLUSIVE,
    )
    assert stored(listing)["has_exclusive_option"] is True
    order = marketplace.create_order(
        actor=cast.buyer, organization=cast.buyer_org, option=exclusive
    )
    with django_capture_on_commit_callbacks(execute=True):
        order = marketplace.pay_with_test_card(order=order)
    assert order.license is not None
    fields = assert_in_step(listing)
    assert fields["permitted_uses"] == [] and fields["price_from_minor"] is None
    assert fields["has_exclusive_option"] is False
    assert not selectors.listings_for_catalog(
        filters=selectors.CatalogFilters(exclusive=True)
    ).exists()


def test_an_exclusive_agreement_takes_the_options_off_the_listing(make_listing, cast):
    listing = make_listing("Tide tables", uses=["evaluation"])
    offer = licensing.open_offer(
        actor=cast.buyer, organization=cast.buyer_org, dataset=listing.dataset, terms=EXCLUSIVE
    )
    licensing.accept_offer(actor=cast.creator, organization=cast.creator_org, offer=offer)
    fields = assert_in_step(listing)
    assert fields["permitted_uses"] == [] and fields["price_from_minor"] is None
    assert not selectors.listings_for_catalog(
        filters=selectors.CatalogFilters(use="evaluation")
    ).exists()


def test_a_finished_quality_report_is_copied_and_a_new_run_clears_it_until_done(make_listing):
    listing = make_listing(
        "Clean letters", files={"a.jsonl": assets.jsonl(assets.text_records(60, seed=51))}
    )
    assert stored(listing)["measured_near_duplicate_bps"] is None
    quality.measure_quality(version_id=listing.version.pk)
    fields = assert_in_step(listing)
    assert fields["has_measured_synthetic_signals"] is False
    assert fields["measured_near_duplicate_bps"] is not None
    human = selectors.CatalogFilters(no_synthetic=True)
    assert selectors.listings_for_catalog(filters=human).count() == 1

    # Measured again: unmeasured while queued, and still when that run fails.
    run = quality.queue_quality(version_id=listing.version.pk)
    fields = assert_in_step(listing)
    assert fields["measured_near_duplicate_bps"] is None
    assert fields["has_measured_synthetic_signals"] is None
    assert selectors.listings_for_catalog(filters=human).count() == 0
    quality.fail_quality(version_id=listing.version.pk, run_token=run.run_token, message="gone")
    assert assert_in_step(listing)["has_measured_synthetic_signals"] is None

    quality.measure_quality(version_id=listing.version.pk)
    assert assert_in_step(listing)["has_measured_synthetic_signals"] is False


def test_measured_synthetic_signals_are_copied(make_listing):
    listing = make_listing(
        "Generated pictures", modality="image", files={"i.png": assets.png_with_xmp_source_type(3)}
    )
    quality.measure_quality(version_id=listing.version.pk)
    assert assert_in_step(listing)["has_measured_synthetic_signals"] is True


def test_a_newly_approved_version_brings_its_size_and_authorship(make_listing, cast):
    listing = make_listing("Tide tables", files={"a.jsonl": b'{"text": "one"}\n'})
    first = stored(listing)
    version = provenance.create_version(
        actor=cast.creator, dataset=listing.dataset, based_on=listing.version
    )
    provenance.add_file(
        actor=cast.creator,
        version=version,
        path="more.jsonl",
        content=ContentFile(b'{"text": "two"}\n' * 500),
    )
    provenance.update_declaration(
        actor=cast.creator,
        version=version,
        changes={"authorship": "hybrid", "synthetic_share_bps": 2500},
    )
    provenance.ingest_version(version_id=version.pk)
    version = provenance.submit_version(actor=cast.creator, version=version)
    assert stored(listing) == first  # a version in review changes nothing in the catalog
    provenance.approve_version(actor=cast.reviewer, version=version, reason="Looks right.")
    assert Listing.objects.get(pk=listing.pk).version_id == version.pk
    fields = assert_in_step(listing)
    assert fields["authorship"] == "hybrid"
    assert fields["total_bytes"] > first["total_bytes"]
    assert fields["total_records"] == 501


def test_options_saved_or_deleted_outside_the_services_update_the_listing(
    make_listing, cast, admin_client
):
    listing = make_listing("Tide tables", uses=["evaluation"], price_minor=50_000)
    cheap = licensing.add_license_option(
        actor=cast.creator,
        organization=cast.creator_org,
        dataset=listing.dataset,
        name="Cheap",
        terms={"permitted_uses": ["retrieval"], "price_minor": 1_000, "currency": "USD"},
    )
    # A save through the ORM, as the admin's change form and the shell do.
    cheap.is_exclusive = True
    cheap.save()
    assert assert_in_step(listing)["has_exclusive_option"] is True
    response = admin_client.post(
        f"/admin/licensing/licenseoption/{cheap.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 302
    assert not LicenseOption.objects.filter(pk=cheap.pk).exists()
    fields = assert_in_step(listing)
    assert (fields["price_from_minor"], fields["permitted_uses"]) == (50_000, ["evaluation"])
    assert fields["has_exclusive_option"] is False


def test_refreshing_every_listing_repairs_a_copy_written_around_the_services(make_listing):
    listings = [make_listing("Tide tables"), make_listing("Harbour voices", modality="audio")]
    # A bulk update sends no signal: the copies drift until the next refresh.
    LicenseOption.objects.filter(dataset=listings[0].dataset).update(price_minor=7)
    Dataset.objects.filter(pk=listings[1].dataset_id).update(modality="video")
    assert stored(listings[0])["price_from_minor"] != 7
    assert marketplace.refresh_search_fields() == 2
    assert assert_in_step(listings[0])["price_from_minor"] == 7
    assert assert_in_step(listings[1])["modality"] == "video"


def test_the_catalog_counts_follow_each_change_at_once(make_listing, cast):
    everything = selectors.CatalogFilters()

    def modalities():
        facets = selectors.catalog_facets(filters=everything)
        return {item["value"]: item["count"] for item in facets["modality"]}

    make_listing("Harbour tales", modality="text")
    assert modalities() == {"text": 1}
    with CaptureQueriesContext(connection) as kept:
        assert modalities() == {"text": 1}
    assert len(kept) == 1  # the time of the newest refresh; the counts came from the cache
    second = make_listing("Harbour voices", modality="audio")
    assert modalities() == {"text": 1, "audio": 1}
    marketplace.suspend_listing(actor=cast.reviewer, dataset=second.dataset, reason="A claim.")
    assert modalities() == {"text": 1}
    provenance.update_dataset(
        actor=cast.creator, dataset=second.dataset, changes={"modality": "video"}
    )
    marketplace.reinstate_listing(actor=cast.reviewer, dataset=second.dataset, reason="Cleared.")
    assert modalities() == {"text": 1, "video": 1}


@pytest.mark.django_db(transaction=True)
def test_the_migration_fills_the_listings_that_existed_before_it(make_listing, cast):
    listings = [
        make_listing("Tide tables", uses=["evaluation", "training"], price_minor=40_000),
        make_listing("Harbour voices", modality="audio", languages=["cy"]),
    ]
    quality.measure_quality(version_id=listings[1].version.pk)
    licensing.add_license_option(
        actor=cast.creator,
        organization=cast.creator_org,
        dataset=listings[0].dataset,
        name="Exclusive training",
        terms=EXCLUSIVE,
    )
    expected = [from_sources(listing) for listing in listings]
    executor = MigrationExecutor(connection)
    executor.migrate([("marketplace", "0011_add_listing_search_refreshed_at")])
    # As the columns stood before the fill: their defaults.
    blank = {name: Listing._meta.get_field(name).get_default() for name in COPIED}
    Listing.objects.update(**blank)
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert [stored(listing) for listing in listings] == expected


def test_the_fill_migration_and_the_service_agree(make_listing, cast):
    """The migration is written against its own models; the copy must be the service's."""
    listing = make_listing("Tide tables", languages=["en", "fr"])
    licensing.add_license_option(
        actor=cast.creator,
        organization=cast.creator_org,
        dataset=listing.dataset,
        name="Exclusive training",
        terms=EXCLUSIVE,
    )
    expected = stored(listing)
    Listing.objects.update(title="", modality="", languages=[], permitted_uses=[])
    migration = importlib.import_module("marketplace.migrations.0012_fill_listing_search_fields")
    migration.fill(django_apps, SimpleNamespace(connection=connection))
    assert stored(listing) == expected


# --- Two changes at once (PostgreSQL row locks) ------------------------------------------


def _two_options_at_once(cast, listing) -> None:
    """Add two options to one dataset in two transactions: the first holds its refreshed
    listing while the second's refresh starts, and commits once the second waits for it."""
    state = {}
    first_refreshed, failures = threading.Event(), []

    def first():
        try:
            with transaction.atomic():
                licensing.add_license_option(
                    actor=cast.creator,
                    organization=cast.creator_org,
                    dataset=listing.dataset,
                    name="Cheap retrieval",
                    terms={
                        "permitted_uses": ["retrieval"],
                        "price_minor": 1_000,
                        "currency": "USD",
                    },
                )
                first_refreshed.set()
                wait_until(lambda: state.get("second_waits"), timeout=30)
        except Exception as error:
            failures.append(error)
        finally:
            connection.close()

    def second():
        try:
            first_refreshed.wait(timeout=30)
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                state["second_pid"] = cursor.fetchone()[0]
            licensing.add_license_option(
                actor=cast.creator,
                organization=cast.creator_org,
                dataset=listing.dataset,
                name="Training",
                terms={"permitted_uses": ["training"], "price_minor": 2_000, "currency": "USD"},
            )
        except Exception as error:
            failures.append(error)
        finally:
            connection.close()

    def second_waits_for_a_lock() -> bool:
        pid = state.get("second_pid")
        if pid is None:
            return False
        with connection.cursor() as cursor:
            cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
            row = cursor.fetchone()
        return bool(row and row[0] == "Lock")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    wait_until(second_waits_for_a_lock, timeout=30)
    state["second_waits"] = True
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_option_changes_at_once_both_reach_the_listing(cast, make_listing, on_postgres):
    require(on_postgres, "row locks need PostgreSQL")
    listing = make_listing("Tide tables", uses=["evaluation"], price_minor=50_000)
    _two_options_at_once(cast, listing)
    fields = assert_in_step(listing)
    assert fields["price_from_minor"] == 1_000
    assert fields["permitted_uses"] == ["evaluation", "retrieval", "training"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_without_the_lock_the_second_change_writes_a_stale_copy(
    cast, make_listing, on_postgres, monkeypatch
):
    """The twin of the test above: the lock is what makes it pass."""
    require(on_postgres, "row locks need PostgreSQL")
    listing = make_listing("Tide tables", uses=["evaluation"], price_minor=50_000)

    def unlocked(listings):
        return list(listings.order_by("pk").values_list("pk", flat=True))

    monkeypatch.setattr(marketplace, "_lock_listings", unlocked)
    _two_options_at_once(cast, listing)
    fields = stored(listing)
    # The second refresh waited for the first one's row, then wrote what it had read before.
    assert fields["price_from_minor"] == 2_000
    assert fields["permitted_uses"] == ["evaluation", "training"]
    assert fields != from_sources(listing)
