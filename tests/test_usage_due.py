"""Missing usage reports: licenses with caps or metered prices report monthly; a month without
a report is flagged once, after a grace period, to both sides and staff."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.conf import settings

from accounts.models import Event, Notification
from licensing import services, tasks, usage
from licensing.models import UsageReportReminder

# Granted on 20 January; January's report is due by 10 February (10 days' grace).
GRANTED = datetime(2026, 1, 20, 9, 0, tzinfo=UTC)


def grant(cast, make_listing, title="Coastal tales", **terms):
    listing = make_listing(title=title)
    base = {"permitted_uses": ["training"], "price_model": "flat", "price_minor": 100}
    return services.grant_license(
        organization=cast.buyer_org,
        version=listing.version,
        terms={**base, **terms},
        source=f"test:{listing.pk}",
        now=GRANTED,
    )


def test_monthly_periods_start_at_the_grant_and_wait_for_the_grace():
    periods = usage.monthly_periods(
        starts_on=date(2026, 1, 20), today=date(2026, 3, 12), grace_days=10
    )
    assert periods == [
        (date(2026, 1, 20), date(2026, 1, 31)),
        (date(2026, 2, 1), date(2026, 2, 28)),
    ]
    assert (
        usage.monthly_periods(starts_on=date(2026, 1, 20), today=date(2026, 2, 10), grace_days=10)
        == []
    )


def test_a_missing_report_is_flagged_once_to_both_sides_and_staff(cast, make_listing):
    license = grant(cast, make_listing, seat_cap=2)
    now = datetime(2026, 2, 11, 6, 0, tzinfo=UTC)
    assert usage.flag_missing_reports(now=now) == 1
    assert usage.flag_missing_reports(now=now + timedelta(hours=1)) == 0
    reminder = UsageReportReminder.objects.get()
    assert (reminder.license, reminder.period_start_on, reminder.period_end_on) == (
        license,
        date(2026, 1, 20),
        date(2026, 1, 31),
    )
    events = Event.objects.filter(type="usage_report.due")
    assert {event.organization for event in events} == {cast.buyer_org, cast.creator_org}
    assert all(event.data["period_start_on"] == "2026-01-20" for event in events)
    told = list(
        Notification.objects.filter(verb="usage_report.due").values_list(
            "recipient__email", flat=True
        )
    )
    assert sorted(set(told)) == sorted(told)  # once each
    assert {"buyer@example.test", "creator@example.test", "reviewer@example.test"} <= set(told)


def test_a_reported_month_or_a_license_without_obligation_is_not_flagged(cast, make_listing):
    metered = grant(cast, make_listing, price_model="metered", price_minor=5)
    grant(cast, make_listing, title="Plain flat")  # no caps, flat price: reports when it wishes
    usage.file_usage_report(
        actor=cast.buyer,
        organization=cast.buyer_org,
        license=metered,
        period_start_on=date(2026, 1, 25),
        period_end_on=date(2026, 1, 31),
        purpose="training",
        records_used=10,
        now=datetime(2026, 2, 2, tzinfo=UTC),
    )
    assert usage.flag_missing_reports(now=datetime(2026, 2, 20, tzinfo=UTC)) == 0
    assert usage.flag_missing_reports(now=datetime(2026, 3, 11, 1, tzinfo=UTC)) == 1
    assert UsageReportReminder.objects.get().period_start_on == date(2026, 2, 1)


def test_suspended_licenses_are_not_chased(cast, make_listing):
    license = grant(cast, make_listing, model_cap=1)
    services.change_license_status(license=license, status="suspended", reason="Claim.")
    assert usage.flag_missing_reports(now=datetime(2026, 4, 1, tzinfo=UTC)) == 0


def test_the_beat_schedule_runs_the_sweep(cast, make_listing, monkeypatch):
    entry = settings.CELERY_BEAT_SCHEDULE["flag-missing-usage-reports"]
    assert entry["task"] == tasks.flag_missing_usage_reports_task.name
    grant(cast, make_listing, seat_cap=1)
    monkeypatch.setattr("django.utils.timezone.now", lambda: datetime(2026, 2, 15, tzinfo=UTC))
    assert tasks.flag_missing_usage_reports_task.delay().get(timeout=30) == 1


@pytest.mark.parametrize("grace", [0, 20])
def test_the_grace_period_is_a_setting(cast, make_listing, settings, grace):
    settings.USAGE_REPORT_GRACE_DAYS = grace
    grant(cast, make_listing, seat_cap=1)
    flagged = usage.flag_missing_reports(now=datetime(2026, 2, 15, tzinfo=UTC))
    assert flagged == (1 if grace < 14 else 0)
