"""Signed manifests of approved versions: built once after approval, served to those entitled,
and checked offline by tools/verify_manifest.py, which names every missing, extra or altered
file and refuses a forged signature."""

import io
import json
import subprocess
import sys
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image

from licensing import manifests
from licensing import services as licensing
from licensing.tasks import build_missing_manifests_task
from marketplace.services import suspend_listing
from provenance import services as provenance
from provenance.merkle import merkle_root
from provenance.models import LedgerEntry, Manifest
from provenance.signing import jwks, public_jwk, verify_envelope

VERIFIER = Path(__file__).resolve().parent.parent / "tools" / "verify_manifest.py"


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), (10, 200, 10)).save(buffer, format="PNG")
    return buffer.getvalue()


FILES = {
    "data/records.jsonl": b'{"text": "one", "n": 1}\n{"text": "two", "n": 2}\n',
    "data/table.csv": b"id,label\n1,sea\n2,shore\n3,cliff\n",
    "images/gull.png": png_bytes(),
}


@pytest.fixture
def listing(make_listing):
    return make_listing("Shore notes", files=FILES)


@pytest.fixture
def unpublished(make_listing, cast):
    """An approved version whose listing is out of the catalog (taken down after a claim)."""
    listing = make_listing("Private notes", files=FILES)
    suspend_listing(actor=cast.reviewer, dataset=listing.dataset, reason="A rights claim.")
    return listing.version


def test_approval_builds_one_signed_manifest_of_the_version(
    make_listing, cast, django_capture_on_commit_callbacks
):
    version = make_listing("Shore notes", files=FILES, publish=False)
    with django_capture_on_commit_callbacks(execute=True):
        provenance.approve_version(actor=cast.reviewer, version=version, reason="Fine.")
    manifest = Manifest.objects.get(version=version)
    assert manifest.pk.startswith("man_")
    assert verify_envelope(manifest.envelope)
    payload = manifest.envelope["payload"]
    assert payload["type"] == "wellspring.version-manifest"
    assert payload["kid"] == manifest.envelope["kid"] == public_jwk()["kid"]
    assert payload["issuer"]["name"] == "Wellspring"
    assert [item["path"] for item in payload["files"]] == sorted(FILES)
    by_path = {item["path"]: item for item in payload["files"]}
    assert by_path["data/table.csv"]["records"] == 3
    assert by_path["data/table.csv"]["media_type"] == "text/csv"
    assert by_path["images/gull.png"]["size"] == len(FILES["images/gull.png"])
    version.refresh_from_db()
    assert payload["merkle_root"] == version.merkle_root
    assert payload["merkle_root"] == merkle_root(
        (item["path"], item["sha256"]) for item in payload["files"]
    )
    assert payload["total_bytes"] == sum(len(content) for content in FILES.values())
    declared = payload["provenance"]
    assert declared["consent_basis"] == "own_work"
    assert declared["rights_holder"] == "Creators"
    assert declared["authorship"] == "human" and declared["synthetic_share_bps"] == 0
    assert declared["opt_out"]["status"] == "not_applicable"
    assert declared["source"]["description"] == "Written by our members."
    option = version.dataset.license_options.get()
    assert payload["license_terms"] == [
        {
            "option": option.pk,
            "name": "Standard",
            "terms": option.terms_dict(),
            "terms_sha256": option.terms_hash(),
        }
    ]
    entries = LedgerEntry.objects.filter(action="version.manifest_issued", subject_id=version.pk)
    assert entries.count() == 1
    assert entries.get().payload["payload_sha256"] == manifest.payload_sha256


def test_building_again_keeps_the_first_manifest(listing):
    first = manifests.build_version_manifest(version_id=listing.version.pk)
    again = manifests.build_version_manifest(version_id=listing.version.pk)
    assert first.pk == again.pk
    assert Manifest.objects.count() == 1
    assert LedgerEntry.objects.filter(action="version.manifest_issued").count() == 1


def test_a_version_that_is_not_approved_gets_no_manifest(make_listing):
    submitted = make_listing("In review", files=FILES, publish=False)
    assert manifests.build_version_manifest(version_id=submitted.pk) is None
    assert not Manifest.objects.exists()


def test_the_sweep_builds_manifests_the_approval_signal_missed(listing, unpublished):
    assert not Manifest.objects.exists()
    assert build_missing_manifests_task() == 2
    assert set(Manifest.objects.values_list("version_id", flat=True)) == {
        listing.version.pk,
        unpublished.pk,
    }
    assert build_missing_manifests_task() == 0


def test_lineage_names_the_parent_versions(listing, make_listing, cast):
    child = make_listing("Derived notes", files=FILES, publish=False)
    # Lineage is declared on a draft; this one is already submitted, so declare on a new one.
    child = provenance.approve_version(actor=cast.reviewer, version=child, reason="Fine.")
    draft = provenance.create_version(actor=cast.creator, dataset=child.dataset, based_on=child)
    provenance.update_declaration(
        actor=cast.creator, version=draft, changes={}, parents=[listing.version]
    )
    draft = provenance.submit_version(actor=cast.creator, version=draft)
    draft = provenance.approve_version(actor=cast.reviewer, version=draft, reason="Fine.")
    payload = manifests.build_version_manifest(version_id=draft.pk).envelope["payload"]
    assert payload["provenance"]["lineage"] == [
        {
            "version": listing.version.pk,
            "dataset": listing.dataset.slug,
            "number": 1,
            "licensor": "creators",
            "merkle_root": listing.version.merkle_root,
        }
    ]


# --- The API ------------------------------------------------------------------------------


def url(version_id: str) -> str:
    return f"/api/v1/versions/{version_id}/manifest/"


def test_anyone_reads_the_manifest_of_a_published_version(api_client, listing):
    response = api_client.get(url(listing.version.pk))
    assert response.status_code == 200, response.content
    envelope = response.json()
    assert verify_envelope(envelope)
    assert envelope["payload"]["dataset_version"]["id"] == listing.version.pk


def test_an_unpublished_version_is_for_its_creator_licensees_and_staff_only(
    api_client, cast, unpublished, key_for
):
    assert api_client.get(url(unpublished.pk)).status_code == 404
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.outsider_org)}")
    outsider = api_client.get(url(unpublished.pk))
    assert outsider.status_code == 404
    assert outsider["Content-Type"] == "application/problem+json"
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.buyer_org)}")
    assert api_client.get(url(unpublished.pk)).status_code == 404
    licensing.grant_license(
        organization=cast.buyer_org,
        version=unpublished,
        terms={"permitted_uses": ["evaluation"]},
        source="order:ord_manifest",
    )
    assert api_client.get(url(unpublished.pk)).status_code == 200
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.creator_org)}")
    assert api_client.get(url(unpublished.pk)).status_code == 200
    api_client.credentials()
    api_client.force_authenticate(cast.reviewer)
    assert api_client.get(url(unpublished.pk)).status_code == 200


def test_drafts_and_unknown_ids_answer_404_even_to_their_creator(
    api_client, cast, make_listing, key_for
):
    submitted = make_listing("In review", files=FILES, publish=False)
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.creator_org)}")
    assert api_client.get(url(submitted.pk)).status_code == 404
    missing = api_client.get(url("dsv_doesnotexist"))
    assert missing.status_code == 404
    assert missing.json()["status"] == 404
    assert not Manifest.objects.exists()


def test_an_api_key_without_catalog_read_is_refused(api_client, cast, listing, key_for):
    key = key_for(cast.buyer_org, ["orders:write"])
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    response = api_client.get(url(listing.version.pk))
    assert response.status_code == 403
    assert "catalog:read" in response.json()["detail"]


# --- The standalone verifier --------------------------------------------------------------


@pytest.fixture
def downloaded(tmp_path, listing):
    """A buyer's download: the files, the manifest and the JWKS, as they would be saved."""
    envelope = manifests.build_version_manifest(version_id=listing.version.pk).envelope
    directory = tmp_path / "download"
    for path, content in FILES.items():
        (directory / path).parent.mkdir(parents=True, exist_ok=True)
        (directory / path).write_bytes(content)
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(envelope))
    keys = tmp_path / "jwks.json"
    keys.write_text(json.dumps(jwks()))
    return directory, manifest, keys


def run_verifier(manifest: Path, directory: Path, keys: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(VERIFIER), str(manifest), str(directory), "--jwks", keys],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_verifier_accepts_an_intact_download(downloaded):
    directory, manifest, keys = downloaded
    result = run_verifier(manifest, directory, str(keys))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK: signature valid, Merkle root matches, 3 file(s) match" in result.stdout


def test_the_verifier_names_an_altered_a_missing_and_an_extra_file(downloaded):
    directory, manifest, keys = downloaded
    (directory / "data/table.csv").write_bytes(b"id,label\n1,sea\n2,shore\n3,cliffs\n")
    (directory / "images/gull.png").unlink()
    (directory / "data/notes.txt").write_text("not part of the dataset")
    result = run_verifier(manifest, directory, str(keys))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any(line.startswith("ALTERED data/table.csv:") for line in lines)
    assert "MISSING images/gull.png" in lines
    assert "EXTRA data/notes.txt" in lines
    assert not any("data/records.jsonl" in line for line in lines)
    assert not any(line.startswith("SIGNATURE") for line in lines)


@pytest.mark.parametrize("change", ["removed", "added", "altered"])
def test_each_single_file_change_fails_and_is_named(downloaded, change):
    directory, manifest, keys = downloaded
    if change == "removed":
        (directory / "data/records.jsonl").unlink()
        expected = "MISSING data/records.jsonl"
    elif change == "added":
        (directory / "extra.bin").write_bytes(b"\0")
        expected = "EXTRA extra.bin"
    else:
        with open(directory / "data/records.jsonl", "ab") as handle:
            handle.write(b'{"text": "three"}\n')
        expected = "ALTERED data/records.jsonl"
    result = run_verifier(manifest, directory, str(keys))
    assert result.returncode == 1
    assert any(line.startswith(expected) for line in result.stdout.splitlines()), result.stdout


def test_a_forged_manifest_fails_its_signature(downloaded):
    directory, manifest, keys = downloaded
    envelope = json.loads(manifest.read_text())
    # A forger lists a file of their own and fixes up the Merkle root: only the signature notices.
    forged_file = directory / "data/table.csv"
    forged_file.write_bytes(b"id,label\n1,forged\n")
    import hashlib

    for item in envelope["payload"]["files"]:
        if item["path"] == "data/table.csv":
            item["sha256"] = hashlib.sha256(forged_file.read_bytes()).hexdigest()
            item["size"] = forged_file.stat().st_size
    envelope["payload"]["merkle_root"] = merkle_root(
        (item["path"], item["sha256"]) for item in envelope["payload"]["files"]
    )
    manifest.write_text(json.dumps(envelope))
    result = run_verifier(manifest, directory, str(keys))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "SIGNATURE invalid: the manifest was changed or not signed by this key"
    ]


def test_a_manifest_signed_by_another_key_fails(downloaded, tmp_path):
    directory, manifest, keys = downloaded
    envelope = json.loads(manifest.read_text())
    other = Ed25519PrivateKey.generate()
    stranger = public_jwk(other.public_key())
    from provenance.models import canonical_json
    from provenance.signing import b64url_encode

    envelope["kid"] = stranger["kid"]
    envelope["signature"] = b64url_encode(other.sign(canonical_json(envelope["payload"])))
    manifest.write_text(json.dumps(envelope))
    result = run_verifier(manifest, directory, str(keys))
    assert result.returncode == 1
    assert result.stdout.startswith("SIGNATURE no key with kid")


def test_the_verifier_fetches_the_jwks_from_a_url_and_ignores_a_manifest_inside(downloaded):
    directory, manifest, keys = downloaded
    inside = directory / "manifest.json"
    inside.write_text(manifest.read_text())
    handler = partial(SimpleHTTPRequestHandler, directory=str(keys.parent))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        jwks_url = f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
        result = run_verifier(inside, directory, jwks_url)
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_verifier_rejects_unusable_input(downloaded, tmp_path):
    directory, manifest, keys = downloaded
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert run_verifier(broken, directory, str(keys)).returncode == 2
    assert run_verifier(manifest, tmp_path / "nowhere", str(keys)).returncode == 2


def test_the_snippet_in_the_docs_verifies_a_manifest(downloaded):
    _directory, manifest, keys = downloaded
    docs = (VERIFIER.parent.parent / "docs" / "manifests.md").read_text()
    snippet = docs.split("```python\n")[1].split("```")[0]
    result = subprocess.run(
        [sys.executable, "-c", snippet],
        cwd=manifest.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("genuine: shore-notes ")
