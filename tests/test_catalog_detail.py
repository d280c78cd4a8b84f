"""A dataset's page and its API detail: terms in plain language and as downloadable ODRL, the
approved versions, the facts measured at ingest, samples of the published version only, and the
lineage both ways."""

import io
import json

import pytest
from django.core.files.base import ContentFile
from PIL import Image

from licensing import odrl
from licensing import services as licensing
from marketplace.services import publish_listing
from provenance import services as provenance
from provenance.models import DatasetVersion
from provenance.reviews import approve_version

FILES = {
    "data/people.csv": b"id,name,city\n1,Ada,Leeds\n2,Grace,York\n",
    "data/records.jsonl": b'{"text": "sea", "lang": "en"}\n{"text": "mer", "lang": "fr"}\n',
    "notes/readme.txt": b"Harbour logs written by the harbour master, one line per ship. " * 3,
}


def png(size=(800, 600), color=(10, 120, 200)) -> bytes:
    buffer = io.BytesIO()
    image = Image.new("RGB", size, color)
    exif = Image.Exif()
    exif[0x0131] = "A camera"  # Software: metadata the thumbnail must not carry
    image.save(buffer, format="PNG", exif=exif)
    return buffer.getvalue()


@pytest.fixture
def listing(make_listing):
    return make_listing(
        "Harbour logs", files={**FILES, "images/ship.png": png()}, uses=("training", "evaluation")
    )


def new_version(cast, listing, files: dict, *, parents=None, approve=True):
    """The dataset's next version, from the shown one, with `files` added."""
    version = provenance.create_version(
        actor=cast.creator, dataset=listing.dataset, based_on=listing.version, notes="More logs."
    )
    for path, content in files.items():
        provenance.add_file(
            actor=cast.creator, version=version, path=path, content=ContentFile(content)
        )
    if parents is not None:
        provenance.update_declaration(
            actor=cast.creator, version=version, changes={}, parents=parents
        )
    provenance.ingest_version(version_id=version.pk)
    version = provenance.submit_version(actor=cast.creator, version=version)
    if approve:
        version = approve_version(actor=cast.reviewer, version=version, reason="Fine.")
        publish_listing(actor=cast.reviewer, version=version)
    return version


def test_the_api_detail_gives_each_option_its_odrl_policy_and_plain_terms(api_client, listing):
    option = listing.dataset.license_options.get()
    response = api_client.get(f"/api/v1/listings/{listing.dataset.slug}/")
    assert response.status_code == 200
    [body] = response.json()["license_options"]
    assert body["plain_language"] == option.plain_language()
    assert body["odrl"] == json.loads(json.dumps(odrl.odrl_for_option(option)))
    assert body["odrl"]["@type"] == "Offer"
    assert body["odrl"]["ws:termsSha256"] == body["terms_hash"] == option.terms_hash()
    purposes = {p["constraint"][0]["rightOperand"]["@id"] for p in body["odrl"]["permission"]}
    assert purposes == {"ws:training", "ws:evaluation"}
    download = api_client.get(body["odrl_url"])
    assert download.status_code == 200
    assert json.loads(download.content) == body["odrl"]


def test_the_schema_types_the_odrl_policy(api_client, db):
    schema = api_client.get("/api/schema/", {"format": "json"}).json()
    option = schema["components"]["schemas"]["LicenseOption"]
    assert {"odrl", "odrl_url", "plain_language"} <= set(option["required"])
    policy = option["properties"]["odrl"]
    assert policy["type"] == "object"
    assert {"@context", "@type", "uid", "permission", "obligation"} <= set(policy["required"])
    assert policy["properties"]["permission"]["type"] == "array"


def test_each_option_shows_plain_terms_and_downloads_as_odrl_json_ld(client, listing):
    option = listing.dataset.license_options.get()
    page = client.get(f"/catalog/{listing.dataset.slug}/").content.decode()
    for sentence in option.plain_language():
        assert sentence in page
    link = f"/catalog/{listing.dataset.slug}/options/{option.pk}/odrl.jsonld"
    assert f'href="{link}"' in page and "Download ODRL (JSON-LD)" in page
    response = client.get(link)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/ld+json")
    assert response["Content-Disposition"] == (
        f'attachment; filename="harbour-logs-{option.pk}.odrl.jsonld"'
    )
    assert json.loads(response.content) == json.loads(json.dumps(odrl.odrl_for_option(option)))


def test_odrl_of_an_option_not_on_sale_is_404(client, cast, listing, make_listing):
    option = listing.dataset.license_options.get()
    other = make_listing("Quay voices")
    slug = listing.dataset.slug
    assert client.get(f"/catalog/{slug}/options/opt_unknown/odrl.jsonld").status_code == 404
    # Another dataset's option under this dataset's address.
    other_option = other.dataset.license_options.get()
    assert client.get(f"/catalog/{slug}/options/{other_option.pk}/odrl.jsonld").status_code == 404
    licensing.set_license_option_active(
        actor=cast.creator, organization=cast.creator_org, option=option, is_active=False
    )
    assert client.get(f"/catalog/{slug}/options/{option.pk}/odrl.jsonld").status_code == 404
    draft = make_listing("Unreviewed", publish=False)
    draft_option = draft.dataset.license_options.get()
    draft_url = f"/catalog/{draft.dataset.slug}/options/{draft_option.pk}/odrl.jsonld"
    assert client.get(draft_url).status_code == 404


def test_the_page_lists_approved_versions_with_their_dates(client, cast, listing):
    second = new_version(cast, listing, {"data/more.csv": b"id,name,city\n3,Alan,Hull\n"})
    new_version(cast, listing.__class__.objects.get(pk=listing.pk), {"x.txt": b"x"}, approve=False)
    page = client.get(f"/catalog/{listing.dataset.slug}/").content.decode()
    first = DatasetVersion.objects.get(dataset=listing.dataset, number=1)
    assert 'id="version-1"' in page and 'id="version-2"' in page
    assert 'id="version-3"' not in page  # in review, not approved
    assert first.approved_at.strftime("%-d %b %Y") in page
    assert second.approved_at.strftime("%-d %b %Y") in page
    assert "More logs." in page


def test_the_page_states_the_facts_measured_at_ingest(client, listing):
    page = client.get(f"/catalog/{listing.dataset.slug}/").content.decode()
    version = listing.version
    assert version.merkle_root in page
    assert f"/api/v1/versions/{version.pk}/manifest/" in page
    # Media types measured, with their files and records counted: 2 CSV rows, 2 JSONL lines.
    assert "text/csv" in page and "image/png" in page
    assert version.total_records == 4
    assert "<div><dt>Records</dt><dd>4</dd></div>" in page


def test_samples_show_records_as_tables_text_and_image_thumbnails(client, listing):
    page = client.get(f"/catalog/{listing.dataset.slug}/").content.decode()
    assert '<th scope="col">name</th>' in page and "<td>Grace</td>" in page
    assert '<th scope="col">lang</th>' in page and "<td>mer</td>" in page
    assert "Harbour logs written by the harbour master" in page
    ship = listing.version.files.get(path="images/ship.png")
    src = f"/catalog/{listing.dataset.slug}/samples/{ship.pk}.png"
    assert f'src="{src}"' in page
    response = client.get(src)
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    with Image.open(io.BytesIO(response.content)) as thumbnail:
        assert max(thumbnail.size) <= 320
        assert thumbnail.size == (320, 240)
        assert not thumbnail.getexif()


def test_samples_come_from_the_published_version_only(client, cast, listing):
    # A newer version waiting in review adds files: none of them is previewed or served.
    pending = new_version(
        cast,
        listing,
        {"data/secret.csv": b"id,name\n9,Unreleased\n", "images/new.png": png(color=(1, 2, 3))},
        approve=False,
    )
    page = client.get(f"/catalog/{listing.dataset.slug}/").content.decode()
    assert "Unreleased" not in page
    new_image = pending.files.get(path="images/new.png")
    assert (
        client.get(f"/catalog/{listing.dataset.slug}/samples/{new_image.pk}.png").status_code == 404
    )


def test_sample_images_answer_404_outside_the_listing_samples(client, listing, make_listing):
    slug = listing.dataset.slug
    csv_file = listing.version.files.get(path="data/people.csv")
    ship = listing.version.files.get(path="images/ship.png")
    other = make_listing("Quay voices", files={"a.png": png()})
    assert client.get(f"/catalog/{slug}/samples/{csv_file.pk}.png").status_code == 404
    assert client.get(f"/catalog/{slug}/samples/dfl_unknown.png").status_code == 404
    assert client.get(f"/catalog/{other.dataset.slug}/samples/{ship.pk}.png").status_code == 404
    draft = make_listing("Unreviewed", files={"b.png": png()}, publish=False)
    draft_image = draft.files.get()
    assert (
        client.get(f"/catalog/{draft.dataset.slug}/samples/{draft_image.pk}.png").status_code == 404
    )


def test_lineage_links_parents_and_derived_datasets_both_ways(client, cast, listing, make_listing):
    derived = make_listing("Harbour summaries")
    new_version(cast, derived, {"summary.txt": b"Summaries."}, parents=[listing.version])
    unlisted = make_listing("Private source", publish=False)
    unlisted = approve_version(actor=cast.reviewer, version=unlisted, reason="Fine.")
    # Approved but taken out of the catalog: it is named as a parent, not linked.
    from marketplace.models import Listing

    Listing.objects.filter(dataset=unlisted.dataset).update(status=Listing.Status.SUSPENDED)
    new_version(
        cast,
        listing.__class__.objects.get(pk=derived.pk),
        {"more.txt": b"More."},
        parents=[listing.version, unlisted],
    )
    derived_page = client.get(f"/catalog/{derived.dataset.slug}/").content.decode()
    assert '<a href="/catalog/harbour-logs/">Harbour logs</a>, version 1' in derived_page
    assert "Private source, version 1" in derived_page
    assert 'href="/catalog/private-source/"' not in derived_page
    parent_page = client.get("/catalog/harbour-logs/").content.decode()
    assert '<a href="/catalog/harbour-summaries/">Harbour summaries</a>, version 3' in parent_page
    assert "No parent datasets declared" in parent_page
