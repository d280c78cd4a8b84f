"""Use cases of the marketplace: publishing listings, checkout, payments and refunds."""

import logging
from datetime import datetime, timedelta
from functools import partial

import stripe
from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.db import connection, transaction
from django.db.models import Exists, F, JSONField, OuterRef, Q, Subquery, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from accounts.models import Event, Membership, Organization, User
from accounts.services import emit_event, notify
from licensing.models import Agreement, License, LicenseOption
from licensing.money import format_minor, split_fee
from licensing.selectors import exclusive_agreement_on
from licensing.services import (
    build_deliveries,
    change_license_status,
    grant_license,
    issue_certificate,
    take_off_market,
)
from marketplace.models import Invoice, InvoiceCounter, Listing, Order, OrderRefund, StripeEvent
from marketplace.payments import (
    OPEN_DISPUTE_STATUSES,
    PaymentDeclined,
    PaymentState,
    StripeGateway,
    get_gateway,
)
from provenance.models import Dataset, DatasetVersion, ProvenanceDeclaration, QualityReport
from provenance.services import record_event

# The full-text document of a listing (PostgreSQL): title (A), tags (B), summary (C),
# description (D) of its dataset.
_SEARCH_DOCUMENT_SQL = """(
    SELECT setweight(to_tsvector('english', coalesce(d.title, '')), 'A')
        || setweight(to_tsvector('english', coalesce(
            (SELECT string_agg(t, ' ') FROM jsonb_array_elements_text(d.tags::jsonb) AS t), '')),
            'B')
        || setweight(to_tsvector('english', coalesce(d.summary, '')), 'C')
        || setweight(to_tsvector('english', coalesce(d.description, '')), 'D')
    FROM provenance_dataset AS d WHERE d.id = marketplace_listing.dataset_id)"""

# The distinct uses of the listing's active options, sorted, as a JSON list: one subquery per
# listing, in each database's own JSON functions (the ORM has no portable way to unnest).
_PERMITTED_USES_SQL = {
    "postgresql": """(
        SELECT coalesce(jsonb_agg(DISTINCT u.value ORDER BY u.value), '[]'::jsonb)
        FROM licensing_licenseoption AS o, jsonb_array_elements_text(o.permitted_uses) AS u
        WHERE o.dataset_id = marketplace_listing.dataset_id AND o.is_active)""",
    "sqlite": """(
        SELECT json_group_array(value) FROM (
            SELECT DISTINCT u.value FROM licensing_licenseoption AS o, json_each(o.permitted_uses) AS u
            WHERE o.dataset_id = marketplace_listing.dataset_id AND o.is_active
            ORDER BY u.value))""",
}
# Listings refreshed per statement: a bound on the size of one UPDATE and its id list.
REFRESH_BATCH = 5000


def _search_field_values() -> dict:
    """Each copied field of a listing as an expression over the rows it is copied from."""
    dataset = Dataset.objects.filter(pk=OuterRef("dataset_id"))
    version = DatasetVersion.objects.filter(pk=OuterRef("version_id"))
    declaration = ProvenanceDeclaration.objects.filter(version_id=OuterRef("version_id"))
    # A report being measured again counts as unmeasured until it is done, as on its card.
    report = QualityReport.objects.filter(
        version_id=OuterRef("version_id"), state=QualityReport.State.DONE
    )
    active = LicenseOption.objects.filter(dataset_id=OuterRef("dataset_id"), is_active=True)
    cheapest = active.order_by("price_minor", "id")
    uses = _PERMITTED_USES_SQL[connection.vendor]
    values = {
        "title": Subquery(dataset.values("title")[:1]),
        "modality": Subquery(dataset.values("modality")[:1]),
        "languages": Subquery(dataset.values("languages")[:1]),
        "permitted_uses": RawSQL(uses, [], JSONField()),  # noqa: S611 - constant SQL, no input
        "price_from_minor": Subquery(cheapest.values("price_minor")[:1]),
        "price_from_currency": Coalesce(Subquery(cheapest.values("currency")[:1]), Value("")),
        "has_exclusive_option": Exists(active.filter(is_exclusive=True)),
        "authorship": Coalesce(Subquery(declaration.values("authorship")[:1]), Value("")),
        "total_bytes": Subquery(version.values("total_bytes")[:1]),
        "total_records": Subquery(version.values("total_records")[:1]),
        "measured_near_duplicate_bps": Subquery(report.values("near_duplicate_bps")[:1]),
        "has_measured_synthetic_signals": Subquery(report.values("has_synthetic_signals")[:1]),
        "search_refreshed_at": Value(timezone.now()),
    }
    if connection.vendor == "postgresql":  # SQLite searches the dataset's text with LIKE
        document = RawSQL(_SEARCH_DOCUMENT_SQL, [], SearchVectorField())  # noqa: S611 - constant
        values["search_document"] = document
    return values


def _lock_listings(listings) -> list[str]:
    """Lock the listings about to be refreshed, in primary-key order; returns their ids."""
    return list(listings.select_for_update().order_by("pk").values_list("pk", flat=True))


def refresh_search_fields(
    *,
    listing_ids: list[str] | None = None,
    dataset_ids: list[str] | None = None,
    version_ids: list[str] | None = None,
) -> int:
    """Copy onto listings what the catalog searches, filters, sorts and counts.

    Refreshes the listings named by id, of the datasets, or showing the versions given; every
    listing when none is given. Called (through marketplace.handlers) whenever a listing, its
    dataset, the dataset's license options or the shown version's quality report change, inside
    the transaction of that change. The listings are locked first, so the refresh of a
    concurrent change waits for this transaction to commit and then reads what it wrote (a
    statement that started before the commit would not see it). On PostgreSQL it rebuilds the
    full-text documents too. One UPDATE per REFRESH_BATCH listings. Returns how many listings
    were refreshed.
    """
    listings = Listing.objects.all()
    if listing_ids is not None or dataset_ids is not None or version_ids is not None:
        listings = listings.filter(
            Q(pk__in=listing_ids or [])
            | Q(dataset_id__in=dataset_ids or [])
            | Q(version_id__in=version_ids or [])
        )
    with transaction.atomic():
        ids = _lock_listings(listings)
        values = _search_field_values()
        for start in range(0, len(ids), REFRESH_BATCH):
            batch = ids[start : start + REFRESH_BATCH]
            Listing.objects.filter(pk__in=batch).update(**values)
    return len(ids)


def publish_listing(
    *, actor: User | None, version: DatasetVersion, now: datetime | None = None
) -> Listing:
    """Show an approved version in the catalog, creating the dataset's listing or moving it on.

    Raises Conflict when the version is not approved. Writes `listing.published`.
    """
    now = now or timezone.now()
    if version.status != DatasetVersion.Status.APPROVED:
        raise Conflict("Only an approved version can be published.")
    with transaction.atomic():
        listing, created = Listing.objects.select_for_update().get_or_create(
            dataset=version.dataset,
            defaults={"version": version, "published_at": now, "updated_at": now},
        )
        if not created:
            if listing.version_id == version.pk and listing.status == Listing.Status.PUBLISHED:
                return listing  # published already: approval and a caller may both ask
            listing.version = version
            listing.status = Listing.Status.PUBLISHED
            listing.updated_at = now
            listing.save(update_fields=["version", "status", "updated_at"])
        # Saving the listing refreshed its search fields (marketplace.handlers).
        record_event(
            action="listing.published",
            subject_type="listing",
            subject_id=listing.pk,
            actor=actor,
            organization=version.dataset.organization,
            payload={"version": version.pk, "merkle_root": version.merkle_root},
            now=now,
        )
    return listing


def suspend_listing(
    *, actor: User | None, dataset: Dataset, reason: str, now: datetime | None = None
) -> Listing | None:
    """Take the dataset's listing out of the catalog (an upheld rights claim).

    Returns the listing, or None when the dataset has none. Writes `listing.suspended`.
    """
    now = now or timezone.now()
    with transaction.atomic():
        listing = Listing.objects.select_for_update().filter(dataset=dataset).first()
        if listing is None or listing.status == Listing.Status.SUSPENDED:
            return listing
        listing.status = Listing.Status.SUSPENDED
        listing.updated_at = now
        listing.save(update_fields=["status", "updated_at"])
        record_event(
            action="listing.suspended",
            subject_type="listing",
            subject_id=listing.pk,
            actor=actor,
            organization=dataset.organization,
            payload={"reason": reason},
            now=now,
        )
    return listing


def reinstate_listing(
    *, actor: User | None, dataset: Dataset, reason: str, now: datetime | None = None
) -> Listing | None:
    """Show a suspended listing in the catalog again. Writes `listing.reinstated`."""
    now = now or timezone.now()
    with transaction.atomic():
        listing = Listing.objects.select_for_update().filter(dataset=dataset).first()
        if listing is None or listing.status != Listing.Status.SUSPENDED:
            return listing
        listing.status = Listing.Status.PUBLISHED
        listing.updated_at = now
        listing.save(update_fields=["status", "updated_at"])
        record_event(
            action="listing.reinstated",
            subject_type="listing",
            subject_id=listing.pk,
            actor=actor,
            organization=dataset.organization,
            payload={"reason": reason},
            now=now,
        )
    return listing


# --- Checkout: orders, payments, refunds, disputes, invoices ------------------------------

logger = logging.getLogger(__name__)


def _order_event(order: Order, *, action: str, actor=None, now=None, payload=None) -> None:
    record_event(
        action=action,
        subject_type="order",
        subject_id=order.pk,
        actor=actor,
        organization=order.organization,
        payload={"status": order.status, **(payload or {})},
        now=now,
    )


def _notify_owners(organization: Organization, text: str, link: str, *, verb: str) -> None:
    """Tell the organization's owners, in the app and by mail after the commit."""
    owners = User.objects.filter(
        memberships__organization=organization,
        memberships__role=Membership.Role.OWNER,
        is_active=True,
    )
    notify(recipients=list(owners), verb=verb, text=text, link=link, organization=organization)


def _holds_on_dataset(*, dataset: Dataset, now: datetime):
    """Orders and licenses that keep a dataset from being sold to someone else right now."""
    live_orders = Order.objects.filter(version__dataset=dataset).filter(
        Q(status=Order.Status.PENDING, expires_at__gt=now) | Q(status__in=Order.PAID_STATES)
    )
    live_licenses = License.objects.filter(
        version__dataset=dataset,
        status__in=[License.Status.ACTIVE, License.Status.SUSPENDED],
    ).filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))
    return live_orders, live_licenses


def exclusivity_conflict(
    *, dataset: Dataset, is_exclusive: bool, now: datetime, agreement: Agreement | None = None
) -> Conflict | None:
    """Why a license on these terms cannot be sold (or agreed) on the dataset right now, or None.

    Someone holds it exclusively (an agreement other than `agreement`, a live exclusive order
    or license), or the terms are exclusive while anybody holds or is buying a license. The
    caller holds the dataset's row lock: checkout, and negotiation through licensing's
    `negotiation_hold_check` signal, lock that same row, so the answer holds until it commits.
    """
    held_by = exclusive_agreement_on(dataset=dataset, now=now)
    if held_by is not None and (agreement is None or held_by.pk != agreement.pk):
        return Conflict(
            "This dataset is licensed exclusively under a negotiated agreement right now.",
            code="exclusively_licensed",
        )
    live_orders, live_licenses = _holds_on_dataset(dataset=dataset, now=now)
    exclusive_held = (
        live_orders.filter(is_exclusive=True).exists()
        or live_licenses.filter(terms__is_exclusive=True).exists()
    )
    if exclusive_held:
        return Conflict(
            "This dataset is licensed exclusively (or reserved for an exclusive purchase) "
            "right now.",
            code="exclusively_licensed",
        )
    if is_exclusive and (live_orders.exists() or live_licenses.exists()):
        return Conflict(
            "An exclusive license is only possible while nobody else holds or is buying one.",
            code="exclusive_unavailable",
        )
    return None


def agreement_checkout_conflict(*, agreement: Agreement, now: datetime) -> Conflict | None:
    """Why the agreement cannot be checked out now, someone's exclusivity being in the way, or
    None. Read without the lock, for pages; placing the order checks again under it."""
    return exclusivity_conflict(
        dataset=agreement.dataset, is_exclusive=agreement.is_exclusive, now=now, agreement=agreement
    )


def _check_exclusivity(
    *, dataset: Dataset, is_exclusive: bool, now: datetime, agreement: Agreement | None = None
) -> None:
    conflict = exclusivity_conflict(
        dataset=dataset, is_exclusive=is_exclusive, now=now, agreement=agreement
    )
    if conflict is not None:
        raise conflict


def _draw_invoice_number(*, now: datetime) -> tuple[int, int, str]:
    InvoiceCounter.objects.get_or_create(year=now.year)
    counter = InvoiceCounter.objects.select_for_update().get(year=now.year)
    counter.last_number += 1
    counter.save(update_fields=["last_number"])
    return now.year, counter.last_number, f"WS-{now.year}-{counter.last_number:06d}"


def create_order(
    *,
    actor: User | None,
    organization: Organization,
    option: LicenseOption,
    payment_method: str = Order.PaymentMethod.CARD,
    po_number: str = "",
    billing_company: str = "",
    billing_address: str = "",
    billing_vat_id: str = "",
    idempotency_key: str = "",
    now: datetime | None = None,
) -> Order:
    """Place an order for a list-price license option of a published listing.

    Freezes the option's terms and price, splits the amount into the platform fee and the
    creator's share, and (for an exclusive option) reserves the dataset until the order is paid
    or expires. Pay by invoice needs a PO number and billing company; it draws the invoice
    number. Retrying with the same `idempotency_key` returns the first order.

    Raises NotFound for an option not on sale, PermissionDenied for a non-buyer organization,
    Conflict when the dataset is licensed exclusively or it is the buyer's own dataset,
    InvalidInput for missing billing details. Writes `order.created` to the ledger.
    """
    now = now or timezone.now()
    if not organization.is_buyer:
        raise PermissionDenied("Only a buyer organization can place orders.")
    if payment_method not in Order.PaymentMethod.values:
        raise InvalidInput(
            f"Choose a payment method: {', '.join(Order.PaymentMethod.values)}.",
            errors={"payment_method": ["Unknown payment method."]},
        )
    if payment_method == Order.PaymentMethod.INVOICE:
        missing = {
            name: ["Required to pay by invoice."]
            for name, value in (("po_number", po_number), ("billing_company", billing_company))
            if not value.strip()
        }
        if missing:
            raise InvalidInput(
                "Paying by invoice needs a PO number and the billing company.", errors=missing
            )
    return _place_order(
        actor=actor,
        organization=organization,
        option_id=option.pk,
        payment_method=payment_method,
        billing={
            "po_number": po_number.strip()[:64],
            "billing_company": billing_company.strip()[:200],
            "billing_address": billing_address.strip(),
            "billing_vat_id": billing_vat_id.strip().upper()[:32],
        },
        idempotency_key=idempotency_key.strip()[:255],
        now=now,
    )


def _place_order(
    *,
    actor,
    organization,
    payment_method,
    billing,
    idempotency_key,
    now,
    option_id=None,
    agreement_id=None,
):
    with transaction.atomic():
        if idempotency_key:
            existing = Order.objects.filter(
                organization=organization, idempotency_key=idempotency_key
            ).first()
            if existing is not None:
                if (existing.option_id, existing.agreement_id) != (option_id, agreement_id):
                    raise Conflict(
                        "This Idempotency-Key was already used for a different order.",
                        code="idempotency_key_reused",
                    )
                return existing
        option = agreement = None
        if agreement_id:
            agreement = (
                Agreement.objects.filter(
                    pk=agreement_id,
                    buyer_org=organization,
                    dataset__listing__status="published",
                )
                .select_related("dataset__listing__version")
                .first()
            )
            if agreement is None:
                raise NotFound("No such agreement of yours on a published listing.")
            dataset_id = agreement.dataset_id
        else:
            option = (
                LicenseOption.objects.select_related("dataset__listing__version")
                .filter(pk=option_id, is_active=True, dataset__listing__status="published")
                .first()
            )
            if option is None:
                raise NotFound("No such license option on sale.")
            dataset_id = option.dataset_id
        # The dataset row is the lock for its exclusivity: two buyers of the last exclusive
        # option queue here, and the second one sees the first one's hold.
        dataset = Dataset.objects.select_for_update().get(pk=dataset_id)
        if (
            option is not None
            and not LicenseOption.objects.filter(pk=option.pk, is_active=True).exists()
        ):
            # Withdrawn while we queued for the lock (an exclusive sale or agreement took it).
            raise NotFound("No such license option on sale.")
        if dataset.organization_id == organization.pk:
            raise Conflict("You cannot buy a license to your own dataset.", code="own_dataset")
        if agreement is not None:
            live = Order.objects.filter(agreement=agreement).filter(
                Q(status=Order.Status.PENDING, expires_at__gt=now) | Q(status__in=Order.PAID_STATES)
            )
            if live.exists():
                raise Conflict(
                    "This agreement already has an order; open it from your orders.",
                    code="agreement_ordered",
                )
            terms, terms_sha256 = agreement.terms, agreement.terms_sha256
            is_exclusive = agreement.is_exclusive
            price_minor, currency = agreement.price_minor, agreement.currency
        else:
            terms, terms_sha256 = option.terms_dict(), option.terms_hash()
            is_exclusive = bool(terms["is_exclusive"])
            price_minor, currency = option.price_minor, option.currency
        _check_exclusivity(dataset=dataset, is_exclusive=is_exclusive, now=now, agreement=agreement)
        fee, share = split_fee(price_minor, settings.PLATFORM_FEE_BPS)
        is_invoice = payment_method == Order.PaymentMethod.INVOICE
        order = Order(
            organization=organization,
            version=dataset.listing.version,
            option=option,
            agreement=agreement,
            terms=terms,
            terms_sha256=terms_sha256,
            is_exclusive=is_exclusive,
            amount_minor=price_minor,
            currency=currency,
            platform_fee_minor=fee,
            creator_share_minor=share,
            payment_method=payment_method,
            idempotency_key=idempotency_key,
            created_by=actor if actor is not None and actor.is_authenticated else None,
            created_at=now,
            updated_at=now,
            expires_at=now
            + (
                timedelta(days=settings.INVOICE_DUE_DAYS + 7)
                if is_invoice
                else timedelta(minutes=settings.ORDER_HOLD_MINUTES)
            ),
            **billing,
        )
        order.full_clean()
        order.save(force_insert=True)
        payload = {
            "version": order.version_id,
            "option": option.pk if option else None,
            "agreement": agreement.pk if agreement else None,
            "amount_minor": order.amount_minor,
            "currency": order.currency,
            "terms_sha256": order.terms_sha256,
        }
        if is_invoice:
            year, sequence, number = _draw_invoice_number(now=now)
            Invoice.objects.create(
                order=order,
                number=number,
                year=year,
                sequence=sequence,
                issued_at=now,
                due_at=now + timedelta(days=settings.INVOICE_DUE_DAYS),
            )
            payload["invoice"] = number
        _order_event(order, action="order.created", actor=actor, now=now, payload=payload)
    return order


def create_order_from_agreement(
    *,
    actor: User | None,
    organization: Organization,
    agreement: Agreement,
    payment_method: str = Order.PaymentMethod.CARD,
    po_number: str = "",
    billing_company: str = "",
    billing_address: str = "",
    billing_vat_id: str = "",
    idempotency_key: str = "",
    now: datetime | None = None,
) -> Order:
    """Place the order for an accepted agreement (a negotiated offer): its frozen terms, hash
    and price, for the version the dataset's listing shows now. One live order per agreement.

    Raises NotFound for another organization's agreement, Conflict when it already has a live
    order or another exclusive hold exists, InvalidInput as create_order does.
    """
    now = now or timezone.now()
    if payment_method == Order.PaymentMethod.INVOICE and not (
        po_number.strip() and billing_company.strip()
    ):
        raise InvalidInput(
            "Paying by invoice needs a PO number and the billing company.",
            errors={"po_number": ["Required to pay by invoice."]},
        )
    return _place_order(
        actor=actor,
        organization=organization,
        agreement_id=agreement.pk,
        payment_method=payment_method,
        billing={
            "po_number": po_number.strip()[:64],
            "billing_company": billing_company.strip()[:200],
            "billing_address": billing_address.strip(),
            "billing_vat_id": billing_vat_id.strip().upper()[:32],
        },
        idempotency_key=idempotency_key.strip()[:255],
        now=now,
    )


def start_card_payment(*, order: Order, gateway: StripeGateway | None = None) -> str:
    """Create (once) the order's Stripe PaymentIntent; returns its client secret.

    Raises Conflict for an order that is not awaiting a card payment.
    """
    gateway = gateway or get_gateway()
    order.refresh_from_db()
    if order.status != Order.Status.PENDING or order.payment_method != Order.PaymentMethod.CARD:
        raise Conflict("This order is not awaiting a card payment.")
    if order.stripe_payment_intent_id:
        return gateway.client_secret(order.stripe_payment_intent_id)
    # The idempotency key makes a retry (or a double click) reuse Stripe's first answer.
    intent_id, client_secret = gateway.create_payment_intent(
        amount_minor=order.amount_minor,
        currency=order.currency,
        order_id=order.pk,
        idempotency_key=f"wellspring-order-{order.pk}",
    )
    claimed = Order.objects.filter(pk=order.pk, stripe_payment_intent_id="").update(
        stripe_payment_intent_id=intent_id, updated_at=timezone.now()
    )
    if not claimed:
        order.refresh_from_db()
        return gateway.client_secret(order.stripe_payment_intent_id)
    order.stripe_payment_intent_id = intent_id
    return client_secret


def pay_with_test_card(
    *, order: Order, card: str = "pm_card_visa", gateway: StripeGateway | None = None
) -> Order:
    """Test mode only: pay the order with a Stripe test card, then read the outcome back.

    Raises Conflict outside test mode, InvalidInput when the card is declined.
    """
    if not settings.STRIPE_TEST_MODE:
        raise Conflict("Test cards work only in test mode.")
    gateway = gateway or get_gateway()
    start_card_payment(order=order, gateway=gateway)
    order.refresh_from_db()
    try:
        gateway.confirm_with_payment_method(order.stripe_payment_intent_id, card)
    except PaymentDeclined as error:
        raise InvalidInput(str(error), code="card_declined") from error
    return sync_order_payment(order_id=order.pk, gateway=gateway)


def sync_order_payment(
    *, order_id: str, gateway: StripeGateway | None = None, now: datetime | None = None
) -> Order:
    """Read the order's PaymentIntent from Stripe and bring the order and license in line.

    Webhook events only trigger this: whatever their number or order, the outcome depends on
    Stripe's current state alone. No lock is held while Stripe is asked.
    """
    order = Order.objects.get(pk=order_id)
    if not order.stripe_payment_intent_id:
        return order
    state = (gateway or get_gateway()).payment_state(order.stripe_payment_intent_id)
    return apply_payment_state(order_id=order_id, state=state, now=now)


def apply_payment_state(
    *, order_id: str, state: PaymentState, now: datetime | None = None
) -> Order:
    """Move the order (and its license) to what Stripe's `state` says, under the order's lock.

    Paid -> license granted and fulfilment queued; full refund -> license revoked; partial
    refund -> recorded, license kept (the terms sell one indivisible license: a partial refund is
    a price adjustment); open dispute -> license suspended; dispute won -> reinstated; lost ->
    revoked. A payment that succeeds on an order already expired or canceled is refunded.
    """
    now = now or timezone.now()
    refund_late_payment = False
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        if state.intent_id != order.stripe_payment_intent_id:
            raise Conflict("That payment belongs to another order.")
        if state.status == "canceled" and order.status == Order.Status.PENDING:
            _move(order, Order.Status.CANCELED, now=now, reason="The payment was canceled.")
        if not state.is_succeeded:
            return order
        if order.status in (Order.Status.EXPIRED, Order.Status.CANCELED):
            refund_late_payment = state.amount_refunded_minor < state.amount_minor
        else:
            if order.status == Order.Status.PENDING:
                _mark_paid(order, now=now, grant=state.amount_refunded_minor < order.amount_minor)
            _apply_refunded_total(order, refunded_minor=state.amount_refunded_minor, now=now)
            _apply_dispute(order, dispute_status=state.dispute_status, now=now)
    if refund_late_payment:
        _refund_late_payment(order, state)
    return order


def _move(order: Order, status: str, *, now, actor=None, reason: str = "", payload=None) -> None:
    before = order.status
    order.move_to(status)
    order.updated_at = now
    order.save(update_fields=["status", "updated_at"])
    _order_event(
        order,
        action=f"order.{status}",
        actor=actor,
        now=now,
        payload={"from": before, "reason": reason, **(payload or {})},
    )


def _mark_paid(order: Order, *, now, actor=None, grant: bool = True) -> None:
    order.move_to(Order.Status.PAID)
    order.paid_at = now
    order.updated_at = now
    order.save(update_fields=["status", "paid_at", "updated_at"])
    _order_event(order, action="order.paid", actor=actor, now=now)
    emit_event(
        organization=order.organization,
        type=Event.Type.ORDER_PAID,
        data={"order": order.pk, "amount_minor": order.amount_minor, "currency": order.currency},
        now=now,
    )
    if not grant:
        return
    license = grant_license(
        organization=order.organization,
        version=order.version,
        terms=order.terms,
        source=f"order:{order.pk}",
        actor=actor,
        now=now,
    )
    order.license = license
    order.save(update_fields=["license"])
    dataset = order.version.dataset
    if order.is_exclusive:
        _take_exclusively_sold_off_market(order, dataset=dataset, now=now, actor=actor)
    _notify_owners(
        order.organization,
        f"Your license to {dataset.title} is ready: order {order.pk} is paid "
        f"({format_minor(order.amount_minor, order.currency)}) and license {license.pk} is active.",
        f"/library/licenses/{license.pk}/",
        verb="license.granted",
    )
    _notify_owners(
        dataset.organization,
        f"You sold a license to {dataset.title} v{order.version.number} to "
        f"{order.organization.name}; your share is "
        f"{format_minor(order.creator_share_minor, order.currency)}.",
        "/creator/sales/",
        verb="license.sold",
    )
    from marketplace.tasks import fulfil_order_task

    transaction.on_commit(partial(fulfil_order_task.delay, order_id=order.pk))


def _take_exclusively_sold_off_market(order: Order, *, dataset: Dataset, now, actor) -> None:
    """An exclusive license was sold: no one else negotiates or buys the dataset while it runs.

    Locks the dataset's row, as checkout and negotiation do (the order's row is locked first
    here, and no path locks a dataset before an order, so the two cannot deadlock).
    """
    Dataset.objects.select_for_update().filter(pk=dataset.pk).first()
    offers, options = take_off_market(dataset=dataset, now=now)
    if offers or options:
        record_event(
            action="dataset.taken_off_market",
            subject_type="dataset",
            subject_id=dataset.pk,
            actor=actor,
            organization=dataset.organization,
            payload={
                "order": order.pk,
                "license": order.license_id,
                "withdrawn_offers": offers,
                "withdrawn_options": options,
            },
            now=now,
        )


def _fee_returned(order: Order, refunded_minor: int) -> int:
    """The platform fee given back once `refunded_minor` of the order is refunded in total.

    Rounded down on the running total, so a full refund returns exactly the whole fee however
    many parts it came in.
    """
    if not order.amount_minor:
        return 0
    return order.platform_fee_minor * refunded_minor // order.amount_minor


def _apply_refunded_total(order: Order, *, refunded_minor: int, now, actor=None) -> None:
    refunded_minor = min(refunded_minor, order.amount_minor)
    if refunded_minor <= order.refunded_minor:
        return
    OrderRefund.objects.create(
        order=order,
        amount_minor=refunded_minor - order.refunded_minor,
        platform_fee_minor=(
            _fee_returned(order, refunded_minor) - _fee_returned(order, order.refunded_minor)
        ),
        refunded_at=now,
    )
    order.refunded_minor = refunded_minor
    order.save(update_fields=["refunded_minor"])
    if refunded_minor == order.amount_minor:
        _move(order, Order.Status.REFUNDED, now=now, actor=actor, reason="Refunded in full.")
        if order.license_id:
            change_license_status(
                license=order.license,
                status=License.Status.REVOKED,
                reason=f"Order {order.pk} was refunded.",
                actor=actor,
                now=now,
            )
            _notify_owners(
                order.organization,
                f"Your license {order.license_id} was revoked after a full refund of order "
                f"{order.pk}; its download links no longer work.",
                f"/library/licenses/{order.license_id}/",
                verb="license.revoked",
            )
    else:
        _move(
            order,
            Order.Status.PARTIALLY_REFUNDED,
            now=now,
            actor=actor,
            reason="Refunded in part.",
            payload={"refunded_minor": refunded_minor},
        )
    emit_event(
        organization=order.organization,
        type=Event.Type.ORDER_REFUNDED,
        data={"order": order.pk, "refunded_minor": refunded_minor, "status": order.status},
        now=now,
    )
    _notify_owners(
        order.organization,
        f"Refund for order {order.pk}: {format_minor(refunded_minor, order.currency)} of "
        f"{format_minor(order.amount_minor, order.currency)} has been refunded.",
        f"/library/orders/{order.pk}/",
        verb="order.refunded",
    )


def _apply_dispute(order: Order, *, dispute_status: str, now) -> None:
    if not dispute_status:
        return
    is_open = dispute_status in OPEN_DISPUTE_STATUSES
    license = order.license
    if is_open and order.status != Order.Status.DISPUTED and order.can_move_to("disputed"):
        _move(order, Order.Status.DISPUTED, now=now, reason=f"Dispute {dispute_status}.")
        if license and license.status == License.Status.ACTIVE:
            change_license_status(
                license=license, status="suspended", reason="The payment is disputed.", now=now
            )
    elif dispute_status == "won" and order.status == Order.Status.DISPUTED:
        _move(order, Order.Status.FULFILLED, now=now, reason="Dispute won.")
        if license and license.status == License.Status.SUSPENDED:
            change_license_status(license=license, status="active", reason="Dispute won.", now=now)
    elif dispute_status == "lost" and order.status == Order.Status.DISPUTED:
        # The card network took the money back: the same as a full refund.
        _apply_refunded_total(order, refunded_minor=order.amount_minor, now=now)


def _refund_late_payment(order: Order, state: PaymentState) -> None:
    """A payment that arrived after its order expired (its hold may be someone else's now)."""
    get_gateway().refund(
        intent_id=state.intent_id,
        amount_minor=state.amount_minor - state.amount_refunded_minor,
        idempotency_key=f"wellspring-late-refund-{order.pk}",
    )
    with transaction.atomic():
        _order_event(
            order,
            action="order.late_payment_refunded",
            payload={"amount_minor": state.amount_minor - state.amount_refunded_minor},
        )
    logger.warning("refunded a payment that arrived after order %s %s", order.pk, order.status)


def fulfil_order(*, order_id: str, now: datetime | None = None) -> Order:
    """Issue the certificate and the fingerprinted deliveries of a paid order, then mark it
    fulfilled. Safe to run again after a crash: each step skips what is already done.
    """
    now = now or timezone.now()
    order = Order.objects.select_related("license").get(pk=order_id)
    if order.license is None or order.status not in Order.PAID_STATES:
        return order
    issue_certificate(license=order.license, now=now)
    build_deliveries(license=order.license, now=now)
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        if order.status == Order.Status.PAID:
            order.fulfilled_at = now
            order.save(update_fields=["fulfilled_at"])
            _move(order, Order.Status.FULFILLED, now=now, reason="Certificate and files ready.")
    return order


def refund_order(
    *,
    actor: User,
    order: Order,
    amount_minor: int | None = None,
    reason: str = "",
    gateway: StripeGateway | None = None,
    now: datetime | None = None,
) -> Order:
    """Refund a paid order in full (revoking its license) or in part. Staff only.

    Card orders are refunded through Stripe and read back; invoice orders record the refund
    (the money goes back outside Stripe). Raises PermissionDenied for non-staff, Conflict for
    an order that was never paid, InvalidInput for an amount above what is left to refund.
    """
    now = now or timezone.now()
    if not actor.is_staff:
        raise PermissionDenied("Only staff can refund orders.")
    order.refresh_from_db()
    if order.status not in Order.PAID_STATES:
        raise Conflict("Only a paid order can be refunded.")
    amount = order.refundable_minor if amount_minor is None else amount_minor
    if not 0 < amount <= order.refundable_minor:
        raise InvalidInput(
            f"Refund between 1 and {order.refundable_minor} minor units "
            f"({format_minor(order.refundable_minor, order.currency)}).",
            errors={"amount_minor": ["Out of range."]},
        )
    if order.stripe_payment_intent_id:
        gateway = gateway or get_gateway()
        gateway.refund(
            intent_id=order.stripe_payment_intent_id,
            amount_minor=amount,
            idempotency_key=f"wellspring-refund-{order.pk}-{order.refunded_minor}-{amount}",
        )
        with transaction.atomic():
            _order_event(
                order,
                action="order.refund_requested",
                actor=actor,
                now=now,
                payload={"amount_minor": amount, "reason": reason},
            )
        return sync_order_payment(order_id=order.pk, gateway=gateway, now=now)
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        _apply_refunded_total(
            order, refunded_minor=order.refunded_minor + amount, now=now, actor=actor
        )
    return order


def mark_invoice_paid(*, actor: User, order: Order, now: datetime | None = None) -> Order:
    """Staff record that an invoice was paid (a bank transfer): the order is paid and its
    license granted. Raises PermissionDenied for non-staff, Conflict unless the order is a
    pending invoice order. Writes `invoice.marked_paid` with the staff member to the ledger.
    """
    now = now or timezone.now()
    if not actor.is_staff:
        raise PermissionDenied("Only staff can mark invoices paid.")
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        if order.payment_method != Order.PaymentMethod.INVOICE:
            raise Conflict("This order is not paid by invoice.")
        if order.status != Order.Status.PENDING:
            raise Conflict(
                f"This order is {order.get_status_display().lower()}, not awaiting payment."
            )
        Invoice.objects.filter(order=order).update(paid_at=now)
        _order_event(order, action="invoice.marked_paid", actor=actor, now=now)
        _mark_paid(order, now=now, actor=actor)
    return order


def sync_invoice(
    *, invoice_id: str, gateway: StripeGateway | None = None, now=None
) -> Order | None:
    """Read a Stripe invoice and, once paid, pay its order. For `invoice.paid` webhooks."""
    state = (gateway or get_gateway()).invoice_state(invoice_id)
    invoice = (
        Invoice.objects.filter(stripe_invoice_id=invoice_id).select_related("order").first()
        or Invoice.objects.filter(order_id=state.metadata.get("order_id", "")).first()
    )
    if invoice is None or not state.is_paid:
        return invoice.order if invoice else None
    now = now or timezone.now()
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=invoice.order_id)
        if order.status == Order.Status.PENDING:
            Invoice.objects.filter(pk=invoice.pk).update(paid_at=now, stripe_invoice_id=invoice_id)
            _order_event(order, action="invoice.paid", now=now, payload={"invoice": invoice_id})
            _mark_paid(order, now=now)
    return order


def expire_orders(*, now: datetime | None = None, gateway: StripeGateway | None = None) -> int:
    """Expire unpaid orders past their hold, releasing exclusive reservations. Card orders are
    checked with Stripe first (a payment may have succeeded without its webhook) and their
    PaymentIntent canceled. Returns how many expired. Safe to overlap with itself.
    """
    now = now or timezone.now()
    count = 0
    for order in Order.objects.filter(status=Order.Status.PENDING, expires_at__lte=now):
        if order.stripe_payment_intent_id:
            gateway = gateway or get_gateway()
            order = sync_order_payment(order_id=order.pk, gateway=gateway, now=now)
            if order.status != Order.Status.PENDING:
                continue
            try:
                gateway.cancel_payment_intent(order.stripe_payment_intent_id)
            except stripe.StripeError:
                # It may have just succeeded: read it back and let the state decide.
                order = sync_order_payment(order_id=order.pk, gateway=gateway, now=now)
                if order.status != Order.Status.PENDING:
                    continue
        with transaction.atomic():
            order = Order.objects.select_for_update().get(pk=order.pk)
            if order.status == Order.Status.PENDING:
                _move(order, Order.Status.EXPIRED, now=now, reason="Not paid in time.")
                count += 1
    return count


def reconcile_pending_orders(
    *, now: datetime | None = None, gateway: StripeGateway | None = None, min_age_seconds: int = 60
) -> int:
    """Ask Stripe about card orders still pending, so a lost webhook never loses a paid order.
    Returns how many changed state."""
    now = now or timezone.now()
    changed = 0
    pending = Order.objects.filter(
        status=Order.Status.PENDING,
        created_at__lte=now - timedelta(seconds=min_age_seconds),
    ).exclude(stripe_payment_intent_id="")
    for order_id in list(pending.values_list("pk", flat=True)):
        try:
            order = sync_order_payment(order_id=order_id, gateway=gateway, now=now)
        except stripe.StripeError:
            logger.exception("could not reconcile order %s", order_id)
            continue
        changed += order.status != Order.Status.PENDING
    return changed


# --- Stripe webhooks -------------------------------------------------------------------


def receive_stripe_event(*, payload: bytes, signature: str) -> tuple[StripeEvent, bool]:
    """Verify a webhook delivery and store its event once by id, before anything acts on it.

    Returns `(event, needs_processing)`. Raises InvalidInput for a bad signature, a stale
    timestamp (over 300 s) or a body that is not an event; nothing is stored then.
    """
    try:
        event = StripeGateway.verify_webhook(payload, signature)
    except (stripe.SignatureVerificationError, ValueError, UnicodeDecodeError) as error:
        raise InvalidInput(
            "The Stripe signature is missing, wrong or too old.", code="bad_signature"
        ) from error
    with transaction.atomic():
        stored, created = StripeEvent.objects.get_or_create(
            id=event["id"], defaults={"type": event["type"], "payload": event}
        )
        if not created:
            StripeEvent.objects.filter(pk=stored.pk).update(deliveries=F("deliveries") + 1)
    return stored, stored.processed_at is None


def _order_ids_for_event(payload: dict) -> list[str]:
    obj = (payload.get("data") or {}).get("object") or {}
    kind = obj.get("object")
    intent_id = ""
    if kind == "payment_intent":
        intent_id = obj.get("id", "")
    elif kind in ("charge", "dispute", "refund"):
        intent_id = obj.get("payment_intent") or ""
    if intent_id:
        return list(
            Order.objects.filter(stripe_payment_intent_id=intent_id).values_list("pk", flat=True)
        )
    order_id = (obj.get("metadata") or {}).get("order_id")
    return [order_id] if order_id and Order.objects.filter(pk=order_id).exists() else []


def process_stripe_event(*, event_id: str, gateway: StripeGateway | None = None) -> StripeEvent:
    """Act on a stored event: re-read the objects it names from Stripe and apply their state.

    Safe to run any number of times, in any order, however late.
    """
    event = StripeEvent.objects.get(pk=event_id)
    payload = event.payload
    obj = (payload.get("data") or {}).get("object") or {}
    if obj.get("object") == "invoice" and obj.get("id"):
        sync_invoice(invoice_id=obj["id"], gateway=gateway)
    else:
        for order_id in _order_ids_for_event(payload):
            sync_order_payment(order_id=order_id, gateway=gateway)
    StripeEvent.objects.filter(pk=event.pk, processed_at__isnull=True).update(
        processed_at=timezone.now()
    )
    return event
