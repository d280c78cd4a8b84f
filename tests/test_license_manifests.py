"""Signed manifests of licenses: the bytes as delivered to one buyer, built once the deliveries
are complete, served to the licensee only, and checked offline by tools/verify_manifest.py."""

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from licensing import manifests, services
from licensing.models import Delivery, LicenseManifest
from licensing.tasks import build_missing_manifests_task
from provenance.merkle import merkle_root
from provenance.models import LedgerEntry
from provenance.signing import jwks, verify_envelope

VERIFIER = Path(__file__).resolve().parent.parent / "tools" / "verify_manifest.py"
FILES = {
    # 64 lines: the per-license line-break fingerprint changes some of them, surely.
    "data/records.jsonl": b"".join(b'{"n": %d}\n' % n for n in range(64)),
    "data/table.csv": b"id,label\n1,sea\n2,shore\n",
    "notes.bin": bytes(range(256)) * 4,
}


@pytest.fixture
def listing(make_listing):
    return make_listing("Shore notes", files=FILES, uses=("training",))


def grant(cast, listing, source="test:1"):
    return services.grant_license(
        organization=cast.buyer_org,
        version=listing.version,
        terms=listing.dataset.license_options.get().terms_dict(),
        source=source,
    )


@pytest.fixture
def license(cast, listing, django_capture_on_commit_callbacks):
    license = grant(cast, listing)
    with django_capture_on_commit_callbacks(execute=True):
        services.issue_certificate(license=license)
        services.build_deliveries(license=license)
    return license


@pytest.fixture
def buyer_api(api_client, cast, key_for):
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.buyer_org)}")
    return api_client


def url(license) -> str:
    return f"/api/v1/licenses/{license.pk}/manifest/"


def test_completed_deliveries_build_one_signed_manifest_of_the_delivered_bytes(license):
    manifest = LicenseManifest.objects.get(license=license)
    assert manifest.pk.startswith("lman_")
    assert verify_envelope(manifest.envelope)
    payload = manifest.envelope["payload"]
    assert payload["type"] == "wellspring.license-manifest"
    assert payload["license"]["id"] == license.pk
    assert payload["license"]["licensee"]["organization"] == "buyers"
    deliveries = {item.data_file.path: item for item in Delivery.objects.filter(license=license)}
    assert [item["path"] for item in payload["files"]] == sorted(FILES)
    for item in payload["files"]:
        delivery = deliveries[item["path"]]
        assert (item["sha256"], item["size"]) == (delivery.sha256, delivery.size_bytes)
        assert item["fingerprint"] == delivery.fingerprint_method
    # Text is fingerprinted per license: its bytes (and so the root) differ from the version's.
    assert (
        payload["files"][0]["sha256"] != license.version.files.get(path="data/records.jsonl").sha256
    )
    assert payload["merkle_root"] == merkle_root(
        (item["path"], item["sha256"]) for item in payload["files"]
    )
    assert payload["merkle_root"] != license.version.merkle_root
    assert payload["dataset_version"]["merkle_root"] == license.version.merkle_root
    assert payload["terms"] == license.terms
    assert payload["terms_sha256"] == license.terms_sha256
    policy = payload["odrl"]
    assert policy["@type"] == "Agreement"
    assert policy["uid"].endswith(f"/odrl/policies/{license.pk}")
    assert policy["ws:termsSha256"] == license.terms_sha256
    assert policy["assignee"]["uid"].endswith("/organizations/buyers")
    assert policy["target"]["ws:merkleRoot"] == license.version.merkle_root
    assert payload["provenance"]["consent_basis"] == "own_work"
    by_path = {item["path"]: item for item in payload["files"]}
    assert by_path["data/table.csv"]["records"] == 2
    entry = LedgerEntry.objects.get(action="license.manifest_issued", subject_id=license.pk)
    assert entry.payload["payload_sha256"] == manifest.payload_sha256


def test_the_licensee_downloads_the_manifest_and_building_again_keeps_it(buyer_api, license):
    first = LicenseManifest.objects.get(license=license)
    response = buyer_api.get(url(license))
    assert response.status_code == 200, response.content
    assert response.json() == first.envelope
    assert manifests.build_license_manifest(license_id=license.pk) == first
    assert LicenseManifest.objects.count() == 1


def test_the_manifest_answers_409_while_deliveries_are_incomplete(buyer_api, cast, listing):
    license = grant(cast, listing, source="test:2")
    response = buyer_api.get(url(license))
    assert response.status_code == 409
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["code"] == "deliveries_incomplete"
    assert not LicenseManifest.objects.exists()


def test_other_organizations_get_404_on_a_license_manifest(api_client, cast, key_for, license):
    for organization in (cast.outsider_org, cast.creator_org):
        api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(organization)}")
        response = api_client.get(url(license))
        assert response.status_code == 404
        assert "payload" not in response.json()


def test_the_sweep_builds_license_manifests_a_lost_message_missed(license):
    LicenseManifest.objects.all().delete()
    assert license.pk in manifests.licenses_missing_manifests()
    build_missing_manifests_task.delay().get(timeout=30)
    assert LicenseManifest.objects.filter(license=license).exists()


@pytest.fixture
def downloaded(buyer_api, license, tmp_path):
    """The licensee's archive, unpacked, beside its manifest and the platform's JWKS."""
    files = buyer_api.get(f"/api/v1/licenses/{license.pk}/files/").json()
    response = buyer_api.get(files["archive_url"])
    assert response.status_code == 200
    directory = tmp_path / "download"
    zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).extractall(directory)
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(buyer_api.get(url(license)).json()))
    keys = tmp_path / "jwks.json"
    keys.write_text(json.dumps(jwks()))
    return manifest, directory, keys


def run_verifier(manifest: Path, directory: Path, keys: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(VERIFIER), str(manifest), str(directory), "--jwks", str(keys)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_verifier_accepts_the_download_as_delivered(downloaded):
    result = run_verifier(*downloaded)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_verifier_names_an_altered_delivered_file(downloaded):
    manifest, directory, keys = downloaded
    target = directory / "data" / "table.csv"
    target.write_bytes(target.read_bytes().replace(b"sea", b"SEA"))
    result = run_verifier(manifest, directory, keys)
    assert result.returncode == 1
    assert "ALTERED data/table.csv" in result.stdout
    assert "data/records.jsonl" not in result.stdout


def test_the_creators_original_files_do_not_pass_as_the_buyers_delivery(downloaded, license):
    """The manifest vouches for the fingerprinted bytes: the unmarked originals differ."""
    manifest, directory, keys = downloaded
    original = license.version.files.get(path="data/records.jsonl")
    (directory / "data" / "records.jsonl").write_bytes(FILES["data/records.jsonl"])
    assert original.sha256 != json.loads(manifest.read_text())["payload"]["files"][0]["sha256"]
    result = run_verifier(manifest, directory, keys)
    assert result.returncode == 1
    assert "ALTERED data/records.jsonl" in result.stdout


def test_the_license_page_links_the_manifest_and_the_session_reads_it(client, cast, license):
    client.force_login(cast.buyer)
    page = client.get(f"/library/licenses/{license.pk}/").content.decode()
    assert f'href="/api/v1/licenses/{license.pk}/manifest/"' in page
    response = client.get(f"/api/v1/licenses/{license.pk}/manifest/")
    assert response.status_code == 200
    assert response.json() == LicenseManifest.objects.get(license=license).envelope
    client.force_login(cast.outsider)
    assert client.get(f"/api/v1/licenses/{license.pk}/manifest/").status_code == 404
