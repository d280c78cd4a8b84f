"""The schemathesis run of CI (tools/run_schemathesis.py): the configuration it writes binds
real identifiers to the operations that take them and loads in schemathesis, and the hook
keeps valid Idempotency-Keys unique without touching invalid ones. The run itself is
`make schemathesis`, a CI step against a live server."""

import importlib.util
import sys
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest
from schemathesis.config import SchemathesisConfig

TOOLS = Path(__file__).resolve().parent.parent / "tools"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


run = load("run_schemathesis")
hooks = load("schemathesis_hooks")


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from django.test import Client

    with django_db_blocker.unblock():
        return Client().get("/api/schema/", {"format": "json"}).json()


def test_the_config_binds_identifiers_per_operation_and_loads(schema, tmp_path):
    identifiers = {"versions": ["dsv_1", "dsv_2"], "licenses": ["lic_1"], "slugs": [], "orders": []}
    path = tmp_path / "schemathesis.toml"
    run.write_config(path, schema, identifiers)
    config = tomllib.loads(path.read_text())
    assert config["dictionaries"] == {
        "versions": {"values": ["dsv_1", "dsv_2"]},
        "licenses": {"values": ["lic_1"]},
    }
    entries = {entry["include-operation-id"]: entry for entry in config["operations"]}
    assert entries["versions_files_list"]["parameters"]["path.id"]["dictionary"] == "versions"
    assert entries["licenses_retrieve"]["parameters"]["path.id"]["dictionary"] == "licenses"
    assert "orders_retrieve" not in entries  # no orders seeded: nothing to bind
    usage = entries["licenses_usage_reports_create"]["checks"]["positive_data_acceptance"]
    assert usage["expected-statuses"] == [*run.POSITIVE_ACCEPTANCE, "400"]
    assert set(run.RULES_BEYOND_SCHEMA) <= set(entries)
    SchemathesisConfig.from_path(path)  # schemathesis accepts it


def test_every_operation_allowed_a_400_exists_in_the_schema(schema):
    ids = {
        operation["operationId"] for item in schema["paths"].values() for operation in item.values()
    }
    assert set(run.RULES_BEYOND_SCHEMA) <= ids


def test_valid_idempotency_keys_are_made_unique_and_invalid_ones_kept():
    cases = [SimpleNamespace(headers={"Idempotency-Key": "0"}) for _ in range(2)]
    blank = SimpleNamespace(headers={"Idempotency-Key": "   "})
    too_long = SimpleNamespace(headers={"Idempotency-Key": "k" * 300})
    for case in (*cases, blank, too_long):
        hooks.before_call(None, case, {})
    first, second = (case.headers["Idempotency-Key"] for case in cases)
    assert first != second and first.startswith("0.") and len(first) <= 255
    assert blank.headers["Idempotency-Key"] == "   "
    assert too_long.headers["Idempotency-Key"] == "k" * 300


def test_the_passes_together_cover_every_operation(schema):
    uncovered = [
        path for path in schema["paths"] if not any(run.selected(path, name) for name in run.PASSES)
    ]
    assert uncovered == []
    assert run.selected("/api/v1/versions/{id}/files/", "creator")
    assert not run.selected("/api/v1/versions/{id}/files/", "buyer")
    assert run.selected("/api/v1/versions/{id}/quality/", "buyer")
    assert run.selected("/api/v1/licenses/{id}/", "buyer")
