"""The quality card in the catalog, the API and the exported documents: quality filters,
overlap with a buyer's licenses, the quality summary of a listing, who may read a version's
report, and the measured figures in the signed manifest and the Croissant RAI fields."""

import hashlib
import json

import pytest
from django.urls import reverse

from licensing import services as licensing
from provenance.models import canonical_json
from provenance.quality import service as quality
from provenance.signing import verify_envelope
from tests import quality_assets as assets

pytestmark = pytest.mark.django_db


def license_to(organization, version, source: str):
    return licensing.grant_license(
        organization=organization,
        version=version,
        terms={"permitted_uses": ["evaluation"]},
        source=source,
    )


@pytest.fixture
def relisted(cast, make_listing):
    """The same records listed by two creators, plus an unrelated listing, all measured."""
    body = assets.jsonl(assets.text_records(200, seed=41))
    original = make_listing("Harbour diaries", files={"diaries.jsonl": body})
    copy = make_listing(
        "Seaside journals",
        files={"journals.jsonl": body + assets.jsonl(assets.text_records(50, seed=42))},
        organization=cast.outsider_org,
        actor=cast.outsider,
    )
    unrelated = make_listing(
        "Mountain letters", files={"letters.jsonl": assets.jsonl(assets.text_records(80, seed=43))}
    )
    for listing in (original, copy, unrelated):
        quality.measure_quality(version_id=listing.version.pk)
    return original, copy, unrelated


def slugs(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {item["slug"] for item in response.json()["results"]}


def test_buyer_licensing_one_copy_sees_the_overlap_on_the_other_and_the_filter_hides_it(
    cast, client, api_client, key_for, relisted
):
    original, copy, unrelated = relisted
    license_to(cast.buyer_org, original.version, "order:ord_overlap_1")
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.buyer_org)}")

    detail = api_client.get(f"/api/v1/listings/{copy.dataset.slug}/").json()
    [overlap] = detail["overlap_with_licenses"]
    # All 200 records of the original are in the copy's 250: 80% of the copy is not new.
    assert overlap == {
        "version_id": original.version.pk,
        "dataset_slug": original.dataset.slug,
        "dataset_title": "Harbour diaries",
        "records": 200,
        "share_bps": 8000,
    }
    assert (
        api_client.get(f"/api/v1/listings/{unrelated.dataset.slug}/").json()[
            "overlap_with_licenses"
        ]
        == []
    )

    everything = slugs(api_client.get("/api/v1/listings/"))
    assert everything == {original.dataset.slug, copy.dataset.slug, unrelated.dataset.slug}
    # The licensed listing itself and its copy are hidden; the unrelated one stays.
    assert slugs(api_client.get("/api/v1/listings/?no_overlap=true")) == {unrelated.dataset.slug}
    facets = api_client.get("/api/v1/listings/?no_overlap=true&facets=true").json()["facets"]
    assert facets["modality"] == [{"value": "text", "label": "Text", "count": 1}]

    client.force_login(cast.buyer)
    page = client.get(reverse("catalog:detail", args=[copy.dataset.slug])).content.decode()
    assert "80.0% overlap with" in page
    assert "Harbour diaries</a>, which your organization licenses" in page
    catalog = client.get(reverse("catalog:index"), {"no_overlap": "on"}).content.decode()
    assert "Mountain letters" in catalog
    assert "Seaside journals" not in catalog and "Harbour diaries" not in catalog


def test_overlap_counts_each_record_once_when_records_repeat_the_same_band_keys(
    cast, make_listing, monkeypatch
):
    # Repeated records share every band key: the index holds each key hundreds of times per
    # version, the shape that made a join on keys multiply rows instead of counting records.
    from marketplace import selectors as catalog
    from provenance import selectors as provenance

    repeated = assets.text_records(1, seed=51) * 300
    first = make_listing("Tide table rows", files={"rows.jsonl": assets.jsonl(repeated)})
    second = make_listing(
        "Harbour log rows",
        files={"log.jsonl": assets.jsonl(assets.text_records(1, seed=52) * 40)},
    )
    copy = make_listing(
        "Tide table copy",
        files={
            "copy.jsonl": assets.jsonl(
                repeated[:120]
                + assets.text_records(1, seed=52) * 30
                + assets.text_records(50, seed=53)
            )
        },
        organization=cast.outsider_org,
        actor=cast.outsider,
    )
    for listing in (first, second, copy):
        quality.measure_quality(version_id=listing.version.pk)
    license_to(cast.buyer_org, first.version, "order:ord_overlap_repeat_1")
    license_to(cast.buyer_org, second.version, "order:ord_overlap_repeat_2")

    overlaps = {
        item["version_id"]: item["records"]
        for item in catalog.overlaps_with_licenses(
            organization=cast.buyer_org, version=copy.version
        )
    }
    assert overlaps == {first.version.pk: 120, second.version.pk: 30}
    # Licensed versions are split over several queries past a hundred: the answer is the same.
    monkeypatch.setattr(provenance, "_OVERLAP_VERSIONS_PER_QUERY", 1)
    assert provenance.record_overlaps(
        against=[first.version.pk, second.version.pk], versions=[copy.version.pk]
    ) == {copy.version.pk: {first.version.pk: 120, second.version.pk: 30}}


def test_another_buyer_sees_no_overlap_and_the_filter_hides_nothing(
    cast, client, api_client, key_for, relisted
):
    original, copy, unrelated = relisted
    license_to(cast.buyer_org, original.version, "order:ord_overlap_2")
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.outsider_org)}")
    detail = api_client.get(f"/api/v1/listings/{copy.dataset.slug}/").json()
    assert detail["overlap_with_licenses"] == []
    assert slugs(api_client.get("/api/v1/listings/?no_overlap=true")) == {
        original.dataset.slug,
        copy.dataset.slug,
        unrelated.dataset.slug,
    }
    client.force_login(cast.outsider)
    page = client.get(reverse("catalog:detail", args=[copy.dataset.slug])).content.decode()
    assert "overlap with" not in page
    # Without licenses the filter is not offered at all.
    assert 'name="no_overlap"' not in client.get(reverse("catalog:index")).content.decode()


def test_a_revoked_license_no_longer_counts_as_overlap(cast, api_client, key_for, relisted):
    original, copy, _ = relisted
    license = license_to(cast.buyer_org, original.version, "order:ord_overlap_3")
    license.status = "revoked"
    license.save(update_fields=["status"])
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.buyer_org)}")
    assert copy.dataset.slug in slugs(api_client.get("/api/v1/listings/?no_overlap=true"))


def test_no_overlap_without_an_organization_is_a_problem(api_client, relisted):
    response = api_client.get("/api/v1/listings/?no_overlap=true")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert "no_overlap" in body["errors"]
    assert "organization" in body["detail"]


def test_api_filters_by_measured_synthetic_signals_and_duplicates(api_client, make_listing):
    clean = make_listing(
        "Clean letters", files={"a.jsonl": assets.jsonl(assets.text_records(60, seed=51))}
    )
    flagged = make_listing(
        "Generated pictures",
        modality="image",
        files={"i.png": assets.png_with_xmp_source_type(3)},
    )
    records = assets.text_records(60, seed=52)
    repeated = make_listing(
        "Repeated letters", files={"b.jsonl": assets.jsonl(records + records[:20])}
    )
    unmeasured = make_listing("Not measured yet")
    for listing in (clean, flagged, repeated):
        quality.measure_quality(version_id=listing.version.pk)

    human = slugs(api_client.get("/api/v1/listings/?no_synthetic=true"))
    assert clean.dataset.slug in human and repeated.dataset.slug in human
    assert flagged.dataset.slug not in human
    assert unmeasured.dataset.slug not in human
    few = slugs(api_client.get("/api/v1/listings/?few_duplicates=true"))
    assert clean.dataset.slug in few
    assert repeated.dataset.slug not in few and unmeasured.dataset.slug not in few
    both = slugs(api_client.get("/api/v1/listings/?no_synthetic=true&few_duplicates=true"))
    assert both == {clean.dataset.slug}

    response = api_client.get("/api/v1/listings/?no_synthetic=perhaps")
    assert response.status_code == 400
    assert "no_synthetic" in response.json()["errors"]


def test_listing_detail_carries_the_quality_summary(api_client, make_listing):
    listing = make_listing(
        "Summarised", files={"a.jsonl": assets.jsonl(assets.text_records(30, seed=61))}
    )
    queued = api_client.get(f"/api/v1/listings/{listing.dataset.slug}/").json()["quality"]
    assert queued["state"] == "queued"  # ingest queued the measurement; no figures yet
    assert queued["near_duplicate_bps"] is None
    report = quality.measure_quality(version_id=listing.version.pk)
    summary = api_client.get(f"/api/v1/listings/{listing.dataset.slug}/").json()["quality"]
    assert summary["state"] == "done"
    assert summary["records_measured"] == 30
    assert summary["near_duplicate_bps"] == 0
    assert summary["has_synthetic_signals"] is False
    assert summary["figures_sha256"] == report.figures_sha256
    assert summary["report_url"] == f"/api/v1/versions/{listing.version.pk}/quality/"


def test_schema_documents_the_quality_parameters_and_summary(api_client):
    schema = api_client.get("/api/schema/?format=json").json()
    parameters = {
        item["name"]: item
        for item in schema["paths"]["/api/v1/listings/"]["get"]["parameters"]
        if item["in"] == "query"
    }
    for name in ("no_synthetic", "few_duplicates", "no_overlap"):
        assert parameters[name]["schema"]["type"] == "boolean"
        assert parameters[name]["description"]
    detail = schema["components"]["schemas"]["ListingDetail"]["properties"]
    assert "quality" in detail and "overlap_with_licenses" in detail
    quality_path = schema["paths"]["/api/v1/versions/{id}/quality/"]
    assert quality_path["get"]["operationId"] == "versions_quality_retrieve"
    assert quality_path["post"]["operationId"] == "versions_quality_create"


# --- /api/v1/versions/{id}/quality/ for buyers ---------------------------------------------


def test_buyers_read_the_report_of_an_approved_listed_version(
    cast, api_client, key_for, make_listing
):
    listing = make_listing("Readable", files={"a.jsonl": assets.jsonl(assets.text_records(20))})
    report = quality.measure_quality(version_id=listing.version.pk)
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.buyer_org)}")
    response = api_client.get(f"/api/v1/versions/{listing.version.pk}/quality/")
    assert response.status_code == 200
    assert response.json()["figures_sha256"] == report.figures_sha256
    # Measuring again is the creator's: a buyer gets 404, not a queued run.
    response = api_client.post(f"/api/v1/versions/{listing.version.pk}/quality/")
    assert response.status_code == 404
    report.refresh_from_db()
    assert report.state == "done"


def test_buyers_see_personal_data_counts_but_not_the_redacted_examples_or_flags(
    cast, api_client, key_for, make_listing
):
    texts = ["Write to jane.doe@example.com today.", "Card 4111 1111 1111 1111 on file."]
    listing = make_listing("Contacts", files={"people.jsonl": assets.jsonl(texts)})
    quality.measure_quality(version_id=listing.version.pk)
    url = f"/api/v1/versions/{listing.version.pk}/quality/"

    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.buyer_org)}")
    public = api_client.get(url).json()
    kinds = public["figures"]["personal_data"]["kinds"]
    assert public["personal_data_hits"] == 2
    assert kinds["email"]["count"] == 1 and kinds["payment_card"]["count"] == 1
    assert all("examples" not in entry for entry in kinds.values())
    assert "people.jsonl#" not in json.dumps(public["figures"]["personal_data"])
    assert public["flags"] == []

    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.creator_org)}")
    own = api_client.get(url).json()
    assert own["figures"]["personal_data"]["kinds"]["email"]["examples"][0]["redacted"] == (
        "j***@example.com"
    )
    assert "personal_data" in [flag["code"] for flag in own["flags"]]


def test_other_organizations_get_404_on_the_report_of_an_unapproved_version(
    cast, api_client, key_for, make_listing
):
    submitted = make_listing(
        "Waiting for review",
        files={"a.jsonl": assets.jsonl(assets.text_records(20, seed=71))},
        publish=False,
    )
    quality.measure_quality(version_id=submitted.pk)
    url = f"/api/v1/versions/{submitted.pk}/quality/"
    for organization in (cast.buyer_org, cast.outsider_org):
        api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(organization)}")
        response = api_client.get(url)
        assert response.status_code == 404
        assert response["Content-Type"].startswith("application/problem+json")
    api_client.credentials()
    assert api_client.get(url).status_code == 404
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.creator_org)}")
    assert api_client.get(url).status_code == 200
    api_client.credentials()
    api_client.force_authenticate(cast.reviewer)
    assert api_client.get(url).status_code == 200


def test_a_key_without_catalog_or_dataset_scope_is_refused(cast, api_client, key_for, make_listing):
    listing = make_listing("Scoped", files={"a.jsonl": assets.jsonl(assets.text_records(10))})
    quality.measure_quality(version_id=listing.version.pk)
    key = key_for(cast.buyer_org, ["orders:write"])
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    response = api_client.get(f"/api/v1/versions/{listing.version.pk}/quality/")
    assert response.status_code == 403


# --- Manifest and Croissant ----------------------------------------------------------------


def test_the_manifest_carries_the_measured_quality_with_its_method_ids(api_client, make_listing):
    records = assets.text_records(40, seed=81)
    listing = make_listing(
        "Measured shore",
        files={
            "t.jsonl": assets.jsonl(records + records[:4] + ["Mail me: a.b@example.org"]),
            "i.png": assets.png_with_xmp_source_type(4),
        },
    )
    report = quality.measure_quality(version_id=listing.version.pk)
    envelope = api_client.get(f"/api/v1/versions/{listing.version.pk}/manifest/").json()
    assert verify_envelope(envelope)
    measured = envelope["payload"]["quality"]
    assert measured["method_version"] == report.method_version == "quality/1"
    assert measured["figures_sha256"] == report.figures_sha256
    figures = report.figures
    parameters = {
        "near_duplicates.records": figures["near_duplicates"]["records"]["parameters"],
        "near_duplicates.images": figures["near_duplicates"]["images"]["parameters"],
        "synthetic.evidence": figures["synthetic"]["evidence"]["parameters"],
        "synthetic.heuristic": figures["synthetic"]["heuristic"]["parameters"],
        "personal_data": figures["personal_data"]["parameters"],
        "languages": figures["shape"]["languages"]["parameters"],
        "novelty": figures["novelty"]["parameters"],
    }
    assert measured["parameters_sha256"] == hashlib.sha256(canonical_json(parameters)).hexdigest()
    assert measured["sample"]["records_measured"] == 45
    assert measured["exact_duplicates"]["records_bps"] == report.exact_duplicate_bps == 889
    near = measured["near_duplicates"]["records"]
    assert near["method"] == "MinHash + LSH" and near["parameters"]["num_perm"] == 64
    assert near["rate_bps"] == report.near_duplicate_bps
    assert measured["synthetic"]["evidence"]["count"] == 1
    assert measured["synthetic"]["declared_share_bps"] == 0
    assert measured["personal_data"]["records_with_hits"] == 1
    assert measured["personal_data"]["kinds"] == {
        "email": 1,
        "iban": 0,
        "payment_card": 0,
        "phone": 0,
    }
    assert "synthetic_mismatch" in measured["flags"]


def test_a_version_without_a_report_has_a_null_quality(api_client, make_listing):
    listing = make_listing("Unmeasured shore")
    payload = api_client.get(f"/api/v1/versions/{listing.version.pk}/manifest/").json()["payload"]
    assert payload["quality"] is None
    document = api_client.get(f"/api/v1/versions/{listing.version.pk}/croissant/").json()
    assert document["rai:hasSyntheticData"] is False
    assert "Not measured by Wellspring yet" in document["rai:dataLimitations"][-1]


def test_croissant_rai_fields_carry_the_measured_figures_and_still_validate(
    api_client, make_listing, tmp_path
):
    import mlcroissant as mlc

    records = assets.text_records(40, seed=82)
    files = {
        "t.jsonl": assets.jsonl(records + records[:4] + ["Call +44 20 7946 0958 or a@b.org"]),
        "i.png": assets.png_with_xmp_source_type(5),
    }
    listing = make_listing("Measured lines", files=files)
    report = quality.measure_quality(version_id=listing.version.pk)
    document = api_client.get(f"/api/v1/versions/{listing.version.pk}/croissant/").json()

    declared, measured = document["rai:dataCollectionType"]
    assert declared.startswith("Human-made: 0%")
    assert "embedded evidence of AI generation" in measured and "in 1 item(s)" in measured
    assert report.figures_sha256 in measured
    assert document["rai:hasSyntheticData"] is True  # evidence beats the declaration
    personal = document["rai:personalSensitiveInformation"]
    assert personal[0].startswith("Consent basis:")
    assert "Measured by Wellspring: 1 record(s)" in personal[1]
    [biases] = document["rai:dataBiases"]
    assert "exact duplicates 8.9% of records" in biases
    assert "near-duplicates 8.9% of records" in biases and "language mix und" in biases
    assert "seeded sample (seed " in document["rai:dataLimitations"][-1]

    for path, content in files.items():
        (tmp_path / path).write_bytes(content)
    target = tmp_path / "croissant.json"
    target.write_text(json.dumps(document))
    dataset = mlc.Dataset(jsonld=target)  # raises on any validation error
    assert not dataset.metadata.issues.errors
