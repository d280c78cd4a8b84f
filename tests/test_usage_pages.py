"""Usage reports in the portals: the buyer files them on its license page (errors inline,
nothing saved on error), the creator reads them; everyone else gets 404."""

from datetime import timedelta

import pytest
from django.utils import timezone

from licensing import services, usage
from licensing.models import UsageReport
from provenance.models import LedgerEntry


@pytest.fixture
def license(cast, make_listing):
    listing = make_listing(uses=("training", "evaluation"))
    terms = {**listing.dataset.license_options.get().terms_dict(), "seat_cap": 2}
    return services.grant_license(
        organization=cast.buyer_org,
        version=listing.version,
        terms=terms,
        source="test:pages",
        now=timezone.now() - timedelta(days=40),
    )


def form_data(**changes) -> dict:
    today = timezone.now().date()
    data = {
        "period_start_on": (today - timedelta(days=30)).isoformat(),
        "period_end_on": (today - timedelta(days=1)).isoformat(),
        "purpose": "training",
        "models_trained": "gull-7b\nGULL-7B\ntern-1b",
        "records_used": "120",
        "tokens_used": "4000",
        "seats": "1",
        "note": "",
    }
    data.update(changes)
    return data


def page_url(license) -> str:
    return f"/library/licenses/{license.pk}/"


def post_url(license) -> str:
    return f"/library/licenses/{license.pk}/usage/"


def test_the_buyer_files_a_report_from_the_license_page(client, cast, license):
    client.force_login(cast.buyer)
    page = client.get(page_url(license)).content.decode()
    assert 'id="usage-form"' in page and "No usage reported yet." in page
    response = client.post(post_url(license), form_data())
    assert response.status_code == 302 and response["Location"] == page_url(license)
    report = UsageReport.objects.get()
    assert report.models_trained == ["gull-7b", "tern-1b"]
    assert report.reported_by == cast.buyer and report.api_key is None
    page = client.get(page_url(license)).content.decode()
    assert "gull-7b, tern-1b" in page and "Within terms" in page


def test_a_breach_is_flagged_in_the_list(client, cast, license):
    client.force_login(cast.buyer)
    client.post(post_url(license), form_data(purpose="retrieval", seats="5"))
    page = client.get(page_url(license)).content.decode()
    assert "usage-breach" in page and "Breach" in page
    assert "5 seats or deployments; the license allows 2." in page


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"period_end_on": "2000-01-01"}, "cannot end before it starts"),
        ({"period_end_on": "2999-01-01"}, "cannot end in the future"),
        ({"records_used": "-5"}, "greater than or equal to 0"),
        ({"purpose": "resale"}, "Select a valid choice"),
    ],
)
def test_a_bad_report_shows_its_error_inline_and_saves_nothing(
    client, cast, license, changes, message
):
    client.force_login(cast.buyer)
    response = client.post(post_url(license), form_data(**changes))
    assert response.status_code == 400
    page = response.content.decode()
    assert 'class="field field-invalid"' in page and message in page
    assert 'id="usage-form"' in page
    assert not UsageReport.objects.exists()
    assert not LedgerEntry.objects.filter(action__startswith="usage_report").exists()


def test_an_overlapping_period_is_refused_inline(client, cast, license):
    client.force_login(cast.buyer)
    assert client.post(post_url(license), form_data()).status_code == 302
    response = client.post(post_url(license), form_data())
    assert response.status_code == 400
    assert "overlaps report" in response.content.decode()
    assert UsageReport.objects.count() == 1


def test_a_suspended_license_takes_no_reports_in_the_portal(client, cast, license):
    services.change_license_status(license=license, status="suspended", reason="Claim.")
    client.force_login(cast.buyer)
    assert 'id="usage-form"' not in client.get(page_url(license)).content.decode()
    response = client.post(post_url(license), form_data())
    assert response.status_code == 400
    assert "takes no new usage reports" in response.content.decode()
    assert not UsageReport.objects.exists()


def test_the_creator_reads_reports_on_licenses_it_sold(client, cast, license):
    usage.file_usage_report(
        actor=cast.buyer,
        organization=cast.buyer_org,
        license=license,
        period_start_on=timezone.now().date() - timedelta(days=5),
        period_end_on=timezone.now().date(),
        purpose="training",
        models_trained=["gull-7b"],
    )
    client.force_login(cast.creator)
    page = client.get(f"/creator/sales/licenses/{license.pk}/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "gull-7b" in text and "<form" not in text.split('id="usage"')[1]
    # The creator cannot file reports on the buyer's license.
    assert client.post(post_url(license), form_data()).status_code == 404
    assert UsageReport.objects.count() == 1


def test_other_organizations_get_404_on_usage_pages(client, cast, license):
    client.force_login(cast.outsider)
    assert client.get(page_url(license)).status_code == 404
    assert client.post(post_url(license), form_data()).status_code == 404
    assert client.get(f"/creator/sales/licenses/{license.pk}/").status_code == 404
    client.force_login(cast.buyer)  # the buyer is not the creator of the dataset
    assert client.get(f"/creator/sales/licenses/{license.pk}/").status_code == 404
    assert not UsageReport.objects.exists()
