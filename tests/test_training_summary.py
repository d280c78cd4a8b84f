"""Training-content summaries: a buyer organization's licenses laid out after the EU AI Act's
public summary template, every figure traced to a license, its ledger entries, its manifest and
its terms; as HTML in the portal, PDF and signed JSON, and through the API."""

import io
import json
import re
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from cryptography.exceptions import InvalidSignature
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from pypdf import PdfReader

from licensing import services, summaries
from licensing.models import License, LicenseManifest
from provenance import services as provenance
from provenance.models import LedgerEntry, LedgerHead
from provenance.signing import jwks, verify_envelope
from tests.factories import PASSWORD

TALES = {
    "data/tales.jsonl": b'{"text": "one"}\n{"text": "two"}\n{"text": "three"}\n',
    "data/more.jsonl": b'{"text": "four"}\n',
}
COUNTS = {"data/counts.csv": b"day,count\n1,10\n2,12\n3,9\n4,15\n5,11\n"}


def approved_version(cast, title, files, *, modality="text", languages=("en",), **declared):
    """A creator's dataset, ingested and approved with a full provenance declaration."""
    dataset = provenance.create_dataset(
        actor=cast.creator,
        organization=cast.creator_org,
        title=title,
        modality=modality,
        summary=f"{title} for tests.",
        languages=list(languages),
    )
    version = dataset.versions.get()
    for path, content in files.items():
        provenance.add_file(
            actor=cast.creator, version=version, path=path, content=ContentFile(content)
        )
    provenance.update_declaration(
        actor=cast.creator,
        version=version,
        changes={
            "source_description": "Written by our members.",
            "collection_method": "Typed by hand.",
            "consent_basis": "explicit_consent",
            "rights_holder": "The Creators' members",
            "opt_out_status": "not_applicable",
            **declared,
        },
    )
    provenance.ingest_version(version_id=version.pk)
    version = provenance.submit_version(actor=cast.creator, version=version)
    return provenance.approve_version(actor=cast.reviewer, version=version, reason="Checked.")


def grant(organization, version, source, uses=("training",)):
    return services.grant_license(
        organization=organization,
        version=version,
        terms={"permitted_uses": list(uses), "price_minor": 1000, "currency": "USD"},
        source=source,
    )


@pytest.fixture
def tales(cast):
    return approved_version(
        cast,
        "Coastal tales",
        TALES,
        collection_started_on=date(2024, 1, 1),
        collection_ended_on=date(2024, 6, 30),
        opt_out_status="honoured",
        opt_out_notes="Two contributors reserved their stories; those were left out.",
    )


@pytest.fixture
def counts(cast):
    return approved_version(
        cast,
        "Harbour counts",
        COUNTS,
        modality="tabular",
        languages=(),
        collection_started_on=date(2023, 3, 1),
        collection_ended_on=date(2025, 2, 28),
    )


@pytest.fixture
def licenses(cast, tales, counts, django_capture_on_commit_callbacks):
    """Two licenses of the buyer, delivered, with certificates and license manifests."""
    granted = [
        grant(cast.buyer_org, tales, "test:tales"),
        grant(cast.buyer_org, counts, "test:counts"),
    ]
    for license in granted:
        with django_capture_on_commit_callbacks(execute=True):
            services.issue_certificate(license=license)
            services.build_deliveries(license=license)
    return granted


def rows_of(payload) -> dict:
    return {
        row["license"]: row
        for group in payload["data_sources"]["commercially_licensed"]
        for row in group["licenses"]
    }


# --- The summary ----------------------------------------------------------------------------


def test_every_row_traces_to_its_license_ledger_entry_manifest_and_terms(cast, licenses):
    payload = summaries.training_summary(organization=cast.buyer_org, model_name="tide-1b")
    assert payload["type"] == "wellspring.training-summary"
    assert payload["general_information"]["provider"] == {
        "organization": "buyers",
        "name": "Buyers",
    }
    assert payload["general_information"]["models"] == ["tide-1b"]
    rows = rows_of(payload)
    assert set(rows) == {license.pk for license in licenses}
    for license in licenses:
        row = rows[license.pk]
        entry = LedgerEntry.objects.get(action="license.granted", subject_id=license.pk)
        assert row["trace"]["granted"]["seq"] == entry.seq
        assert row["trace"]["granted"]["entry_hash"] == entry.entry_hash
        manifest = LicenseManifest.objects.get(license=license)
        assert row["trace"]["license_manifest"] == {
            "id": manifest.pk,
            "payload_sha256": manifest.payload_sha256,
        }
        assert row["trace"]["certificate"] == license.certificate.pk
        assert row["terms_sha256"] == license.terms_sha256
        assert row["version"]["merkle_root"] == license.version.merkle_root
        assert row["status"] == "active"
    head = LedgerHead.objects.get()
    assert payload["ledger_head"] == {"seq": head.seq, "entry_hash": head.entry_hash}


def test_sizes_and_counts_add_up_across_licenses(cast, licenses, tales, counts):
    payload = summaries.training_summary(organization=cast.buyer_org)
    totals = payload["general_information"]["totals"]
    assert totals["licenses"] == 2
    assert totals["dataset_versions"] == 2
    assert totals["licensors"] == 1
    assert totals["files"] == 3 == tales.file_count + counts.file_count
    assert totals["bytes"] == sum(len(content) for content in {**TALES, **COUNTS}.values())
    assert totals["records"] == 4 + 5 == tales.total_records + counts.total_records
    modalities = {item["modality"]: item for item in payload["general_information"]["modalities"]}
    assert (modalities["text"]["files"], modalities["text"]["records"]) == (2, 4)
    assert modalities["text"]["bytes"] == sum(len(content) for content in TALES.values())
    assert (modalities["tabular"]["files"], modalities["tabular"]["records"]) == (1, 5)
    assert sum(item["bytes"] for item in modalities.values()) == totals["bytes"]
    (group,) = payload["data_sources"]["commercially_licensed"]
    assert group["licensor"] == {"organization": "creators", "name": "Creators"}
    assert group["totals"] == {key: value for key, value in totals.items() if key != "licensors"}
    assert payload["general_information"]["languages"] == ["en"]
    assert payload["general_information"]["collection_period"] == {
        "earliest_started_on": "2023-03-01",
        "latest_ended_on": "2025-02-28",
    }


def test_a_version_licensed_twice_counts_once_in_the_sizes(cast, tales):
    first = grant(cast.buyer_org, tales, "test:first")
    second = grant(cast.buyer_org, tales, "test:second")
    payload = summaries.training_summary(organization=cast.buyer_org)
    totals = payload["general_information"]["totals"]
    assert totals["licenses"] == 2
    assert totals["dataset_versions"] == 1
    assert (totals["files"], totals["records"]) == (tales.file_count, tales.total_records)
    assert set(rows_of(payload)) == {first.pk, second.pk}


def test_the_declarations_say_how_rights_reservations_were_respected(cast, licenses, tales):
    payload = summaries.training_summary(organization=cast.buyer_org)
    row = rows_of(payload)[licenses[0].pk]
    assert row["opt_out"]["status"] == "honoured"
    assert row["opt_out"]["notes"].startswith("Two contributors reserved")
    assert row["consent_basis"] == "explicit_consent"
    assert row["rights_holder"] == "The Creators' members"
    assert row["collection_period"] == {"started_on": "2024-01-01", "ended_on": "2024-06-30"}
    assert row["authorship"] == "human" and row["synthetic_share_bps"] == 0
    assert row["version"]["review"] == tales.reviews.get(decision="approved").pk
    counts = payload["data_processing"]["rights_reservations"]["opt_out_status_counts"]
    assert counts["honoured"] == 1 and counts["not_applicable"] == 1
    assert (
        "Article 4(3) of Directive (EU) 2019/790"
        in (payload["data_processing"]["rights_reservations"]["statement"])
    )


def test_a_revoked_license_is_marked_and_named_for_attention(cast, licenses):
    revoked = services.change_license_status(
        license=licenses[1], status="revoked", reason="Refunded in full."
    )
    payload = summaries.training_summary(organization=cast.buyer_org)
    row = rows_of(payload)[revoked.pk]
    assert row["status"] == "revoked"
    entry = LedgerEntry.objects.get(action="license.revoked", subject_id=revoked.pk)
    assert row["trace"]["status"]["seq"] == entry.seq
    assert row["status_since"] == entry.created_at.isoformat()
    (note,) = [
        note for note in payload["data_processing"]["attention"] if note["license"] == revoked.pk
    ]
    assert note["code"] == "revoked"
    assert "Refunded in full." in note["message"]
    assert payload["general_information"]["licenses_by_status"]["revoked"] == 1
    assert payload["general_information"]["licenses_by_status"]["active"] == 1
    assert rows_of(payload)[licenses[0].pk]["attention"] == []


def test_a_license_that_does_not_permit_training_is_named_for_attention(cast, tales):
    license = grant(cast.buyer_org, tales, "test:eval", uses=("evaluation",))
    payload = summaries.training_summary(organization=cast.buyer_org)
    assert rows_of(payload)[license.pk]["terms"]["permits_training"] is False
    assert [note["code"] for note in payload["data_processing"]["attention"]] == [
        "training_not_permitted"
    ]


def test_a_chosen_set_summarizes_only_those_licenses(cast, licenses):
    payload = summaries.training_summary(organization=cast.buyer_org, license_ids=[licenses[1].pk])
    assert payload["selection"] == {"mode": "chosen", "licenses": [licenses[1].pk]}
    assert set(rows_of(payload)) == {licenses[1].pk}
    assert payload["general_information"]["totals"]["files"] == 1


def test_another_organizations_license_cannot_be_included(cast, licenses, counts):
    theirs = grant(cast.outsider_org, counts, "test:outsider")
    with pytest.raises(summaries.UnknownLicenses) as raised:
        summaries.training_summary(
            organization=cast.buyer_org, license_ids=[licenses[0].pk, theirs.pk, "lic_nope"]
        )
    assert theirs.pk in raised.value.message and "lic_nope" in raised.value.message
    assert licenses[0].pk not in raised.value.message
    assert raised.value.errors["licenses"] == [
        f"{theirs.pk}: not a license of your organization.",
        "lic_nope: not a license of your organization.",
    ]
    # And the buyer's summary of all never shows another organization's license.
    assert theirs.pk not in rows_of(summaries.training_summary(organization=cast.buyer_org))


def test_statuses_are_read_from_the_ledger_as_of_the_summarys_entry(cast, licenses, counts):
    before = summaries.training_summary(organization=cast.buyer_org)
    services.change_license_status(license=licenses[0], status="revoked", reason="Claim.")
    grant(cast.buyer_org, counts, "test:later")
    again = summaries.training_summary(
        organization=cast.buyer_org,
        ledger_seq=before["ledger_head"]["seq"],
        now=datetime.fromisoformat(before["generated_at"]),
    )
    assert again == before
    now = summaries.training_summary(organization=cast.buyer_org)
    assert rows_of(now)[licenses[0].pk]["status"] == "revoked"
    assert now["general_information"]["totals"]["licenses"] == 3


def test_the_json_is_signed_in_the_shared_envelope(cast, licenses):
    envelope = summaries.signed_training_summary(organization=cast.buyer_org)
    assert verify_envelope(envelope)
    tampered = json.loads(json.dumps(envelope))
    tampered["payload"]["general_information"]["totals"]["bytes"] += 1
    assert not verify_envelope(tampered)


def test_an_organization_without_licenses_gets_an_empty_summary(cast):
    payload = summaries.training_summary(organization=cast.buyer_org)
    assert payload["general_information"]["totals"]["licenses"] == 0
    assert payload["data_sources"]["commercially_licensed"] == []


def test_a_model_name_longer_than_the_limit_is_refused(cast):
    with pytest.raises(summaries.InvalidInput):
        summaries.training_summary(organization=cast.buyer_org, model_name="m" * 201)


def test_the_pdf_carries_the_dataset_titles_and_the_payload_hash(cast, licenses):
    envelope = summaries.signed_training_summary(organization=cast.buyer_org, model_name="tide-1b")
    pdf = summaries.training_summary_pdf(envelope)
    assert pdf.startswith(b"%PDF")
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "Coastal tales" in text and "Harbour counts" in text
    assert summaries.payload_sha256(envelope["payload"]) in text
    assert licenses[0].pk in text and "tide-1b" in text


def test_the_license_status_codes_in_the_summary_match_the_models(cast, licenses):
    services.change_license_status(license=licenses[0], status="suspended", reason="Claim.")
    payload = summaries.training_summary(organization=cast.buyer_org)
    assert set(payload["general_information"]["licenses_by_status"]) == set(License.Status.values)
    assert (
        rows_of(payload)[licenses[0].pk]["status"] == License.objects.get(pk=licenses[0].pk).status
    )
    assert payload["general_information"]["licenses_by_status"]["suspended"] == 1
    assert timezone.now() - datetime.fromisoformat(payload["generated_at"]) < timedelta(minutes=1)


def test_the_query_count_stays_flat_as_licenses_grow(
    cast, tales, counts, django_assert_num_queries
):
    grant(cast.buyer_org, tales, "test:1")
    with CaptureQueriesContext(connection) as one_license:
        summaries.training_summary(organization=cast.buyer_org)
    for number in range(2, 6):
        grant(cast.buyer_org, counts if number % 2 else tales, f"test:{number}")
    with django_assert_num_queries(len(one_license.captured_queries)):
        payload = summaries.training_summary(organization=cast.buyer_org)
    assert payload["general_information"]["totals"]["licenses"] == 5


def test_the_documented_check_verifies_a_summary_and_refuses_a_changed_one(cast, licenses):
    doc = Path(__file__).resolve().parent.parent / "docs" / "training-summary.md"
    snippet = re.search(r"```python\n(.*?)```", doc.read_text(), re.S).group(1)
    namespace: dict = {}
    exec(snippet, namespace)  # noqa: S102 - our own documentation
    envelope = summaries.signed_training_summary(organization=cast.buyer_org)
    digest = namespace["check_summary"](envelope, jwks())
    assert digest == summaries.payload_sha256(envelope["payload"])
    changed = json.loads(json.dumps(envelope))
    changed["payload"]["general_information"]["models"] = ["another-model"]
    with pytest.raises(InvalidSignature):
        namespace["check_summary"](changed, jwks())


# --- The portal -----------------------------------------------------------------------------


@pytest.fixture
def buyer_client(client, cast):
    client.login(email="buyer@example.test", password=PASSWORD)
    return client


def generate(client, **params):
    return client.get("/library/training-summary/", {"generate": "1", **params})


def test_the_library_and_the_dashboard_link_the_summary(buyer_client):
    for page in ("/library/", "/library/dashboard/"):
        assert b'href="/library/training-summary/"' in buyer_client.get(page).content


def test_the_page_offers_every_license_chosen_by_default(buyer_client, licenses):
    response = buyer_client.get("/library/training-summary/")
    assert response.status_code == 200
    form = response.context["form"]
    assert form.fields["license"].initial == [license.pk for license in reversed(licenses)]
    assert "summary" not in response.context


def test_a_buyer_generates_the_summary_and_downloads_the_same_payload(buyer_client, licenses):
    response = generate(buyer_client, license=[license.pk for license in licenses], model="tide-1b")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Coastal tales" in html and "Harbour counts" in html and "tide-1b" in html
    sha256 = response.context["payload_sha256"]
    assert sha256 in html
    assert response.context["summary"]["selection"]["mode"] == "all"

    document = buyer_client.get(response.context["json_url"])
    assert document.status_code == 200
    assert document["Content-Disposition"].startswith("attachment;")
    envelope = json.loads(document.content)
    assert verify_envelope(envelope)
    assert summaries.payload_sha256(envelope["payload"]) == sha256
    assert envelope["payload"] == response.context["summary"]

    pdf = buyer_client.get(response.context["pdf_url"])
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert sha256 in text and "Coastal tales" in text


def test_the_downloads_stay_those_of_the_generation_after_a_revocation(buyer_client, licenses):
    response = generate(buyer_client, license=[licenses[0].pk])
    services.change_license_status(license=licenses[0], status="revoked", reason="Refunded.")
    envelope = json.loads(buyer_client.get(response.context["json_url"]).content)
    assert envelope["payload"] == response.context["summary"]
    assert rows_of(envelope["payload"])[licenses[0].pk]["status"] == "active"
    assert (
        rows_of(generate(buyer_client, license=[licenses[0].pk]).context["summary"])[
            licenses[0].pk
        ]["status"]
        == "revoked"
    )


def test_choosing_no_license_asks_for_one(buyer_client, licenses):
    response = generate(buyer_client, model="x")
    assert response.status_code == 200
    assert "Choose at least one license." in response.content.decode()
    assert "summary" not in response.context


def test_another_organizations_license_is_refused_by_the_page(buyer_client, cast, licenses, counts):
    theirs = grant(cast.outsider_org, counts, "test:outsider")
    response = generate(buyer_client, license=[licenses[0].pk, theirs.pk])
    assert response.status_code == 200
    assert f"{theirs.pk} is not a license of your organization." in response.content.decode()
    assert "summary" not in response.context
    download = buyer_client.get(
        "/library/training-summary/summary.json", {"generate": "1", "license": [theirs.pk]}
    )
    assert download.status_code == 400
    assert theirs.pk.encode() in download.content and b"Harbour" not in download.content


def test_other_organizations_never_see_the_buyers_licenses(client, cast, licenses):
    client.login(email="outsider@example.test", password=PASSWORD)
    page = client.get("/library/training-summary/")
    assert page.status_code == 200
    assert all(license.pk not in page.content.decode() for license in licenses)
    assert not page.context["has_licenses"]
    response = generate(client, license=[licenses[0].pk])
    assert "summary" not in response.context
    assert "Coastal tales" not in response.content.decode()


def test_a_pin_of_another_organization_or_tampered_with_is_refused(
    client, buyer_client, cast, licenses, counts
):
    response = generate(buyer_client, license=[license.pk for license in licenses])
    query = parse_qs(urlparse(response.context["json_url"]).query)
    tampered = buyer_client.get(
        "/library/training-summary/summary.json",
        {**query, "pin": query["pin"][0][:-2] + "xx"},
    )
    assert tampered.status_code == 400
    assert b"not valid" in tampered.content
    # The outsider's own license, with the buyer's pin.
    theirs = grant(cast.outsider_org, counts, "test:outsider")
    client.login(email="outsider@example.test", password=PASSWORD)
    stolen = client.get(
        "/library/training-summary/summary.pdf",
        {"generate": "1", "license": [theirs.pk], "pin": query["pin"][0]},
    )
    assert stolen.status_code == 400 and not stolen.content.startswith(b"%PDF")


def test_an_unknown_format_is_a_400(buyer_client, licenses):
    response = buyer_client.get(
        "/library/training-summary/summary.xml", {"license": [licenses[0].pk]}
    )
    assert response.status_code == 400


def test_creator_only_organizations_and_anonymous_visitors_get_no_summary(client, cast):
    client.login(email="creator@example.test", password=PASSWORD)
    assert client.get("/library/training-summary/").status_code == 404
    assert client.get("/library/training-summary/summary.pdf").status_code == 404
    client.logout()
    response = client.get("/library/training-summary/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# --- The API --------------------------------------------------------------------------------

URL = "/api/v1/training-summary/"


@pytest.fixture
def buyer_api(api_client, cast, key_for):
    api_client.credentials(
        HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.buyer_org, ['licenses:read'])}"
    )
    return api_client


def test_the_api_answers_the_signed_summary_of_all_licenses(buyer_api, licenses):
    response = buyer_api.get(URL, {"model": "tide-1b"})
    assert response.status_code == 200, response.content
    envelope = response.json()
    assert verify_envelope(envelope)
    assert set(rows_of(envelope["payload"])) == {license.pk for license in licenses}
    assert envelope["payload"]["general_information"]["models"] == ["tide-1b"]


def test_the_api_summarizes_a_chosen_set_by_query_or_body(buyer_api, licenses):
    by_query = buyer_api.get(URL, {"licenses": licenses[0].pk})
    assert set(rows_of(by_query.json()["payload"])) == {licenses[0].pk}
    by_body = buyer_api.post(URL, {"licenses": [licenses[1].pk], "model": "tide-2b"}, format="json")
    assert by_body.status_code == 200, by_body.content
    payload = by_body.json()["payload"]
    assert set(rows_of(payload)) == {licenses[1].pk}
    assert payload["selection"]["mode"] == "chosen"


def test_another_organizations_license_in_the_set_gets_a_problem_naming_it(
    buyer_api, cast, licenses, counts
):
    theirs = grant(cast.outsider_org, counts, "test:outsider")
    for response in (
        buyer_api.post(URL, {"licenses": [licenses[0].pk, theirs.pk]}, format="json"),
        buyer_api.get(URL, {"licenses": f"{licenses[0].pk},{theirs.pk}"}),
    ):
        assert response.status_code == 404
        assert response["Content-Type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["code"] == "unknown_licenses"
        assert theirs.pk in problem["detail"]
        assert problem["errors"]["licenses"] == [
            f"{theirs.pk}: not a license of your organization."
        ]
        assert "payload" not in problem


def test_the_outsiders_summary_has_only_its_own_licenses(
    api_client, cast, key_for, licenses, counts
):
    theirs = grant(cast.outsider_org, counts, "test:outsider")
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.outsider_org)}")
    response = api_client.get(URL)
    assert response.status_code == 200
    assert set(rows_of(response.json()["payload"])) == {theirs.pk}


def test_bad_input_to_the_api_gets_a_400_problem(buyer_api, licenses):
    cases = [
        buyer_api.post(URL, {"licenses": "lic_x"}, format="json"),
        buyer_api.post(URL, {"licenses": [licenses[0].pk], "model": "m" * 201}, format="json"),
        buyer_api.post(URL, {"licenses": [f"lic_{n}" for n in range(1001)]}, format="json"),
        buyer_api.get(URL, {"model": "m" * 201}),
        buyer_api.post(URL, b"not json", content_type="application/json"),
    ]
    for response in cases:
        assert response.status_code == 400, response.content
        assert response["Content-Type"].startswith("application/problem+json")


def test_the_api_needs_a_key_with_licenses_read(api_client, cast, key_for, licenses):
    assert api_client.get(URL).status_code == 401
    api_client.credentials(
        HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.buyer_org, ['catalog:read'])}"
    )
    response = api_client.get(URL)
    assert response.status_code == 403
    assert "licenses:read" in response.json()["detail"]


def test_the_schema_documents_both_operations(client, db):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    item = schema["paths"][URL]
    assert item["get"]["operationId"] == "training_summary_retrieve"
    assert item["post"]["operationId"] == "training_summary_build"
    for operation in (item["get"], item["post"]):
        assert operation["summary"]
        assert "400" in operation["responses"] and "200" in operation["responses"]
        ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok == {"$ref": "#/components/schemas/TrainingSummaryEnvelope"}
    envelope = schema["components"]["schemas"]["TrainingSummaryEnvelope"]
    assert envelope["properties"]["payload"] == {"$ref": "#/components/schemas/TrainingSummary"}
