"""Wellspring settings. Everything that differs between machines comes from the environment.

WELLSPRING_ENV selects the mode: `development` (default: SQLite under var/, local files,
embedded broker, console email, generated secrets) or `production` (refuses to start without
its secrets and passes `manage.py check --deploy`). `.env.example` lists every variable.
"""

import base64
import os
import secrets
import sys
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from config.env import (
    development_secret,
    env_bool,
    env_int,
    env_list,
    env_secret,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("WELLSPRING_VAR_DIR") or BASE_DIR / "var")

WELLSPRING_ENV = env_str("WELLSPRING_ENV", "development")
if WELLSPRING_ENV not in {"development", "production"}:
    raise ImproperlyConfigured(
        f"WELLSPRING_ENV must be development or production, not {WELLSPRING_ENV!r}"
    )
IS_PRODUCTION = WELLSPRING_ENV == "production"
TESTING = "pytest" in sys.modules or env_bool("WELLSPRING_TESTING", False)


def _required_in_production(name: str, value: str) -> str:
    if IS_PRODUCTION and not value:
        raise ImproperlyConfigured(f"{name} must be set when WELLSPRING_ENV=production")
    return value


# --- Core -------------------------------------------------------------------------------
DEBUG = env_bool("DEBUG", not IS_PRODUCTION)
if IS_PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG must be false when WELLSPRING_ENV=production")

SECRET_KEY = _required_in_production("SECRET_KEY", env_secret("SECRET_KEY"))
if not SECRET_KEY:
    SECRET_KEY = development_secret(VAR_DIR / "secret_key", lambda: secrets.token_urlsafe(50))

ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", [] if IS_PRODUCTION else ["127.0.0.1", "localhost", "[::1]", "testserver"]
)
if IS_PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when WELLSPRING_ENV=production")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "accounts",
    "provenance",
    "licensing",
    "marketplace",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.CurrentOrganizationMiddleware",
    "accounts.middleware.ApiKeyCallMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.organizations",
                "accounts.context_processors.notifications",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'wellspring.sqlite3'}"
DATABASES = {
    "default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # The web server and the worker write to the same file: WAL lets readers go on while one
    # writes, and IMMEDIATE transactions take the write lock up front instead of failing later.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not memory: worker processes and the browser tests' server share the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-wellspring.sqlite3")}
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # No JIT compilation on PostgreSQL: it costs more than it saves on the web's short queries.
    # Measured on the catalog's facet counts over 100,000 listings with the JIT thresholds
    # lowered until it engaged, compiling added 0.15-1 s to queries that take 0.15-0.2 s
    # without it. Their cost estimates grow with the catalog (28,000 at 100,000 listings,
    # against jit_above_cost's 100,000); see the README's catalog-search benchmark. A long
    # report that gains from JIT can `SET LOCAL jit = on` in its own transaction.
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        _db_options = DATABASES["default"].setdefault("OPTIONS", {})
        _db_options["options"] = f"{_db_options.get('options', '')} -c jit=off".strip()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache, broker, Celery --------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or REDIS_URL or "filesystem://"
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND") or REDIS_URL
CELERY_FS_DIR = Path(env_str("CELERY_FS_DIR") or VAR_DIR / "celery")
if CELERY_BROKER_URL == "filesystem://":
    # The embedded broker: kombu's filesystem transport, so a real worker runs with no server.
    for folder in ("queue", "processed", "control", "results"):
        (CELERY_FS_DIR / folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_FS_DIR / "queue"),
        "data_folder_out": str(CELERY_FS_DIR / "queue"),
        "processed_folder": str(CELERY_FS_DIR / "processed"),
        "control_folder": str(CELERY_FS_DIR / "control"),
        "store_processed": False,
    }
    CELERY_RESULT_BACKEND = CELERY_RESULT_BACKEND or f"file://{CELERY_FS_DIR / 'results'}"
else:
    # Above the longest task, so Redis does not hand a running task to a second worker.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 6 * 3600)
    }
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "provenance.tasks.ingest_*": {"queue": "ingest"},
    "provenance.tasks.measure_quality_*": {"queue": "quality"},
    "*.tasks.*report*": {"queue": "reports"},
    "*.tasks.*statement*": {"queue": "reports"},
}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_TASK_IGNORE_RESULT = False
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "verify-ledger-hourly": {
        "task": "provenance.tasks.verify_ledger_task",
        "schedule": 3600.0,
    },
    "expire-uploads-hourly": {
        "task": "provenance.tasks.expire_uploads_task",
        "schedule": 3600.0,
    },
    "prune-api-records-hourly": {
        "task": "accounts.tasks.prune_api_records_task",
        "schedule": 3600.0,
    },
    # Checkout (issue 7): unpaid orders, lost webhooks, ended terms.
    "expire-orders": {"task": "marketplace.tasks.expire_orders_task", "schedule": 300.0},
    "reconcile-orders": {"task": "marketplace.tasks.reconcile_orders_task", "schedule": 600.0},
    "expire-licenses": {"task": "licensing.tasks.expire_licenses_task", "schedule": 3600.0},
    "warn-expiring-licenses": {
        "task": "licensing.tasks.warn_expiring_licenses_task",
        "schedule": 3600.0,
    },
    "expire-offers-every-15-minutes": {
        "task": "licensing.tasks.expire_offers_task",
        "schedule": 900.0,
    },
    # Royalties (issue 8): last month's statements, through their report job (idempotent, so
    # daily is safe; a failed job runs again on the next day, three runs in all) and payouts.
    "issue-royalty-statements": {
        "task": "marketplace.tasks.issue_all_royalty_statements_task",
        "schedule": crontab(hour=2, minute=15),
    },
    "pay-out-statements": {
        "task": "marketplace.tasks.pay_out_statements_task",
        "schedule": 900.0,
    },
    # Signed manifests (issue 8): a sweep behind the approval signal.
    "build-missing-manifests": {
        "task": "licensing.tasks.build_missing_manifests_task",
        "schedule": 600.0,
    },
    # Usage reports (issue 8): flag each overdue monthly report once.
    "flag-missing-usage-reports": {
        "task": "licensing.tasks.flag_missing_usage_reports_task",
        "schedule": 3600.0,
    },
}

# --- Auth -------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# --- I18n, time -------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files and storage -----------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT") or VAR_DIR / "media")

S3_BUCKET = env_str("S3_BUCKET")
if S3_BUCKET:
    # Credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (boto3 reads them).
    _file_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": S3_BUCKET,
            "endpoint_url": env_str("S3_ENDPOINT_URL") or None,
            "region_name": env_str("S3_REGION") or None,
            "default_acl": None,
            "querystring_auth": True,
            "querystring_expire": env_int("DOWNLOAD_LINK_SECONDS", 300),
            "file_overwrite": False,
        },
    }
else:
    _file_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT)},
    }
STORAGES = {
    "default": _file_storage,
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if IS_PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- Uploads and ingest (provenance) -------------------------------------------------------
# The largest single file a creator may upload, in bytes (S3 allows up to 5 TB).
UPLOAD_MAX_FILE_BYTES = env_int("UPLOAD_MAX_FILE_BYTES", 100 * 1024**3)
# Chunks through the app (local storage): the size browsers send, and the most one PUT may carry.
UPLOAD_CHUNK_BYTES = env_int("UPLOAD_CHUNK_BYTES", 8 * 1024**2)
UPLOAD_CHUNK_MAX_BYTES = env_int("UPLOAD_CHUNK_MAX_BYTES", 64 * 1024**2)
# Presigned multipart uploads straight to S3: part size (at least 5 MiB) and URL lifetime.
UPLOAD_S3_PART_BYTES = env_int("UPLOAD_S3_PART_BYTES", 16 * 1024**2)
UPLOAD_PRESIGN_SECONDS = env_int("UPLOAD_PRESIGN_SECONDS", 3600)
# An upload left open this long is cancelled and its bytes deleted.
UPLOAD_SESSION_HOURS = env_int("UPLOAD_SESSION_HOURS", 48)
# Archive expansion: what stops zip bombs. The ratio counts for members past the floor.
ARCHIVE_MAX_MEMBERS = env_int("ARCHIVE_MAX_MEMBERS", 100_000)
ARCHIVE_MAX_EXPANDED_BYTES = env_int("ARCHIVE_MAX_EXPANDED_BYTES", 50 * 1024**3)
ARCHIVE_MAX_RATIO = env_int("ARCHIVE_MAX_RATIO", 100)
ARCHIVE_RATIO_FLOOR_BYTES = env_int("ARCHIVE_RATIO_FLOOR_BYTES", 1024**2)
# Ingest writes its progress at most this often; a run silent for INGEST_STALE_SECONDS is
# presumed dead and may be started again.
INGEST_PROGRESS_SECONDS = float(env_str("INGEST_PROGRESS_SECONDS") or 0.5)
INGEST_STALE_SECONDS = env_int("INGEST_STALE_SECONDS", 600)
# Files read (and hashed) at once by one ingest run; hashing releases the GIL.
INGEST_READ_THREADS = env_int("INGEST_READ_THREADS", min(4, os.cpu_count() or 1))
EVIDENCE_MAX_BYTES = env_int("EVIDENCE_MAX_BYTES", 25 * 1024**2)
# --- Rights claims (issue 4) ---
CLAIMS_PER_HOUR = env_int("CLAIMS_PER_HOUR", 5)

# --- Quality card (provenance.quality) -----------------------------------------------------
# Versions with more text records or images than these are measured on a seeded sample.
QUALITY_SAMPLE_RECORDS = env_int("QUALITY_SAMPLE_RECORDS", 200_000)
QUALITY_SAMPLE_IMAGES = env_int("QUALITY_SAMPLE_IMAGES", 5_000)
QUALITY_STALE_SECONDS = env_int("QUALITY_STALE_SECONDS", 1800)

# --- Email ------------------------------------------------------------------------------
EMAIL_HOST = env_str("EMAIL_HOST")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env_int("EMAIL_PORT", 587)
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
    EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Wellspring <no-reply@wellspring.test>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Stripe -----------------------------------------------------------------------------
STRIPE_SECRET_KEY = env_secret("STRIPE_SECRET_KEY")
STRIPE_PUBLISHABLE_KEY = env_str("STRIPE_PUBLISHABLE_KEY")
STRIPE_WEBHOOK_SECRET = env_secret("STRIPE_WEBHOOK_SECRET")
STRIPE_API_BASE = env_str("STRIPE_API_BASE")
# --- Checkout, licenses and delivery (marketplace, licensing) ---
# Without live keys, development talks to a local localstripe (`make run` starts it).
STRIPE_LOCAL_PORT = env_int("STRIPE_LOCAL_PORT", 8420)
if not STRIPE_SECRET_KEY and not IS_PRODUCTION:
    STRIPE_SECRET_KEY = "sk_test_localstripe"  # noqa: S105 - a test key localstripe accepts
    STRIPE_API_BASE = STRIPE_API_BASE or f"http://127.0.0.1:{STRIPE_LOCAL_PORT}"
    STRIPE_WEBHOOK_SECRET = STRIPE_WEBHOOK_SECRET or "whsec_localstripe_development"
STRIPE_TEST_MODE = STRIPE_SECRET_KEY.startswith("sk_test_")
STRIPE_WEBHOOK_TOLERANCE_SECONDS = 300
PLATFORM_FEE_BPS = env_int("PLATFORM_FEE_BPS", 2000)
# Royalties and payouts (marketplace/royalties.py): statements are paid out from this net up.
PAYOUT_MINIMUM_MINOR = env_int("PAYOUT_MINIMUM_MINOR", 1000)
PAYOUT_MAX_ATTEMPTS = env_int("PAYOUT_MAX_ATTEMPTS", 6)
PAYOUT_RETRY_BASE_SECONDS = env_int("PAYOUT_RETRY_BASE_SECONDS", 300)
ORDER_HOLD_MINUTES = env_int("ORDER_HOLD_MINUTES", 30)
INVOICE_DUE_DAYS = env_int("INVOICE_DUE_DAYS", 30)
DOWNLOAD_LINK_SECONDS = env_int("DOWNLOAD_LINK_SECONDS", 300)
# Days after a month ends before a license that must report is told its report is missing.
USAGE_REPORT_GRACE_DAYS = env_int("USAGE_REPORT_GRACE_DAYS", 10)
SELLER_LEGAL_NAME = env_str("SELLER_LEGAL_NAME", "Wellspring Data Ltd.")
SELLER_ADDRESS = env_str("SELLER_ADDRESS", "1 Harbour Street, Dublin, Ireland")
SELLER_VAT_ID = env_str("SELLER_VAT_ID", "IE0000000WS")

# --- Platform signing key (Ed25519) -----------------------------------------------------
# base64url of the 32-byte private seed. In development one is generated under var/.
PLATFORM_SIGNING_KEY = _required_in_production(
    "PLATFORM_SIGNING_KEY", env_secret("PLATFORM_SIGNING_KEY")
)
if not PLATFORM_SIGNING_KEY:
    PLATFORM_SIGNING_KEY = development_secret(
        VAR_DIR / "signing_key",
        lambda: base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode(),
    )
PLATFORM_NAME = env_str("PLATFORM_NAME", "Wellspring")

# --- REST API ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.rest.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "accounts.rest.HasScope",
    ],
    "DEFAULT_PAGINATION_CLASS": "accounts.rest.PagePagination",
    "PAGE_SIZE": 20,
    "DEFAULT_SCHEMA_CLASS": "accounts.schema.AutoSchema",
    "EXCEPTION_HANDLER": "accounts.rest.problem_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # Bodies are JSON; the operations that take a file add multipart themselves, so the
    # schema documents exactly the media types each operation parses.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DEFAULT_THROTTLE_CLASSES": ["accounts.ratelimit.ApiKeyRateThrottle"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Wellspring API",
    "DESCRIPTION": (
        "Find rights-cleared, human-made datasets, negotiate and buy licenses, fetch and verify "
        "what you licensed. Authenticate with `Authorization: Api-Key <key>`. Errors are RFC 9457 "
        "problem details (`application/problem+json`)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Issue 9: every operation documents its problem-JSON errors.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "accounts.rest.add_problem_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        # Checkout and licenses (issue 7)
        "OrderStatusEnum": "marketplace.models.Order.Status",
        "LicenseStatusEnum": "licensing.models.License.Status",
        "VersionStatusEnum": "provenance.models.DatasetVersion.Status",
        # Rights review and claims (issue 4)
        "ClaimStatusEnum": "provenance.models.RightsClaim.Status",
        "ReviewDecisionEnum": "provenance.models.Review.Decision",
        # Webhooks (issue 9)
        "WebhookDeliveryStatusEnum": "accounts.models.WebhookDelivery.Status",
        "WebhookEndpointStatusEnum": ["enabled", "disabled", "failing"],
        # Usage reports (issue 8): a report's purpose is one of the permitted uses.
        "PermittedUsesEnum": "licensing.models.Use",
    },
}
API_PAGE_SIZE_MAX = 100

# --- Procurement integration: rate limits, idempotency, key call log (accounts) -----------
# Requests per key and window; reads are GET/HEAD/OPTIONS, writes everything else.
API_RATE_LIMIT_READS = env_int("API_RATE_LIMIT_READS", 600)
API_RATE_LIMIT_WRITES = env_int("API_RATE_LIMIT_WRITES", 120)
API_RATE_LIMIT_WINDOW_SECONDS = env_int("API_RATE_LIMIT_WINDOW_SECONDS", 60)
IDEMPOTENCY_KEY_HOURS = 24
# How long a retried request waits for the first one with the same key before answering 409.
IDEMPOTENCY_WAIT_SECONDS = env_int("IDEMPOTENCY_WAIT_SECONDS", 10)
API_CALL_RETENTION_DAYS = env_int("API_CALL_RETENTION_DAYS", 30)
# Outbound webhooks: retries with exponential backoff from WEBHOOK_RETRY_BASE_SECONDS for up
# to WEBHOOK_RETRY_HOURS, then the endpoint is disabled as failing.
WEBHOOK_RETRY_BASE_SECONDS = env_int("WEBHOOK_RETRY_BASE_SECONDS", 60)
WEBHOOK_RETRY_HOURS = env_int("WEBHOOK_RETRY_HOURS", 72)
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 20)
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 10)
WEBHOOK_ROTATION_HOURS = 24
# Production refuses webhook URLs that resolve to private, loopback or link-local addresses,
# except for these hosts; development allows them all.
WEBHOOK_ALLOWED_HOSTS = env_list("WEBHOOK_ALLOWED_HOSTS", [])
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env_bool("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", not IS_PRODUCTION)

# --- Security ---------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if IS_PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # /healthz is probed over plain HTTP by load balancers inside the network.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# --- Logging ----------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
