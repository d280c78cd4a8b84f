#!/usr/bin/env python3
"""Run schemathesis over the whole API v1 against a live server, with every check on.

    python tools/run_schemathesis.py [--max-examples N] [--seed S] [--pass buyer,creator]

On a throwaway database (an SQLite file in a temporary folder, or, when DATABASE_URL names a
PostgreSQL server, a fresh database created on it and dropped afterwards) it migrates, runs
`seed_demo`, creates one API key per pass, starts localstripe and gunicorn on free loopback
ports and runs

    schemathesis run <server>/api/schema/?format=json --checks all --workers 1 --seed S \
        --max-examples N -H "Authorization: Api-Key <key>"

once per pass: the buyer (`demo-lab`) over everything a buyer or the public uses, the creator
(`demo-creators`) over the creator routes and offers; together every operation of the schema. A generated schemathesis.toml offers the seeded demo's real
identifiers as parameter values (so requests get past the lookups) and lists the few
operations whose rules a schema cannot state (RULES_BEYOND_SCHEMA, each with its reason);
tools/schemathesis_hooks.py keeps drawn Idempotency-Keys unique. Each pass writes a JUnit
report to var/test-artifacts/schemathesis-<pass>.xml, and the server's log goes to
var/test-artifacts/schemathesis-server.log. The exit status is 0 when no pass found
anything, 1 otherwise.

The run mutates the seeded data (that is the point of `--checks all`): the database never
outlives the run. Rate limits are raised for the run so schemathesis gets real answers, not 429s.
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import ExitStack, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "var" / "test-artifacts"
BIN = Path(sys.executable).parent
# Each pass: the organization whose key it sends and the operations it covers (paths matching
# `include`, if given, and not `exclude`). Together they cover every operation of the schema
# (tests/test_schemathesis_run.py checks it): the buyer's key everything a buyer or the public
# uses, the creator's key the creator routes (and offers, which both sides answer).
CREATOR_ROUTES = r"^/api/v1/(datasets/|uploads/|versions/\{id\}/(?!quality/))"
PASSES = {
    "buyer": {"organization": "demo-lab", "include": None, "exclude": CREATOR_ROUTES},
    "creator": {
        "organization": "demo-creators",
        "include": r"^/api/v1/(datasets|versions|uploads|offers)/",
        "exclude": None,
    },
}


def selected(path: str, name: str) -> bool:
    """Whether the pass `name` covers the operations of `path`."""
    include, exclude = PASSES[name]["include"], PASSES[name]["exclude"]
    return (include is None or re.search(include, path) is not None) and (
        exclude is None or re.search(exclude, path) is None
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_url(url: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode} while starting")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answered, if only to say no
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not answer within {timeout}s") from None
            time.sleep(0.1)


def executable(name: str) -> str:
    beside = BIN / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} is not installed: make setup")
    return found


@contextmanager
def fresh_database(base_env: dict, workdir: Path):
    """A DATABASE_URL nobody else uses, removed afterwards."""
    url = base_env.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        yield f"sqlite:///{workdir / 'schemathesis.sqlite3'}"
        return
    import psycopg

    parts = urllib.parse.urlsplit(url)
    name = f"{parts.path.lstrip('/') or 'wellspring'}_schemathesis_{os.getpid()}"
    admin = urllib.parse.urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def running(command: list[str], *, env: dict, log: Path, ready_url: str, timeout: float = 60):
    with log.open("ab") as output:
        process = subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        wait_for_url(ready_url, process, timeout)
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def manage(*arguments: str, env: dict, log: Path) -> str:
    """Run a management command; its stderr goes to the log, its stdout is returned."""
    with log.open("a") as errors:
        result = subprocess.run(
            [sys.executable, "manage.py", *arguments],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
    if result.returncode != 0:
        raise SystemExit(f"manage.py {arguments[0]} failed ({result.returncode}): see {log}")
    return result.stdout


# Real identifiers for the operations' parameters, so that requests reach the code behind the
# lookups instead of answering 404 (schemathesis still sends generated values too).
COLLECT_IDS = """
import json
from accounts.models import Event
from licensing.models import License, LicenseOption, Offer
from marketplace.models import Order
from provenance.models import DataFile, Dataset, DatasetVersion, RightsClaim, UploadSession

def ids(queryset, field="pk"):
    return [str(value) for value in queryset.order_by(field).values_list(field, flat=True)[:40]]

print(json.dumps({
    "slugs": ids(Dataset.objects.filter(versions__status="approved").distinct(), "slug"),
    "datasets": ids(Dataset.objects.all()),
    "versions": ids(DatasetVersion.objects.all()),
    "files": ids(DataFile.objects.all()),
    "uploads": ids(UploadSession.objects.all()),
    "options": ids(LicenseOption.objects.filter(is_active=True)),
    "offers": ids(Offer.objects.all()),
    "orders": ids(Order.objects.all()),
    "licenses": ids(License.objects.all()),
    "claims": ids(RightsClaim.objects.all()),
    "events": ids(Event.objects.all()),
}))
"""

# (path regex, parameter, dictionary): which identifiers each operation's parameters take.
BINDINGS = [
    (r"^/api/v1/listings/\{slug\}/$", "path.slug", "slugs"),
    (r"^/api/v1/datasets/\{id\}/", "path.id", "datasets"),
    (r"^/api/v1/versions/\{id\}/", "path.id", "versions"),
    (r"^/api/v1/versions/\{version_id\}/", "path.version_id", "versions"),
    (r"^/api/v1/versions/\{id\}/files/\{file_id\}/$", "path.file_id", "files"),
    (r"^/api/v1/review/queue/\{id\}/", "path.id", "versions"),
    (r"^/api/v1/uploads/\{id\}/", "path.id", "uploads"),
    (r"^/api/v1/offers/\{id\}/", "path.id", "offers"),
    (r"^/api/v1/offers/$", "body.dataset", "slugs"),
    (r"^/api/v1/orders/\{id\}/", "path.id", "orders"),
    (r"^/api/v1/orders/$", "body.option", "options"),
    (r"^/api/v1/licenses/\{id\}/", "path.id", "licenses"),
    (r"^/api/v1/certificates/verify/$", "body.license_id", "licenses"),
    (r"^/api/v1/claims/\{id\}/", "path.id", "claims"),
    (r"^/api/v1/claims/$", "body.dataset", "slugs"),
    (r"^/api/v1/events/\{id\}/", "path.id", "events"),
]


def toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string of printable ASCII is a TOML basic string


# What schemathesis' positive_data_acceptance check accepts by default.
POSITIVE_ACCEPTANCE = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]

# Operations whose valid inputs JSON Schema cannot state, so that a schema-valid request may
# rightly get 400 naming the field. Keep this list short; each entry says why.
RULES_BEYOND_SCHEMA = {
    # A reporting period must start no later than it ends, not end in the future, lie within
    # the license's term and not overlap an earlier report (docs/usage.md): a comparison of
    # two fields, today's date and stored reports.
    "licenses_usage_reports_create": ["400"],
    # A PATCH merges into the stored declaration, and the rules apply to the result: honoured
    # opt-outs need notes, the collection period cannot lie in the future, parents must be
    # approved versions other than this one.
    "versions_declaration_partial_update": ["400"],
    # With `expand_archive`, the uploaded bytes must be a zip, tar or tar.gz archive: what the
    # file contains decides, which a schema cannot describe.
    "versions_files_create": ["400"],
}


def write_config(path: Path, schema: dict, identifiers: dict[str, list[str]]) -> None:
    """A schemathesis.toml with one entry per operation: its parameters bound to the seeded
    identifiers, and the statuses above where rules go beyond what a schema can say."""
    lines = []
    for name, values in identifiers.items():
        if values:
            lines += [f"[dictionaries.{name}]", f"values = [{', '.join(map(toml_string, values))}]"]
    for route, item in schema["paths"].items():
        for operation in item.values():
            if not isinstance(operation, dict) or "operationId" not in operation:
                continue
            entry = [
                f"parameters.{toml_string(parameter)} = "
                f"{{ dictionary = {toml_string(dictionary)}, probability = 0.8 }}"
                for pattern, parameter, dictionary in BINDINGS
                if identifiers.get(dictionary) and re.search(pattern, route)
            ]
            extra = RULES_BEYOND_SCHEMA.get(operation["operationId"], [])
            if extra:
                entry.append(
                    "checks.positive_data_acceptance.expected-statuses = "
                    f"[{', '.join(map(toml_string, [*POSITIVE_ACCEPTANCE, *extra]))}]"
                )
            if entry:
                lines += [
                    "",
                    "[[operations]]",
                    f"include-operation-id = {toml_string(operation['operationId'])}",
                    *entry,
                ]
    path.write_text("\n".join(lines) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-examples", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--pass",
        dest="passes",
        default=",".join(PASSES),
        help=f"comma-separated passes to run, of: {', '.join(PASSES)}",
    )
    arguments = parser.parse_args()
    passes = [name.strip() for name in arguments.passes.split(",") if name.strip()]
    unknown = set(passes) - set(PASSES)
    if unknown:
        parser.error(f"unknown pass: {', '.join(sorted(unknown))}")

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    server_log = ARTIFACTS / "schemathesis-server.log"
    server_log.write_bytes(b"")

    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ws-schemathesis-")))
        env = dict(os.environ)
        stripe_port, web_port = free_port(), free_port()
        env.update(
            {
                "WELLSPRING_ENV": "development",
                "DEBUG": "false",
                "WELLSPRING_VAR_DIR": str(workdir),
                "STRIPE_LOCAL_PORT": str(stripe_port),
                "STRIPE_API_BASE": f"http://127.0.0.1:{stripe_port}",
                "SITE_URL": f"http://127.0.0.1:{web_port}",
                # Real answers, not 429s: the limits are tested in tests/test_rate_limits.py.
                "API_RATE_LIMIT_READS": "1000000",
                "API_RATE_LIMIT_WRITES": "1000000",
                "CLAIMS_PER_HOUR": "1000000",
                # Generated webhook URLs point nowhere: give up on them quickly.
                "WEBHOOK_TIMEOUT_SECONDS": "2",
                "PYTHONUNBUFFERED": "1",
                "SCHEMATHESIS_HOOKS": str(ROOT / "tools" / "schemathesis_hooks.py"),
            }
        )
        for name in ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_PUBLISHABLE_KEY"):
            env.pop(name, None)
        env["DATABASE_URL"] = stack.enter_context(fresh_database(os.environ, workdir))

        print(f"schemathesis: database {env['DATABASE_URL'].split('@')[-1]}", flush=True)
        manage("migrate", "--noinput", "-v", "0", env=env, log=server_log)
        manage("seed_demo", env=env, log=server_log)
        keys = {
            name: manage(
                "create_api_key",
                "--org",
                PASSES[name]["organization"],
                "--name",
                f"schemathesis-{name}",
                env=env,
                log=server_log,
            )
            .strip()
            .splitlines()[-1]
            for name in passes
        }

        identifiers = json.loads(
            manage("shell", "--no-imports", "-c", COLLECT_IDS, env=env, log=server_log)
        )

        stack.enter_context(
            running(
                [executable("localstripe"), "--port", str(stripe_port), "--from-scratch"],
                env=env,
                log=server_log,
                ready_url=f"http://127.0.0.1:{stripe_port}/v1/customers",
            )
        )
        base = f"http://127.0.0.1:{web_port}"
        stack.enter_context(
            running(
                [
                    executable("gunicorn"),
                    "config.wsgi:application",
                    "--bind",
                    f"127.0.0.1:{web_port}",
                    "--workers",
                    "1",
                    "--timeout",
                    "60",
                    "--access-logfile",
                    "-",
                ],
                env=env,
                log=server_log,
                ready_url=f"{base}/healthz",
            )
        )

        schema_url = f"{base}/api/schema/?format=json"
        with urllib.request.urlopen(schema_url, timeout=30) as response:
            schema = json.load(response)
        config = workdir / "schemathesis.toml"
        write_config(config, schema, identifiers)

        failed = []
        for name in passes:
            report = ARTIFACTS / f"schemathesis-{name}.xml"
            chosen = PASSES[name]
            print(f"\nschemathesis: {name} pass ({chosen['organization']})", flush=True)
            selection = []
            if chosen["include"]:
                selection += ["--include-path-regex", chosen["include"]]
            if chosen["exclude"]:
                selection += ["--exclude-path-regex", chosen["exclude"]]
            started = time.monotonic()
            status = subprocess.call(
                [
                    executable("schemathesis"),
                    "--config-file",
                    str(config),
                    "run",
                    schema_url,
                    "--checks",
                    "all",
                    "--workers",
                    "1",
                    "--seed",
                    str(arguments.seed),
                    "--max-examples",
                    str(arguments.max_examples),
                    "--header",
                    f"Authorization: Api-Key {keys[name]}",
                    "--wait-for-schema",
                    "30",
                    "--report",
                    "junit",
                    "--report-junit-path",
                    str(report),
                    *selection,
                ],
                cwd=workdir,  # schemathesis keeps its cache in the working directory
                env=env,
            )
            print(f"schemathesis: {name} pass took {time.monotonic() - started:.0f} s", flush=True)
            if status != 0:
                failed.append(name)
        if failed:
            print(f"\nschemathesis: findings in the {', '.join(failed)} pass(es)", flush=True)
            return 1
        print("\nschemathesis: no findings", flush=True)
        return 0


if __name__ == "__main__":
    sys.exit(main())
