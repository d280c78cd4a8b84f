"""Croissant JSON-LD of approved versions: validated by mlcroissant for JSON Lines, CSV and image
datasets, records readable from a download, every file's SHA-256 checked, RAI fields from the
declaration, and the same entitlement rules as the manifest."""

import io
import json

import mlcroissant as mlc
import pytest
from PIL import Image

from marketplace.services import suspend_listing
from provenance import services as provenance

JSONL = b"".join(b'{"id": %d, "text": "line %d", "score": %d.5}\n' % (n, n, n) for n in range(40))
CSV = b"id,label,weight\n" + b"".join(b"%d,shore %d,%d.25\n" % (n, n, n) for n in range(40))


def png_bytes(shade: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), (shade, 10, 10)).save(buffer, format="PNG")
    return buffer.getvalue()


DATASETS = {
    "jsonl": ("text", {"data/records.jsonl": JSONL}),
    "csv": ("tabular", {"tables/shore.csv": CSV}),
    "image": ("image", {f"images/{n}.png": png_bytes(n * 40) for n in range(3)}),
}


def url(version_id: str) -> str:
    return f"/api/v1/versions/{version_id}/croissant/"


def download(tmp_path, files: dict, document: dict):
    """A buyer's download with the Croissant document in its top folder."""
    for path, content in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(content)
    target = tmp_path / "croissant.json"
    target.write_text(json.dumps(document))
    return target


@pytest.mark.parametrize("kind", sorted(DATASETS))
def test_croissant_of_each_kind_passes_mlcroissant_validation(
    api_client, make_listing, tmp_path, settings, kind
):
    modality, files = DATASETS[kind]
    listing = make_listing(f"Shore {kind}", modality=modality, files=files)
    response = api_client.get(url(listing.version.pk))
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/ld+json")
    document = response.json()
    assert document["conformsTo"] == "http://mlcommons.org/croissant/1.0"
    dataset = mlc.Dataset(jsonld=download(tmp_path, files, document))  # raises on any error
    assert not dataset.metadata.issues.errors
    objects = {item["contentUrl"]: item for item in document["distribution"]}
    assert set(objects) == set(files)
    version = listing.version
    for data_file in version.files.all():
        assert objects[data_file.path]["sha256"] == data_file.sha256
    assert document["identifier"] == f"merkle-sha256:{version.merkle_root}"
    option = listing.dataset.license_options.get()
    assert document["license"] == [
        f"{settings.SITE_URL}/catalog/{listing.slug}/#option-{option.pk}"
    ]


def test_jsonl_records_are_typed_and_readable(api_client, make_listing, tmp_path):
    modality, files = DATASETS["jsonl"]
    listing = make_listing("Shore lines", modality=modality, files=files)
    document = api_client.get(url(listing.version.pk)).json()
    (record_set,) = document["recordSet"]
    types = {field["name"]: field["dataType"] for field in record_set["field"]}
    assert types == {"id": "sc:Integer", "text": "sc:Text", "score": "sc:Float"}
    dataset = mlc.Dataset(jsonld=download(tmp_path, files, document))
    records = list(dataset.records(record_set["@id"]))
    assert len(records) == 40
    first = records[0]
    assert first[f"{record_set['@id']}/id"] == 0
    assert first[f"{record_set['@id']}/text"] == b"line 0"


def test_csv_records_are_typed_and_readable(api_client, make_listing, tmp_path):
    modality, files = DATASETS["csv"]
    listing = make_listing("Shore table", modality=modality, files=files)
    document = api_client.get(url(listing.version.pk)).json()
    (record_set,) = document["recordSet"]
    types = {field["name"]: field["dataType"] for field in record_set["field"]}
    assert types == {"id": "sc:Integer", "label": "sc:Text", "weight": "sc:Float"}
    records = list(
        mlc.Dataset(jsonld=download(tmp_path, files, document)).records(record_set["@id"])
    )
    assert [record[f"{record_set['@id']}/id"] for record in records] == list(range(40))


def test_an_altered_file_fails_its_sha256_when_records_are_read(api_client, make_listing, tmp_path):
    modality, files = DATASETS["csv"]
    listing = make_listing("Shore table", modality=modality, files=files)
    document = api_client.get(url(listing.version.pk)).json()
    altered = {"tables/shore.csv": CSV.replace(b"shore 3", b"shore 9")}
    dataset = mlc.Dataset(jsonld=download(tmp_path, altered, document))
    with pytest.raises(mlc.GenerationError, match=r"Download\(tables/shore.csv\)") as error:
        list(dataset.records(document["recordSet"][0]["@id"]))
    assert "Hash of downloaded file" in str(error.value.__cause__)


def test_rai_fields_carry_the_declaration(api_client, make_listing):
    listing = make_listing(
        "Shore lines", files=DATASETS["jsonl"][1], uses=("training", "evaluation")
    )
    document = api_client.get(url(listing.version.pk)).json()
    assert document["rai:dataCollection"].startswith("Typed by hand.")
    assert "Written by our members." in document["rai:dataCollection"]
    assert document["rai:dataCollectionType"] == [
        "Human-made: 0% of the content is synthetic (declared by the creator)."
    ]
    assert document["rai:personalSensitiveInformation"] == [
        "Consent basis: Our own original work. Rights holder: Creators."
    ]
    assert document["rai:dataUseCases"] == ["evaluation", "training"]
    assert "Not applicable" in document["rai:dataLimitations"][0]


def test_croissant_follows_the_manifest_entitlement_rules(api_client, cast, make_listing, key_for):
    submitted = make_listing("In review", files=DATASETS["csv"][1], publish=False)
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.creator_org)}")
    assert api_client.get(url(submitted.pk)).status_code == 404
    api_client.credentials()
    approved = provenance.approve_version(actor=cast.reviewer, version=submitted, reason="Ok.")
    # Out of the catalog again (a takedown): no longer public.
    suspend_listing(actor=cast.reviewer, dataset=approved.dataset, reason="A rights claim.")
    assert api_client.get(url(approved.pk)).status_code == 404
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.outsider_org)}")
    response = api_client.get(url(approved.pk))
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.creator_org)}")
    assert api_client.get(url(approved.pk)).status_code == 200
    assert api_client.get(url("dsv_nothinghere")).status_code == 404
