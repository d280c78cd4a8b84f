import hashlib

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.ids import PublicIdField


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra):
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=normalize_email(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self._create_user(email, password, **extra)

    def get_by_natural_key(self, username):
        return self.get(email=normalize_email(username))


def normalize_email(email: str) -> str:
    return email.strip().lower()


class User(AbstractBaseUser, PermissionsMixin):
    """A person who logs in with an email address. Staff users are Wellspring's rights reviewers."""

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    is_staff = models.BooleanField(
        default=False,
        help_text="Rights reviewers and operators: may use the reviewer desk and the admin.",
    )
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.email

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email


class Organization(models.Model):
    """A company or team on Wellspring: a creator (sells data), a buyer (licenses data), or both."""

    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=120)
    is_creator = models.BooleanField(default=False, help_text="Registers and sells datasets.")
    is_buyer = models.BooleanField(default=False, help_text="Licenses datasets.")
    is_active = models.BooleanField(
        default=True, help_text="A disabled organization's members and keys lose access."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(is_creator=True) | models.Q(is_buyer=True),
                name="accounts_organization_has_a_side",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def side_label(self) -> str:
        if self.is_creator and self.is_buyer:
            return "Creator and buyer"
        return "Creator" if self.is_creator else "Buyer"


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        MEMBER = "member", "Member"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["organization__name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "organization"], name="accounts_membership_unique_user_org"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"

    @property
    def is_owner(self) -> bool:
        return self.role == self.Role.OWNER


class ApiKey(models.Model):
    """A credential for an organization's own systems. Only a SHA-256 of the secret is kept."""

    class Scope(models.TextChoices):
        ALL = "*", "Everything"
        CATALOG_READ = "catalog:read", "Read the catalog"
        DATASETS_WRITE = "datasets:write", "Create and upload datasets"
        OFFERS_WRITE = "offers:write", "Negotiate offers"
        ORDERS_WRITE = "orders:write", "Place orders"
        LICENSES_READ = "licenses:read", "Read licenses and download files"
        USAGE_WRITE = "usage:write", "Report usage"
        WEBHOOKS_MANAGE = "webhooks:manage", "Manage webhook endpoints"

    id = PublicIdField(prefix="key")
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(
        max_length=16, unique=True, help_text="Shown in lists so a key can be recognised."
    )
    key_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="api_keys")
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def hash_secret(raw_key: str) -> str:
        # The keys carry 160 random bits, so a fast hash is enough: there is nothing to brute-force.
        return hashlib.sha256(raw_key.encode()).hexdigest()

    def is_usable(self, now) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > now

    def has_scope(self, scope: str) -> bool:
        return self.Scope.ALL in self.scopes or scope in self.scopes

    @property
    def status(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at and self.expires_at <= timezone.now():
            return "expired"
        return "active"


class Event(models.Model):
    """Something that happened that an organization's systems may want to hear about.

    Listed at GET /api/v1/events/ and delivered to the organization's webhook endpoints.
    `data` holds ids and states only, never secrets.
    """

    class Type(models.TextChoices):
        VERSION_APPROVED = "version.approved"
        VERSION_REJECTED = "version.rejected"
        OFFER_CREATED = "offer.created"
        OFFER_COUNTERED = "offer.countered"
        OFFER_ACCEPTED = "offer.accepted"
        OFFER_REJECTED = "offer.rejected"
        ORDER_PAID = "order.paid"
        ORDER_REFUNDED = "order.refunded"
        LICENSE_GRANTED = "license.granted"
        LICENSE_SUSPENDED = "license.suspended"
        LICENSE_REVOKED = "license.revoked"
        LICENSE_EXPIRING = "license.expiring"
        USAGE_REPORT_DUE = "usage_report.due"
        USAGE_REPORT_BREACH = "usage_report.breach"
        USAGE_REPORT_FILED = "usage_report.filed"
        STATEMENT_ISSUED = "statement.issued"
        CLAIM_UPHELD = "claim.upheld"
        PING = "ping"

    id = PublicIdField(prefix="evt")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="events")
    type = models.CharField(max_length=40, choices=Type.choices)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="accounts_event_org_created")
        ]

    def __str__(self) -> str:
        return f"{self.type} for {self.organization}"


class ApiKeyCall(models.Model):
    """One request made with an API key, shown to the organization's owners beside the key.

    Kept for API_CALL_RETENTION_DAYS; pruned by a periodic task.
    """

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="calls")
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=300)
    status = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["api_key", "-created_at"], name="accounts_apikeycall_key_time"),
            models.Index(fields=["created_at"], name="accounts_apikeycall_time"),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} {self.status}"


class IdempotencyRecord(models.Model):
    """The first answer to a creating POST sent with an `Idempotency-Key`, kept for 24 hours.

    `fingerprint` is a SHA-256 over method, path and body: the same key with another request is
    refused. `status` is null while the first request is still being processed.
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="idempotency_records"
    )
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    body = models.JSONField(null=True, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    location = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "key"], name="accounts_idempotencyrecord_unique_key"
            ),
        ]
        indexes = [models.Index(fields=["created_at"], name="accounts_idempotency_time")]

    def __str__(self) -> str:
        return f"{self.key} ({self.status or 'in progress'})"

    @property
    def is_complete(self) -> bool:
        return self.status is not None


class Notification(models.Model):
    """Something a person should know: a decision on their version, a claim, a suspension.

    Shown in the in-app list at /notifications/ (unread ones counted in the navigation) and
    sent by email when created. `organization` is the one it concerns, if any.
    """

    id = PublicIdField(prefix="ntf")
    recipient = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications")
    organization = models.ForeignKey(
        Organization,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    verb = models.CharField(max_length=64, help_text="What happened, e.g. `version.approved`.")
    text = models.CharField(max_length=500)
    link = models.CharField(max_length=500, blank=True, help_text="A path on this site.")
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["recipient", "read_at"], name="accounts_notification_unread"),
        ]

    def __str__(self) -> str:
        return f"{self.verb} for {self.recipient}"

    @property
    def is_read(self) -> bool:
        return self.read_at is not None


class WebhookEndpoint(models.Model):
    """Where an organization wants its events sent: a URL and the event types it listens to.

    The signing secret is stored encrypted (accounts.webhooks), shown once at creation and at
    each rotation. During a rotation the previous secret keeps signing beside the new one until
    `previous_secret_expires_at`.
    """

    id = PublicIdField(prefix="whe")
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(max_length=500)
    events = models.JSONField(default=list, help_text='Event types, or ["*"] for all.')
    is_enabled = models.BooleanField(default=True)
    secret_encrypted = models.TextField()
    previous_secret_encrypted = models.TextField(blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    failing_since = models.DateTimeField(
        null=True, blank=True, help_text="Set when deliveries gave up; the endpoint is disabled."
    )
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "id"]

    def __str__(self) -> str:
        return self.url

    def subscribes_to(self, event_type: str) -> bool:
        return "*" in self.events or event_type in self.events

    @property
    def status(self) -> str:
        if self.failing_since:
            return "failing"
        return "enabled" if self.is_enabled else "disabled"


class WebhookDelivery(models.Model):
    """One event on its way to one endpoint, tried until it is accepted or the retries run out."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    id = PublicIdField(prefix="whd")
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempt_count = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["endpoint", "-created_at"], name="accounts_delivery_endpoint")
        ]

    def __str__(self) -> str:
        return f"{self.event_id} to {self.endpoint_id} ({self.status})"


class WebhookAttempt(models.Model):
    """One HTTP request of a delivery: what the receiver answered, and how fast."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_start = models.CharField(max_length=500, blank=True)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["delivery", "number"], name="accounts_webhookattempt_unique_number"
            ),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}"

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
