import hashlib

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from accounts.errors import Conflict
from accounts.ids import PublicIdField
from accounts.models import Organization, User
from licensing.money import SUPPORTED_CURRENCIES
from provenance.models import DataFile, Dataset, DatasetVersion, LedgerEntry, canonical_json


class Use(models.TextChoices):
    """What a licensee may do with the data."""

    TRAINING = "training", "Training models from scratch"
    FINE_TUNING = "fine_tuning", "Fine-tuning existing models"
    EVALUATION = "evaluation", "Evaluation and benchmarking"
    RETRIEVAL = "retrieval", "Retrieval (RAG) at inference time"


class PriceModel(models.TextChoices):
    FLAT = "flat", "One flat fee"
    PER_SEAT = "per_seat", "Per seat"
    METERED = "metered", "Metered, per 1,000 records used"


CURRENCY_CHOICES = [(code, code) for code in SUPPORTED_CURRENCIES]


class LicenseTerms(models.Model):
    """The structured terms of a license, shared by templates, options, offers and agreements."""

    permitted_uses = models.JSONField(default=list, help_text="Values of licensing.models.Use.")
    commercial_use = models.BooleanField(
        default=False, help_text="May the licensee use the data in commercial products?"
    )
    term_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Empty for a perpetual license."
    )
    territories = models.JSONField(
        default=list, help_text='ISO 3166-1 alpha-2 codes, or ["worldwide"].'
    )
    is_exclusive = models.BooleanField(default=False)
    attribution_required = models.BooleanField(default=False)
    model_cap = models.PositiveIntegerField(
        null=True, blank=True, help_text="Most models that may be trained; empty for no cap."
    )
    seat_cap = models.PositiveIntegerField(
        null=True, blank=True, help_text="Most seats or deployments; empty for no cap."
    )
    price_model = models.CharField(
        max_length=16, choices=PriceModel.choices, default=PriceModel.FLAT
    )
    price_minor = models.PositiveBigIntegerField(validators=[MinValueValidator(0)])
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES, default="USD")

    TERM_FIELDS = (
        "permitted_uses",
        "commercial_use",
        "term_days",
        "territories",
        "is_exclusive",
        "attribution_required",
        "model_cap",
        "seat_cap",
        "price_model",
        "price_minor",
        "currency",
    )

    class Meta:
        abstract = True

    def terms_dict(self) -> dict:
        terms = {name: getattr(self, name) for name in self.TERM_FIELDS}
        terms["permitted_uses"] = sorted(terms["permitted_uses"])
        terms["territories"] = sorted(terms["territories"])
        return terms

    def terms_hash(self) -> str:
        return hashlib.sha256(canonical_json(self.terms_dict())).hexdigest()

    def use_labels(self) -> list[str]:
        return [Use(use).label for use in self.permitted_uses if use in Use.values]

    def plain_language(self) -> list[str]:
        """The terms as sentences a person can read."""
        uses = ", ".join(label.lower() for label in self.use_labels()) or "no use"
        sentences = [f"You may use the data for: {uses}."]
        sentences.append(
            "Commercial use is allowed."
            if self.commercial_use
            else "Non-commercial use only (research and internal)."
        )
        sentences.append(
            f"The license runs for {self.term_days} days."
            if self.term_days
            else "The license is perpetual."
        )
        places = (
            ", ".join(self.territories)
            if self.territories and "worldwide" not in self.territories
            else "worldwide"
        )
        sentences.append(f"Territory: {places}.")
        if self.is_exclusive:
            sentences.append("Exclusive: no one else can license this dataset while it runs.")
        if self.attribution_required:
            sentences.append("You must credit the creator where the data or models are described.")
        if self.model_cap:
            sentences.append(f"At most {self.model_cap} model(s) may be trained on the data.")
        if self.seat_cap:
            sentences.append(f"At most {self.seat_cap} seat(s) or deployment(s).")
        return sentences


class LicenseTemplate(LicenseTerms):
    """A standard set of terms creators start from; `organization` is empty for platform templates."""

    key = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    organization = models.ForeignKey(
        Organization,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="license_templates",
    )
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class LicenseOption(LicenseTerms):
    """One way to license a dataset at list price, as its creator set it."""

    id = PublicIdField(prefix="opt")
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="license_options")
    template = models.ForeignKey(LicenseTemplate, null=True, blank=True, on_delete=models.SET_NULL)
    name = models.CharField(max_length=120)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["dataset", "price_minor", "id"]

    def __str__(self) -> str:
        return f"{self.name} for {self.dataset}"


# --- Licenses, certificates and deliveries -----------------------------------------------


class License(models.Model):
    """A buyer organization's entitlement to one dataset version under frozen terms."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        EXPIRED = "expired", "Expired"
        SUSPENDED = "suspended", "Suspended"
        REVOKED = "revoked", "Revoked"

    id = PublicIdField(prefix="lic")
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="licenses", help_text="The licensee."
    )
    version = models.ForeignKey(DatasetVersion, on_delete=models.PROTECT, related_name="licenses")
    terms = models.JSONField(help_text="The terms as agreed, frozen.")
    terms_sha256 = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    status_reason = models.CharField(max_length=300, blank=True)
    source = models.CharField(
        max_length=60,
        unique=True,
        help_text="What granted it, e.g. `order:ord_...`: one license per order, at most.",
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True, help_text="Empty for perpetual.")
    created_at = models.DateTimeField(default=timezone.now)
    status_changed_at = models.DateTimeField(default=timezone.now)
    flagged_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Set while an upheld rights claim disputes the dataset; cleared on reinstatement.",
    )
    flag_reason = models.CharField(max_length=500, blank=True)
    expiry_notified_at = models.DateTimeField(
        null=True, blank=True, help_text="When the licensee was told that the term ends soon."
    )

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__isnull=True)
                | models.Q(ends_at__gt=models.F("starts_at")),
                name="licensing_license_ends_after_start",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "status"], name="licensing_license_org_status"),
            models.Index(fields=["status", "ends_at"], name="licensing_license_status_ends"),
        ]

    def __str__(self) -> str:
        return f"{self.pk} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE

    def is_expired(self, now) -> bool:
        return self.ends_at is not None and self.ends_at <= now

    @property
    def is_flagged(self) -> bool:
        return self.flagged_at is not None

    @property
    def agreed_terms(self) -> dict:
        """The structured terms (an agreement's frozen document nests them under "terms")."""
        if "permitted_uses" not in self.terms and isinstance(self.terms.get("terms"), dict):
            return self.terms["terms"]
        return self.terms


class Certificate(models.Model):
    """The platform's signed statement that a license exists, in the shared signed envelope."""

    id = PublicIdField(prefix="cert")
    license = models.OneToOneField(License, on_delete=models.PROTECT, related_name="certificate")
    envelope = models.JSONField(help_text='{"payload", "kid", "signature"}')
    issued_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-issued_at", "id"]

    def __str__(self) -> str:
        return f"Certificate {self.pk} of {self.license_id}"


class Delivery(models.Model):
    """One file as delivered to one license: fingerprinted bytes, so a leak traces back."""

    id = PublicIdField(prefix="dlv")
    license = models.ForeignKey(License, on_delete=models.PROTECT, related_name="deliveries")
    data_file = models.ForeignKey(DataFile, on_delete=models.PROTECT, related_name="deliveries")
    fingerprint_method = models.CharField(
        max_length=24, help_text="How the bytes were marked: text-eol, png-text or none."
    )
    sha256 = models.CharField(max_length=64, help_text="SHA-256 of the bytes as delivered.")
    size_bytes = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["license", "data_file__path", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["license", "data_file"], name="licensing_delivery_one_per_file"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.data_file.path} for {self.license_id}"


class LicenseManifest(models.Model):
    """The signed manifest of the bytes as delivered to one license, in the shared envelope.

    Built once per license by a task when its deliveries are complete (delivered bytes never
    change); `payload_sha256` is what the ledger entry of its issue records.
    """

    id = PublicIdField(prefix="lman")
    license = models.OneToOneField(License, on_delete=models.PROTECT, related_name="manifest")
    envelope = models.JSONField(help_text='{"payload", "kid", "signature"}')
    payload_sha256 = models.CharField(max_length=64)
    issued_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-issued_at", "id"]

    def __str__(self) -> str:
        return f"Manifest {self.pk} of {self.license_id}"


class Download(models.Model):
    """An audit row for every download of a licensed file or archive."""

    class Kind(models.TextChoices):
        FILE = "file", "Single file"
        ARCHIVE = "archive", "Whole version as ZIP"

    id = PublicIdField(prefix="dl")
    license = models.ForeignKey(License, on_delete=models.PROTECT, related_name="downloads")
    delivery = models.ForeignKey(
        Delivery, null=True, blank=True, on_delete=models.PROTECT, related_name="downloads"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.FILE)
    user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="downloads"
    )
    path = models.CharField(max_length=1024)
    byte_range = models.CharField(max_length=64, blank=True, help_text="The Range asked for.")
    bytes_sent = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "id"]
        indexes = [
            models.Index(fields=["license", "-created_at"], name="licensing_download_lic_created")
        ]

    def __str__(self) -> str:
        return f"{self.path} ({self.bytes_sent} bytes)"


# --- Negotiation: offers, proposals, agreements -----------------------------------------


class Side(models.TextChoices):
    BUYER = "buyer", "Buyer"
    CREATOR = "creator", "Creator"


class Offer(models.Model):
    """A negotiation thread between a buyer organization and a dataset's creator organization."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Rejected"
        EXPIRED = "expired", "Expired"
        WITHDRAWN = "withdrawn", "Withdrawn"

    id = PublicIdField(prefix="off")
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="offers")
    buyer_org = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="offers_made"
    )
    creator_org = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="offers_received"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    expires_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="offers_opened"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-updated_at", "id"]
        indexes = [
            models.Index(fields=["status", "expires_at"], name="licensing_offer_status_exp"),
            models.Index(fields=["dataset", "status"], name="licensing_offer_dataset_st"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(buyer_org=models.F("creator_org")),
                name="licensing_offer_two_parties",
            ),
        ]

    def __str__(self) -> str:
        return f"Offer {self.pk} on {self.dataset_id}"

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN

    def is_expired(self, now) -> bool:
        return self.status == self.Status.OPEN and self.expires_at <= now

    def side_of(self, organization) -> str | None:
        if organization is None:
            return None
        if organization.pk == self.buyer_org_id:
            return Side.BUYER
        if organization.pk == self.creator_org_id:
            return Side.CREATOR
        return None


class Proposal(LicenseTerms):
    """One step of a thread: the terms one side proposes, with a message."""

    id = PublicIdField(prefix="prp")
    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="proposals")
    number = models.PositiveIntegerField()
    side = models.CharField(max_length=8, choices=Side.choices)
    message = models.TextField(blank=True, max_length=4000)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="proposals"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["offer", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["offer", "number"], name="licensing_proposal_unique_number"
            ),
        ]

    def __str__(self) -> str:
        return f"Proposal {self.number} of {self.offer_id} by the {self.side}"


class Agreement(models.Model):
    """Accepted terms, frozen: the canonical JSON, its SHA-256 and both sides' acceptance."""

    id = PublicIdField(prefix="agr")
    offer = models.OneToOneField(Offer, on_delete=models.PROTECT, related_name="agreement")
    proposal = models.OneToOneField(Proposal, on_delete=models.PROTECT, related_name="agreement")
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="agreements")
    buyer_org = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="agreements_as_buyer"
    )
    creator_org = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="agreements_as_creator"
    )
    terms = models.JSONField(help_text="The accepted terms, exactly as hashed.")
    terms_sha256 = models.CharField(max_length=64)
    price_minor = models.PositiveBigIntegerField()
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    is_exclusive = models.BooleanField(default=False)
    exclusive_until = models.DateTimeField(
        null=True, blank=True, help_text="End of exclusivity; empty while perpetual."
    )
    buyer_accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    buyer_accepted_at = models.DateTimeField()
    creator_accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    creator_accepted_at = models.DateTimeField()
    ledger_entry = models.ForeignKey(
        LedgerEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "id"]
        indexes = [
            models.Index(fields=["dataset", "is_exclusive"], name="licensing_agreement_excl"),
        ]

    def __str__(self) -> str:
        return f"Agreement {self.pk} on {self.dataset_id}"

    @staticmethod
    def hash_terms(terms: dict) -> str:
        return hashlib.sha256(canonical_json(terms)).hexdigest()

    def holds_exclusivity(self, now) -> bool:
        return self.is_exclusive and (self.exclusive_until is None or self.exclusive_until > now)

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise Conflict("An agreement is frozen once made.")
        self.terms_sha256 = self.hash_terms(self.terms)
        super().save(*args, **kwargs)


# --- Royalties: what a creator earned in a period -----------------------------------------


class ImmutableRecord(Conflict):
    code = "immutable_record"
    title = "An issued record cannot change"


class ImmutableQuerySet(models.QuerySet):
    """Bulk updates and deletes would bypass `save()` and `delete()`: refuse them too."""

    def update(self, **kwargs):
        raise ImmutableRecord(f"{self.model.__name__} rows are immutable once issued.")

    def delete(self):
        raise ImmutableRecord(f"{self.model.__name__} rows are immutable once issued.")


class RoyaltyStatement(models.Model):
    """What a creator organization earned in one calendar month, in one currency.

    Issued whole (its lines in the same transaction) and never changed afterwards: a correction
    is a new adjusting line in a later statement. The totals are the sums of the lines, and
    `net_minor` is what the platform owes the creator for the period.
    """

    id = PublicIdField(prefix="rst")
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="royalty_statements"
    )
    period_starts_on = models.DateField(help_text="The first day of the month.")
    period_ends_on = models.DateField(help_text="The first day of the next month (exclusive).")
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    fee_bps = models.PositiveIntegerField(help_text="Platform fee on metered charges, in bps.")
    gross_sales_minor = models.BigIntegerField(default=0)
    refunds_minor = models.BigIntegerField(default=0, help_text="Refunded to buyers (positive).")
    platform_fee_minor = models.BigIntegerField(
        default=0, help_text="The platform's fee net of fees returned on refunds (positive)."
    )
    metered_minor = models.BigIntegerField(default=0, help_text="Metered usage charges.")
    net_minor = models.BigIntegerField(default=0)
    issued_at = models.DateTimeField(default=timezone.now)
    issued_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = ImmutableQuerySet.as_manager()

    class Meta:
        ordering = ["-period_starts_on", "currency", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "period_starts_on", "currency"],
                name="licensing_royaltystatement_one_per_period",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    net_minor=models.F("gross_sales_minor")
                    - models.F("refunds_minor")
                    - models.F("platform_fee_minor")
                    + models.F("metered_minor")
                ),
                name="licensing_royaltystatement_net_adds_up",
            ),
            models.CheckConstraint(
                condition=models.Q(period_ends_on__gt=models.F("period_starts_on")),
                name="licensing_royaltystatement_period_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.organization} {self.period_starts_on:%Y-%m} {self.currency}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ImmutableRecord("An issued royalty statement cannot change.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableRecord("An issued royalty statement cannot be deleted.")

    @property
    def period_label(self) -> str:
        return f"{self.period_starts_on:%B %Y}"


class RoyaltyLine(models.Model):
    """One figure of a statement, traced to the sale, refund or usage it comes from.

    `source` is the id of what the line accounts for (an order, a refund, a usage period): one
    line per kind and source across all statements, so nothing is counted twice.
    """

    class Kind(models.TextChoices):
        SALE = "sale", "Sale"
        REFUND = "refund", "Refund"
        PLATFORM_FEE = "platform_fee", "Platform fee"
        FEE_RETURNED = "fee_returned", "Platform fee returned on refund"
        METERED = "metered", "Metered usage"
        METERED_FEE = "metered_fee", "Platform fee on metered usage"

    statement = models.ForeignKey(RoyaltyStatement, on_delete=models.PROTECT, related_name="lines")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    source = models.CharField(max_length=80)
    description = models.CharField(max_length=300)
    dataset = models.ForeignKey(
        Dataset, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    occurred_at = models.DateTimeField()
    amount_minor = models.BigIntegerField(help_text="Signed: what it adds to the net owed.")
    is_adjustment = models.BooleanField(
        default=False,
        help_text="Belongs to an earlier period but was not on its statement (late or corrected).",
    )

    objects = ImmutableQuerySet.as_manager()

    class Meta:
        ordering = ["statement", "occurred_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "source"], name="licensing_royaltyline_once_per_source"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount_minor} ({self.source})"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ImmutableRecord("A line of an issued royalty statement cannot change.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableRecord("A line of an issued royalty statement cannot be deleted.")


# --- Usage reports ----------------------------------------------------------------------


class UsageReport(models.Model):
    """What a buyer reports it did with licensed data in one period, checked against the terms.

    Immutable once filed: a correction is a new report for a later period (periods of one
    license never overlap). `billable_minor` is what a metered license bills for this report.
    """

    class Status(models.TextChoices):
        OK = "ok", "Within the terms"
        BREACH = "breach", "Breach of the terms"

    id = PublicIdField(prefix="urp")
    license = models.ForeignKey(License, on_delete=models.PROTECT, related_name="usage_reports")
    organization = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="usage_reports",
        help_text="The reporting (licensee) organization.",
    )
    period_start_on = models.DateField()
    period_end_on = models.DateField(help_text="Inclusive.")
    purpose = models.CharField(max_length=16, choices=Use.choices)
    models_trained = models.JSONField(
        default=list, blank=True, help_text="Names of the models trained or fine-tuned."
    )
    records_used = models.PositiveBigIntegerField(default=0)
    tokens_used = models.PositiveBigIntegerField(default=0)
    seats = models.PositiveIntegerField(default=0, help_text="Deployments or seats in use.")
    note = models.TextField(blank=True, max_length=2000)
    reported_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="usage_reports"
    )
    api_key = models.ForeignKey(
        "accounts.ApiKey",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="usage_reports",
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OK)
    breach_reasons = models.JSONField(
        default=list, blank=True, help_text='[{"code", "message"}] when the status is breach.'
    )
    billable_minor = models.PositiveBigIntegerField(
        default=0, help_text="Metered charge for this report, in minor units of `currency`."
    )
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES, default="USD")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(period_end_on__gte=models.F("period_start_on")),
                name="licensing_usagereport_period_order",
            ),
        ]
        indexes = [
            models.Index(
                fields=["license", "created_at", "id"], name="licensing_usage_lic_created"
            ),
            models.Index(fields=["license", "period_end_on"], name="licensing_usage_lic_period"),
        ]

    def __str__(self) -> str:
        return f"Usage {self.pk} of {self.license_id} ({self.status})"

    @property
    def is_breach(self) -> bool:
        return self.status == self.Status.BREACH


class UsageReportReminder(models.Model):
    """A missing report flagged once: one row per license and reporting period."""

    license = models.ForeignKey(License, on_delete=models.CASCADE, related_name="usage_reminders")
    period_start_on = models.DateField()
    period_end_on = models.DateField()
    flagged_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-flagged_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["license", "period_start_on"], name="licensing_usagereminder_once"
            ),
        ]

    def __str__(self) -> str:
        return f"Report due for {self.license_id} from {self.period_start_on}"
