"""`Idempotency-Key` on creating POSTs: replay, refusal of a changed body, one object under a race."""

import json
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts.models import IdempotencyRecord
from accounts.services import prune_api_records
from provenance.models import Dataset
from tests.helpers import require

DATASETS = "/api/v1/datasets/"
BODY = {"title": "Harbour logs", "modality": "text", "summary": "Logs of a harbour."}


def post(client, raw, body, key="order-2026-0001", **extra):
    headers = {"HTTP_AUTHORIZATION": f"Api-Key {raw}", **extra}
    if key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    return client.post(DATASETS, data=json.dumps(body), content_type="application/json", **headers)


def test_the_same_key_and_body_replays_the_first_answer(api_client, cast, key_for):
    raw = key_for(cast.creator_org)
    first = post(api_client, raw, BODY)
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first
    again = post(api_client, raw, BODY)
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Dataset.objects.filter(organization=cast.creator_org).count() == 1


def test_the_same_key_with_another_body_gets_422_and_creates_nothing(api_client, cast, key_for):
    raw = key_for(cast.creator_org)
    assert post(api_client, raw, BODY).status_code == 201
    response = post(api_client, raw, {**BODY, "title": "Another"})
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "idempotency_key_reused"
    assert Dataset.objects.filter(organization=cast.creator_org).count() == 1


def test_a_refused_request_is_replayed_too(api_client, cast, key_for):
    raw = key_for(cast.creator_org)
    first = post(api_client, raw, {"title": ""})
    assert first.status_code == 400
    again = post(api_client, raw, {"title": ""})
    assert again.status_code == 400 and again["Idempotent-Replayed"] == "true"
    assert again["Content-Type"] == "application/problem+json"
    assert again.json() == first.json()


def test_without_a_key_every_post_creates(api_client, cast, key_for):
    raw = key_for(cast.creator_org)
    post(api_client, raw, BODY, key=None)
    post(api_client, raw, BODY, key=None)
    assert Dataset.objects.filter(organization=cast.creator_org).count() == 2


def test_keys_are_per_organization(api_client, cast, key_for):
    mine = key_for(cast.creator_org)
    theirs = key_for(cast.outsider_org)
    assert post(api_client, mine, BODY).status_code == 201
    response = post(api_client, theirs, {**BODY, "title": "Theirs"})
    assert response.status_code == 201 and "Idempotent-Replayed" not in response
    assert response.json()["title"] == "Theirs"


def test_an_overlong_key_gets_400(api_client, cast, key_for):
    response = post(api_client, key_for(cast.creator_org), BODY, key="x" * 300)
    assert response.status_code == 400
    assert not Dataset.objects.exists()


def test_a_key_older_than_24_hours_is_forgotten(api_client, cast, key_for):
    raw = key_for(cast.creator_org)
    assert post(api_client, raw, BODY).status_code == 201
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))
    response = post(api_client, raw, {**BODY, "title": "A day later"})
    assert response.status_code == 201 and "Idempotent-Replayed" not in response


def test_pruning_deletes_keys_past_24_hours(api_client, cast, key_for):
    post(api_client, key_for(cast.creator_org), BODY)
    assert prune_api_records()["idempotency_records"] == 0
    assert prune_api_records(now=timezone.now() + timedelta(hours=25))["idempotency_records"] == 1


def test_the_schema_documents_the_header_on_creating_posts(client, db):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    names = [p["name"] for p in schema["paths"]["/api/v1/datasets/"]["post"]["parameters"]]
    assert "Idempotency-Key" in names
    versions = schema["paths"]["/api/v1/datasets/{id}/versions/"]
    assert "Idempotency-Key" in [p["name"] for p in versions["post"]["parameters"]]
    assert "Idempotency-Key" not in [p["name"] for p in versions["get"].get("parameters", [])]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_posts_with_one_key_create_one_object(cast, key_for, on_postgres):
    require(on_postgres, "a real race needs PostgreSQL")
    raw = key_for(cast.creator_org)
    barrier = threading.Barrier(20)
    answers = []

    def send():
        barrier.wait()
        try:
            answers.append(post(Client(), raw, BODY))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Dataset.objects.filter(organization=cast.creator_org).count() == 1
    assert sorted(answer.status_code for answer in answers) == [201] * 20
    assert len({answer.json()["id"] for answer in answers}) == 1
    assert sum(answer.get("Idempotent-Replayed") == "true" for answer in answers) == 19
