"""A buyer checks out a list-price license with a test card against localstripe, downloads a file,
and the public verify page follows the license from valid to revoked after a staff refund."""

import re

import pytest
from playwright.sync_api import expect

from tests.factories import PASSWORD

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("stripe_settings"),
]


def test_a_buyer_buys_downloads_verifies_and_loses_access_after_a_refund(
    live_server, page, cast, make_listing, login, artifacts
):
    make_listing("Coastal tales", files={"data/records.csv": b"id,text\n1,one\n2,two\n"})
    login(page, "buyer@example.test", PASSWORD)
    page.goto(f"{live_server.url}/catalog/coastal-tales/")
    page.get_by_role("link", name="Buy Standard").click()
    expect(page.locator("#test-mode")).to_contain_text("Test mode")
    page.get_by_role("radio", name="Card").check()
    page.get_by_label("Test card").select_option("4242424242424242")
    page.screenshot(path=str(artifacts / "checkout.png"), full_page=True)
    page.get_by_role("button", name="Place order and pay").click()
    expect(page).to_have_url(re.compile(r"/library/orders/ord_"))
    expect(page.get_by_text("Payment received")).to_be_visible()
    page.get_by_role("link", name=re.compile("Open license")).click()
    expect(page.locator("#license-status")).to_have_text("Active")
    expect(page.get_by_role("link", name="Signed JSON")).to_be_visible()
    page.screenshot(path=str(artifacts / "license.png"), full_page=True)

    link = page.get_by_role("link", name="data/records.csv")
    download_url = link.get_attribute("href")
    with page.expect_download() as download_info:
        link.click()
    downloaded = download_info.value.path().read_bytes()
    assert downloaded.replace(b"\r\n", b"\n") == b"id,text\n1,one\n2,two\n"

    page.goto(f"{live_server.url}/library/licenses/")
    expect(page.get_by_role("link", name=re.compile(r"^lic_"))).to_have_count(1)
    page.get_by_role("link", name=re.compile(r"^lic_")).click()
    page.get_by_role("link", name="Check it").click()
    expect(page.locator("#verify-result")).to_contain_text("Valid and active")
    page.screenshot(path=str(artifacts / "verify-valid.png"), full_page=True)

    page.context.clear_cookies()
    login(page, "reviewer@example.test", PASSWORD)
    page.goto(f"{live_server.url}/review/orders/")
    page.get_by_role("button", name="Refund").click()
    expect(page.get_by_text("refunded.")).to_be_visible()
    page.screenshot(path=str(artifacts / "staff-refund.png"), full_page=True)

    page.context.clear_cookies()
    from licensing.models import License

    license_id = License.objects.get().pk
    page.goto(f"{live_server.url}/verify/?license={license_id}")
    expect(page.locator("#verify-result")).to_contain_text("revoked")
    page.screenshot(path=str(artifacts / "verify-revoked.png"), full_page=True)
    response = page.request.get(live_server.url + download_url)
    assert response.status == 403
