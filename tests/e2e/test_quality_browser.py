import pytest
from playwright.sync_api import expect

from provenance.quality.service import measure_quality
from tests import quality_assets as assets

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
