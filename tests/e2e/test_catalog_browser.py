import re

import pytest
from playwright.sync_api import expect

from tests.factories import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_visitor_browses_filters_and_opens_a_dataset(live_server, page, make_listing, artifacts):
    make_listing("Coastal folk tales", modality="text", summary="Tales from the coast.")
    make_listing("Bike counter readings", modality="tabular", summary="Daily counts.")
    page.goto(live_server.url + "/")
    expect(
        page.get_by_role("heading", name="Human-made data, licensed with proof.")
    ).to_be_visible()
    page.get_by_role("link", name="Catalog", exact=True).click()
    expect(page.get_by_text("2 datasets with reviewed provenance")).to_be_visible()
    page.get_by_label("Modality").select_option("tabular")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("link", name="Bike counter readings")).to_be_visible()
    expect(page.get_by_role("link", name="Coastal folk tales")).to_have_count(0)
    page.get_by_role("link", name="Bike counter readings").click()
    expect(page).to_have_url(re.compile(r"/catalog/bike-counter-readings/$"))
    expect(page.get_by_role("heading", name="License options")).to_be_visible()
    expect(page.get_by_role("cell", name="data/records.jsonl")).to_be_visible()
    page.screenshot(path=str(artifacts / "dataset-page.png"), full_page=True)


def test_a_creator_logs_in_and_sees_only_their_datasets(
    live_server, page, cast, make_listing, login
):
    make_listing("Our tales")
    make_listing("Their tales", organization=cast.outsider_org, actor=cast.outsider)
    login(page, "creator@example.test", PASSWORD)
    page.get_by_role("link", name="Creator portal").click()
    expect(page.get_by_text("Our tales")).to_be_visible()
    expect(page.get_by_text("Their tales")).to_have_count(0)
