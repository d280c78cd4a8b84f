"""Usage reporting: buyers report what they did with licensed data; each report is checked
against the license's terms, billed when the license is metered, and a missing report is
flagged once per period.

Kept apart from services.py (offers, licenses, deliveries) because it is one concern with its
own rules; the royalty statements read `UsageReport.billable_minor` from here.
"""

import calendar
import logging
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet, Sum
from django.utils import timezone

from accounts.errors import Conflict, InvalidInput, NotFound
from accounts.models import ApiKey, Event, Organization, User
from accounts.services import emit_event, notify_organization, notify_reviewers
from licensing.models import License, PriceModel, UsageReport, UsageReportReminder, Use
from provenance.services import record_event

logger = logging.getLogger(__name__)

MAX_MODELS = 100
MAX_MODEL_NAME = 200
MAX_NOTE = 2000
# Upper bounds that keep counts far inside the database's integer columns.
MAX_COUNT = 10**15
MAX_SEATS = 10**6
# Metered prices are per this many units (records) used.
METERED_UNIT = 1000


def buyer_link(license: License) -> str:
    return f"/library/licenses/{license.pk}/"


def creator_link(license: License) -> str:
    return f"/creator/sales/licenses/{license.pk}/"


# --- Reading ----------------------------------------------------------------------------


def usage_reports_of(*, organization: Organization, license: License) -> QuerySet[UsageReport]:
    """The license's reports, oldest first, for its licensee or its licensor; none for others."""
    is_party = organization is not None and organization.pk in (
        license.organization_id,
        license.version.dataset.organization_id,
    )
    reports = (
        UsageReport.objects.filter(license=license) if is_party else UsageReport.objects.none()
    )
    return reports.select_related("reported_by", "api_key").order_by("created_at", "id")


def has_reporting_obligation(terms: dict) -> bool:
    """Licenses with a cap or a metered price report monthly; others report when they wish."""
    return bool(
        terms.get("model_cap")
        or terms.get("seat_cap")
        or terms.get("price_model") == PriceModel.METERED
    )


# --- Checks -----------------------------------------------------------------------------


def _model_key(name: str) -> str:
    return " ".join(name.split()).casefold()


def clean_models(names) -> list[str]:
    """Strip and deduplicate model names (case-insensitively), keeping the first spelling."""
    seen, cleaned = set(), []
    for name in names or []:
        text = " ".join(str(name).split())
        if text and _model_key(text) not in seen:
            seen.add(_model_key(text))
            cleaned.append(text)
    return cleaned


def period_errors(*, license: License, start: date, end: date, today: date) -> dict[str, list[str]]:
    """What is wrong with a reporting period, by field (empty when it is fine)."""
    errors: dict[str, list[str]] = {}
    license_starts = license.starts_at.date()
    if end < start:
        errors["period_end_on"] = ["The period cannot end before it starts."]
    elif end > today:
        errors["period_end_on"] = [
            f"The period cannot end in the future (today is {today.isoformat()}): report "
            "usage that happened."
        ]
    elif license.ends_at is not None and end > license.ends_at.date():
        errors["period_end_on"] = [
            f"The license ended on {license.ends_at.date().isoformat()}; the period must end "
            "by then."
        ]
    if start < license_starts:
        errors["period_start_on"] = [
            f"The license started on {license_starts.isoformat()}; the period cannot start "
            "before that."
        ]
    if not errors:
        overlapping = (
            UsageReport.objects.filter(
                license=license, period_start_on__lte=end, period_end_on__gte=start
            )
            .order_by("period_start_on")
            .first()
        )
        if overlapping is not None:
            errors["period_start_on"] = [
                f"This period overlaps report {overlapping.pk} "
                f"({overlapping.period_start_on.isoformat()} to "
                f"{overlapping.period_end_on.isoformat()}); report each day once."
            ]
    return errors


def breaches(
    *, terms: dict, purpose: str, models_trained: list[str], seats: int, earlier_models: list[str]
) -> list[dict]:
    """The ways a report breaks the terms: `[{"code", "message"}]`, empty when it keeps them."""
    found = []
    permitted = terms.get("permitted_uses") or []
    if purpose not in permitted:
        allowed = ", ".join(Use(use).label.lower() for use in permitted if use in Use.values)
        found.append(
            {
                "code": "purpose_not_permitted",
                "message": f"{Use(purpose).label} is not a permitted use "
                f"(permitted: {allowed or 'none'}).",
            }
        )
    model_cap = terms.get("model_cap")
    all_models = {_model_key(name) for name in [*earlier_models, *models_trained]}
    if model_cap and len(all_models) > model_cap:
        found.append(
            {
                "code": "model_cap_exceeded",
                "message": f"{len(all_models)} models reported in all; the license allows "
                f"{model_cap}.",
            }
        )
    seat_cap = terms.get("seat_cap")
    if seat_cap and seats > seat_cap:
        found.append(
            {
                "code": "seat_cap_exceeded",
                "message": f"{seats} seats or deployments; the license allows {seat_cap}.",
            }
        )
    return found


def metered_charge(*, unit_price_minor: int, records_before: int, records: int, billed_before: int):
    """The charge for `records` more records at `unit_price_minor` per 1,000.

    Billed on the license's running total, rounded down, so that the reports' charges always
    add up to exactly floor(total records x price / 1,000): no cent is lost or billed twice
    however the usage is split into reports.
    """
    total = (records_before + records) * unit_price_minor // METERED_UNIT
    return max(total - billed_before, 0)


# --- Filing -----------------------------------------------------------------------------


def file_usage_report(
    *,
    actor: User | None,
    organization: Organization,
    license: License,
    period_start_on: date,
    period_end_on: date,
    purpose: str,
    models_trained: list[str] | None = None,
    records_used: int = 0,
    tokens_used: int = 0,
    seats: int = 0,
    note: str = "",
    api_key: ApiKey | None = None,
    now: datetime | None = None,
) -> UsageReport:
    """File a usage report for one of the organization's licenses and check it against the terms.

    The license row is locked, so concurrent reports cannot both claim one period. Raises
    NotFound for another organization's license, Conflict (409) when the license is not active,
    InvalidInput naming the field for a bad period (reversed, in the future, outside the term,
    overlapping an earlier report) or purpose. Writes a `usage_report.filed` (or
    `usage_report.breach`) ledger entry. A breach notifies both organizations and staff and
    emits `usage_report.breach` to both organizations.
    """
    now = now or timezone.now()
    models_trained = clean_models(models_trained)
    note = (note or "").strip()
    errors: dict[str, list[str]] = {}
    if purpose not in Use.values:
        errors["purpose"] = [f"Choose one of {', '.join(Use.values)}."]
    if len(models_trained) > MAX_MODELS:
        errors["models_trained"] = [f"Report at most {MAX_MODELS} models at once."]
    elif any(len(name) > MAX_MODEL_NAME for name in models_trained):
        errors["models_trained"] = [f"A model name has at most {MAX_MODEL_NAME} characters."]
    for name, value, most in (
        ("records_used", records_used, MAX_COUNT),
        ("tokens_used", tokens_used, MAX_COUNT),
        ("seats", seats, MAX_SEATS),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= most:
            errors[name] = [f"Must be a whole number from 0 to {most}."]
    if len(note) > MAX_NOTE:
        errors["note"] = [f"At most {MAX_NOTE} characters."]
    with transaction.atomic():
        license = (
            License.objects.select_for_update(of=("self",))
            .select_related("organization", "version__dataset__organization")
            .filter(pk=license.pk, organization=organization)
            .first()
        )
        if license is None:
            raise NotFound("No such license.")
        if license.status != License.Status.ACTIVE or license.is_expired(now):
            status = "expired" if license.is_expired(now) else license.status
            raise Conflict(
                f"The license is {status}: it takes no new usage reports.",
                code="license_not_active",
            )
        errors = {
            **period_errors(
                license=license, start=period_start_on, end=period_end_on, today=now.date()
            ),
            **errors,
        }
        if errors:
            field, messages = next(iter(errors.items()))
            raise InvalidInput(f"{field}: {messages[0]}", errors=errors)
        terms = license.agreed_terms
        earlier = UsageReport.objects.filter(license=license)
        earlier_models = [
            name for names in earlier.values_list("models_trained", flat=True) for name in names
        ]
        found = breaches(
            terms=terms,
            purpose=purpose,
            models_trained=models_trained,
            seats=seats,
            earlier_models=earlier_models,
        )
        billable = 0
        if terms.get("price_model") == PriceModel.METERED:
            sums = earlier.aggregate(records=Sum("records_used"), billed=Sum("billable_minor"))
            billable = metered_charge(
                unit_price_minor=int(terms.get("price_minor") or 0),
                records_before=sums["records"] or 0,
                records=records_used,
                billed_before=sums["billed"] or 0,
            )
        report = UsageReport(
            license=license,
            organization=organization,
            period_start_on=period_start_on,
            period_end_on=period_end_on,
            purpose=purpose,
            models_trained=models_trained,
            records_used=records_used,
            tokens_used=tokens_used,
            seats=seats,
            note=note,
            reported_by=actor if actor is not None and actor.is_authenticated else None,
            api_key=api_key,
            status=UsageReport.Status.BREACH if found else UsageReport.Status.OK,
            breach_reasons=found,
            billable_minor=billable,
            currency=terms.get("currency") or "USD",
            created_at=now,
        )
        report.full_clean()
        report.save(force_insert=True)
        record_event(
            action="usage_report.breach" if found else "usage_report.filed",
            subject_type="usage_report",
            subject_id=report.pk,
            actor=report.reported_by,
            organization=organization,
            payload={
                "license": license.pk,
                "period": [period_start_on.isoformat(), period_end_on.isoformat()],
                "purpose": purpose,
                "models": len(models_trained),
                "records_used": records_used,
                "tokens_used": tokens_used,
                "seats": seats,
                "status": report.status,
                "breaches": [item["code"] for item in found],
                "billable_minor": billable,
                "currency": report.currency,
            },
            now=now,
        )
        _announce_filed(report, license, now)
        if found:
            _announce_breach(report, license, now)
    return report


def _announce_filed(report: UsageReport, license: License, now: datetime) -> None:
    """`usage_report.filed` to the licensee and the licensor, breach or not."""
    data = {
        "license": license.pk,
        "usage_report": report.pk,
        "status": report.status,
        "period_start_on": report.period_start_on.isoformat(),
        "period_end_on": report.period_end_on.isoformat(),
    }
    dataset = license.version.dataset
    parties = [license.organization]
    if dataset.organization_id != license.organization_id:
        parties.append(dataset.organization)
    for party in parties:
        emit_event(organization=party, type=Event.Type.USAGE_REPORT_FILED, data=data, now=now)


def _announce_breach(report: UsageReport, license: License, now: datetime) -> None:
    dataset = license.version.dataset
    reasons = "; ".join(item["message"] for item in report.breach_reasons)
    data = {
        "license": license.pk,
        "usage_report": report.pk,
        "dataset": dataset.pk,
        "reasons": [item["code"] for item in report.breach_reasons],
    }
    parties = [license.organization]
    if dataset.organization_id != license.organization_id:
        parties.append(dataset.organization)
    for party in parties:
        emit_event(organization=party, type=Event.Type.USAGE_REPORT_BREACH, data=data, now=now)
    period = f"{report.period_start_on.isoformat()} to {report.period_end_on.isoformat()}"
    notify_organization(
        organization=license.organization,
        verb="usage_report.breach",
        text=f"Your usage report for {dataset.title} ({period}) breaks the license terms: "
        f"{reasons}",
        link=buyer_link(license),
        now=now,
    )
    notify_organization(
        organization=dataset.organization,
        verb="usage_report.breach",
        text=f"{license.organization.name} reported usage of {dataset.title} ({period}) that "
        f"breaks license {license.pk}: {reasons}",
        link=creator_link(license),
        now=now,
    )
    notify_reviewers(
        verb="usage_report.breach",
        text=f"Usage breach on license {license.pk} ({license.organization.name}, "
        f"{dataset.title}): {reasons}",
        link=f"/admin/licensing/usagereport/{report.pk}/change/",
        now=now,
    )


# --- Missing reports --------------------------------------------------------------------

# A license that is older than this is checked for its most recent periods only.
MAX_PERIODS_CHECKED = 12


def monthly_periods(*, starts_on: date, today: date, grace_days: int) -> list[tuple[date, date]]:
    """The calendar-month reporting periods from `starts_on` whose grace has passed by `today`.

    The first period runs from the start to the end of that month; each later one is a whole
    month. A period is due once `grace_days` have passed after its last day.
    """
    periods = []
    first = starts_on
    while True:
        last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
        if last + timedelta(days=grace_days) >= today:
            break
        periods.append((first, last))
        first = last + timedelta(days=1)
    return periods[-MAX_PERIODS_CHECKED:]


def missing_periods(*, license: License, today: date, grace_days: int) -> list[tuple[date, date]]:
    """Due periods of a license with a reporting obligation that no report covers any day of."""
    if not has_reporting_obligation(license.agreed_terms):
        return []
    periods = monthly_periods(
        starts_on=license.starts_at.date(), today=today, grace_days=grace_days
    )
    if not periods:
        return []
    reported = list(
        UsageReport.objects.filter(license=license, period_end_on__gte=periods[0][0]).values_list(
            "period_start_on", "period_end_on"
        )
    )
    return [
        (first, last)
        for first, last in periods
        if not any(start <= last and end >= first for start, end in reported)
    ]


def flag_missing_reports(*, now: datetime | None = None) -> int:
    """Flag every missing monthly report of active licenses that must report; once per period.

    Licenses with a model or seat cap or a metered price report monthly; a month's report is
    missing once USAGE_REPORT_GRACE_DAYS have passed after it. Each missing period is flagged
    once (a unique reminder row; overlapping runs are harmless): both organizations and staff
    are notified and `usage_report.due` is emitted to both organizations. Returns how many
    periods were flagged.
    """
    now = now or timezone.now()
    today = now.date()
    grace_days = settings.USAGE_REPORT_GRACE_DAYS
    flagged = 0
    licenses = (
        License.objects.filter(status=License.Status.ACTIVE)
        .exclude(ends_at__lte=now)
        .select_related("organization", "version__dataset__organization")
        .order_by("pk")
    )
    for license in licenses.iterator(chunk_size=500):
        periods = missing_periods(license=license, today=today, grace_days=grace_days)
        known = set(
            UsageReportReminder.objects.filter(
                license=license, period_start_on__in=[first for first, _ in periods]
            ).values_list("period_start_on", flat=True)
        )
        for first, last in periods:
            if first in known:
                continue
            try:
                with transaction.atomic():
                    UsageReportReminder.objects.create(
                        license=license, period_start_on=first, period_end_on=last, flagged_at=now
                    )
                    _announce_missing(license, first, last, now)
            except IntegrityError:
                logger.info("missing report of %s from %s flagged concurrently", license.pk, first)
                continue
            flagged += 1
    return flagged


def _announce_missing(license: License, first: date, last: date, now: datetime) -> None:
    dataset = license.version.dataset
    period = f"{first.isoformat()} to {last.isoformat()}"
    data = {
        "license": license.pk,
        "dataset": dataset.pk,
        "period_start_on": first.isoformat(),
        "period_end_on": last.isoformat(),
    }
    parties = [license.organization]
    if dataset.organization_id != license.organization_id:
        parties.append(dataset.organization)
    for party in parties:
        emit_event(organization=party, type=Event.Type.USAGE_REPORT_DUE, data=data, now=now)
    notify_organization(
        organization=license.organization,
        verb="usage_report.due",
        text=f"Your usage report for {dataset.title} ({period}) is overdue: license "
        f"{license.pk} requires a monthly report.",
        link=buyer_link(license),
        now=now,
    )
    notify_organization(
        organization=dataset.organization,
        verb="usage_report.due",
        text=f"{license.organization.name} has not reported usage of {dataset.title} for "
        f"{period} (license {license.pk}).",
        link=creator_link(license),
        now=now,
    )
    notify_reviewers(
        verb="usage_report.due",
        text=f"Missing usage report: license {license.pk} ({license.organization.name}, "
        f"{dataset.title}) for {period}.",
        link=f"/admin/licensing/license/{license.pk}/change/",
        now=now,
    )
