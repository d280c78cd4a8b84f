from django.apps import apps
from django.core.management import call_command

from accounts.models import Membership
from marketplace.models import Listing
from provenance.models import DatasetVersion
from provenance.services import verify_ledger


def row_counts() -> dict:
    return {
        model._meta.label: model.objects.count()
        for model in apps.get_models()
        if model._meta.app_label in {"accounts", "provenance", "licensing", "marketplace"}
    }


def test_seed_demo_builds_the_promised_demo_and_twice_changes_nothing(db, client):
    call_command("seed_demo")
    first = row_counts()
    call_command("seed_demo")
    assert row_counts() == first

    listings = Listing.objects.filter(status="published").select_related("dataset")
    assert listings.count() >= 12
    assert {listing.dataset.modality for listing in listings} >= {
        "text",
        "tabular",
        "image",
        "audio",
    }
    assert DatasetVersion.objects.filter(status="submitted").count() >= 1
    assert (
        Membership.objects.get(
            user__email="creator@wellspring.test", organization__slug="demo-creators"
        ).role
        == "owner"
    )
    assert (
        Membership.objects.get(
            user__email="buyer@wellspring.test", organization__slug="demo-lab"
        ).role
        == "owner"
    )
    assert verify_ledger().is_intact

    for email in ("creator@wellspring.test", "buyer@wellspring.test", "reviewer@wellspring.test"):
        assert client.login(username=email, password="wellspring-demo")
    client.login(username="reviewer@wellspring.test", password="wellspring-demo")
    assert "Hill-Farm Weather Diaries" in client.get("/review/").content.decode()


def test_seeded_files_are_measured_from_their_content(db):
    call_command("seed_demo")
    version = Listing.objects.get(dataset__slug="city-bike-counters").version
    files = list(version.files.all())
    assert {f.media_type for f in files} == {"text/csv"}
    assert all(f.record_count == 730 and len(f.sha256) == 64 for f in files)
    images = Listing.objects.get(dataset__slug="hand-drawn-botanical-sketches").version.files.all()
    assert {f.media_type for f in images} == {"image/png"}


def test_seed_demo_refuses_production(db, settings):
    import pytest
    from django.core.management.base import CommandError

    settings.IS_PRODUCTION = True
    with pytest.raises(CommandError, match="never runs in production"):
        call_command("seed_demo")


def test_seed_demo_gives_demo_lab_a_paid_active_license(db, client):
    from licensing.models import License

    call_command("seed_demo")
    license = License.objects.get(organization__slug="demo-lab")
    assert license.status == "active" and license.certificate
    assert license.deliveries.count() == license.version.file_count
    assert license.order.status == "fulfilled" and license.order.invoice.number.startswith("WS-")
    client.login(username="buyer@wellspring.test", password="wellspring-demo")
    assert license.pk in client.get("/api/v1/licenses/").content.decode()


def test_seeded_versions_carry_quality_cards_with_their_flags(db):
    call_command("seed_demo")
    versions = DatasetVersion.objects.exclude(merkle_root="")
    assert all(version.quality_report.state == "done" for version in versions)
    forum = Listing.objects.get(dataset__slug="recipe-forum-posts").version.quality_report
    assert forum.figures["exact_duplicates"]["records"]["count"] == 15
    assert forum.figures["near_duplicates"]["records"]["count"] == 45
    art = Listing.objects.get(dataset__slug="concept-art-colour-studies").version.quality_report
    assert art.has_synthetic_signals
    assert art.figures["synthetic"]["evidence"]["examples"][0]["signal"] == "c2pa"
    assert "synthetic_mismatch" in [flag["code"] for flag in art.flags]


def test_seed_demo_gives_the_demo_license_one_usage_report(db, client):
    from licensing.models import UsageReport

    call_command("seed_demo")
    call_command("seed_demo")
    report = UsageReport.objects.get(license__organization__slug="demo-lab")
    assert report.status == "ok" and report.records_used > 0
    client.login(username="buyer@wellspring.test", password="wellspring-demo")
    page = client.get(f"/library/licenses/{report.license_id}/").content.decode()
    assert "demo-lab/tide-tales-1b" in page and "Within terms" in page
