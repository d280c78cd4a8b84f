"""A reviewer sends a submission back, the creator resubmits, the reviewer approves it."""

import pytest
from playwright.sync_api import expect

from tests.factories import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_reviewer_requests_changes_then_approves_and_the_listing_appears(
    live_server, page, login, cast, make_listing
):
    version = make_listing("Lighthouse diaries", publish=False)
    login(page, cast.reviewer.email, PASSWORD)
    page.goto(f"{live_server.url}/review/")
    page.get_by_role("link", name="Lighthouse diaries v1").click()
    expect(page.get_by_role("heading", name="Provenance declaration")).to_be_visible()
    page.get_by_label("Changes requested").check()
    page.get_by_label("Reason (the creator reads this)").fill("Attach the keepers' consent.")
    page.get_by_role("button", name="Record decision").click()
    expect(page.get_by_text("Nothing is waiting for review.")).to_be_visible()

    page.context.clear_cookies()
    login(page, cast.creator.email, PASSWORD)
    page.goto(f"{live_server.url}/creator/versions/{version.pk}/")
    expect(page.get_by_test_id("review-decision")).to_contain_text("Attach the keepers' consent.")
    page.get_by_role("button", name="Submit for review").click()
    expect(page.get_by_test_id("version-status")).to_have_text("Submitted for review")

    page.context.clear_cookies()
    login(page, cast.reviewer.email, PASSWORD)
    page.goto(f"{live_server.url}/review/versions/{version.pk}/")
    page.get_by_label("Approved").check()
    page.get_by_label("Reason (the creator reads this)").fill("Consent attached.")
    for label in (
        "The rights holder matches the evidence",
        "The consent basis is plausible",
        "Authorship (human, synthetic or hybrid) is declared",
        "No personal data is visible in the samples",
    ):
        page.get_by_label(label).check()
    page.get_by_role("button", name="Record decision").click()
    expect(page.get_by_text("Nothing is waiting for review.")).to_be_visible()

    page.goto(f"{live_server.url}/catalog/")
    expect(page.get_by_role("link", name="Lighthouse diaries").first).to_be_visible()
