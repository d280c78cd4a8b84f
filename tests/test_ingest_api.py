"""The creator API end to end: dataset, version, files, ingest, declaration, submit; scoping."""

import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from provenance import services
from provenance.models import DatasetVersion, LedgerEntry
from tests.test_archives import make_zip


@pytest.fixture
def api(api_client, cast, key_for):
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.creator_org)}")
    return api_client


DECLARATION = {
    "source_url": "https://example.org/harbour",
    "collection_method": "Transcribed from logbooks by volunteers.",
    "collection_started_on": "2019-01-01",
    "collection_ended_on": "2020-12-31",
    "consent_basis": "contract",
    "rights_holder": "Harbour Trust",
    "authorship": "human",
    "opt_out_status": "not_applicable",
}


def test_a_creators_tooling_registers_uploads_processes_declares_and_submits(
    api, django_capture_on_commit_callbacks
):
    created = api.post(
        "/api/v1/datasets/",
        {"title": "Harbour logs", "modality": "text", "languages": ["en"], "tags": ["sea"]},
        format="json",
    )
    assert created.status_code == 201
    dataset = created.json()
    version_id = dataset["versions"][0]["id"]
    assert version_id.startswith("dsv_") and dataset["id"].startswith("ds_")

    data = b'{"entry": 1}\n{"entry": 2}\n'
    uploaded = api.post(
        f"/api/v1/versions/{version_id}/files/",
        {
            "file": SimpleUploadedFile("log.jsonl", data),
            "path": "logs/1901.jsonl",
            "sha256": hashlib.sha256(data).hexdigest(),
        },
        format="multipart",
    )
    assert uploaded.status_code == 201 and uploaded.json()["id"].startswith("df_")
    archive = api.post(
        f"/api/v1/versions/{version_id}/files/",
        {
            "file": SimpleUploadedFile("more.zip", make_zip([("logs/1902.jsonl", data)])),
            "expand_archive": True,
        },
        format="multipart",
    )
    assert archive.status_code == 201 and archive.json()["state"] == "pending"

    with django_capture_on_commit_callbacks(execute=True):
        started = api.post(f"/api/v1/versions/{version_id}/ingest/")
    assert started.status_code == 202
    version = api.get(f"/api/v1/versions/{version_id}/").json()
    assert version["status"] == "draft"
    assert version["ingest"]["state"] == "done" and version["ingest"]["percent"] == 100
    assert version["file_count"] == 2 and version["total_records"] == 4
    problems = {problem["field"] for problem in version["submission_problems"]}
    assert problems == {
        "source",
        "collection_method",
        "consent_basis",
        "rights_holder",
        "opt_out_status",
    }

    files = api.get(f"/api/v1/versions/{version_id}/files/").json()
    assert files["count"] == 2
    assert [f["path"] for f in files["results"]] == ["logs/1901.jsonl", "logs/1902.jsonl"]

    declared = api.patch(f"/api/v1/versions/{version_id}/declaration/", DECLARATION, format="json")
    assert declared.status_code == 200 and declared.json()["problems"] == []
    evidence = api.post(
        f"/api/v1/versions/{version_id}/declaration/evidence/",
        {"title": "Volunteer contract", "file": SimpleUploadedFile("c.pdf", b"%PDF-1.4 c")},
        format="multipart",
    )
    assert evidence.status_code == 201 and evidence.json()["media_type"] == "application/pdf"

    submitted = api.post(f"/api/v1/versions/{version_id}/submit/")
    assert submitted.status_code == 200 and submitted.json()["status"] == "submitted"
    actions = set(LedgerEntry.objects.values_list("action", flat=True))
    assert {
        "dataset.created",
        "version.file_added",
        "version.files_added",
        "version.ingested",
        "declaration.changed",
        "version.submitted",
    } <= actions


def test_a_drafts_notes_change_through_the_api(api, cast):
    dataset = services.create_dataset(
        actor=cast.creator, organization=cast.creator_org, title="Noted", modality="text"
    )
    version = dataset.versions.get()
    response = api.patch(f"/api/v1/versions/{version.pk}/", {"notes": "First cut."}, format="json")
    assert response.status_code == 200 and response.json()["notes"] == "First cut."


def test_submitting_too_early_lists_what_is_missing(api, cast):
    dataset = services.create_dataset(
        actor=cast.creator, organization=cast.creator_org, title="Early", modality="text"
    )
    response = api.post(f"/api/v1/versions/{dataset.versions.get().pk}/submit/")
    assert response.status_code == 409
    assert set(response.json()["errors"]) >= {"files", "source", "consent_basis"}


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"source_url": "ftp://x.org/a"}, "source_url", "https://"),
        (
            {"collection_started_on": "2022-01-01", "collection_ended_on": "2021-01-01"},
            "__all__",
            "end after it starts",
        ),
        ({"collection_ended_on": "2999-01-01"}, "collection_ended_on", "future"),
        ({"authorship": "hybrid", "synthetic_share_bps": 0}, "__all__", "between them"),
        ({"opt_out_status": "honoured"}, "opt_out_notes", "which reservations"),
        ({"parents": ["dsv_nope"]}, "parents", "not an approved version"),
        ({"consent_basis": "because"}, "consent_basis", "not a valid choice"),
    ],
)
def test_declaration_errors_name_the_field(api, cast, changes, field, message):
    dataset = services.create_dataset(
        actor=cast.creator, organization=cast.creator_org, title="Declared", modality="text"
    )
    version = dataset.versions.get()
    response = api.patch(f"/api/v1/versions/{version.pk}/declaration/", changes, format="json")
    assert response.status_code == 400
    assert message in " ".join(response.json()["errors"][field])


def test_lineage_names_approved_parents_of_any_organization(api, cast, make_listing):
    parent = make_listing(
        "Their corpus", organization=cast.outsider_org, actor=cast.outsider
    ).version
    dataset = services.create_dataset(
        actor=cast.creator, organization=cast.creator_org, title="Derived", modality="text"
    )
    version = dataset.versions.get()
    response = api.patch(
        f"/api/v1/versions/{version.pk}/declaration/", {"parents": [parent.pk]}, format="json"
    )
    assert response.status_code == 200 and response.json()["parents"] == [parent.pk]


def test_a_new_version_carries_files_over_by_reference(api, make_listing):
    listing = make_listing("Versioned")
    response = api.post(
        f"/api/v1/datasets/{listing.dataset.pk}/versions/",
        {"based_on": listing.version.pk},
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert body["number"] == 2 and body["based_on"] == listing.version.pk
    new = DatasetVersion.objects.get(pk=body["id"])
    assert list(new.files.values_list("storage_name", flat=True)) == list(
        listing.version.files.values_list("storage_name", flat=True)
    )
    again = api.post(
        f"/api/v1/datasets/{listing.dataset.pk}/versions/",
        {"based_on": listing.version.pk},
        format="json",
    )
    assert again.status_code == 409 and "still open" in again.json()["detail"]
    listed = api.get(f"/api/v1/datasets/{listing.dataset.pk}/versions/").json()
    assert [v["number"] for v in listed["results"]] == [2, 1]


def test_bad_dataset_input_gets_problem_json_and_creates_nothing(api):
    response = api.post(
        "/api/v1/datasets/", {"title": "", "modality": "smell", "languages": ["xx-"]}, format="json"
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert set(response.json()["errors"]) >= {"title", "modality"}
    assert api.get("/api/v1/datasets/").json()["count"] == 0


def test_a_key_without_the_datasets_scope_is_refused(api_client, cast, key_for):
    api_client.credentials(
        HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.creator_org, ['catalog:read'])}"
    )
    response = api_client.get("/api/v1/datasets/")
    assert response.status_code == 403 and "datasets:write" in response.json()["detail"]


@pytest.fixture
def theirs(cast, make_listing):
    listing = make_listing("Not yours", organization=cast.outsider_org, actor=cast.outsider)
    version = services.create_version(
        actor=cast.outsider, dataset=listing.dataset, based_on=listing.version
    )
    from provenance.uploads import create_upload

    upload = create_upload(actor=cast.outsider, version=version, path="u.bin", size_bytes=4)
    return {
        "dataset": listing.dataset.pk,
        "version": version.pk,
        "file": version.files.get().pk,
        "upload": upload.pk,
    }


ENDPOINTS = [
    ("get", "/api/v1/datasets/{dataset}/"),
    ("patch", "/api/v1/datasets/{dataset}/"),
    ("get", "/api/v1/datasets/{dataset}/versions/"),
    ("post", "/api/v1/datasets/{dataset}/versions/"),
    ("get", "/api/v1/versions/{version}/"),
    ("patch", "/api/v1/versions/{version}/"),
    ("get", "/api/v1/versions/{version}/files/"),
    ("post", "/api/v1/versions/{version}/files/"),
    ("delete", "/api/v1/versions/{version}/files/{file}/"),
    ("get", "/api/v1/versions/{version}/archives/"),
    ("get", "/api/v1/versions/{version}/uploads/"),
    ("post", "/api/v1/versions/{version}/uploads/"),
    ("post", "/api/v1/versions/{version}/ingest/"),
    ("post", "/api/v1/versions/{version}/submit/"),
    ("get", "/api/v1/versions/{version}/declaration/"),
    ("patch", "/api/v1/versions/{version}/declaration/"),
    ("post", "/api/v1/versions/{version}/declaration/evidence/"),
    ("get", "/api/v1/uploads/{upload}/"),
    ("put", "/api/v1/uploads/{upload}/"),
    ("delete", "/api/v1/uploads/{upload}/"),
    ("post", "/api/v1/uploads/{upload}/parts/"),
    ("post", "/api/v1/uploads/{upload}/complete/"),
]


@pytest.mark.parametrize(("method", "template"), ENDPOINTS, ids=[f"{m} {t}" for m, t in ENDPOINTS])
def test_another_organization_gets_404_on_every_creator_endpoint(api, theirs, method, template):
    url = template.format(**theirs)
    response = getattr(api, method)(url, {}, format="json")
    assert response.status_code == 404, response.content
    assert response["Content-Type"] == "application/problem+json"


def test_another_organizations_datasets_are_not_listed(api, theirs):
    assert api.get("/api/v1/datasets/").json()["count"] == 0


def test_the_schema_documents_the_creator_operations(client, db):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    operations = {
        operation["operationId"] for path in schema["paths"].values() for operation in path.values()
    }
    assert {
        "datasets_create",
        "datasets_versions_create",
        "versions_retrieve",
        "versions_files_create",
        "versions_uploads_create",
        "uploads_chunk",
        "uploads_parts",
        "uploads_complete",
        "versions_ingest",
        "versions_submit",
        "versions_declaration_partial_update",
    } <= operations
    chunk = schema["paths"]["/api/v1/uploads/{id}/"]["put"]
    assert "application/octet-stream" in chunk["requestBody"]["content"]
    assert {"400", "404", "409"} <= set(chunk["responses"])


def test_a_version_from_an_approved_one_is_processed_already_until_its_files_change(
    api, cast, make_listing
):
    listing = make_listing("Carried")
    body = api.post(
        f"/api/v1/datasets/{listing.dataset.pk}/versions/",
        {"based_on": listing.version.pk},
        format="json",
    ).json()
    assert body["merkle_root"] == listing.version.merkle_root
    assert body["ingest"]["state"] == "done"
    data_file = DatasetVersion.objects.get(pk=body["id"]).files.get()
    api.delete(f"/api/v1/versions/{body['id']}/files/{data_file.pk}/")
    after = api.get(f"/api/v1/versions/{body['id']}/").json()
    assert after["merkle_root"] == "" and after["ingest"]["state"] == "idle"
