"""The API v1 contract of ARCHITECTURE.md, pinned in /api/schema/.

Procurement systems build on these routes: one that disappears, loses its documentation or its
`Idempotency-Key` fails here. Additive changes only (docs/api.md keeps the changelog).
"""

import pytest
from openapi_spec_validator import validate

# (method, path) of every route in ARCHITECTURE.md's API v1 table, as the schema names them.
CONTRACT = [
    ("get", "/api/v1/listings/"),
    ("get", "/api/v1/listings/{slug}/"),
    ("get", "/api/v1/datasets/"),
    ("post", "/api/v1/datasets/"),
    ("get", "/api/v1/datasets/{id}/versions/"),
    ("post", "/api/v1/datasets/{id}/versions/"),
    ("get", "/api/v1/versions/{id}/"),
    ("get", "/api/v1/versions/{id}/files/"),
    ("post", "/api/v1/versions/{id}/files/"),
    ("post", "/api/v1/versions/{id}/submit/"),
    ("get", "/api/v1/offers/"),
    ("post", "/api/v1/offers/"),
    ("post", "/api/v1/offers/{id}/counter/"),
    ("post", "/api/v1/offers/{id}/accept/"),
    ("post", "/api/v1/offers/{id}/reject/"),
    ("get", "/api/v1/orders/"),
    ("post", "/api/v1/orders/"),
    ("get", "/api/v1/licenses/"),
    ("get", "/api/v1/licenses/{id}/"),
    ("get", "/api/v1/licenses/{id}/certificate/"),
    ("get", "/api/v1/licenses/{id}/manifest/"),
    ("get", "/api/v1/licenses/{id}/files/"),
    ("get", "/api/v1/licenses/{id}/usage-reports/"),
    ("post", "/api/v1/licenses/{id}/usage-reports/"),
    ("post", "/api/v1/certificates/verify/"),
    ("get", "/api/v1/claims/"),
    ("post", "/api/v1/claims/"),
    ("get", "/api/v1/webhook-endpoints/"),
    ("post", "/api/v1/webhook-endpoints/"),
    ("post", "/api/v1/webhook-endpoints/{id}/ping/"),
    ("get", "/api/v1/events/"),
]

# PENDING: routes of the table that are not built yet. They are listed here, not faked; each
# moves out of this list (and so becomes pinned) when it lands.
PENDING: set[tuple[str, str]] = set()

# Operations that create nothing a retry could duplicate, though they are POSTs.
NOT_CREATING = {"certificates_verify"}

METHODS = ("get", "put", "post", "patch", "delete")


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from django.test import Client

    with django_db_blocker.unblock():
        response = Client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


@pytest.mark.parametrize(("method", "path"), [r for r in CONTRACT if r not in PENDING])
def test_every_route_of_the_contract_is_in_the_schema(schema, method, path):
    assert method in schema["paths"].get(path, {}), f"{method.upper()} {path} disappeared"


def test_the_schema_is_valid_openapi(schema):
    validate(schema)


def test_every_operation_has_an_id_a_summary_and_typed_answers(schema):
    problems = []
    for method, path, operation in operations(schema):
        name = f"{method.upper()} {path}"
        if not operation.get("operationId"):
            problems.append(f"{name}: no operationId")
        if not operation.get("summary"):
            problems.append(f"{name}: no summary")
        successes = {code: r for code, r in operation["responses"].items() if code.startswith("2")}
        if not successes:
            problems.append(f"{name}: no success response")
        for code, response in successes.items():
            if code != "204" and not response.get("content") and method != "delete":
                problems.append(f"{name}: {code} has no schema")
        if not any(code.startswith("4") for code in operation["responses"]):
            problems.append(f"{name}: documents no error response")
        if (
            method in ("post", "put", "patch")
            and "requestBody" not in operation
            and operation["operationId"] not in _BODYLESS
        ):
            problems.append(f"{name}: no request schema")
    assert problems == []


# Actions whose POST carries no body by design.
_BODYLESS = {
    "versions_submit",
    "versions_ingest",
    "versions_quality_create",
    "uploads_complete",
    "webhook_endpoints_ping",
    "webhook_endpoints_rotate_secret",
    "webhook_endpoints_deliveries_redeliver",
    "offers_accept",  # accepting takes the latest proposal as it stands: nothing to send
}


def test_every_creating_post_documents_idempotency_key(schema):
    missing = []
    for method, path, operation in operations(schema):
        if method != "post" or "201" not in operation["responses"]:
            continue
        if operation["operationId"] in NOT_CREATING:
            continue
        names = {parameter.get("name") for parameter in operation.get("parameters", [])}
        if "Idempotency-Key" not in names:
            missing.append(f"POST {path}")
    assert missing == []


def test_operation_ids_are_unique(schema):
    ids = [operation["operationId"] for _, _, operation in operations(schema)]
    assert len(ids) == len(set(ids))


def test_the_public_signing_keys_are_published(client, db):
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    key = response.json()["keys"][0]
    assert key["kty"] == "OKP" and key["crv"] == "Ed25519" and key["kid"]
