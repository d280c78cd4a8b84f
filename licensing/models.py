import hashlib

from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from accounts.ids import PublicIdField
from accounts.models import Organization, User
from licensing.money import SUPPORTED_CURRENCIES
from provenance.models import DataFile, Dataset, DatasetVersion, canonical_json


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
