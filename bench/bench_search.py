"""Catalog search over 100,000 generated listings on PostgreSQL, against a trivial endpoint.

Builds (or reuses) its own PostgreSQL database, BENCH_POSTGRES_URL (default
postgres://postgres@127.0.0.1:5432/wellspring_bench_search), holding BENCH_SEARCH_LISTINGS
published listings (default 100000): creator organizations; datasets whose titles, summaries,
descriptions and tags are drawn from one vocabulary with a Zipf-like distribution (a few terms
in most listings, a long tail in very few), in a mix of modalities and languages; approved
versions of many sizes with their provenance declarations and ingest records; one to three
license options each with prices, uses and exclusivity; and published listings whose search
fields (the full-text document and the facts copied from the dataset, version, declaration and
options) the app's own `refresh_search_fields` fills, in bulk, as publishing does. Rows go in with
COPY, not through the per-row services, but as the services would write them: the models'
defaults, JSON prepared by its field, terms through `licensing.services.clean_terms`. Ledger
entries, files and quality reports are left out: the search reads none of them (of a quality
report, only the figures copied onto the listing, which stay empty here, as unmeasured).

Then it serves the app with gunicorn (2 sync workers, as production runs it, DEBUG off) on a
free loopback port and drives it from 2 client threads (http.client, reconnecting when the
server closes), each scenario for BENCH_SEARCH_SECONDS (default 15) after a warm-up:
- the baseline `/.well-known/jwks.json`: the same server, middleware and workers, no database;
- `GET /api/v1/listings/?q=<term>&facets=true`, cycling through common terms (matching about
  10-25% of the listings) and rare ones (about 0.5-3%), each picked by the share of listings
  it matches as measured in the database;
- the catalog page `/catalog/?q=<term>` over the same terms;
- the catalog page `/catalog/` with no query, whose facets count every listing (counts the
  app keeps for a minute, see `marketplace.selectors.catalog_facets`);
- the catalog page without a query but one facet chosen, `/catalog/?modality=<m>`, cycling
  through the modalities: its facets count a share of every listing each time, uncached.
And it counts the SQL queries of one API search in process (CaptureQueriesContext and Django's
test client on the same database) at page_size 10 and at 100: they must not grow.

The database is reused while the generator, the listing count and the migrations on disk are
unchanged (its COMMENT records them) and rebuilt otherwise; a database this benchmark did not
make is never dropped. Without PostgreSQL the benchmark says so and returns no figures.
"""

import hashlib
import http.client
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/wellspring_bench_search"
)
LISTINGS = int(os.environ.get("BENCH_SEARCH_LISTINGS", "100000"))
SECONDS = float(os.environ.get("BENCH_SEARCH_SECONDS", "15"))
WARMUP_SECONDS = 3.0
WORKERS = 2
CLIENTS = 2
# Bump when the generated rows change, so a stored database of the old kind is rebuilt.
GENERATOR = 3
MARKER = "wellspring bench search"
TRIVIAL_PATH = "/.well-known/jwks.json"
COMMON_SHARE = (0.10, 0.25)
RARE_SHARE = (0.005, 0.03)
TERMS_PER_CLASS = 3

# --- The vocabulary ------------------------------------------------------------------------
# Most common first: words every dataset description uses, then subjects from the broad to the
# narrow. A generated long tail of made-up words follows (see `vocabulary`).
_COMMON = """
collected recorded annotated labelled records samples quality consent human written original
research licensed contributors verified cleaned curated metadata documented review
professional public private archive collection corpus benchmark evaluation training
speech text images audio video tabular transcripts conversations language multilingual english
medical clinical legal financial news scientific educational historical
"""
_SUBJECTS = """
customer support dialogue voices accents children elderly street scenes satellite aerial
weather climate sensor readings retail receipts invoices handwriting scans documents books
poetry fiction code programming questions answers reviews product music songs instruments
birds wildlife animals plants agriculture crops soil ocean coastal marine traffic vehicles
driving radar lidar sports cooking recipes fashion gestures dialects welsh irish scottish
newspaper parliament debates court rulings patents papers abstracts chemistry molecules
proteins genomes radiology pathology slides dental cardiology sleep fitness energy grid solar
wind factory manufacturing defects inspection construction buildings maps cities transport
trains flights shipping logistics warehouse inventory ecommerce queries clicks advertising
emails chat forum posts comments social sentiment emotion humour translation parallel
subtitles captions podcasts interviews lectures exams students textbooks mathematics geometry
physics astronomy telescope galaxies geology earthquakes volcanoes rivers lakes forests
wildfire drought flood insurance banking loans credit fraud security malware network logs
telemetry servers census survey households election polling tourism hotels restaurants menus
food nutrition wine coffee gardening furniture interior architecture paintings sculpture
museum heritage folk tales myths legends radio television broadcast film scripts theatre dance
choreography yoga meditation psychology therapy counselling nursing pharmacy vaccines
epidemiology hospital emergency ambulance incidents aviation maritime ports railway cycling
football tennis chess puzzles crosswords riddles trivia encyclopedia glossary dictionary
thesaurus grammar spelling pronunciation phonetics whisper singing choir orchestra piano guitar
drums violin calligraphy typography logos icons sketches drawings comics animation meshes
depth stereo thermal infrared hyperspectral microscopy cells bacteria viruses fungi insects
bees butterflies fish whales dolphins seabirds gulls owls bats frogs reptiles horses cattle
sheep poultry dairy bakery grocery lighthouse harbour fishermen sailors shipwrecks knitting
quilting pottery ceramics glassblowing woodworking blacksmith carpentry plumbing electricians
mechanics tractors harvest orchards vineyards beekeeping mushrooms foraging herbal remedies
midwifery obstetrics paediatrics geriatrics dermatology ophthalmology audiology tinnitus
stuttering aphasia dyslexia braille deaf sign interpreters courtroom testimony depositions
affidavits notaries mortgages pensions taxation audits ledgers bookkeeping payroll procurement
tenders grants charities volunteers fundraising obituaries genealogy diaries letters postcards
telegrams manuscripts parchment monasteries cathedrals castles lighthouses canals bridges
tunnels dams reservoirs irrigation wells glaciers icebergs tundra deserts dunes oases savanna
rainforest mangroves wetlands estuaries coral plankton algae kelp seagrass otters beavers
badgers hedgehogs foxes wolves lynx bison moose reindeer caribou penguins albatross puffins
herons storks cranes swifts swallows nightingales woodpeckers hummingbirds parrots toucans
orchids ferns mosses lichens conifers oaks maples birches willows cacti succulents bamboo
rice wheat barley maize sorghum millet cassava yams potatoes tomatoes peppers onions garlic
lentils chickpeas soybeans peanuts almonds walnuts olives citrus mangoes bananas papaya
cocoa vanilla saffron cinnamon nutmeg cardamom turmeric ginger chillies mustard sesame
bagpipes harps accordions banjos mandolins ukuleles sitars tablas didgeridoos marimbas
xylophones trombones tubas bassoons oboes clarinets flutes harmonicas kazoos theremins
"""
COMMON_WORDS = _COMMON.split()
SUBJECT_WORDS = _SUBJECTS.split()
TAG_WORDS = 200  # tags are drawn from the first subjects
_SYLLABLES = (
    "ba be bi bo bu ca ce ci co cu da de di do du fa fe fi fo ga ge gi go ka ke ki ko la le li "
    "lo lu ma me mi mo mu na ne ni no nu pa pe pi po ra re ri ro ru sa se si so su ta te ti to "
    "va ve vi vo za ze zi zo kar lin mor ten vas qua rel dun"
)
SYLLABLES = _SYLLABLES.split()
TAIL_WORDS = 20_000
MODALITIES = [
    ("text", 0.36),
    ("tabular", 0.20),
    ("image", 0.18),
    ("audio", 0.14),
    ("video", 0.06),
    ("multimodal", 0.06),
]
LANGUAGES = [
    ("en", 0.50),
    ("de", 0.08),
    ("fr", 0.08),
    ("es", 0.08),
    ("cy", 0.04),
    ("ja", 0.04),
    ("zh", 0.04),
    ("pt", 0.03),
    ("nl", 0.03),
    ("sv", 0.02),
    ("hi", 0.02),
    ("ar", 0.02),
    ("sw", 0.01),
    ("ga", 0.01),
]
USES = ("training", "fine_tuning", "evaluation", "retrieval")
CURRENCIES = [("USD", 0.85), ("EUR", 0.10), ("GBP", 0.05)]


def vocabulary() -> list[str]:
    """The real words, most common first, then TAIL_WORDS made-up ones for the long tail."""
    import numpy as np

    words = list(dict.fromkeys(COMMON_WORDS + SUBJECT_WORDS))
    seen = set(words)
    rng = np.random.default_rng(11)
    while len(words) < len(COMMON_WORDS) + len(SUBJECT_WORDS) + TAIL_WORDS:
        word = "".join(SYLLABLES[i] for i in rng.integers(0, len(SYLLABLES), rng.integers(2, 5)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def zipf(size: int, exponent: float = 1.05, shift: float = 3.0):
    """Zipf-Mandelbrot probabilities of `size` ranks."""
    import numpy as np

    weights = 1.0 / (np.arange(size) + shift) ** exponent
    return weights / weights.sum()


# --- The parent: database, server, load -------------------------------------------------


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + quote(name)))


def _database_name(url: str) -> str:
    name = urlsplit(url).path.lstrip("/")
    if not name:
        raise RuntimeError("BENCH_POSTGRES_URL names no database")
    return name


def _where(url: str) -> str:
    """Host, port and database of a URL, without its credentials, for messages."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}/{_database_name(url)}"


def fingerprint(count: int) -> str:
    migrations = sorted(str(path.relative_to(ROOT)) for path in ROOT.glob("*/migrations/[0-9]*.py"))
    digest = hashlib.sha256("\n".join(migrations).encode()).hexdigest()[:16]
    return f"{MARKER}: generator {GENERATOR}, {count} listings, migrations {digest}"


def prepare_database(admin, name: str, wanted: str) -> bool:
    """Create the bench database, or keep it when it holds what `wanted` describes.

    Returns True when it must be (re)generated. Refuses to drop a database it did not make.
    """
    from psycopg import sql

    row = admin.execute(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
        [name],
    ).fetchone()
    if row is not None:
        comment = row[0] or ""
        if comment == wanted:
            return False
        if not comment.startswith(MARKER):
            raise RuntimeError(
                f"the database {name!r} exists and was not made by this benchmark; "
                "set BENCH_POSTGRES_URL to a database name of its own"
            )
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    admin.execute(
        sql.SQL("COMMENT ON DATABASE {} IS {}").format(
            sql.Identifier(name), sql.Literal(f"{MARKER}: incomplete")
        )
    )
    return True


def app_env(var_dir: Path) -> dict:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")
    }
    env.update(
        {
            "DATABASE_URL": POSTGRES_URL,
            "WELLSPRING_ENV": "development",
            # As the web server runs in production: with DEBUG on, Django records every query.
            "DEBUG": "false",
            "LOG_LEVEL": "WARNING",
            "WELLSPRING_VAR_DIR": str(var_dir),
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


def run_child(env: dict, *args: str) -> dict:
    process = subprocess.run(
        [sys.executable, __file__, *args], env=env, cwd=ROOT, stdout=subprocess.PIPE, check=False
    )
    if process.returncode != 0:
        raise RuntimeError(f"the search child failed ({process.returncode})")
    return json.loads(process.stdout.decode().strip().splitlines()[-1])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _answers(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", TRIVIAL_PATH)
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


@contextmanager
def serving(env: dict, log_path: Path):
    """gunicorn with WORKERS sync workers on a free loopback port; yields the port."""
    port = _free_port()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi:application",
                "--workers",
                str(WORKERS),
                "--bind",
                f"127.0.0.1:{port}",
                "--log-level",
                "warning",
                # A slow answer is a figure to report, not a worker to kill (default 30 s).
                "--timeout",
                "300",
            ],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while not _answers(port):
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {log_path.read_text()[-800:]}")
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not answer within 60 s")
            time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def drive(port: int, requests: list[tuple[str, str]], seconds: float) -> dict:
    """CLIENTS threads send `requests` ((kind, path), in turn) for WARMUP_SECONDS + seconds.

    Returns the latencies in seconds per kind and the requests per second, both counted over
    the requests that started after the warm-up.
    """
    barrier = threading.Barrier(CLIENTS + 1)
    results: list[list[tuple[str, float, float, float]]] = [[] for _ in range(CLIENTS)]
    failures: list[str] = []
    timing = {}

    def client(index: int):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = results[index]
        turn = index
        barrier.wait()
        measured_from, until = timing["from"], timing["until"]
        try:
            while True:
                kind, path = requests[turn % len(requests)]
                turn += 1
                started = time.perf_counter()
                if started >= until:
                    return
                connection.request("GET", path, headers={"Accept": "application/json"})
                response = connection.getresponse()
                response.read()
                finished = time.perf_counter()
                if response.status != 200:
                    failures.append(f"{path} answered {response.status}")
                    return
                if started >= measured_from:
                    mine.append((kind, started, finished, finished - started))
        except OSError as error:
            failures.append(f"{path}: {error!r}")
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    now = time.perf_counter()
    timing["from"] = now + WARMUP_SECONDS
    timing["until"] = now + WARMUP_SECONDS + seconds
    barrier.wait()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed, first: {failures[0]}")
    rows = [row for mine in results for row in mine]
    missing = {kind for kind, _ in requests} - {row[0] for row in rows}
    if missing:
        raise RuntimeError(f"no {', '.join(sorted(missing))} request started in the window")
    window = max(row[2] for row in rows) - timing["from"]
    latencies: dict[str, list[float]] = {}
    for kind, _, _, latency in rows:
        latencies.setdefault(kind, []).append(latency)
        latencies.setdefault("all", []).append(latency)
    return {"rps": len(rows) / window, "latencies": latencies, "requests": len(rows)}


def p95_ms(latencies: list[float]) -> float:
    """The 95th percentile (nearest rank), in milliseconds."""
    ordered = sorted(latencies)
    return ordered[math.ceil(0.95 * len(ordered)) - 1] * 1000


def run() -> list[dict]:
    import psycopg

    from bench.run import figure

    name = _database_name(POSTGRES_URL)
    try:
        admin = psycopg.connect(
            _with_database(POSTGRES_URL, "postgres"), autocommit=True, connect_timeout=5
        )
    except psycopg.OperationalError as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        if os.environ.get("CI", "").lower() == "true":  # CI skips nothing for lack of a part
            raise RuntimeError(f"PostgreSQL is not reachable at {_where(POSTGRES_URL)}") from error
        print(
            f"  skipped: PostgreSQL is not reachable at {_where(POSTGRES_URL)} ({reason}); "
            "the search benchmark needs it (set BENCH_POSTGRES_URL). No search figures.",
            flush=True,
        )
        return []
    wanted = fingerprint(LISTINGS)
    with admin:
        generate = prepare_database(admin, name, wanted)
        with tempfile.TemporaryDirectory(prefix="wellspring-bench-search-") as folder:
            env = app_env(Path(folder))
            prepared = run_child(env, "generate" if generate else "reuse")
            if generate:
                from psycopg import sql

                admin.execute(
                    sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                        sql.Identifier(name), sql.Literal(wanted)
                    )
                )
            terms = prepared["terms"]
            # Common and rare terms in turn, so each client sends both kinds whatever its pace.
            mixed = [
                (kind, term["q"])
                for pair in zip(terms["common"], terms["rare"], strict=True)
                for kind, term in zip(("common", "rare"), pair, strict=True)
            ]
            api = [(kind, f"/api/v1/listings/?q={quote(q)}&facets=true") for kind, q in mixed]
            pages = [(kind, f"/catalog/?q={quote(q)}") for kind, q in mixed]
            load_before = os.getloadavg()[0]
            with serving(env, Path(folder) / "gunicorn.log") as port:
                trivial = drive(port, [("trivial", TRIVIAL_PATH)], SECONDS)
                search = drive(port, api, SECONDS)
                page = drive(port, pages, SECONDS)
                browse = drive(port, [("browse", "/catalog/")], SECONDS)
                narrowed = drive(
                    port,
                    [("narrowed", f"/catalog/?modality={modality}") for modality, _ in MODALITIES],
                    SECONDS,
                )
            print(
                f"  load average {load_before:.1f} before serving, "
                f"{os.getloadavg()[0]:.1f} after ({os.cpu_count()} cores)",
                flush=True,
            )

    def described(kind: str) -> str:
        return ", ".join(f"{t['q']!r} {t['share'] * 100:.1f}%" for t in terms[kind])

    trivial_p95 = p95_ms(trivial["latencies"]["all"])
    where = f"{prepared['listings']:,} listings, {WORKERS} gunicorn workers, {CLIENTS} clients"
    baseline = f"{TRIVIAL_PATH} on the same server"
    queries = prepared["queries"]
    return [
        figure(
            f"catalog search API throughput, common and rare terms with facets ({where})",
            search["rps"],
            "req/s",
            baseline,
            trivial["rps"],
            f">= 40 req/s ({WORKERS} workers at under 50 ms each)",
        ),
        figure(
            f"catalog search API p95, common and rare terms with facets ({where})",
            p95_ms(search["latencies"]["all"]),
            "ms",
            baseline,
            trivial_p95,
            "value < 50 ms",
        ),
        figure(
            f"catalog search API p95, common terms ({described('common')} of listings)",
            p95_ms(search["latencies"]["common"]),
            "ms",
            baseline,
            trivial_p95,
            "value < 50 ms",
        ),
        figure(
            f"catalog search API p95, rare terms ({described('rare')} of listings)",
            p95_ms(search["latencies"]["rare"]),
            "ms",
            baseline,
            trivial_p95,
            "value < 50 ms",
        ),
        figure(
            f"catalog page /catalog/?q= p95, the same terms, {page['rps']:.1f} req/s ({where})",
            p95_ms(page["latencies"]["all"]),
            "ms",
            baseline,
            trivial_p95,
            "value < 50 ms",
        ),
        figure(
            f"catalog page /catalog/ without a query (facets over every listing, kept for a "
            f"minute), {browse['rps']:.1f} req/s",
            p95_ms(browse["latencies"]["all"]),
            "ms",
            baseline,
            trivial_p95,
            "value < 50 ms",
        ),
        figure(
            f"catalog page /catalog/?modality= without a query (facets counted each time over "
            f"that share of every listing), {narrowed['rps']:.1f} req/s",
            p95_ms(narrowed["latencies"]["all"]),
            "ms",
            baseline,
            trivial_p95,
            "value < 50 ms",
        ),
        figure(
            f"SQL queries per catalog search with facets, page_size 100 (q={queries['q']!r})",
            queries["page_size_100"],
            "queries",
            "the same search at page_size 10",
            queries["page_size_10"],
            "ratio 1.0",
        ),
    ]


# --- The child: generate the catalog, pick the terms, count queries ----------------------


def _log(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def _copy(model, rows: list[dict]) -> None:
    """COPY rows of `model`, given as {attname: value}; missing fields take the model's defaults.

    Values go to the driver as the ORM hands them over: JSON through its field's preparation,
    the rest (text, numbers, booleans, aware datetimes) as they are. An automatic primary key
    is left to the database, as an INSERT through the ORM leaves it.
    """
    from django.db import connections, models

    connection = connections["default"]
    fields = [
        field
        for field in model._meta.concrete_fields
        if not isinstance(field, models.AutoField)  # BigAutoField too
    ]
    json_fields = {field.attname for field in fields if isinstance(field, models.JSONField)}
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    statement = f"COPY {connection.ops.quote_name(model._meta.db_table)} ({columns}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for row in rows:
            values = []
            for field in fields:
                value = row[field.attname] if field.attname in row else field.get_default()
                if field.attname in json_fields:
                    value = field.get_db_prep_save(value, connection)
                values.append(value)
            copy.write_row(values)


def _weighted(rng, weighted: list[tuple[str, float]], size: int) -> list[str]:
    import numpy as np

    values = [value for value, _ in weighted]
    weights = np.array([weight for _, weight in weighted])
    return [values[i] for i in rng.choice(len(values), size=size, p=weights / weights.sum())]


def _sentences(words: list[str], breaks: list[int]) -> str:
    """Words as sentences, each capitalized and ended with a full stop, `breaks` long."""
    out, start = [], 0
    for length in breaks:
        if start >= len(words):
            break
        chunk = words[start : start + length]
        out.append(" ".join([chunk[0].capitalize(), *chunk[1:]]) + ".")
        start += length
    return " ".join(out)


def generate(count: int) -> None:
    """Write `count` published listings with everything the catalog shows and filters on."""
    import numpy as np
    from django.db import connection, transaction
    from django.utils.text import slugify

    from accounts.ids import new_public_id
    from accounts.models import Organization
    from licensing.models import LicenseOption
    from licensing.services import clean_terms
    from marketplace.models import Listing
    from marketplace.services import refresh_search_fields
    from provenance.models import Dataset, DatasetVersion, IngestProgress, ProvenanceDeclaration

    rng = np.random.default_rng(5)
    words = vocabulary()
    probabilities = zipf(len(words))
    subjects = words[len(COMMON_WORDS) : len(COMMON_WORDS) + TAG_WORDS]
    tag_probabilities = zipf(len(subjects), exponent=0.9, shift=2.0)
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    started = time.monotonic()

    with transaction.atomic():
        names = rng.choice(subjects, size=(max(1, count // 100), 2)).tolist()
        organizations = Organization.objects.bulk_create(  # ids for the datasets
            [
                Organization(
                    slug=f"bench-creator-{index:05d}",
                    name=f"{first.capitalize()} {second.capitalize()} Lab {index}",
                    is_creator=True,
                    created_at=now - timedelta(days=1200),
                )
                for index, (first, second) in enumerate(names)
            ]
        )
        # Creators differ in size: a few list thousands of datasets, most a handful.
        owners = rng.choice(len(organizations), size=count, p=zipf(len(organizations), 0.8))
        slugs: dict[str, int] = {}
        chunk = 10_000
        for offset in range(0, count, chunk):
            size = min(chunk, count - offset)
            rows: dict = {model: [] for model in (Dataset, DatasetVersion, ProvenanceDeclaration)}
            rows.update({IngestProgress: [], LicenseOption: [], Listing: []})
            # Every random draw of the chunk at once: numpy is fast in bulk, slow per call.
            lengths = np.stack(
                [rng.integers(3, 7, size), rng.integers(10, 25, size), rng.integers(60, 101, size)]
            ).T.tolist()
            drawn = iter(
                np.array(words)[
                    rng.choice(len(words), size=int(np.sum(lengths)), p=probabilities)
                ].tolist()
            )
            breaks = rng.integers(6, 15, (size, 20)).tolist()
            modalities = _weighted(rng, MODALITIES, size)
            currencies = _weighted(rng, CURRENCIES, size)
            tag_counts = rng.integers(1, 6, size).tolist()
            tags = iter(
                np.array(subjects)[
                    rng.choice(len(subjects), size=sum(tag_counts), p=tag_probabilities)
                ].tolist()
            )
            language_counts = rng.choice([1, 1, 1, 2, 2, 3], size).tolist()
            languages = iter(_weighted(rng, LANGUAGES, sum(language_counts)))
            minutes = rng.integers(60, 3 * 365 * 24 * 60, size).tolist()
            review_hours = rng.integers(2, 24 * 14, size).tolist()
            sizes = (10 ** rng.uniform(5, 11.5, size)).astype(np.int64).tolist()
            file_counts = (10 ** rng.uniform(0, 4, size)).astype(np.int64).tolist()
            record_sizes = rng.integers(200, 5000, size).tolist()
            authorships = rng.choice(["human", "human", "human", "hybrid", "synthetic"], size)
            shares = rng.integers(500, 9500, size).tolist()
            consents = rng.choice(["own_work", "explicit_consent", "contract", "licensed_in"], size)
            prices = (10 ** rng.uniform(3.5, 7, size)).astype(np.int64).tolist()
            option_counts = rng.choice([1, 1, 2, 2, 3], size).tolist()
            # A non-empty set of uses per option, as a bit mask over USES.
            use_masks = rng.integers(1, 2 ** len(USES), (size, 3)).tolist()
            coins = rng.random((size, 4)).tolist()
            terms_days = rng.choice([365, 730], size).tolist()
            for n in range(size):
                title_length, summary_length, description_length = lengths[n]
                title_words = [next(drawn) for _ in range(title_length)]
                summary_words = [next(drawn) for _ in range(summary_length)]
                description_words = [next(drawn) for _ in range(description_length)]
                title = " ".join([title_words[0].capitalize(), *title_words[1:]])
                base = slugify(title)[:70] or "dataset"
                seen = slugs.get(base, 0) + 1
                slugs[base] = seen
                created = now - timedelta(minutes=minutes[n])
                approved = created + timedelta(hours=review_hours[n])
                organization = organizations[owners[offset + n]]
                dataset_id = new_public_id("ds")
                rows[Dataset].append(
                    {
                        "id": dataset_id,
                        "organization_id": organization.pk,
                        "slug": base if seen == 1 else f"{base}-{seen}",
                        "title": title,
                        "summary": _sentences(summary_words, breaks[n]),
                        "description": _sentences(description_words, breaks[n]),
                        "modality": modalities[n],
                        # As the services store them: lower case, unique, sorted.
                        "languages": sorted({next(languages) for _ in range(language_counts[n])}),
                        "tags": sorted({next(tags) for _ in range(tag_counts[n])}),
                        "created_at": created,
                        "updated_at": created,
                    }
                )
                version_id = new_public_id("dsv")
                total_bytes = sizes[n]
                ingested = created + timedelta(minutes=30)
                rows[DatasetVersion].append(
                    {
                        "id": version_id,
                        "dataset_id": dataset_id,
                        "number": 1,
                        "status": DatasetVersion.Status.APPROVED.value,
                        "merkle_root": hashlib.sha256(dataset_id.encode()).hexdigest(),
                        "file_count": file_counts[n],
                        "total_bytes": total_bytes,
                        "total_records": max(1, total_bytes // record_sizes[n]),
                        "created_at": created,
                        "ingested_at": ingested,
                        "submitted_at": created + timedelta(hours=1),
                        "approved_at": approved,
                    }
                )
                authorship = str(authorships[n])
                rows[ProvenanceDeclaration].append(
                    {
                        "version_id": version_id,
                        "source_description": f"Made by the contributors of {organization.name}.",
                        "collection_method": "Recorded and transcribed under written agreements.",
                        "consent_basis": str(consents[n]),
                        "rights_holder": organization.name,
                        "authorship": authorship,
                        "synthetic_share_bps": {"human": 0, "synthetic": 10_000}.get(
                            authorship, shares[n]
                        ),
                        "opt_out_status": "not_applicable",
                        "updated_at": created,
                    }
                )
                rows[IngestProgress].append(
                    {
                        "version_id": version_id,
                        "state": IngestProgress.State.DONE.value,
                        "files_total": file_counts[n],
                        "files_done": file_counts[n],
                        "bytes_total": total_bytes,
                        "bytes_done": total_bytes,
                        "finished_at": ingested,
                    }
                )
                for rank in range(option_counts[n]):
                    mask = use_masks[n][rank]
                    terms = clean_terms(
                        {
                            "permitted_uses": [u for i, u in enumerate(USES) if mask >> i & 1],
                            "price_minor": prices[n] * (rank * 3 + 1),
                            "currency": currencies[n],
                            "commercial_use": rank > 0,
                            "is_exclusive": rank == 2 and coins[n][0] < 0.5,
                            "term_days": terms_days[n] if rank else None,
                            "attribution_required": coins[n][1] < 0.3,
                        }
                    )
                    rows[LicenseOption].append(
                        {
                            "dataset_id": dataset_id,
                            "name": ("Research", "Commercial", "Exclusive")[rank],
                            "is_active": coins[n][2 + (rank > 0)] > 0.03,
                            "created_at": approved,
                            **terms,
                        }
                    )
                rows[Listing].append(
                    {
                        "dataset_id": dataset_id,
                        "version_id": version_id,
                        "status": Listing.Status.PUBLISHED.value,
                        "published_at": approved,
                        "updated_at": approved,
                    }
                )
            for model, model_rows in rows.items():
                _copy(model, model_rows)
            _log(
                f"wrote {offset + size:,} of {count:,} listings ({time.monotonic() - started:.0f}s)"
            )
        filling = time.monotonic()
        refresh_search_fields()
        _log(f"filled the search fields in {time.monotonic() - filling:.1f}s")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    _log(f"generated {count:,} listings in {time.monotonic() - started:.0f}s")


def pick_terms(published: int) -> dict:
    """Real words the vocabulary makes common or rare, by the share of listings they match."""
    from django.db import connection

    words = list(dict.fromkeys(COMMON_WORDS + SUBJECT_WORDS))
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT w, (
                SELECT count(*) FROM marketplace_listing
                WHERE status = 'published'
                  AND search_document @@ websearch_to_tsquery('english', w)
            )
            FROM unnest(%s::text[]) AS w
            """,
            [words],
        )
        shares = {word: n / published for word, n in cursor.fetchall()}

    def nearest(bounds: tuple[float, float]) -> list[dict]:
        low, high = bounds
        middle = math.sqrt(low * high)
        inside = [word for word in words if low <= shares[word] <= high]
        inside.sort(key=lambda word: abs(math.log(shares[word] / middle)))
        if len(inside) < TERMS_PER_CLASS:
            raise RuntimeError(f"fewer than {TERMS_PER_CLASS} words match {low:.1%}-{high:.1%}")
        return [{"q": word, "share": shares[word]} for word in inside[:TERMS_PER_CLASS]]

    return {"common": nearest(COMMON_SHARE), "rare": nearest(RARE_SHARE)}


def count_queries(term: str) -> dict:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()

    def measured(path: str) -> tuple[int, object]:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(path, headers={"accept": "application/json"})
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}")
        return len(captured), response

    trivial, _ = measured(TRIVIAL_PATH)
    if trivial:
        raise RuntimeError(f"{TRIVIAL_PATH} ran {trivial} SQL queries: it is no baseline")
    counts = {}
    for page_size in (10, 100):
        n, response = measured(
            f"/api/v1/listings/?q={quote(term)}&facets=true&page_size={page_size}"
        )
        body = response.json()
        if len(body["results"]) != min(page_size, body["count"]) or not body["facets"]:
            raise RuntimeError(f"page_size {page_size} gave {len(body['results'])} results")
        counts[f"page_size_{page_size}"] = n
    return {"q": term, **counts}


def _child(how: str) -> dict:
    import django

    django.setup()
    from django.core.management import call_command

    from marketplace.models import Listing

    call_command("migrate", verbosity=0, interactive=False)
    if how == "generate":
        generate(LISTINGS)
    published = Listing.objects.filter(status=Listing.Status.PUBLISHED).count()
    if published != LISTINGS:
        raise RuntimeError(f"the bench database holds {published} listings, not {LISTINGS}")
    terms = pick_terms(published)
    return {
        "listings": published,
        "terms": terms,
        "queries": count_queries(terms["common"][0]["q"]),
    }


if __name__ == "__main__":
    print(json.dumps(_child(*sys.argv[1:])))
