"""Negotiation in real Chromium: a buyer searches, narrows with two facets, opens a dataset,
downloads its ODRL terms and proposes terms; the creator counters in another browser; the buyer
accepts; both see the same agreement hash; the buyer checks out at the agreed price."""

import hashlib
import json
import re

import pytest
from playwright.sync_api import expect

from licensing.models import Agreement
from marketplace.models import Order
from provenance.models import canonical_json
from tests.factories import PASSWORD

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("stripe_settings"),
]


def log_in(page, live_server, email: str):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).not_to_have_url(re.compile(r"/accounts/login/"))
    expect(page.get_by_role("link", name="Offers", exact=True)).to_be_visible()


def facet(page, group: str, label: str):
    return page.locator(f'[data-facet-group="{group}"]').get_by_role(
        "link", name=re.compile(rf"^{re.escape(label)} \(\d+\)")
    )


def test_a_buyer_and_a_creator_negotiate_into_one_agreement_and_check_out(
    live_server, browser, cast, make_listing, artifacts
):
    make_listing("Harbour tide logs", summary="Tide readings from the harbour.", uses=("training",))
    make_listing("Harbour tide logs in French", languages=("fr",), uses=("training",))
    make_listing(
        "Harbour soundscapes",
        modality="audio",
        files={"a.wav": b"RIFF"},
        summary="Harbour sounds.",
    )
    make_listing("Inland tales", summary="Stories from far inland.")
    buyer = browser.new_context().new_page()
    creator = browser.new_context().new_page()

    # The buyer searches, then narrows with two facets.
    log_in(buyer, live_server, "buyer@example.test")
    buyer.get_by_role("link", name="Catalog", exact=True).click()
    buyer.get_by_label("Search").fill("harbour")
    buyer.get_by_role("button", name="Apply").click()
    expect(buyer.get_by_text("3 datasets with reviewed provenance")).to_be_visible()
    facet(buyer, "modality", "Text").click()
    expect(buyer.get_by_text("2 datasets with reviewed provenance")).to_be_visible()
    facet(buyer, "language", "en").click()
    expect(buyer.get_by_text("1 dataset with reviewed provenance")).to_be_visible()
    expect(buyer.get_by_role("link", name="Harbour tide logs in French")).to_have_count(0)
    buyer.screenshot(path=str(artifacts / "negotiation-search.png"), full_page=True)

    # It opens the dataset and reads the list option's terms, also as ODRL.
    buyer.get_by_role("link", name="Harbour tide logs", exact=True).click()
    expect(buyer).to_have_url(re.compile(r"/catalog/harbour-tide-logs/$"))
    expect(buyer.get_by_role("heading", name="Lineage")).to_be_visible()
    with buyer.expect_download() as download_info:
        buyer.get_by_role("link", name="Download ODRL (JSON-LD)").click()
    policy = json.loads(download_info.value.path().read_text())
    assert policy["@type"] == "Offer" and policy["permission"][0]["action"] == "use"
    buyer.screenshot(path=str(artifacts / "negotiation-dataset.png"), full_page=True)

    # No option fits: it proposes its own terms.
    buyer.get_by_role("link", name="Propose terms").click()
    buyer.get_by_label("Training models from scratch").check()
    buyer.get_by_label("Price (major units)").fill("1200.00")
    buyer.get_by_label("Term in days (empty for perpetual)").fill("365")
    buyer.get_by_label("Message").fill("We would like to train a harbour model.")
    buyer.get_by_role("button", name="Send offer").click()
    expect(buyer).to_have_url(re.compile(r"/library/offers/off_"))
    expect(buyer.get_by_text("Your offer is with the creator.")).to_be_visible()
    expect(buyer.get_by_text("Waiting for the other side to answer.")).to_be_visible()

    # The creator finds the thread through the navigation and counters.
    log_in(creator, live_server, "creator@example.test")
    creator.get_by_role("link", name="Offers", exact=True).click()
    creator.get_by_role("link", name="Harbour tide logs").click()
    expect(creator.get_by_text("We would like to train a harbour model.")).to_be_visible()
    counter = creator.get_by_role("form", name="Counter")
    counter.get_by_label("Price (major units)").fill("1500.00")
    counter.get_by_label("Message").fill("The tides took a while to record.")
    counter.get_by_role("button", name="Send counter-proposal").click()
    expect(creator.get_by_text("Waiting for the other side to answer.")).to_be_visible()
    creator.screenshot(path=str(artifacts / "negotiation-counter.png"), full_page=True)

    # The buyer sees what changed and accepts.
    buyer.reload()
    changes = buyer.get_by_role("table", name="Changes")
    expect(changes).to_contain_text("$1,200.00")
    expect(changes).to_contain_text("$1,500.00")
    buyer.get_by_role("button", name="Accept these terms").click()
    expect(buyer.locator("#offer-status")).to_have_text("Accepted")
    buyer_hash = buyer.locator("#agreement-hash").inner_text()
    buyer.screenshot(path=str(artifacts / "negotiation-agreement-buyer.png"), full_page=True)

    creator.reload()
    expect(creator.locator("#offer-status")).to_have_text("Accepted")
    creator_hash = creator.locator("#agreement-hash").inner_text()
    expect(creator.get_by_text("Waiting for Buyers to check out")).to_be_visible()
    creator.screenshot(path=str(artifacts / "negotiation-agreement-creator.png"), full_page=True)

    agreement = Agreement.objects.get()
    assert buyer_hash == creator_hash == agreement.terms_sha256
    assert buyer_hash == hashlib.sha256(canonical_json(agreement.terms)).hexdigest()
    assert agreement.price_minor == 150_000

    # The buyer is led on to checkout at the agreed price.
    buyer.get_by_role("link", name="Check out at the agreed price").click()
    expect(buyer.locator("#agreed-price")).to_have_text("$1,500.00")
    expect(buyer.locator("#checkout-agreement-hash")).to_have_text(buyer_hash)
    buyer.get_by_role("radio", name="Card").check()
    buyer.get_by_label("Test card").select_option("4242424242424242")
    buyer.get_by_role("button", name="Place order and pay").click()
    expect(buyer).to_have_url(re.compile(r"/library/orders/ord_"))
    expect(buyer.get_by_text("Payment received")).to_be_visible()
    expect(buyer.get_by_text(f"{agreement.pk}, at the agreed price")).to_be_visible()
    buyer.screenshot(path=str(artifacts / "negotiation-order.png"), full_page=True)
    order = Order.objects.get()
    assert (order.agreement_id, order.amount_minor) == (agreement.pk, 150_000)
    assert order.terms_sha256 == buyer_hash
