"""Report jobs: long-running reports that show their progress, say why they failed, can be
retried, and run once per period.

Three kinds, all through `ReportJob`:
- a month's **royalty statements**, of every creator organization (beat, scope "all") or of one
  (an owner asks for last month's statement now);
- the **usage report of a license** over whole months, for its licensee and its licensor: what
  was reported, against the license's caps;
- the **usage report of a dataset** across its licenses, for its creator.

Asking for a report that was asked for before (same kind, scope and months) returns the first
job, whatever its state: a unique constraint backs that up. A run is claimed by a conditional
update, so two workers never run one job at once; a worker that dies mid-run goes silent and
its job may be started again after `ReportJob.STALE_AFTER`. The statement builder is idempotent
per organization, so a re-run after a failure issues each statement once.

Usage reports are built from the buyer-filed `UsageReport` rows: a report belongs to the month
its period ends in, so consecutive monthly usage reports never count one report twice.
"""

import logging
import time
from datetime import date, datetime
from functools import partial

from django.db import transaction
from django.db.models import Count, F, Max, Q, QuerySet, Sum
from django.utils import timezone

from accounts.errors import Conflict, DomainError, InvalidInput, NotFound, PermissionDenied
from accounts.models import Organization, User
from accounts.selectors import membership_in
from licensing import usage
from licensing.models import License, UsageReport
from marketplace import royalties
from marketplace.models import ReportJob
from provenance.models import Dataset

logger = logging.getLogger(__name__)
Kind = ReportJob.Kind
Status = ReportJob.Status

# A usage report covers at most this many months.
MAX_MONTHS = 12
# Beat queues a failed statements job again on its next run, up to this many runs in all;
# after that an owner's own request (or staff) takes over.
BEAT_ATTEMPTS = 3
# The worker writes its progress at most this often (and always at the end).
PROGRESS_SECONDS = 0.5


class JobSuperseded(Exception):
    """Another worker took the run over (this one went silent for too long): stop quietly."""


# --- Reading ------------------------------------------------------------------------------


def report_jobs_visible_to(*, organization: Organization | None) -> QuerySet[ReportJob]:
    """The jobs an organization may see: its statements, usage reports of its datasets and of
    the licenses it holds or sold. Beat's all-creators job belongs to no organization."""
    if organization is None:
        return ReportJob.objects.none()
    return (
        ReportJob.objects.filter(
            Q(organization=organization)
            | Q(dataset__organization=organization)
            | Q(license__organization=organization)
        )
        .select_related("organization", "license__organization", "dataset", "requested_by")
        .order_by("-created_at", "id")
    )


def report_job_of(*, organization: Organization | None, job_id: str) -> ReportJob | None:
    """One job the organization may see, or None (another organization's reads as missing)."""
    return report_jobs_visible_to(organization=organization).filter(pk=job_id).first()


def _usage_reports_in(*, job: ReportJob) -> QuerySet[UsageReport]:
    """The filed reports a usage job covers: those whose period ends in its months."""
    reports = UsageReport.objects.filter(
        period_end_on__gte=job.period_starts_on, period_end_on__lt=job.period_ends_on
    )
    if job.kind == Kind.LICENSE_USAGE:
        return reports.filter(license_id=job.license_id)
    return reports.filter(license__version__dataset_id=job.dataset_id)


def reports_filed_since(*, job: ReportJob) -> int:
    """How many reports in a finished usage job's months were filed after it ran (0 for
    statements, whose late sales land on the next statement instead)."""
    if job.kind == Kind.ROYALTY_STATEMENTS or not job.has_succeeded or job.started_at is None:
        return 0
    # From the run's start: a report filed while it ran may be in it or not, so it counts.
    return _usage_reports_in(job=job).filter(created_at__gte=job.started_at).count()


# --- Asking for a report -----------------------------------------------------------------


def _months(first_month: date, last_month: date | None, now: datetime) -> tuple[date, date]:
    starts_on = royalties.month_start(first_month)
    last = royalties.month_start(last_month or first_month)
    if last < starts_on:
        raise InvalidInput(
            "The last month comes before the first.",
            errors={"last_month": ["Pick a month on or after the first."]},
        )
    ends_on = royalties.next_month(last)
    if ends_on > now.date():
        raise InvalidInput(
            f"{last:%B %Y} has not ended yet; usage reports cover whole months.",
            errors={"last_month": ["Pick a month that has ended."]},
        )
    months = (ends_on.year - starts_on.year) * 12 + ends_on.month - starts_on.month
    if months > MAX_MONTHS:
        raise InvalidInput(
            f"A usage report covers at most {MAX_MONTHS} months; this asks for {months}.",
            errors={"first_month": [f"At most {MAX_MONTHS} months."]},
        )
    return starts_on, ends_on


def _check_member(*, actor: User, organization: Organization) -> None:
    if membership_in(organization=organization, user=actor) is None:
        raise NotFound("No such organization.")


def _license_for(*, organization: Organization, license_id: str) -> License:
    """A license the organization holds or sold, or NotFound."""
    license = (
        License.objects.filter(pk=license_id)
        .filter(Q(organization=organization) | Q(version__dataset__organization=organization))
        .select_related("organization", "version__dataset__organization")
        .first()
    )
    if license is None:
        raise NotFound("No such license.")
    return license


def _dataset_for(*, organization: Organization, dataset_id: str) -> Dataset:
    dataset = Dataset.objects.filter(pk=dataset_id, organization=organization).first()
    if dataset is None or not organization.is_creator:
        raise NotFound("No such dataset.")
    return dataset


def _enqueue(job: ReportJob) -> None:
    # Imported here: the task module wraps this one.
    from marketplace.tasks import run_report_job_task

    transaction.on_commit(partial(run_report_job_task.delay, job_id=job.pk))


def request_report_job(
    *,
    actor: User,
    organization: Organization,
    kind: str,
    first_month: date,
    last_month: date | None = None,
    license_id: str = "",
    dataset_id: str = "",
    now: datetime | None = None,
) -> ReportJob:
    """Ask for a report of whole months that have ended; returns its job.

    Royalty statements: one month, the organization's own, by an owner (or staff). A license's
    usage report: by a member of its licensee or its licensor. A dataset's: by a member of its
    creator organization. Up to `MAX_MONTHS` months. Asking again for the same kind, scope and
    months returns the existing job in whatever state it is (a failed one is retried with
    `retry_report_job`). Raises NotFound for another organization's license or dataset (and
    for non-members), PermissionDenied and Conflict as `royalties.check_statement_request`
    does, InvalidInput for a bad period or kind. Enqueues `run_report_job_task` after the
    commit when the job is new.
    """
    now = now or timezone.now()
    _check_member(actor=actor, organization=organization)
    details: dict = {"requested_by": actor, "requested_by_organization": organization}
    if kind == Kind.ROYALTY_STATEMENTS:
        if last_month is not None and royalties.month_start(last_month) != royalties.month_start(
            first_month
        ):
            raise InvalidInput(
                "A statement covers one month.", errors={"last_month": ["Pick one month."]}
            )
        starts_on = royalties.check_statement_request(
            actor=actor, organization=organization, period_starts_on=first_month, now=now
        )
        ends_on = royalties.next_month(starts_on)
        scope, details["organization"] = f"organization:{organization.pk}", organization
    elif kind == Kind.LICENSE_USAGE:
        license = _license_for(organization=organization, license_id=license_id)
        starts_on, ends_on = _months(first_month, last_month, now)
        scope, details["license"] = license.pk, license
        details["dataset"] = license.version.dataset
    elif kind == Kind.DATASET_USAGE:
        dataset = _dataset_for(organization=organization, dataset_id=dataset_id)
        starts_on, ends_on = _months(first_month, last_month, now)
        scope, details["dataset"] = dataset.pk, dataset
    else:
        raise InvalidInput(
            f"Choose a report: {', '.join(Kind.values)}.", errors={"kind": ["Unknown report."]}
        )
    with transaction.atomic():
        job, created = ReportJob.objects.get_or_create(
            kind=kind,
            scope=scope,
            period_starts_on=starts_on,
            period_ends_on=ends_on,
            defaults={**details, "created_at": now, "queued_at": now},
        )
        if created:
            _enqueue(job)
            logger.info("report job %s (%s %s) queued", job.pk, kind, scope)
    return job


def retry_report_job(
    *,
    actor: User,
    organization: Organization | None,
    job_id: str,
    now: datetime | None = None,
) -> ReportJob:
    """Queue a job again: one that failed, one whose worker went silent, or a usage report
    with reports filed in its months since it ran (a refresh).

    Needs the rights asking for it needs; staff acting for no organization (the admin) may
    retry any job, beat's included. Raises NotFound for a job the organization cannot see,
    PermissionDenied for a statements job asked by a member who is not an owner, Conflict
    when there is nothing to run again. Enqueues `run_report_job_task` after the commit.
    """
    now = now or timezone.now()
    if organization is None and actor.is_staff:
        job = ReportJob.objects.filter(pk=job_id).first()
    else:
        _check_member(actor=actor, organization=organization)
        job = report_job_of(organization=organization, job_id=job_id)
    if job is None:
        raise NotFound("No such report.")
    if (
        job.kind == Kind.ROYALTY_STATEMENTS
        and not actor.is_staff
        and not membership_in(organization=organization, user=actor).is_owner
    ):
        raise PermissionDenied("Only the organization's owners can issue statements.")
    if not (job.has_failed or job.is_stale(now) or reports_filed_since(job=job)):
        raise Conflict(
            "This report is running or done; only a failed one can be run again."
            if job.kind == Kind.ROYALTY_STATEMENTS or not job.has_succeeded
            else "This report already has every report filed for its months."
        )
    with transaction.atomic():
        changed = ReportJob.objects.filter(
            pk=job.pk, status=job.status, attempts=job.attempts
        ).update(
            status=Status.QUEUED,
            queued_at=now,
            error="",
            progress_done=0,
            progress_total=0,
            finished_at=None,
            requested_by=actor,
            requested_by_organization=organization,
        )
        if not changed:
            raise Conflict("The report changed meanwhile; reload the page.")
        job.refresh_from_db()
        _enqueue(job)
    logger.info("report job %s queued again by %s", job.pk, actor.pk)
    return job


def run_statements_for_beat(
    *, period_starts_on: date | None = None, now: datetime | None = None
) -> ReportJob | None:
    """Beat's monthly statements: the all-creators job for the month (by default the last one),
    created once and run here, in beat's task. A job that is done or running elsewhere is left
    alone; a failed one is run again while it has had fewer than `BEAT_ATTEMPTS` runs.

    Returns the job when this call ran it, None otherwise. Raises InvalidInput for a month that
    has not ended (or only just).
    """
    now = now or timezone.now()
    starts_on = (
        royalties.month_start(period_starts_on)
        if period_starts_on
        else royalties.previous_month(now)
    )
    royalties.check_period(starts_on, now)
    job, _ = ReportJob.objects.get_or_create(
        kind=Kind.ROYALTY_STATEMENTS,
        scope=ReportJob.ALL,
        period_starts_on=starts_on,
        period_ends_on=royalties.next_month(starts_on),
        defaults={"created_at": now, "queued_at": now},
    )
    if job.has_failed and job.attempts < BEAT_ATTEMPTS:
        ReportJob.objects.filter(pk=job.pk, status=Status.FAILED, attempts=job.attempts).update(
            status=Status.QUEUED, queued_at=now
        )
        logger.info("beat runs the failed statements job %s again", job.pk)
    return run_report_job(job_id=job.pk, now=now)


# --- Running ------------------------------------------------------------------------------


def _claim(job_id: str, now: datetime) -> ReportJob | None:
    """Take the run: a queued job, or a running one whose worker went silent."""
    if not ReportJob.objects.filter(pk=job_id).exists():
        raise NotFound("No such report.")
    claimed = (
        ReportJob.objects.filter(pk=job_id)
        .filter(
            Q(status=Status.QUEUED)
            | Q(status=Status.RUNNING, heartbeat_at__lt=now - ReportJob.STALE_AFTER)
        )
        .update(
            status=Status.RUNNING,
            attempts=F("attempts") + 1,
            started_at=now,
            heartbeat_at=now,
            progress_done=0,
            progress_total=0,
            error="",
            finished_at=None,
        )
    )
    if not claimed:
        return None
    return ReportJob.objects.select_related(
        "organization", "requested_by", "license", "dataset"
    ).get(pk=job_id)


class _Progress:
    """Writes the run's progress now and then; notices when the run is no longer ours."""

    def __init__(self, job: ReportJob):
        self.job = job
        self.done = 0
        self.total = 0
        self.written_at = None

    def __call__(self, done: int, total: int) -> None:
        self.done, self.total = done, total
        clock = time.monotonic()
        if (
            done < total
            and self.written_at is not None
            and clock - self.written_at < PROGRESS_SECONDS
        ):
            return
        self.written_at = clock
        changed = ReportJob.objects.filter(
            pk=self.job.pk, status=Status.RUNNING, attempts=self.job.attempts
        ).update(progress_done=done, progress_total=total, heartbeat_at=timezone.now())
        if not changed:
            raise JobSuperseded(f"report job {self.job.pk}: run {self.job.attempts} taken over")


def run_report_job(*, job_id: str, now: datetime | None = None) -> ReportJob | None:
    """Run a queued job (or take over one whose worker died), writing progress as it goes.

    Returns the job when this call ran it (succeeded or failed), None when it was not this
    call's to run: done, failed and not queued again, or alive on another worker. Whatever the
    builder raises marks the job failed with the reason (a domain error's message, else the
    exception's class and text) and is logged; the caller never sees it.
    """
    now = now or timezone.now()
    job = _claim(job_id, now)
    if job is None:
        logger.info("report job %s is not queued (or is running elsewhere): skipped", job_id)
        return None
    progress = _Progress(job)
    try:
        result = BUILDERS[job.kind](job=job, progress=progress, now=now)
    except JobSuperseded:
        logger.info("report job %s was taken over by another worker", job.pk)
        return None
    except Exception as error:
        if isinstance(error, DomainError):
            reason = error.message
            logger.warning("report job %s failed: %s", job.pk, reason)
        else:
            reason = f"{type(error).__name__}: {error}"
            logger.exception("report job %s failed", job.pk)
        ReportJob.objects.filter(pk=job.pk, status=Status.RUNNING, attempts=job.attempts).update(
            status=Status.FAILED, error=reason[:500], finished_at=timezone.now()
        )
        job.refresh_from_db()
        return job
    ReportJob.objects.filter(pk=job.pk, status=Status.RUNNING, attempts=job.attempts).update(
        status=Status.SUCCEEDED,
        result=result,
        progress_done=progress.total,
        progress_total=progress.total,
        heartbeat_at=timezone.now(),
        finished_at=timezone.now(),
    )
    job.refresh_from_db()
    logger.info("report job %s done (run %s)", job.pk, job.attempts)
    return job


# --- Builders: what each kind of job does -------------------------------------------------


def _build_statements(*, job: ReportJob, progress, now: datetime) -> dict:
    if job.scope == ReportJob.ALL:
        statements = royalties.issue_all_royalty_statements(
            period_starts_on=job.period_starts_on, now=now, progress=progress
        )
    else:
        progress(0, 1)
        statements = royalties.issue_royalty_statements(
            actor=job.requested_by,
            organization=job.organization,
            period_starts_on=job.period_starts_on,
            now=now,
        )
        progress(1, 1)
    return {"statements": [statement.pk for statement in statements]}


def _months_without_report(
    *, license: License, starts_on: date, ends_on: date, periods: list[tuple[date, date]]
) -> list[str]:
    """The months of the range a license that must report monthly was live in and that no
    report covers a day of."""
    if not usage.has_reporting_obligation(license.agreed_terms):
        return []
    missing = []
    first = starts_on
    while first < ends_on:
        following = royalties.next_month(first)
        live = license.starts_at.date() < following and (
            license.ends_at is None or license.ends_at.date() > first
        )
        covered = any(start < following and end >= first for start, end in periods)
        if live and not covered:
            missing.append(f"{first:%Y-%m}")
        first = following
    return missing


def license_usage_document(
    *, license: License, starts_on: date, ends_on: date, now: datetime
) -> dict:
    """What the licensee reported on one license in the months, against its caps."""
    terms = license.agreed_terms
    in_range = UsageReport.objects.filter(
        license=license, period_end_on__gte=starts_on, period_end_on__lt=ends_on
    ).order_by("period_end_on", "created_at", "id")
    reports = list(in_range)
    models_to_date = usage.clean_models(
        name
        for names in UsageReport.objects.filter(
            license=license, period_end_on__lt=ends_on
        ).values_list("models_trained", flat=True)
        for name in names
    )
    most_seats = max((report.seats for report in reports), default=0)
    caps = []
    if terms.get("model_cap"):
        caps.append(
            {
                "name": "Models trained, to the end of the period",
                "limit": terms["model_cap"],
                "used": len(models_to_date),
                "is_exceeded": len(models_to_date) > terms["model_cap"],
            }
        )
    if terms.get("seat_cap"):
        caps.append(
            {
                "name": "Seats or deployments, most in one report",
                "limit": terms["seat_cap"],
                "used": most_seats,
                "is_exceeded": most_seats > terms["seat_cap"],
            }
        )
    periods = list(
        UsageReport.objects.filter(
            license=license, period_start_on__lt=ends_on, period_end_on__gte=starts_on
        ).values_list("period_start_on", "period_end_on")
    )
    dataset = license.version.dataset
    return {
        "license": license.pk,
        "licensee": license.organization.name,
        "licensor": dataset.organization.name,
        "dataset": dataset.title,
        "dataset_id": dataset.pk,
        "version": license.version.number,
        "status": license.status,
        "currency": terms.get("currency") or "USD",
        "terms": {
            "permitted_uses": terms.get("permitted_uses") or [],
            "model_cap": terms.get("model_cap"),
            "seat_cap": terms.get("seat_cap"),
            "price_model": terms.get("price_model") or "flat",
            "price_minor": terms.get("price_minor"),
        },
        "must_report": usage.has_reporting_obligation(terms),
        "reports": [
            {
                "id": report.pk,
                "period_start_on": report.period_start_on.isoformat(),
                "period_end_on": report.period_end_on.isoformat(),
                "purpose": report.purpose,
                "models_trained": report.models_trained,
                "records_used": report.records_used,
                "tokens_used": report.tokens_used,
                "seats": report.seats,
                "status": report.status,
                "breaches": [item["message"] for item in report.breach_reasons],
                "billable_minor": report.billable_minor,
                "currency": report.currency,
                "filed_at": report.created_at.isoformat(),
            }
            for report in reports
        ],
        "totals": {
            "reports": len(reports),
            "records_used": sum(report.records_used for report in reports),
            "tokens_used": sum(report.tokens_used for report in reports),
            "most_seats": most_seats,
            "models": len(
                usage.clean_models(name for report in reports for name in report.models_trained)
            ),
            "breaches": sum(1 for report in reports if report.is_breach),
            "billable_minor": sum(report.billable_minor for report in reports),
        },
        "caps": caps,
        "months_without_report": _months_without_report(
            license=license, starts_on=starts_on, ends_on=ends_on, periods=periods
        ),
        "generated_at": now.isoformat(),
    }


def dataset_usage_document(
    *, dataset: Dataset, starts_on: date, ends_on: date, progress, now: datetime
) -> dict:
    """Across a dataset's licenses that were live in the months: what each licensee
    reported, its breaches and billed charges, summed by the database per license."""
    licenses = list(
        License.objects.filter(version__dataset=dataset, starts_at__date__lt=ends_on)
        .filter(Q(ends_at__isnull=True) | Q(ends_at__date__gt=starts_on))
        .select_related("organization", "version")
        .order_by("created_at", "id")
    )
    reports = UsageReport.objects.filter(
        license__version__dataset=dataset, period_end_on__gte=starts_on, period_end_on__lt=ends_on
    )
    sums = {
        row["license_id"]: row
        for row in reports.order_by()
        .values("license_id")
        .annotate(
            reports=Count("id"),
            records_used=Sum("records_used"),
            tokens_used=Sum("tokens_used"),
            most_seats=Max("seats"),
            breaches=Count("id", filter=Q(status=UsageReport.Status.BREACH)),
            billable_minor=Sum("billable_minor"),
        )
    }
    periods: dict[str, list] = {}
    for license_id, start, end in UsageReport.objects.filter(
        license__version__dataset=dataset, period_start_on__lt=ends_on, period_end_on__gte=starts_on
    ).values_list("license_id", "period_start_on", "period_end_on"):
        periods.setdefault(license_id, []).append((start, end))
    rows, billed = [], {}
    progress(0, len(licenses))
    for done, license in enumerate(licenses, start=1):
        terms = license.agreed_terms
        found = sums.get(license.pk, {})
        currency = terms.get("currency") or "USD"
        billable = found.get("billable_minor") or 0
        billed[currency] = billed.get(currency, 0) + billable
        rows.append(
            {
                "license": license.pk,
                "licensee": license.organization.name,
                "version": license.version.number,
                "status": license.status,
                "price_model": terms.get("price_model") or "flat",
                "seat_cap": terms.get("seat_cap"),
                "model_cap": terms.get("model_cap"),
                "reports": found.get("reports") or 0,
                "records_used": found.get("records_used") or 0,
                "tokens_used": found.get("tokens_used") or 0,
                "most_seats": found.get("most_seats") or 0,
                "breaches": found.get("breaches") or 0,
                "billable_minor": billable,
                "currency": currency,
                "months_without_report": _months_without_report(
                    license=license,
                    starts_on=starts_on,
                    ends_on=ends_on,
                    periods=periods.get(license.pk, []),
                ),
            }
        )
        progress(done, len(licenses))
    return {
        "dataset": dataset.title,
        "dataset_id": dataset.pk,
        "licenses": rows,
        "totals": {
            "licenses": len(rows),
            "reports": sum(row["reports"] for row in rows),
            "records_used": sum(row["records_used"] for row in rows),
            "tokens_used": sum(row["tokens_used"] for row in rows),
            "breaches": sum(row["breaches"] for row in rows),
            "missing_months": sum(len(row["months_without_report"]) for row in rows),
            "billable_minor": dict(sorted(billed.items())),
        },
        "generated_at": now.isoformat(),
    }


def _build_license_usage(*, job: ReportJob, progress, now: datetime) -> dict:
    progress(0, 1)
    license = License.objects.select_related("organization", "version__dataset__organization").get(
        pk=job.license_id
    )
    document = license_usage_document(
        license=license, starts_on=job.period_starts_on, ends_on=job.period_ends_on, now=now
    )
    progress(1, 1)
    return document


def _build_dataset_usage(*, job: ReportJob, progress, now: datetime) -> dict:
    return dataset_usage_document(
        dataset=job.dataset,
        starts_on=job.period_starts_on,
        ends_on=job.period_ends_on,
        progress=progress,
        now=now,
    )


BUILDERS = {
    Kind.ROYALTY_STATEMENTS: _build_statements,
    Kind.LICENSE_USAGE: _build_license_usage,
    Kind.DATASET_USAGE: _build_dataset_usage,
}
