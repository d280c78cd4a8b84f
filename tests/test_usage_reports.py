"""Usage reports: buyers report usage per license through the API; each report is checked
against the license's caps and permitted uses, metered licenses are billed from reports, and
other organizations' licenses answer 404."""

import threading
from datetime import UTC, date, datetime, timedelta

import pytest

from accounts.models import Event, Notification
from licensing import services, usage
from licensing.models import License, UsageReport
from provenance.models import LedgerEntry

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
STARTED = NOW - timedelta(days=60)


def grant(cast, make_listing, **terms) -> License:
    listing = make_listing(title=terms.pop("title", "Coastal tales"))
    base = {
        "permitted_uses": ["training", "evaluation"],
        "commercial_use": False,
        "term_days": 365,
        "territories": ["worldwide"],
        "is_exclusive": False,
        "attribution_required": False,
        "model_cap": None,
        "seat_cap": None,
        "price_model": "flat",
        "price_minor": 10_000,
        "currency": "USD",
    }
    return services.grant_license(
        organization=cast.buyer_org,
        version=listing.version,
        terms={**base, **terms},
        source=f"test:{listing.pk}",
        now=STARTED,
    )


def report_body(**changes) -> dict:
    body = {
        "period_start_on": "2026-02-01",
        "period_end_on": "2026-02-28",
        "purpose": "training",
        "models_trained": ["tide-small"],
        "records_used": 1500,
        "tokens_used": 90_000,
        "seats": 1,
        "note": "February run.",
    }
    body.update(changes)
    return body


@pytest.fixture
def license(cast, make_listing):
    return grant(cast, make_listing, model_cap=2, seat_cap=3)


@pytest.fixture
def buyer_api(api_client, cast, key_for):
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.buyer_org)}")
    return api_client


@pytest.fixture
def frozen(monkeypatch):
    """The API reads the clock; pin it to NOW."""
    monkeypatch.setattr("django.utils.timezone.now", lambda: NOW)


def url(license) -> str:
    return f"/api/v1/licenses/{license.pk}/usage-reports/"


def test_buyer_files_a_report_within_the_terms(buyer_api, license, frozen):
    response = buyer_api.post(url(license), report_body(), format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["id"].startswith("urp_")
    assert data["status"] == "ok" and data["breach_reasons"] == []
    assert data["models_trained"] == ["tide-small"]
    assert data["records_used"] == 1500 and data["tokens_used"] == 90_000
    assert data["billable_minor"] == 0
    assert data["api_key"] is not None
    report = UsageReport.objects.get(pk=data["id"])
    assert report.api_key is not None and report.organization == license.organization
    entry = LedgerEntry.objects.filter(subject_id=report.pk).get()
    assert entry.action == "usage_report.filed"
    assert entry.payload["license"] == license.pk
    assert not Event.objects.filter(type="usage_report.breach").exists()


def test_every_filed_report_is_announced_to_the_licensee_and_the_licensor(
    buyer_api, cast, license, frozen
):
    within = buyer_api.post(url(license), report_body(), format="json").json()
    breach = buyer_api.post(
        url(license),
        report_body(period_start_on="2026-03-01", period_end_on="2026-03-10", purpose="retrieval"),
        format="json",
    ).json()
    filed = Event.objects.filter(type="usage_report.filed")
    assert sorted((e.organization.slug, e.data["usage_report"]) for e in filed) == sorted(
        [
            ("buyers", within["id"]),
            ("creators", within["id"]),
            ("buyers", breach["id"]),
            ("creators", breach["id"]),
        ]
    )
    event = filed.filter(organization=cast.creator_org, data__usage_report=within["id"]).get()
    assert event.data == {
        "license": license.pk,
        "usage_report": within["id"],
        "status": "ok",
        "period_start_on": "2026-02-01",
        "period_end_on": "2026-02-28",
    }
    assert not filed.filter(organization=cast.outsider_org).exists()
    assert Event.objects.filter(type="usage_report.breach").count() == 2


def test_reports_are_listed_oldest_first_in_stable_cursor_pages(buyer_api, cast, license, frozen):
    for month in (2, 3):
        usage.file_usage_report(
            actor=cast.buyer,
            organization=cast.buyer_org,
            license=license,
            period_start_on=date(2026, month, 1),
            period_end_on=date(2026, month, 14),
            purpose="evaluation",
            now=NOW,
        )
    first = buyer_api.get(url(license), {"page_size": 1}).json()
    assert first["count"] == 2
    assert first["results"][0]["period_start_on"] == "2026-02-01"
    second = buyer_api.get(first["next"]).json()
    assert second["results"][0]["period_start_on"] == "2026-03-01"
    assert second["next"] is None


def test_a_report_outside_the_permitted_uses_and_caps_is_a_breach_told_to_everyone(
    buyer_api, cast, license, frozen
):
    body = report_body(
        purpose="retrieval", models_trained=["a", "b", "c"], seats=5, note="Over the caps."
    )
    response = buyer_api.post(url(license), body, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["status"] == "breach"
    assert [item["code"] for item in data["breach_reasons"]] == [
        "purpose_not_permitted",
        "model_cap_exceeded",
        "seat_cap_exceeded",
    ]
    events = Event.objects.filter(type="usage_report.breach")
    assert {event.organization for event in events} == {cast.buyer_org, cast.creator_org}
    assert all(event.data["usage_report"] == data["id"] for event in events)
    told = set(
        Notification.objects.filter(verb="usage_report.breach").values_list(
            "recipient__email", flat=True
        )
    )
    assert {"buyer@example.test", "creator@example.test", "reviewer@example.test"} <= told
    assert "outsider@example.test" not in told
    entry = LedgerEntry.objects.get(subject_id=data["id"])
    assert entry.action == "usage_report.breach"
    assert entry.payload["breaches"] == [
        "purpose_not_permitted",
        "model_cap_exceeded",
        "seat_cap_exceeded",
    ]


def test_the_model_cap_counts_models_across_reports(cast, license):
    def report(number, names):
        start = date(2026, 2, 1) + timedelta(days=10 * (number - 1))
        return usage.file_usage_report(
            actor=cast.buyer,
            organization=cast.buyer_org,
            license=license,
            period_start_on=start,
            period_end_on=start + timedelta(days=9),
            purpose="training",
            models_trained=names,
            now=NOW,
        )

    assert report(1, ["Tide-1", "tide-1 "]).status == "ok"  # one model, spelled twice
    assert report(2, ["tide-2", "TIDE-1"]).status == "ok"
    third = report(3, ["tide-3"])
    assert third.status == "breach"
    assert third.breach_reasons[0]["code"] == "model_cap_exceeded"
    assert "3 models" in third.breach_reasons[0]["message"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"period_start_on": "2026-02-10", "period_end_on": "2026-02-01"}, "period_end_on"),
        ({"period_end_on": "2026-03-16"}, "period_end_on"),
        ({"period_start_on": "2026-01-01", "period_end_on": "2026-01-05"}, "period_start_on"),
        ({"purpose": "resale"}, "purpose"),
        ({"records_used": -1}, "records_used"),
        ({"tokens_used": 10**30}, "tokens_used"),
        ({"seats": 2**40}, "seats"),
        ({"seats": "many"}, "seats"),
        ({"models_trained": "tide"}, "models_trained"),
        ({"period_start_on": "yesterday"}, "period_start_on"),
    ],
)
def test_a_bad_report_is_refused_naming_the_field_and_saves_nothing(
    buyer_api, license, frozen, changes, field
):
    # The license started on 2026-01-14 (STARTED); today is 2026-03-15.
    response = buyer_api.post(url(license), report_body(**changes), format="json")
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    assert field in response.json()["errors"]
    assert not UsageReport.objects.exists()
    assert not LedgerEntry.objects.filter(action__startswith="usage_report").exists()


def test_a_period_overlapping_an_earlier_report_is_refused(buyer_api, license, frozen):
    assert buyer_api.post(url(license), report_body(), format="json").status_code == 201
    again = report_body(period_start_on="2026-02-28", period_end_on="2026-03-10")
    response = buyer_api.post(url(license), again, format="json")
    assert response.status_code == 400
    problem = response.json()
    assert "period_start_on" in problem["errors"]
    assert "overlaps" in problem["detail"]
    assert UsageReport.objects.count() == 1
    later = report_body(period_start_on="2026-03-01", period_end_on="2026-03-10")
    assert buyer_api.post(url(license), later, format="json").status_code == 201


@pytest.mark.parametrize("status", ["suspended", "revoked", "expired"])
def test_an_inactive_license_refuses_new_reports_with_409(buyer_api, license, frozen, status):
    services.change_license_status(license=license, status=status, reason="Test.", now=STARTED)
    response = buyer_api.post(url(license), report_body(), format="json")
    assert response.status_code == 409
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["code"] == "license_not_active"
    assert not UsageReport.objects.exists()


def test_another_organization_gets_404_on_reports_of_a_license_it_does_not_hold(
    api_client, cast, key_for, license, frozen
):
    usage.file_usage_report(
        actor=cast.buyer,
        organization=cast.buyer_org,
        license=license,
        period_start_on=date(2026, 2, 1),
        period_end_on=date(2026, 2, 2),
        purpose="training",
        now=NOW,
    )
    for organization in (cast.outsider_org, cast.creator_org):
        api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(organization)}")
        assert api_client.get(url(license)).status_code == 404
        response = api_client.post(url(license), report_body(), format="json")
        assert response.status_code == 404
    assert UsageReport.objects.count() == 1


def test_the_service_refuses_another_organizations_license(cast, license):
    with pytest.raises(usage.NotFound):
        usage.file_usage_report(
            actor=cast.outsider,
            organization=cast.outsider_org,
            license=license,
            period_start_on=date(2026, 2, 1),
            period_end_on=date(2026, 2, 2),
            purpose="training",
            now=NOW,
        )


def test_posting_needs_the_usage_write_scope_and_listing_licenses_read(
    api_client, cast, key_for, license, frozen
):
    api_client.credentials(
        HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.buyer_org, ['licenses:read'])}"
    )
    assert api_client.get(url(license)).status_code == 200
    assert api_client.post(url(license), report_body(), format="json").status_code == 403
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.buyer_org, ['usage:write'])}")
    assert api_client.get(url(license)).status_code == 403
    assert api_client.post(url(license), report_body(), format="json").status_code == 201


def test_a_retried_report_with_the_same_idempotency_key_is_filed_once(buyer_api, license, frozen):
    first = buyer_api.post(url(license), report_body(), format="json", HTTP_IDEMPOTENCY_KEY="u-1")
    again = buyer_api.post(url(license), report_body(), format="json", HTTP_IDEMPOTENCY_KEY="u-1")
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert UsageReport.objects.count() == 1


def test_metered_reports_bill_exactly_on_the_running_total(cast, make_listing):
    # 7 cents per 1,000 records: 1,500 + 1,500 + 1 records = 3,001 -> 21 cents in all.
    license = grant(cast, make_listing, price_model="metered", price_minor=7, currency="EUR")
    charges = []
    for month, records in ((1, 1500), (2, 1500), (3, 1)):
        report = usage.file_usage_report(
            actor=cast.buyer,
            organization=cast.buyer_org,
            license=license,
            period_start_on=date(2026, month, 15),
            period_end_on=date(2026, month, 20),
            purpose="training",
            records_used=records,
            now=NOW + timedelta(days=31 * month),
        )
        charges.append(report.billable_minor)
        assert report.currency == "EUR"
    assert charges == [10, 11, 0]
    assert sum(charges) == 3001 * 7 // 1000


def test_metered_charge_never_loses_or_doubles_a_cent():
    for unit_price in (1, 7, 333, 12_345):
        billed, records_before = 0, 0
        for records in (1, 999, 1000, 1, 0, 123_456, 7):
            billed += usage.metered_charge(
                unit_price_minor=unit_price,
                records_before=records_before,
                records=records,
                billed_before=billed,
            )
            records_before += records
        assert billed == records_before * unit_price // 1000


def test_an_agreement_license_is_checked_against_its_nested_terms(cast, make_listing):
    listing = make_listing(title="Agreed")
    license = services.grant_license(
        organization=cast.buyer_org,
        version=listing.version,
        terms={"offer": "off_x", "terms": {"permitted_uses": ["evaluation"], "seat_cap": 1}},
        source="agreement:test",
        now=STARTED,
    )
    report = usage.file_usage_report(
        actor=cast.buyer,
        organization=cast.buyer_org,
        license=license,
        period_start_on=date(2026, 2, 1),
        period_end_on=date(2026, 2, 2),
        purpose="training",
        seats=2,
        now=NOW,
    )
    assert [item["code"] for item in report.breach_reasons] == [
        "purpose_not_permitted",
        "seat_cap_exceeded",
    ]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_reports_for_one_period_file_exactly_one(cast, make_listing, on_postgres):
    from django.db import connection

    from tests.helpers import require

    require(on_postgres, "row locks need PostgreSQL")
    license = grant(cast, make_listing, price_model="metered", price_minor=9)
    attempts = 8
    barrier = threading.Barrier(attempts)
    filed, refused, failed = [], [], []

    def report():
        try:
            barrier.wait()
            filed.append(
                usage.file_usage_report(
                    actor=cast.buyer,
                    organization=cast.buyer_org,
                    license=license,
                    period_start_on=date(2026, 2, 1),
                    period_end_on=date(2026, 2, 28),
                    purpose="training",
                    records_used=1000,
                    now=NOW,
                )
            )
        except usage.InvalidInput as error:
            refused.append(error)
        except Exception as error:
            failed.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=report) for _ in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failed == []
    assert len(filed) == 1 and len(refused) == attempts - 1
    assert all("period_start_on" in error.errors for error in refused)
    assert UsageReport.objects.get().billable_minor == 9
