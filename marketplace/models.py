from datetime import timedelta

from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.utils import timezone

from accounts.errors import Conflict
from accounts.ids import PublicIdField
from accounts.models import Organization, User
from licensing.models import Agreement, License, LicenseOption, RoyaltyStatement
from provenance.models import Dataset, DatasetVersion


class Listing(models.Model):
    """A dataset's place in the public catalog, showing one approved version."""

    class Status(models.TextChoices):
        PUBLISHED = "published", "Published"
        SUSPENDED = "suspended", "Suspended"
        WITHDRAWN = "withdrawn", "Withdrawn"

    id = PublicIdField(prefix="lst")
    dataset = models.OneToOneField(Dataset, on_delete=models.PROTECT, related_name="listing")
    version = models.ForeignKey(DatasetVersion, on_delete=models.PROTECT, related_name="listings")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PUBLISHED)
    published_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    search_document = SearchVectorField(
        null=True,
        blank=True,
        editable=False,
        help_text="PostgreSQL only: title (A), tags (B), summary (C), description (D).",
    )
    # What the catalog filters, sorts and counts, copied from the dataset, the shown version,
    # its declaration and quality report, and the dataset's active license options by
    # `marketplace.services.refresh_search_fields` whenever one of them changes: a search
    # then reads this table alone instead of joining four others for every match.
    title = models.CharField(max_length=200, blank=True, editable=False)
    modality = models.CharField(max_length=16, blank=True, editable=False)
    languages = models.JSONField(default=list, blank=True, editable=False)
    permitted_uses = models.JSONField(
        default=list, blank=True, editable=False, help_text="Of the active options, sorted."
    )
    price_from_minor = models.PositiveBigIntegerField(
        null=True, blank=True, editable=False, help_text="The cheapest active option's price."
    )
    price_from_currency = models.CharField(max_length=3, blank=True, editable=False)
    has_exclusive_option = models.BooleanField(default=False, editable=False)
    authorship = models.CharField(max_length=16, blank=True, editable=False)
    total_bytes = models.PositiveBigIntegerField(default=0, editable=False)
    total_records = models.PositiveBigIntegerField(null=True, blank=True, editable=False)
    measured_near_duplicate_bps = models.PositiveIntegerField(
        null=True, blank=True, editable=False, help_text="Null until the quality report is done."
    )
    has_measured_synthetic_signals = models.BooleanField(
        null=True, blank=True, editable=False, help_text="Null until the quality report is done."
    )
    search_refreshed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-published_at", "id"]
        indexes = [
            models.Index(fields=["status", "-published_at"], name="marketplace_listing_status_pub"),
            # The other sorts of the catalog without a query (see selectors.SORTS). PostgreSQL
            # has more, made by migrations: GIN on the document (0003), on languages and
            # permitted uses, and a covering index of what the facets count (0012).
            models.Index(
                fields=["status", "price_from_minor", "id"], name="marketplace_listing_price"
            ),
            models.Index(fields=["status", "-total_bytes", "id"], name="marketplace_listing_size"),
            models.Index(fields=["status", "title", "id"], name="marketplace_listing_title"),
            # The newest refresh names the state of the whole catalog (see catalog_facets).
            models.Index(fields=["search_refreshed_at"], name="marketplace_listing_refreshed"),
        ]

    def __str__(self) -> str:
        return str(self.dataset)

    @property
    def slug(self) -> str:
        return self.dataset.slug

    @property
    def is_public(self) -> bool:
        return self.status == self.Status.PUBLISHED


# --- Checkout: orders, Stripe events, invoices -------------------------------------------


class IllegalTransition(Conflict):
    code = "illegal_transition"
    title = "The order cannot move to that state"


class Order(models.Model):
    """A buyer organization's purchase of one dataset version under frozen terms."""

    class Status(models.TextChoices):
        PENDING = "pending", "Awaiting payment"
        PAID = "paid", "Paid"
        FULFILLED = "fulfilled", "Fulfilled"
        CANCELED = "canceled", "Canceled"
        EXPIRED = "expired", "Expired"
        REFUNDED = "refunded", "Refunded"
        PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
        DISPUTED = "disputed", "Disputed"

    class PaymentMethod(models.TextChoices):
        CARD = "card", "Card (Stripe)"
        INVOICE = "invoice", "Invoice (purchase order)"

    # Which states each state may move to; anything else raises IllegalTransition.
    TRANSITIONS = {
        Status.PENDING: {Status.PAID, Status.CANCELED, Status.EXPIRED},
        Status.PAID: {
            Status.FULFILLED,
            Status.REFUNDED,
            Status.PARTIALLY_REFUNDED,
            Status.DISPUTED,
        },
        Status.FULFILLED: {Status.REFUNDED, Status.PARTIALLY_REFUNDED, Status.DISPUTED},
        Status.PARTIALLY_REFUNDED: {
            Status.PARTIALLY_REFUNDED,
            Status.REFUNDED,
            Status.DISPUTED,
        },
        Status.DISPUTED: {Status.FULFILLED, Status.REFUNDED, Status.PARTIALLY_REFUNDED},
        Status.CANCELED: set(),
        Status.EXPIRED: set(),
        Status.REFUNDED: set(),
    }
    OPEN_STATES = (Status.PENDING,)
    PAID_STATES = (
        Status.PAID,
        Status.FULFILLED,
        Status.PARTIALLY_REFUNDED,
        Status.DISPUTED,
    )

    id = PublicIdField(prefix="ord")
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="orders", help_text="The buyer."
    )
    version = models.ForeignKey(DatasetVersion, on_delete=models.PROTECT, related_name="orders")
    option = models.ForeignKey(
        LicenseOption, null=True, blank=True, on_delete=models.PROTECT, related_name="orders"
    )
    agreement = models.ForeignKey(
        Agreement, null=True, blank=True, on_delete=models.PROTECT, related_name="orders"
    )
    terms = models.JSONField(help_text="The terms bought, frozen at checkout.")
    terms_sha256 = models.CharField(max_length=64)
    is_exclusive = models.BooleanField(default=False)
    amount_minor = models.PositiveBigIntegerField()
    currency = models.CharField(max_length=3)
    platform_fee_minor = models.PositiveBigIntegerField()
    creator_share_minor = models.PositiveBigIntegerField()
    refunded_minor = models.PositiveBigIntegerField(default=0)
    payment_method = models.CharField(
        max_length=16, choices=PaymentMethod.choices, default=PaymentMethod.CARD
    )
    po_number = models.CharField(max_length=64, blank=True)
    billing_company = models.CharField(max_length=200, blank=True)
    billing_address = models.TextField(blank=True)
    billing_vat_id = models.CharField(max_length=32, blank=True)
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.PENDING)
    stripe_payment_intent_id = models.CharField(max_length=255, blank=True)
    license = models.OneToOneField(
        License, null=True, blank=True, on_delete=models.PROTECT, related_name="order"
    )
    idempotency_key = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="orders"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(help_text="An unpaid order expires and frees its hold.")
    paid_at = models.DateTimeField(null=True, blank=True)
    fulfilled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    amount_minor=models.F("platform_fee_minor") + models.F("creator_share_minor")
                ),
                name="marketplace_order_fee_plus_share_is_amount",
            ),
            models.CheckConstraint(
                condition=models.Q(refunded_minor__lte=models.F("amount_minor")),
                name="marketplace_order_refund_within_amount",
            ),
            models.CheckConstraint(
                condition=models.Q(option__isnull=True) | models.Q(agreement__isnull=True),
                name="marketplace_order_option_or_agreement",
            ),
            models.UniqueConstraint(
                fields=["stripe_payment_intent_id"],
                condition=~models.Q(stripe_payment_intent_id=""),
                name="marketplace_order_unique_payment_intent",
            ),
            models.UniqueConstraint(
                fields=["organization", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="marketplace_order_unique_idempotency_key",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "expires_at"], name="marketplace_order_status_exp"),
            models.Index(fields=["organization", "-created_at"], name="marketplace_order_org"),
        ]

    def __str__(self) -> str:
        return self.pk

    def can_move_to(self, status: str) -> bool:
        return status in self.TRANSITIONS[self.Status(self.status)]

    def move_to(self, status: str) -> None:
        """Change the status in memory; raises IllegalTransition when the table forbids it."""
        if not self.can_move_to(status):
            raise IllegalTransition(
                f"An order that is {self.get_status_display().lower()} cannot become "
                f"{self.Status(status).label.lower()}."
            )
        self.status = status

    @property
    def is_paid(self) -> bool:
        return self.status in self.PAID_STATES or self.status == self.Status.REFUNDED

    @property
    def is_refundable(self) -> bool:
        return self.status in self.PAID_STATES

    @property
    def refundable_minor(self) -> int:
        return self.amount_minor - self.refunded_minor


class StripeEvent(models.Model):
    """A Stripe webhook event, stored once by its id before anything acts on it."""

    id = models.CharField(max_length=255, primary_key=True)
    type = models.CharField(max_length=100)
    payload = models.JSONField()
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
    deliveries = models.PositiveIntegerField(default=1, help_text="Times Stripe sent it.")

    class Meta:
        ordering = ["-received_at", "id"]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class InvoiceCounter(models.Model):
    """The last invoice number used in a year; locked while a number is drawn."""

    year = models.PositiveIntegerField(primary_key=True)
    last_number = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.year}: {self.last_number}"


class Invoice(models.Model):
    """A numbered invoice for an order paid by purchase order."""

    id = PublicIdField(prefix="inv")
    order = models.OneToOneField(Order, on_delete=models.PROTECT, related_name="invoice")
    number = models.CharField(max_length=32, unique=True)
    year = models.PositiveIntegerField()
    sequence = models.PositiveIntegerField()
    stripe_invoice_id = models.CharField(max_length=255, blank=True)
    issued_at = models.DateTimeField(default=timezone.now)
    due_at = models.DateTimeField()
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-issued_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["year", "sequence"], name="marketplace_invoice_unique_sequence"
            ),
        ]

    def __str__(self) -> str:
        return self.number


class OrderRefund(models.Model):
    """Money given back to the buyer of an order, once per refund, with the fee it returns.

    The order keeps the running total (`refunded_minor`); these rows say when each part was
    refunded, so royalty statements put every refund in the month it happened.
    """

    id = PublicIdField(prefix="rfd")
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="refunds")
    amount_minor = models.PositiveBigIntegerField()
    platform_fee_minor = models.PositiveBigIntegerField(
        help_text="The part of the platform fee given back with this refund."
    )
    refunded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["refunded_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(platform_fee_minor__lte=models.F("amount_minor")),
                name="marketplace_orderrefund_fee_within_amount",
            ),
        ]
        indexes = [models.Index(fields=["refunded_at"], name="marketplace_refund_at")]

    def __str__(self) -> str:
        return f"{self.pk} of {self.order_id}: {self.amount_minor}"


# --- Payouts: what the platform pays creators ----------------------------------------------


class PayoutAccount(models.Model):
    """A creator organization's connected Stripe account, where payouts are transferred."""

    organization = models.OneToOneField(
        Organization, on_delete=models.PROTECT, related_name="payout_account"
    )
    stripe_account_id = models.CharField(max_length=255, unique=True)
    connected_at = models.DateTimeField(default=timezone.now)
    connected_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"{self.organization}: {self.stripe_account_id}"


class Payout(models.Model):
    """The transfer of one issued statement's net amount to its creator: one per statement."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSING = "processing", "Being transferred"
        PAID = "paid", "Paid"
        FAILED = "failed", "Failed, will retry"
        GAVE_UP = "gave_up", "Failed, needs attention"

    id = PublicIdField(prefix="pay")
    statement = models.OneToOneField(
        RoyaltyStatement, on_delete=models.PROTECT, related_name="payout"
    )
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="payouts")
    amount_minor = models.PositiveBigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    stripe_account_id = models.CharField(max_length=255, blank=True)
    stripe_transfer_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount_minor__gt=0), name="marketplace_payout_positive"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="marketplace_payout_due"),
        ]

    def __str__(self) -> str:
        return f"{self.pk} ({self.status})"

    @property
    def idempotency_key(self) -> str:
        """The same key on every attempt, so Stripe makes at most one transfer."""
        return f"wellspring-payout-{self.pk}"


# --- Report jobs: long-running reports, with progress, once per period ---------------------


class ReportJob(models.Model):
    """One long-running report: a month's royalty statements, or the usage report of a license
    or a dataset over whole months.

    A report runs once per kind, scope and period (a unique constraint): asking again returns
    the same job. It moves queued -> running -> succeeded or failed; a failed one keeps its
    reason and can be queued again (`attempts` counts the runs). While it runs, the worker
    writes `progress_done` of `progress_total` and `heartbeat_at`; a run silent for
    `STALE_AFTER` is taken to have died with its worker and may be started again.
    """

    class Kind(models.TextChoices):
        ROYALTY_STATEMENTS = "royalty_statements", "Royalty statements"
        LICENSE_USAGE = "license_usage", "Usage report of a license"
        DATASET_USAGE = "dataset_usage", "Usage report of a dataset"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Done"
        FAILED = "failed", "Failed"

    ACTIVE_STATES = frozenset({Status.QUEUED, Status.RUNNING})
    STALE_AFTER = timedelta(minutes=15)
    # The scope of the statements of every creator organization, run by beat.
    ALL = "all"

    id = PublicIdField(prefix="job")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    scope = models.CharField(
        max_length=60,
        help_text='What it covers: "all" creators, "organization:<id>", or the id of a license '
        "or dataset.",
    )
    organization = models.ForeignKey(
        Organization,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="report_jobs",
        help_text="The creator organization whose statements these are.",
    )
    license = models.ForeignKey(
        License, null=True, blank=True, on_delete=models.PROTECT, related_name="report_jobs"
    )
    dataset = models.ForeignKey(
        Dataset, null=True, blank=True, on_delete=models.PROTECT, related_name="report_jobs"
    )
    period_starts_on = models.DateField(help_text="The first day of the first month.")
    period_ends_on = models.DateField(help_text="The first day after the last month (exclusive).")
    requested_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_by_organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True, help_text="Why the last run failed.")
    attempts = models.PositiveIntegerField(default=0)
    result = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "scope", "period_starts_on", "period_ends_on"],
                name="marketplace_reportjob_once_per_period",
            ),
            models.CheckConstraint(
                condition=models.Q(period_ends_on__gt=models.F("period_starts_on")),
                name="marketplace_reportjob_period_order",
            ),
            models.CheckConstraint(
                condition=models.Q(progress_done__lte=models.F("progress_total")),
                name="marketplace_reportjob_progress_within_total",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.get_kind_display()} {self.scope} {self.period_starts_on:%Y-%m} ({self.status})"
        )

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATES

    @property
    def has_failed(self) -> bool:
        return self.status == self.Status.FAILED

    @property
    def has_succeeded(self) -> bool:
        return self.status == self.Status.SUCCEEDED

    def is_stale(self, now) -> bool:
        """Running, but silent for longer than `STALE_AFTER`: its worker is gone."""
        last = self.heartbeat_at or self.started_at or self.queued_at
        return self.status == self.Status.RUNNING and last + self.STALE_AFTER < now

    @property
    def percent(self) -> int:
        """Whole percent done; 100 only when it succeeded."""
        if self.status == self.Status.SUCCEEDED:
            return 100
        if not self.progress_total:
            return 0
        return min(self.progress_done * 100 // self.progress_total, 99)

    @property
    def period_label(self) -> str:
        last = self.period_ends_on - timedelta(days=1)
        if (last.year, last.month) == (self.period_starts_on.year, self.period_starts_on.month):
            return f"{self.period_starts_on:%B %Y}"
        return f"{self.period_starts_on:%B %Y} to {last:%B %Y}"
