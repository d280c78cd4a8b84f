"""Monthly royalty statements for every creator over 10 million usage events, against one
hand-written SQL aggregate producing the same per-creator totals, in the same run.

On its own PostgreSQL database (BENCH_POSTGRES_URL, default
postgres://postgres@127.0.0.1:5432/wellspring_bench_royalties, dropped and created afresh, so
its name must contain "bench"; when PostgreSQL cannot be reached the benchmark says why and
gives no figures), a child
process migrates the schema and generates what the statement builder reads:
- BENCH_ROYALTY_CREATORS creator organizations (default 500), each with an owner, one
  approved dataset and 10 metered licenses held by 50 buyer organizations (one license in
  five in EUR), and the creators' July statements (so August starts in the steady state:
  last month is stated);
- BENCH_USAGE_EVENTS usage reports (default 10,000,000; `INSERT ... SELECT generate_series`,
  spread evenly over the licenses and over August to November 2026, so one month holds a
  quarter of them), each billing 1 to 97 cents. Rows go straight into the table as a bulk
  import would: their one-day periods repeat within a license, which the builder does not
  read (file_usage_report's overlap rule is not what is measured);
- two paid orders per creator and month, and a partial refund of one order in four.

Then, in a worker-like child (DEBUG off, mail to a dummy backend), for August, September and
October in turn:
- the baseline: one hand-written SQL statement summing gross sales, refunds, platform fees and
  metered charges (the fee floored per license, as the builder does) per creator and currency
  over the rows not yet on a statement, median of three;
- the real beat path (`reports.run_statements_for_beat`: the report job, per-creator
  transactions writing statements, lines, ledger entries, events and notifications), whose
  statements must equal the baseline's totals to the cent (the run fails otherwise);
- the builder's summing step alone (`royalties._metered_usage`), for reference.
Figures are the medians over the three months. Peak memory: the build child's own peak RSS
(`VmHWM`), against the same kind of child that only set Django up and connected.
"""

import hashlib
import os
import statistics
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/wellspring_bench_royalties"
EVENTS = int(os.environ.get("BENCH_USAGE_EVENTS", "10000000"))
CREATORS = int(os.environ.get("BENCH_ROYALTY_CREATORS", "500"))
LICENSES_PER_CREATOR = 10
BUYERS = 50
PRICE_MINOR = 5
# Usage spreads over these four months; statements are built for the first three.
FIRST = date(2026, 8, 1)
SPAN_DAYS = (date(2026, 12, 1) - FIRST).days
BUILT = [date(2026, 8, 1), date(2026, 9, 1), date(2026, 10, 1)]
BASELINE_RUNS = 3


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


# --- The parent: a fresh database, three children, the figures ---------------------------


def _fresh_database(url: str) -> str:
    """Drop and create the benchmark's database; '' when done, else why it could not be."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name or parts.scheme not in ("postgres", "postgresql"):
        return f"BENCH_POSTGRES_URL must name a PostgreSQL database, not {url!r}"
    if "bench" not in name:
        # It is dropped and created afresh: never let a typo point this at real data.
        return f"the database {name!r} is dropped first, so its name must contain 'bench'"
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    try:
        with psycopg.connect(maintenance, autocommit=True, connect_timeout=5) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            connection.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as error:
        return f"PostgreSQL at {parts.hostname}:{parts.port or 5432} is not usable: {error}"
    return ""


def _child_env(url: str) -> dict:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "EMAIL_HOST")
    }
    env.update(
        {
            "DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "false",  # as on a worker: with DEBUG on, Django keeps every query
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


def run_child(url: str, *args: str) -> tuple[dict, int]:
    """Run this module as a child; returns its JSON answer and its peak RSS in KiB."""
    from bench.run import run_child as run_module

    return run_module(__file__, *args, env=_child_env(url), name="royalties")


def run() -> list[dict]:
    from bench.run import figure

    url = os.environ.get("BENCH_POSTGRES_URL", DEFAULT_URL)
    problem = _fresh_database(url)
    if problem:
        print(f"  bench_royalties: {problem}; no figures.", flush=True)
        return []
    setup, _ = run_child(url, "setup")
    print(
        f"  generated {setup['events']:,} usage events in {setup['events_seconds']:.1f}s "
        f"(indexes {setup['index_seconds']:.1f}s)",
        flush=True,
    )
    _, idle_kib = run_child(url, "idle")
    answer, peak_kib = run_child(url, "build")
    months = answer["months"]
    for month in months:
        print(
            f"  {month['month']}: {month['statements']:,} statements, {month['lines']:,} lines "
            f"from {month['rows']:,} events: build {month['build_seconds']:.2f}s, "
            f"summing {month['sum_seconds']:.2f}s, SQL aggregate {month['baseline_seconds']:.2f}s",
            flush=True,
        )
    build = statistics.median(month["build_seconds"] for month in months)
    summing = statistics.median(month["sum_seconds"] for month in months)
    baseline = statistics.median(month["baseline_seconds"] for month in months)
    label = (
        f"{EVENTS:,} usage events, {CREATORS:,} creators x {LICENSES_PER_CREATOR} metered "
        f"licenses, about {months[0]['rows']:,} events a month"
    )
    return [
        figure(
            f"monthly royalty statements for all creators ({label})",
            build,
            "s",
            "one hand-written SQL aggregate of the same per-creator totals",
            baseline,
            "<= 1.5x the SQL aggregate",
        ),
        figure(
            f"the statement builder's summing step alone ({label})",
            summing,
            "s",
            "one hand-written SQL aggregate of the same per-creator totals",
            baseline,
            "reference",
        ),
        figure(
            "royalty statement build peak memory (three monthly runs in one worker process)",
            peak_kib / 1024,
            "MiB RSS",
            "the same process after Django setup and a connection",
            idle_kib / 1024,
            "< 2x the idle process",
        ),
    ]


# --- The child: generate, or build against the baseline -----------------------------------


def _setup() -> dict:
    import django

    django.setup()
    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command
    from django.db import connection

    from accounts.models import Membership, Organization, User
    from licensing.models import License, RoyaltyStatement
    from provenance.models import Dataset, DatasetVersion, canonical_json

    call_command("migrate", verbosity=0, interactive=False)
    now = _at(FIRST) - timedelta(days=31)
    buyers = Organization.objects.bulk_create(
        Organization(slug=f"bench-buyer-{index}", name=f"Buyer {index}", is_buyer=True)
        for index in range(BUYERS)
    )
    creators = Organization.objects.bulk_create(
        Organization(slug=f"bench-creator-{index}", name=f"Creator {index}", is_creator=True)
        for index in range(CREATORS)
    )
    owners = User.objects.bulk_create(
        User(email=f"owner-{index}@bench.test", password=make_password(None))
        for index in range(CREATORS)
    )
    Membership.objects.bulk_create(
        Membership(organization=organization, user=owner, role=Membership.Role.OWNER)
        for organization, owner in zip(creators, owners, strict=True)
    )
    datasets = Dataset.objects.bulk_create(
        Dataset(
            organization=organization,
            slug=f"bench-dataset-{index}",
            title=f"Bench dataset {index}",
            modality="text",
            created_at=now,
        )
        for index, organization in enumerate(creators)
    )
    versions = DatasetVersion.objects.bulk_create(
        DatasetVersion(dataset=dataset, number=1, status="approved", approved_at=now)
        for dataset in datasets
    )
    licenses = []
    for index in range(CREATORS * LICENSES_PER_CREATOR):
        terms = {
            "permitted_uses": ["training"],
            "price_model": "metered",
            "price_minor": PRICE_MINOR,
            "currency": "EUR" if index % 5 == 4 else "USD",
        }
        licenses.append(
            License(
                id=f"lic_bench{index:08d}",
                organization=buyers[index % BUYERS],
                version=versions[index // LICENSES_PER_CREATOR],
                terms=terms,
                terms_sha256=hashlib.sha256(canonical_json(terms)).hexdigest(),
                source=f"bench:{index}",
                starts_at=now,
                created_at=now,
            )
        )
    License.objects.bulk_create(licenses, batch_size=2000)
    # Last month is stated for every creator: August's build is a steady-state month.
    july = FIRST.replace(month=7)
    RoyaltyStatement.objects.bulk_create(
        RoyaltyStatement(
            organization=organization,
            period_starts_on=july,
            period_ends_on=FIRST,
            currency="USD",
            fee_bps=2000,
            issued_at=_at(FIRST) + timedelta(hours=2),
        )
        for organization in creators
    )
    with connection.cursor() as cursor:
        started = time.perf_counter()
        _generate_orders(cursor)
        events_seconds, index_seconds = _generate_usage(cursor)
        cursor.execute("VACUUM ANALYZE")
    return {
        "events": EVENTS,
        "events_seconds": events_seconds,
        "index_seconds": index_seconds,
        "seconds": time.perf_counter() - started,
    }


def _generate_orders(cursor) -> None:
    """Two paid orders per creator and month, USD, 20% platform fee; each month a quarter of
    the creators have one of them partly refunded (a third, with its share of the fee) a
    week later."""
    cursor.execute(
        """
        INSERT INTO marketplace_order (id, organization_id, version_id, terms, terms_sha256,
            is_exclusive, amount_minor, currency, platform_fee_minor, creator_share_minor,
            refunded_minor, payment_method, po_number, billing_company, billing_address,
            billing_vat_id, status, stripe_payment_intent_id, idempotency_key, created_at,
            updated_at, expires_at, paid_at)
        SELECT 'ord_bench' || lpad(n::text, 10, '0'), buyers.ids[1 + n %% %(buyers)s],
            version_id, '{}'::jsonb, '', false, amount, 'USD', amount * 2000 / 10000,
            amount - amount * 2000 / 10000, CASE WHEN refunds THEN amount / 3 ELSE 0 END,
            'card', '', '', '', '', CASE WHEN refunds THEN 'partially_refunded' ELSE 'paid' END,
            '', '', paid, paid, paid + interval '30 minutes', paid
        FROM (
            SELECT n, version_id, 1999 + (n * 7919) %% 90001 AS amount,
                copy = 1 AND ((n - 1) / 8 + month) %% 4 = 0 AS refunds,
                %(first)s::timestamptz + month * interval '1 month' + (n %% 20) * interval '1 day'
                    + interval '9 hours' AS paid
            FROM (
                SELECT row_number() OVER (ORDER BY version.id, month, copy) AS n,
                    version.id AS version_id, month, copy
                FROM provenance_datasetversion AS version
                CROSS JOIN generate_series(0, 3) AS month
                CROSS JOIN generate_series(1, 2) AS copy
            ) AS numbered
        ) AS planned
        CROSS JOIN (
            SELECT array_agg(id ORDER BY id) AS ids FROM accounts_organization WHERE is_buyer
        ) AS buyers
        """,
        {"first": _at(FIRST), "buyers": BUYERS},
    )
    cursor.execute(
        """
        INSERT INTO marketplace_orderrefund (id, order_id, amount_minor, platform_fee_minor,
            refunded_at)
        SELECT 'rfd' || substr(id, 4), id, refunded_minor,
            platform_fee_minor * refunded_minor / amount_minor, paid_at + interval '7 days'
        FROM marketplace_order WHERE refunded_minor > 0
        """
    )


def _generate_usage(cursor) -> tuple[float, float]:
    """The usage reports: secondary indexes and foreign-key triggers off while loading, as a
    bulk import does, then the indexes built again. Returns (load, index) seconds."""
    cursor.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'licensing_usagereport' "
        "AND indexname NOT LIKE '%%_pkey'"
    )
    indexes = cursor.fetchall()
    for name, _ in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
    cursor.execute(
        "SELECT conname FROM pg_constraint WHERE conrelid = 'licensing_usagereport'::regclass "
        "AND contype = 'p'"
    )
    [(primary_key,)] = cursor.fetchall()
    cursor.execute(f'ALTER TABLE licensing_usagereport DROP CONSTRAINT "{primary_key}"')
    cursor.execute(
        "CREATE TEMP TABLE bench_license AS SELECT (row_number() OVER (ORDER BY id)) - 1 AS n, "
        "id, organization_id, terms->>'currency' AS currency FROM licensing_license"
    )
    started = time.perf_counter()
    cursor.execute("SET session_replication_role = replica")
    cursor.execute(
        """
        INSERT INTO licensing_usagereport (id, license_id, organization_id, period_start_on,
            period_end_on, purpose, models_trained, records_used, tokens_used, seats, note,
            status, breach_reasons, billable_minor, currency, created_at)
        SELECT 'urp_bench' || lpad(g::text, 12, '0'), license.id, license.organization_id,
            moment.at::date, moment.at::date, 'training', '[]'::jsonb,
            200 * (1 + g %% 97), 0, 1, '', 'ok', '[]'::jsonb, 1 + g %% 97, license.currency,
            moment.at
        FROM generate_series(0, %(events)s - 1) AS g
        JOIN bench_license AS license ON license.n = g %% %(licenses)s
        CROSS JOIN LATERAL (
            SELECT %(first)s::timestamptz + (g::float8 / %(events)s) * %(span)s AS at
        ) AS moment
        """,
        {
            "events": EVENTS,
            "licenses": CREATORS * LICENSES_PER_CREATOR,
            "first": _at(FIRST),
            "span": timedelta(days=SPAN_DAYS),
        },
    )
    cursor.execute("SET session_replication_role = DEFAULT")
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    cursor.execute(
        f'ALTER TABLE licensing_usagereport ADD CONSTRAINT "{primary_key}" PRIMARY KEY (id)'
    )
    for _, definition in indexes:
        cursor.execute(definition)
    return loaded, time.perf_counter() - started


BASELINE_SQL = """
WITH sales AS (
    SELECT d.organization_id AS creator, o.currency, o.amount_minor AS gross,
        0::bigint AS refunded, o.platform_fee_minor AS fee, 0::bigint AS metered
    FROM marketplace_order AS o
    JOIN provenance_datasetversion AS v ON v.id = o.version_id
    JOIN provenance_dataset AS d ON d.id = v.dataset_id
    WHERE o.paid_at < %(until)s AND NOT EXISTS (
        SELECT 1 FROM licensing_royaltyline AS line
        WHERE line.kind = 'sale' AND line.source = o.id)
), refunds AS (
    SELECT d.organization_id, o.currency, 0::bigint, r.amount_minor, -r.platform_fee_minor,
        0::bigint
    FROM marketplace_orderrefund AS r
    JOIN marketplace_order AS o ON o.id = r.order_id
    JOIN provenance_datasetversion AS v ON v.id = o.version_id
    JOIN provenance_dataset AS d ON d.id = v.dataset_id
    WHERE r.refunded_at < %(until)s AND NOT EXISTS (
        SELECT 1 FROM licensing_royaltyline AS line
        WHERE line.kind = 'refund' AND line.source = r.id)
), usage AS (
    SELECT license_id, currency, sum(billable_minor)::bigint AS charge
    FROM licensing_usagereport
    WHERE billable_minor > 0 AND created_at >= %(since)s AND created_at < %(until)s
    GROUP BY license_id, currency
), metered AS (
    SELECT d.organization_id, u.currency, 0::bigint, 0::bigint,
        u.charge * %(fee_bps)s / 10000, u.charge
    FROM usage AS u
    JOIN licensing_license AS l ON l.id = u.license_id
    JOIN provenance_datasetversion AS v ON v.id = l.version_id
    JOIN provenance_dataset AS d ON d.id = v.dataset_id
)
SELECT creator, currency, sum(gross), sum(refunded), sum(fee), sum(metered),
    sum(gross) - sum(refunded) - sum(fee) + sum(metered)
FROM (SELECT * FROM sales UNION ALL SELECT * FROM refunds UNION ALL SELECT * FROM metered)
    AS parts
GROUP BY creator, currency
"""


def _build() -> dict:
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    from licensing.models import RoyaltyLine, RoyaltyStatement, UsageReport
    from marketplace import reports, royalties

    settings.EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
    months = []
    for month in BUILT:
        until = _next_month(month)
        parameters = {
            "since": _at(month),
            "until": _at(until),
            "fee_bps": settings.PLATFORM_FEE_BPS,
        }
        timings = []
        with connection.cursor() as cursor:
            for _ in range(BASELINE_RUNS):
                started = time.perf_counter()
                cursor.execute(BASELINE_SQL, parameters)
                expected = {
                    (str(creator), currency): [int(value) for value in values]
                    for creator, currency, *values in cursor.fetchall()
                }
                timings.append(time.perf_counter() - started)
        started = time.perf_counter()
        royalties._metered_usage(starts_on=month, ends_on=until)
        sum_seconds = time.perf_counter() - started

        started = time.perf_counter()
        job = reports.run_statements_for_beat(
            period_starts_on=month, now=_at(until) + timedelta(hours=2)
        )
        build_seconds = time.perf_counter() - started
        if job is None or not job.has_succeeded:
            raise RuntimeError(
                f"the statements job for {month} did not succeed: {job and job.error}"
            )
        issued = RoyaltyStatement.objects.filter(period_starts_on=month)
        found = {
            (str(statement.organization_id), statement.currency): [
                statement.gross_sales_minor,
                statement.refunds_minor,
                statement.platform_fee_minor,
                statement.metered_minor,
                statement.net_minor,
            ]
            for statement in issued
        }
        if found != expected:
            wrong = [
                (key, found.get(key), expected.get(key))
                for key in sorted(set(found) | set(expected))
                if found.get(key) != expected.get(key)
            ]
            raise RuntimeError(
                f"{month}: {len(wrong)} statements disagree with the SQL aggregate, e.g. "
                f"(creator, currency, statement, aggregate) {wrong[:2]}"
            )
        months.append(
            {
                "month": f"{month:%Y-%m}",
                "build_seconds": build_seconds,
                "sum_seconds": sum_seconds,
                "baseline_seconds": statistics.median(timings),
                "statements": len(found),
                "lines": RoyaltyLine.objects.filter(statement__period_starts_on=month).count(),
                "rows": UsageReport.objects.filter(
                    created_at__gte=_at(month), created_at__lt=_at(until)
                ).count(),
            }
        )
    return {"months": months}


def _child(mode: str) -> dict:
    if mode == "setup":
        return _setup()
    if mode == "build":
        return _build()
    import django

    django.setup()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {}


if __name__ == "__main__":
    from bench.run import child_main

    child_main(_child)
