"""Royalty statements and payouts: what creators earned from orders, refunds and metered usage.

A statement covers one creator organization, one calendar month and one currency. Its lines
trace every figure to the order, refund or usage that produced it, one line per kind and source
across all statements (a unique constraint), so nothing is ever counted twice. A sale or refund
that arrives after its month's statement was issued lands on the next statement as an
adjusting line. Issued statements never change (`RoyaltyStatement.save` refuses it).

Payouts transfer an issued statement's net amount to the creator's connected Stripe account,
exactly once: one payout per statement (a unique constraint) and the same Stripe idempotency
key on every attempt.
"""

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, F, Max, OuterRef, Q, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from accounts.bulk import insert_objects, insert_rows
from accounts.errors import Conflict, DomainError, InvalidInput, NotFound, PermissionDenied
from accounts.models import Event, Organization, User
from accounts.selectors import membership_in
from accounts.services import emit_events, notify_organization, notify_organizations
from licensing.models import License, RoyaltyLine, RoyaltyStatement, UsageReport
from licensing.money import format_minor, split_fee
from marketplace.models import Order, OrderRefund, Payout, PayoutAccount
from marketplace.payments import StripeGateway, TransferFailed, get_gateway
from provenance.ledger import record_events
from provenance.services import record_event

logger = logging.getLogger(__name__)
Kind = RoyaltyLine.Kind
# Creator organizations issued together in one transaction by the monthly build.
BATCH = 50


class StatementsIncomplete(DomainError):
    code = "statements_incomplete"
    status = 503
    title = "Some statements could not be issued"


# --- Periods ------------------------------------------------------------------------------


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def previous_month(now: datetime) -> date:
    """The first day of the calendar month before `now` (UTC)."""
    first = now.astimezone(UTC).date().replace(day=1)
    return month_start(first - timedelta(days=1))


def _as_datetime(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def parse_period(text: str) -> date:
    """`"2026-10"` -> `date(2026, 10, 1)`; raises InvalidInput for anything else."""
    try:
        year, month = (int(part) for part in text.strip().split("-"))
        return date(year, month, 1)
    except (ValueError, TypeError) as error:
        raise InvalidInput(
            f"{text!r} is not a month; use YYYY-MM.", errors={"period": ["Use YYYY-MM."]}
        ) from error


# --- What a statement is made of ----------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """A line before it is written."""

    organization_id: str
    currency: str
    kind: str
    source: str
    description: str
    dataset_id: str | None
    occurred_at: datetime
    amount_minor: int


def _on_a_line(kind: str) -> Exists:
    """Whether a line of this kind already accounts for the outer row (the unique index on
    kind and source answers it, however many lines there are)."""
    return Exists(RoyaltyLine.objects.filter(kind=kind, source=OuterRef("pk")))


def _unbilled_orders(*, until: datetime):
    return Order.objects.filter(paid_at__lt=until).exclude(_on_a_line(Kind.SALE))


def _unbilled_refunds(*, until: datetime):
    return OrderRefund.objects.filter(refunded_at__lt=until).exclude(_on_a_line(Kind.REFUND))


def _sale_items(*, until: datetime, organization_ids=None) -> list[Item]:
    """Paid orders not yet on any statement: the sale and the platform's fee, two lines each.
    Reads only the columns a line needs (no frozen terms), for every creator in the batch."""
    orders = _unbilled_orders(until=until).order_by("paid_at", "id")
    if organization_ids is not None:
        orders = orders.filter(version__dataset__organization_id__in=organization_ids)
    items = []
    for (
        pk,
        amount,
        fee,
        currency,
        paid_at,
        organization_id,
        dataset_id,
        title,
        buyer,
    ) in orders.values_list(
        "pk",
        "amount_minor",
        "platform_fee_minor",
        "currency",
        "paid_at",
        "version__dataset__organization_id",
        "version__dataset_id",
        "version__dataset__title",
        "organization__name",
    ):
        common = {
            "organization_id": organization_id,
            "currency": currency,
            "dataset_id": dataset_id,
            "occurred_at": paid_at,
            "source": pk,
        }
        items.append(
            Item(
                kind=Kind.SALE,
                description=f"{title}: order {pk} by {buyer}",
                amount_minor=amount,
                **common,
            )
        )
        items.append(
            Item(
                kind=Kind.PLATFORM_FEE,
                description=f"Platform fee on order {pk}",
                amount_minor=-fee,
                **common,
            )
        )
    return items


def _refund_items(*, until: datetime, organization_ids=None) -> list[Item]:
    """Refunds not yet on any statement: the refund and the fee it returns, two lines each."""
    refunds = _unbilled_refunds(until=until).order_by("refunded_at", "id")
    if organization_ids is not None:
        refunds = refunds.filter(order__version__dataset__organization_id__in=organization_ids)
    items = []
    rows = refunds.values(
        "pk",
        "amount_minor",
        "platform_fee_minor",
        "refunded_at",
        "order_id",
        order_amount=F("order__amount_minor"),
        currency=F("order__currency"),
        organization_id=F("order__version__dataset__organization_id"),
        dataset_id=F("order__version__dataset_id"),
        title=F("order__version__dataset__title"),
    )
    for row in rows:
        pk, amount, fee = row["pk"], row["amount_minor"], row["platform_fee_minor"]
        common = {
            "organization_id": row["organization_id"],
            "currency": row["currency"],
            "dataset_id": row["dataset_id"],
            "occurred_at": row["refunded_at"],
            "source": pk,
        }
        part = "in full" if amount == row["order_amount"] else "in part"
        items.append(
            Item(
                kind=Kind.REFUND,
                description=f"{row['title']}: order {row['order_id']} refunded {part}",
                amount_minor=-amount,
                **common,
            )
        )
        if fee:
            items.append(
                Item(
                    kind=Kind.FEE_RETURNED,
                    description=f"Platform fee returned with refund {pk}",
                    amount_minor=fee,
                    **common,
                )
            )
    return items


@dataclass(frozen=True)
class MeteredUsage:
    """One license's metered charges received (filed) in one month, summed by the database."""

    license_id: str
    organization_id: str
    dataset_id: str
    dataset_title: str
    licensee: str
    currency: str
    month: date
    charge_minor: int
    reports: int
    last_at: datetime

    def items(self, fee_bps: int) -> list[Item]:
        """The charge and the platform's fee on it: one source per license and month."""
        fee, _ = split_fee(self.charge_minor, fee_bps)
        common = {
            "organization_id": self.organization_id,
            "currency": self.currency,
            "dataset_id": self.dataset_id,
            "occurred_at": self.last_at,
            "source": f"{self.license_id}:{self.month:%Y-%m}",
        }
        reports = f"{self.reports} report{'s' if self.reports != 1 else ''}"
        items = [
            Item(
                kind=Kind.METERED,
                description=(
                    f"{self.dataset_title}: metered usage on license {self.license_id} by "
                    f"{self.licensee}, {reports} filed in {self.month:%B %Y}"
                ),
                amount_minor=self.charge_minor,
                **common,
            )
        ]
        if fee:
            items.append(
                Item(
                    kind=Kind.METERED_FEE,
                    description=(
                        f"Platform fee on metered usage of license {self.license_id} "
                        f"({self.month:%B %Y})"
                    ),
                    amount_minor=-fee,
                    **common,
                )
            )
        return items


def _covered_until(*, before: date, organization_ids=None) -> dict[str, date]:
    """Per organization, the end of its latest statement for a month before `before`: metered
    usage filed earlier than that is on a statement already. Organizations with no statement
    are absent."""
    statements = RoyaltyStatement.objects.filter(period_starts_on__lt=before)
    if organization_ids is not None:
        statements = statements.filter(organization_id__in=organization_ids)
    return dict(
        statements.order_by()
        .values("organization_id")
        .annotate(covered=Max("period_ends_on"))
        .values_list("organization_id", "covered")
    )


def _sum_per_license(reports, *, by_month: bool) -> list[dict]:
    """The database sums billed charges per license and currency (and month of filing)."""
    keys = ["license_id", "currency"]
    if by_month:
        reports = reports.annotate(month=TruncMonth("created_at", tzinfo=UTC))
        keys.append("month")
    return list(
        reports.order_by()
        .values(*keys)
        .annotate(charge=Sum("billable_minor"), reports=Count("id"), last_at=Max("created_at"))
    )


def _license_ids_of(organization_ids) -> list[str]:
    return list(
        License.objects.filter(version__dataset__organization_id__in=organization_ids)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _metered_usage(
    *, starts_on: date, ends_on: date, organization_ids=None
) -> dict[str, list[MeteredUsage]]:
    """Metered usage not yet on a statement, per creator organization, up to the end of the
    month: what was filed in the month, and for an organization whose last statement is older
    than the month before (or that has none), what was filed since then too.

    Every sum is the database's. For every creator: one GROUP BY over the month's reports (no
    join, so a parallel scan serves it). For given organizations, and for the ones behind,
    the sums go through their licenses (the license and filing time index), so a creator's
    own request or a creator who never had a statement reads only its own reports.
    """
    since = _as_datetime(starts_on)
    billed = UsageReport.objects.filter(billable_minor__gt=0)
    month_reports = billed.filter(created_at__gte=since, created_at__lt=_as_datetime(ends_on))
    if organization_ids is None:
        rows = _sum_per_license(month_reports, by_month=False)
    else:
        rows = [
            row
            for chunk in _chunks(_license_ids_of(organization_ids))
            for row in _sum_per_license(month_reports.filter(license_id__in=chunk), by_month=False)
        ]
    rows = [{**row, "month": starts_on} for row in rows]

    covered = _covered_until(before=starts_on, organization_ids=organization_ids)
    if organization_ids is None:
        organizations = Organization.objects.filter(is_creator=True).values_list("pk", flat=True)
    else:
        organizations = organization_ids
    behind = [pk for pk in organizations if covered.get(pk) != starts_on]
    for chunk in _chunks(behind):
        earlier = billed.filter(created_at__lt=since)
        known = [covered[pk] for pk in chunk if pk in covered]
        if len(known) == len(chunk):
            earlier = earlier.filter(created_at__gte=_as_datetime(min(known)))
        for licenses in _chunks(_license_ids_of(chunk)):
            rows += [
                {**row, "month": row["month"].date()}
                for row in _sum_per_license(earlier.filter(license_id__in=licenses), by_month=True)
            ]

    licenses = {}
    for chunk in _chunks(sorted({row["license_id"] for row in rows})):
        for pk, *details in License.objects.filter(pk__in=chunk).values_list(
            "pk",
            "version__dataset__organization_id",
            "version__dataset_id",
            "version__dataset__title",
            "organization__name",
        ):
            licenses[pk] = details
    usage: dict[str, list[MeteredUsage]] = defaultdict(list)
    for row in sorted(rows, key=lambda row: (row["month"], row["license_id"], row["currency"])):
        organization_id, dataset_id, title, licensee = licenses[row["license_id"]]
        if row["month"] < covered.get(organization_id, row["month"]):
            continue  # an earlier statement of this organization has it
        usage[organization_id].append(
            MeteredUsage(
                license_id=row["license_id"],
                organization_id=organization_id,
                dataset_id=dataset_id,
                dataset_title=title,
                licensee=licensee,
                currency=row["currency"],
                month=row["month"],
                charge_minor=row["charge"],
                reports=row["reports"],
                last_at=row["last_at"],
            )
        )
    return usage


def _chunks(values, size: int = 2000):
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start : start + size]


# --- Issuing ------------------------------------------------------------------------------


def _totals(lines: list[Item]) -> dict:
    by_kind = defaultdict(int)
    for line in lines:
        by_kind[line.kind] += line.amount_minor
    return {
        "gross_sales_minor": by_kind[Kind.SALE],
        "refunds_minor": -by_kind[Kind.REFUND],
        "platform_fee_minor": -(
            by_kind[Kind.PLATFORM_FEE] + by_kind[Kind.FEE_RETURNED] + by_kind[Kind.METERED_FEE]
        ),
        "metered_minor": by_kind[Kind.METERED],
        "net_minor": sum(by_kind.values()),
    }


# The columns of a statement's lines, in the order `_issue_for_organizations` writes them.
LINE_FIELDS = (
    "statement_id",
    "kind",
    "source",
    "description",
    "dataset_id",
    "occurred_at",
    "amount_minor",
    "is_adjustment",
)


def _issue_for_organizations(
    *,
    organizations: list[Organization],
    starts_on: date,
    metered: dict[str, list[MeteredUsage]],
    actor: User | None,
    now: datetime,
) -> list[RoyaltyStatement]:
    """Issue a batch of organizations' statements for a month, each once, in one transaction.

    Under the organizations' locks (taken in key order), so two builders racing (beat and an
    owner's click) produce one set of statements. `metered` is their usage summed before the
    locks; what a statement issued meanwhile took in is dropped here (its months are whole,
    so the cut is exact). Returns each organization's statements for the month: those it
    had, or those issued now. Every write is one statement for the whole batch (statements,
    lines, ledger entries, events, notifications), so a month for every creator costs a few
    round trips per batch rather than per creator.
    """
    ends_on = next_month(starts_on)
    until = _as_datetime(ends_on)
    ids = sorted(organization.pk for organization in organizations)
    by_pk = {organization.pk: organization for organization in organizations}
    with transaction.atomic():
        list(
            Organization.objects.select_for_update()
            .filter(pk__in=ids)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        # One read of the organizations' periods answers all three questions: issued
        # already, overtaken by a later month, and up to when earlier statements reach.
        periods = defaultdict(set)
        for organization_id, first, end in (
            RoyaltyStatement.objects.filter(organization_id__in=ids)
            .order_by()
            .values_list("organization_id", "period_starts_on", "period_ends_on")
        ):
            periods[organization_id].add((first, end))
        issued = [pk for pk in ids if any(first == starts_on for first, _ in periods[pk])]
        # An organization with a later statement is skipped: that statement already took in
        # everything dated before its end.
        open_ids = [pk for pk in ids if not any(first >= starts_on for first, _ in periods[pk])]
        statements = (
            list(
                RoyaltyStatement.objects.filter(
                    organization_id__in=issued, period_starts_on=starts_on
                )
            )
            if issued
            else []
        )
        if not open_ids:
            return statements
        fee_bps = settings.PLATFORM_FEE_BPS
        items = defaultdict(list)
        for item in _sale_items(until=until, organization_ids=open_ids) + _refund_items(
            until=until, organization_ids=open_ids
        ):
            items[item.organization_id].append(item)
        period_start = _as_datetime(starts_on)
        new, lines, counts = [], [], []
        for pk in open_ids:
            first_open = max((end for _, end in periods[pk]), default=None)
            items[pk] += [
                item
                for usage in metered.get(pk, [])
                if first_open is None or usage.month >= first_open
                for item in usage.items(fee_bps)
            ]
            by_currency = defaultdict(list)
            for item in items[pk]:
                by_currency[item.currency].append(item)
            for currency in sorted(by_currency):
                statement = RoyaltyStatement(
                    organization=by_pk[pk],
                    period_starts_on=starts_on,
                    period_ends_on=ends_on,
                    currency=currency,
                    fee_bps=fee_bps,
                    issued_at=now,
                    issued_by=actor,
                    **_totals(by_currency[currency]),
                )
                # Field checks only: the locks and the re-read above keep one statement per
                # month and currency, the organization is locked, and the totals add up by
                # construction; the database enforces all of it anyway. Their validation
                # queries would cost five round trips per statement, every month.
                statement.full_clean(
                    exclude=["organization", "issued_by"],
                    validate_unique=False,
                    validate_constraints=False,
                )
                new.append(statement)
                counts.append(len(by_currency[currency]))
                lines += [
                    (
                        statement.pk,
                        item.kind,
                        item.source,
                        item.description[:300],
                        item.dataset_id,
                        item.occurred_at,
                        item.amount_minor,
                        item.occurred_at < period_start,
                    )
                    for item in by_currency[currency]
                ]
        insert_objects(new)
        insert_rows(RoyaltyLine, LINE_FIELDS, lines)
        _announce_statements(new, counts=counts, actor=actor, now=now)
    return statements + new


def _announce_statements(
    statements: list[RoyaltyStatement], *, counts: list[int], actor: User | None, now: datetime
) -> None:
    """A ledger entry, an event (`statement.issued`, sent to webhooks) and a notification
    per statement, each written in one go for the batch."""
    record_events(
        events=[
            {
                "action": "royalty_statement.issued",
                "subject_type": "royalty_statement",
                "subject_id": statement.pk,
                "actor": actor,
                "organization": statement.organization,
                "payload": {
                    "period": f"{statement.period_starts_on:%Y-%m}",
                    "currency": statement.currency,
                    "gross_sales_minor": statement.gross_sales_minor,
                    "refunds_minor": statement.refunds_minor,
                    "platform_fee_minor": statement.platform_fee_minor,
                    "metered_minor": statement.metered_minor,
                    "net_minor": statement.net_minor,
                    "lines": count,
                },
                "now": now,
            }
            for statement, count in zip(statements, counts, strict=True)
        ]
    )
    emit_events(
        events=[
            {
                "organization": statement.organization,
                "type": Event.Type.STATEMENT_ISSUED,
                "data": {
                    "statement": statement.pk,
                    "period": f"{statement.period_starts_on:%Y-%m}",
                    "currency": statement.currency,
                    "net_minor": statement.net_minor,
                },
            }
            for statement in statements
        ],
        now=now,
    )
    notify_organizations(
        notices=[
            {
                "organization": statement.organization,
                "verb": "statement.issued",
                "text": (
                    f"Your royalty statement for {statement.period_label} is ready: "
                    f"{format_minor(statement.net_minor, statement.currency)} net."
                ),
                "link": f"/creator/statements/{statement.pk}/",
            }
            for statement in statements
        ],
        now=now,
    )


def _issue_safely(**kwargs) -> list[RoyaltyStatement]:
    try:
        return _issue_for_organizations(**kwargs)
    except IntegrityError:
        # Only reachable if the locks were bypassed (another writer): the first one won.
        return list(
            RoyaltyStatement.objects.filter(
                organization__in=kwargs["organizations"], period_starts_on=kwargs["starts_on"]
            )
        )


# A month's statement waits this long after the month ends, so that a usage report filed in
# its last second has committed before the builder sums the month.
SETTLE = timedelta(minutes=5)


def check_period(starts_on: date, now: datetime) -> None:
    ends_at = _as_datetime(next_month(starts_on))
    if ends_at > now:
        raise InvalidInput(
            f"{starts_on:%B %Y} has not ended yet; statements cover whole months.",
            errors={"period": ["Pick a month that has ended."]},
        )
    if ends_at + SETTLE > now:
        raise InvalidInput(
            f"{starts_on:%B %Y} has just ended; its statement can be issued from "
            f"{ends_at + SETTLE:%H:%M} UTC.",
            errors={"period": ["Try again in a few minutes."]},
        )


def check_statement_request(
    *, actor: User | None, organization: Organization, period_starts_on: date, now: datetime
) -> date:
    """Whether `actor` may have the organization's statements for the month issued now; the
    month's first day if so.

    Needs an owner of the creator organization, or staff. Raises NotFound for non-members,
    PermissionDenied for members who are not owners, InvalidInput for a month that has not
    ended, Conflict when a later month was already stated.
    """
    if actor is None or not actor.is_staff:
        membership = (
            membership_in(organization=organization, user=actor) if actor is not None else None
        )
        if membership is None or not organization.is_creator:
            raise NotFound("No such organization.")
        if not membership.is_owner:
            raise PermissionDenied("Only the organization's owners can issue statements.")
    starts_on = month_start(period_starts_on)
    check_period(starts_on, now)
    if (
        RoyaltyStatement.objects.filter(
            organization=organization, period_starts_on__gt=starts_on
        ).exists()
        and not RoyaltyStatement.objects.filter(
            organization=organization, period_starts_on=starts_on
        ).exists()
    ):
        raise Conflict(
            f"A statement for a later month exists; what happened in {starts_on:%B %Y} is on it."
        )
    return starts_on


def issue_royalty_statements(
    *,
    actor: User,
    organization: Organization,
    period_starts_on: date,
    now: datetime | None = None,
) -> list[RoyaltyStatement]:
    """Issue an organization's statements for a month that has ended, on demand.

    Needs an owner of the creator organization, or staff. Returns the statements (the existing
    ones when already issued; none when nothing happened that month). Raises what
    `check_statement_request` raises. Writes a ledger entry, an event (`statement.issued`,
    sent to webhooks) and a notification per statement.
    """
    now = now or timezone.now()
    starts_on = check_statement_request(
        actor=actor, organization=organization, period_starts_on=period_starts_on, now=now
    )
    metered = _metered_usage(
        starts_on=starts_on, ends_on=next_month(starts_on), organization_ids=[organization.pk]
    )
    return _issue_safely(
        organizations=[organization], starts_on=starts_on, metered=metered, actor=actor, now=now
    )


def issue_all_royalty_statements(
    *,
    period_starts_on: date | None = None,
    now: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[RoyaltyStatement]:
    """Issue every creator's statements for a month (by default the last one), for beat.

    Idempotent: a creator whose statements exist is skipped, so running it twice, or beside an
    owner's on-demand request, issues each statement once. Metered usage is summed by the
    database for all creators, then creators are issued in batches of `BATCH`, one
    transaction each. `progress(done, total)` is called before the first creator
    organization and after each batch (outside its transaction). Returns the statements issued by this call. When some organizations fail,
    the others' statements are still issued, then StatementsIncomplete names the failed ones.
    """
    now = now or timezone.now()
    starts_on = month_start(period_starts_on) if period_starts_on else previous_month(now)
    check_period(starts_on, now)
    ends_on = next_month(starts_on)
    until = _as_datetime(ends_on)
    metered = _metered_usage(starts_on=starts_on, ends_on=ends_on)
    already = set(
        RoyaltyStatement.objects.filter(period_starts_on__gte=starts_on).values_list(
            "organization_id", flat=True
        )
    )
    candidates = set(
        _unbilled_orders(until=until)
        .order_by()
        .values_list("version__dataset__organization_id", flat=True)
        .distinct()
    )
    candidates |= set(
        _unbilled_refunds(until=until)
        .order_by()
        .values_list("order__version__dataset__organization_id", flat=True)
        .distinct()
    )
    candidates |= set(metered)
    organizations = list(Organization.objects.filter(pk__in=candidates - already).order_by("pk"))
    statements, failures, done = [], [], 0
    if progress is not None:
        progress(0, len(organizations))
    for batch in _chunks(organizations, BATCH):
        try:
            statements += _issue_safely(
                organizations=batch, starts_on=starts_on, metered=metered, actor=None, now=now
            )
        except Exception as error:
            # The batch rolled back whole. One organization's failure must not hold up the
            # others' statements: issue them one by one, and a second run issues what is left.
            logger.exception("statements of a batch of %s for %s failed", len(batch), starts_on)
            for organization in batch if len(batch) > 1 else []:
                try:
                    statements += _issue_safely(
                        organizations=[organization],
                        starts_on=starts_on,
                        metered=metered,
                        actor=None,
                        now=now,
                    )
                except Exception as single:
                    logger.exception("statements of %s for %s failed", organization.pk, starts_on)
                    failures.append(f"{organization.name} ({type(single).__name__}: {single})")
            if len(batch) == 1:
                failures.append(f"{batch[0].name} ({type(error).__name__}: {error})")
        done += len(batch)
        if progress is not None:
            progress(done, len(organizations))
    if failures:
        raise StatementsIncomplete(
            f"Statements of {len(failures)} of {len(organizations)} creator organizations for "
            f"{starts_on:%B %Y} could not be issued (the others were): "
            + "; ".join(failures[:5])
            + ("; …" if len(failures) > 5 else "")
        )
    return statements


# --- Payouts ------------------------------------------------------------------------------


def connect_payout_account(
    *, actor: User, organization: Organization, gateway: StripeGateway | None = None
) -> PayoutAccount:
    """Connect a Stripe account to the creator organization, where its payouts go.

    Needs an owner. Creates the Connect account through Stripe (once: an existing connection is
    returned as is). Raises NotFound for non-members and buyer-only organizations,
    PermissionDenied for members who are not owners. Writes a ledger entry.
    """
    membership = membership_in(organization=organization, user=actor)
    if membership is None or not organization.is_creator:
        raise NotFound("No such organization.")
    if not membership.is_owner:
        raise PermissionDenied("Only the organization's owners can connect a payout account.")
    existing = PayoutAccount.objects.filter(organization=organization).first()
    if existing:
        return existing
    # Stripe first, outside any transaction; its idempotency key makes a retry reuse the account.
    account_id = (gateway or get_gateway()).create_connected_account(
        organization_id=organization.pk, email=actor.email
    )
    with transaction.atomic():
        account, created = PayoutAccount.objects.get_or_create(
            organization=organization,
            defaults={"stripe_account_id": account_id, "connected_by": actor},
        )
        if created:
            record_event(
                action="payout_account.connected",
                subject_type="organization",
                subject_id=organization.pk,
                actor=actor,
                organization=organization,
                payload={"stripe_account_id": account_id},
            )
    return account


def schedule_payouts(*, now: datetime | None = None) -> list[Payout]:
    """A pending payout for every issued statement owed at least `PAYOUT_MINIMUM_MINOR`
    whose organization has a payout account. One per statement (unique); idempotent."""
    now = now or timezone.now()
    statements = (
        RoyaltyStatement.objects.filter(
            net_minor__gte=max(settings.PAYOUT_MINIMUM_MINOR, 1),
            payout__isnull=True,
            organization__payout_account__isnull=False,
        )
        .select_related("organization__payout_account")
        .order_by("issued_at", "id")
    )
    created = []
    for statement in statements:
        try:
            with transaction.atomic():
                payout, is_new = Payout.objects.get_or_create(
                    statement=statement,
                    defaults={
                        "organization": statement.organization,
                        "amount_minor": statement.net_minor,
                        "currency": statement.currency,
                        "stripe_account_id": (
                            statement.organization.payout_account.stripe_account_id
                        ),
                        "created_at": now,
                        "updated_at": now,
                        "next_attempt_at": now,
                    },
                )
                if is_new:
                    record_event(
                        action="payout.scheduled",
                        subject_type="payout",
                        subject_id=payout.pk,
                        organization=statement.organization,
                        payload={
                            "statement": statement.pk,
                            "amount_minor": payout.amount_minor,
                            "currency": payout.currency,
                        },
                        now=now,
                    )
                    created.append(payout)
        except IntegrityError:
            continue  # another scheduler created it first
    return created


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=settings.PAYOUT_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0))


def attempt_payout(
    *, payout_id: str, now: datetime | None = None, gateway: StripeGateway | None = None
) -> Payout:
    """Try to transfer one payout, if it is due. Claimed by a conditional update, so two
    workers never both call Stripe for it; a crashed attempt is retried with the same
    idempotency key. On failure the payout waits with exponential backoff, and after
    `PAYOUT_MAX_ATTEMPTS` it stops and needs attention. Ledger entries for paid and failed."""
    now = now or timezone.now()
    stale = now - timedelta(minutes=15)
    claimed = (
        Payout.objects.filter(pk=payout_id)
        .filter(
            Q(status__in=[Payout.Status.PENDING, Payout.Status.FAILED], next_attempt_at__lte=now)
            | Q(status=Payout.Status.PROCESSING, updated_at__lt=stale)
        )
        .update(status=Payout.Status.PROCESSING, updated_at=now, attempts=F("attempts") + 1)
    )
    payout = Payout.objects.select_related("organization").get(pk=payout_id)
    if not claimed:
        return payout
    try:
        transfer_id = (gateway or get_gateway()).create_transfer(
            account_id=payout.stripe_account_id,
            amount_minor=payout.amount_minor,
            currency=payout.currency,
            payout_id=payout.pk,
            idempotency_key=payout.idempotency_key,
        )
    except TransferFailed as error:
        return _payout_failed(payout, reason=str(error), now=now)
    with transaction.atomic():
        Payout.objects.filter(pk=payout.pk, status=Payout.Status.PROCESSING).update(
            status=Payout.Status.PAID,
            stripe_transfer_id=transfer_id,
            paid_at=now,
            updated_at=now,
            last_error="",
        )
        payout.refresh_from_db()
        record_event(
            action="payout.paid",
            subject_type="payout",
            subject_id=payout.pk,
            organization=payout.organization,
            payload={
                "statement": payout.statement_id,
                "amount_minor": payout.amount_minor,
                "currency": payout.currency,
                "stripe_transfer_id": transfer_id,
                "attempts": payout.attempts,
            },
            now=now,
        )
        notify_organization(
            organization=payout.organization,
            verb="payout.paid",
            text=f"{format_minor(payout.amount_minor, payout.currency)} is on its way to you.",
            link="/creator/payouts/",
            now=now,
        )
    return payout


def _payout_failed(payout: Payout, *, reason: str, now: datetime) -> Payout:
    gives_up = payout.attempts >= settings.PAYOUT_MAX_ATTEMPTS
    with transaction.atomic():
        Payout.objects.filter(pk=payout.pk, status=Payout.Status.PROCESSING).update(
            status=Payout.Status.GAVE_UP if gives_up else Payout.Status.FAILED,
            last_error=reason[:500],
            next_attempt_at=now + _backoff(payout.attempts),
            updated_at=now,
        )
        payout.refresh_from_db()
        record_event(
            action="payout.failed",
            subject_type="payout",
            subject_id=payout.pk,
            organization=payout.organization,
            payload={"attempts": payout.attempts, "error": reason[:500], "gave_up": gives_up},
            now=now,
        )
        if gives_up:
            notify_organization(
                organization=payout.organization,
                verb="payout.failed",
                text=(
                    f"We could not pay out {format_minor(payout.amount_minor, payout.currency)}: "
                    f"{reason[:200]}"
                ),
                link="/creator/payouts/",
                now=now,
            )
    logger.warning("payout %s failed (attempt %s): %s", payout.pk, payout.attempts, reason)
    return payout


def retry_payout(*, actor: User, organization: Organization, payout: Payout, now=None) -> Payout:
    """An owner (or staff) asks to try a failed payout again now. Raises NotFound for another
    organization's payout, Conflict unless it failed."""
    now = now or timezone.now()
    if payout.organization_id != organization.pk:
        raise NotFound("No such payout.")
    changed = Payout.objects.filter(
        pk=payout.pk, status__in=[Payout.Status.FAILED, Payout.Status.GAVE_UP]
    ).update(status=Payout.Status.FAILED, next_attempt_at=now, updated_at=now)
    if not changed:
        raise Conflict("Only a failed payout can be retried.")
    payout.refresh_from_db()
    return payout


def pay_out_statements(
    *, now: datetime | None = None, gateway: StripeGateway | None = None
) -> list[Payout]:
    """Schedule payouts for owed statements and attempt every due one; for beat."""
    now = now or timezone.now()
    schedule_payouts(now=now)
    due = Payout.objects.filter(
        Q(status__in=[Payout.Status.PENDING, Payout.Status.FAILED], next_attempt_at__lte=now)
        | Q(status=Payout.Status.PROCESSING, updated_at__lt=now - timedelta(minutes=15))
    ).values_list("pk", flat=True)
    return [attempt_payout(payout_id=pk, now=now, gateway=gateway) for pk in list(due)]
