"""A rights claim is filed on a listing and upheld: the listing goes, the buyer sees the flag."""

import pytest
from playwright.sync_api import expect

from licensing.services import grant_license
from tests.factories import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_an_upheld_claim_hides_the_listing_and_flags_the_buyers_license(
    live_server, page, login, cast, make_listing
):
    listing = make_listing("Foghorn recordings")
    license = grant_license(
        organization=cast.buyer_org,
        version=listing.version,
        terms={"permitted_uses": ["evaluation"]},
        source="e2e:claim",
    )
    page.goto(f"{live_server.url}/catalog/{listing.dataset.slug}/")
    page.get_by_role("link", name="Claim rights over this dataset").click()
    page.get_by_label("Your name").fill("Ada Lens")
    page.get_by_label("Your email").fill("ada@example.test")
    page.get_by_label("Basis of the claim").select_option("copyright")
    page.get_by_label("What do you hold rights in, and why?").fill(
        "I recorded these foghorns in 2011 and never licensed them."
    )
    page.get_by_role("button", name="File the claim").click()
    expect(page.get_by_text("Your claim was filed.")).to_be_visible()

    login(page, cast.reviewer.email, PASSWORD)
    page.goto(f"{live_server.url}/review/claims/")
    page.get_by_role("link", name="Foghorn recordings").click()
    page.get_by_label("Reason").fill("The 2011 recordings match the samples.")
    page.get_by_role("button", name="Uphold and suspend").click()
    expect(page.locator("#claim-status")).to_have_text("Upheld")

    page.goto(f"{live_server.url}/catalog/")
    expect(page.get_by_role("link", name="Foghorn recordings")).to_have_count(0)

    page.context.clear_cookies()
    login(page, cast.buyer.email, PASSWORD)
    page.goto(f"{live_server.url}/library/licenses/{license.pk}/")
    expect(page.locator("#license-flag")).to_contain_text("rights claim on Foghorn recordings")
