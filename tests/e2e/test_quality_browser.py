import pytest
from playwright.sync_api import expect

from licensing.services import grant_license
from marketplace.models import Listing
from provenance.quality.service import measure_quality
from tests import quality_assets as assets
from tests.factories import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_buyer_reads_the_quality_card_and_filters_out_synthetic_data(
    live_server, page, make_listing, artifacts
):
    human = make_listing(
        "Harbour sketches",
        modality="image",
        files={f"sketches/{seed}.png": assets.encode(assets.picture(seed)) for seed in range(4)}
        | {"notes.jsonl": assets.jsonl(assets.text_records(60))},
    )
    generated = make_listing(
        "Studio renders",
        modality="image",
        files={
            "renders/generated.jpg": assets.c2pa_signed_jpeg(7),
            "renders/plain.png": assets.encode(assets.picture(8)),
        },
    )
    measure_quality(version_id=human.version.pk)
    measure_quality(version_id=generated.version.pk)

    page.goto(f"{live_server.url}/catalog/{human.dataset.slug}/")
    card = page.get_by_role("region", name="Quality card")
    expect(card).to_be_visible()
    expect(card.get_by_role("img", name="Record length in characters")).to_be_visible()
    expect(card.get_by_role("img", name="Images per resolution")).to_be_visible()
    expect(card.get_by_text("No synthetic signals found.")).to_be_visible()
    card.screenshot(path=str(artifacts / "quality-card.png"))

    page.goto(f"{live_server.url}/catalog/{generated.dataset.slug}/")
    expect(page.get_by_text("C2PA manifest by Test Image Generator")).to_be_visible()

    page.goto(f"{live_server.url}/catalog/")
    expect(page.get_by_role("link", name="Studio renders")).to_be_visible()
    page.get_by_label("Human-made: no synthetic signals measured").check()
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("link", name="Harbour sketches")).to_be_visible()
    expect(page.get_by_role("link", name="Studio renders")).to_have_count(0)
    page.screenshot(path=str(artifacts / "catalog-no-synthetic.png"), full_page=True)


def test_a_buyer_sees_overlap_with_its_licenses_and_filters_it_out(
    live_server, page, make_listing, cast, login, artifacts
):
    body = assets.jsonl(assets.text_records(120, seed=91))
    original = make_listing("Tide tables", files={"tides.jsonl": body})
    make_listing(
        "Ocean almanac",
        files={"almanac.jsonl": body + assets.jsonl(assets.text_records(30, seed=92))},
        organization=cast.outsider_org,
        actor=cast.outsider,
    )
    make_listing("River songs", files={"songs.jsonl": assets.jsonl(assets.text_records(50))})
    for listing in Listing.objects.all():
        measure_quality(version_id=listing.version_id)
    grant_license(
        organization=cast.buyer_org,
        version=original.version,
        terms={"permitted_uses": ["evaluation"]},
        source="order:ord_browser_overlap",
    )

    login(page, "buyer@example.test", PASSWORD)
    page.goto(f"{live_server.url}/catalog/ocean-almanac/")
    notice = page.get_by_role("region", name="Overlap with your licenses")
    expect(notice).to_contain_text("80.0% overlap with Tide tables")

    page.goto(f"{live_server.url}/catalog/")
    expect(page.get_by_role("link", name="Ocean almanac")).to_be_visible()
    page.get_by_label("No overlap with my licenses").check()
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("link", name="River songs")).to_be_visible()
    expect(page.get_by_role("link", name="Ocean almanac")).to_have_count(0)
    expect(page.get_by_role("link", name="Tide tables")).to_have_count(0)
    page.screenshot(path=str(artifacts / "catalog-no-overlap.png"), full_page=True)
