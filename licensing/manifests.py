"""Signed manifests of approved versions: what a version holds, where it came from, and on
which terms it is offered, signed with the platform's Ed25519 key.

The payload's format is documented in docs/manifests.md; `tools/verify_manifest.py` checks a
downloaded directory against one. It lives in licensing, not provenance, because the payload
carries the license terms a version is offered under, and licensing may read provenance.
"""

import hashlib
import logging
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from licensing.models import Delivery, License, LicenseManifest, LicenseOption
from licensing.odrl import odrl_for_license
from provenance.ledger import record_event
from provenance.merkle import merkle_root
from provenance.models import (
    DataFile,
    DatasetVersion,
    Manifest,
    ProvenanceDeclaration,
    QualityReport,
    canonical_json,
)
from provenance.signing import public_jwk, sign_payload

logger = logging.getLogger(__name__)

MANIFEST_TYPE = "wellspring.version-manifest"
LICENSE_MANIFEST_TYPE = "wellspring.license-manifest"
FORMAT_VERSION = 1


class ManifestMismatch(Exception):
    """The files of a version no longer add up to the Merkle root it was approved with."""


def _date(value) -> str | None:
    return value.isoformat() if value else None


def file_entries(version: DatasetVersion) -> list[dict]:
    """The version's files as a manifest lists them, sorted by path."""
    return [
        {
            "path": path,
            "size": size,
            "media_type": media_type,
            "sha256": sha256,
            "records": records,
        }
        for path, size, media_type, sha256, records in DataFile.objects.filter(version=version)
        .order_by("path")
        .values_list("path", "size_bytes", "media_type", "sha256", "record_count")
        .iterator(chunk_size=5000)
    ]


def declaration_entry(version: DatasetVersion) -> dict:
    """The provenance declaration as a manifest (and a Croissant export) states it."""
    declaration = ProvenanceDeclaration.objects.filter(version=version).first()
    if declaration is None:
        declaration = ProvenanceDeclaration(version=version)
        evidence, parents = [], []
    else:
        evidence = list(declaration.evidence.order_by("uploaded_at", "id"))
        parents = list(declaration.parents.select_related("dataset__organization").order_by("id"))
    return {
        "source": {"url": declaration.source_url, "description": declaration.source_description},
        "collection_method": declaration.collection_method,
        "collection_period": {
            "started_on": _date(declaration.collection_started_on),
            "ended_on": _date(declaration.collection_ended_on),
        },
        "consent_basis": declaration.consent_basis,
        "rights_holder": declaration.rights_holder,
        "authorship": declaration.authorship,
        "synthetic_share_bps": declaration.synthetic_share_bps,
        "opt_out": {"status": declaration.opt_out_status, "notes": declaration.opt_out_notes},
        "evidence": [
            {"title": item.title, "sha256": item.sha256, "size": item.size_bytes}
            for item in evidence
        ],
        "lineage": [
            {
                "version": parent.pk,
                "dataset": parent.dataset.slug,
                "number": parent.number,
                "licensor": parent.dataset.organization.slug,
                "merkle_root": parent.merkle_root,
            }
            for parent in parents
        ],
    }


def quality_entry(version: DatasetVersion) -> dict | None:
    """The key figures of the version's measured quality report, or None when it has none.

    Each figure names its method; `figures_sha256` identifies the full report (served by
    `/api/v1/versions/{id}/quality/`) and `parameters_sha256` the parameters of every method,
    so a figure can be reproduced and two reports compared. Shares are basis points.
    """
    report = QualityReport.objects.filter(version=version, state=QualityReport.State.DONE).first()
    if report is None:
        return None
    figures = report.figures
    sample = figures["sample"]
    near = figures["near_duplicates"]
    synthetic = figures["synthetic"]
    personal = figures["personal_data"]
    novelty = figures.get("novelty", {})
    parameters = {
        "near_duplicates.records": near["records"]["parameters"],
        "near_duplicates.images": near["images"]["parameters"],
        "synthetic.evidence": synthetic["evidence"]["parameters"],
        "synthetic.heuristic": synthetic["heuristic"]["parameters"],
        "personal_data": personal["parameters"],
        "languages": figures["shape"]["languages"]["parameters"],
        "novelty": novelty.get("parameters", {}),
    }
    return {
        "method_version": report.method_version,
        "figures_sha256": report.figures_sha256,
        "parameters_sha256": hashlib.sha256(canonical_json(parameters)).hexdigest(),
        "measured_at": _date(report.finished_at),
        "sample": {
            key: sample[key]
            for key in (
                "seed",
                "records_total",
                "records_measured",
                "images_total",
                "images_measured",
            )
        },
        "exact_duplicates": {
            "method": "sha256 of files, blake2b-64 of records' text",
            "records_bps": figures["exact_duplicates"]["records"]["rate_bps"],
            "files_bps": figures["exact_duplicates"]["files"]["rate_bps"],
        },
        "near_duplicates": {
            "records": {
                "method": near["records"]["method"],
                "parameters": near["records"]["parameters"],
                "rate_bps": near["records"]["rate_bps"],
            },
            "images": {
                "method": near["images"]["method"],
                "parameters": near["images"]["parameters"],
                "rate_bps": near["images"]["rate_bps"],
            },
        },
        "synthetic": {
            "evidence": {
                "kind": "evidence: C2PA, IPTC DigitalSourceType, generator metadata",
                "count": synthetic["evidence"]["count"],
                "share_bps": synthetic["evidence"]["share_bps"],
            },
            "heuristic": {
                "kind": "heuristic: statistical text signals, not proof",
                "count": synthetic["heuristic"]["count"],
                "share_bps": synthetic["heuristic"]["share_bps"],
            },
            "declared_share_bps": figures.get("declared", {}).get("synthetic_share_bps"),
        },
        "personal_data": {
            "records_with_hits": personal["records_with_hits"],
            "rate_bps": personal["rate_bps"],
            "kinds": {kind: entry["count"] for kind, entry in sorted(personal["kinds"].items())},
        },
        "catalog_overlap_bps": report.catalog_overlap_bps,
        "languages": figures["shape"]["languages"]["mix"][:10],
        "flags": sorted({flag["code"] for flag in report.flags}),
    }


def license_terms_entries(version: DatasetVersion) -> list[dict]:
    """The terms the dataset is offered under (its active options), each with its hash."""
    options = LicenseOption.objects.filter(dataset_id=version.dataset_id, is_active=True).order_by(
        "price_minor", "id"
    )
    return [
        {
            "option": option.pk,
            "name": option.name,
            "terms": option.terms_dict(),
            "terms_sha256": option.terms_hash(),
        }
        for option in options
    ]


def version_manifest_payload(version: DatasetVersion, *, now: datetime) -> dict:
    """The unsigned payload of a version's manifest.

    Raises ManifestMismatch when the files do not add up to the root the version was approved
    with: a manifest never vouches for a root it cannot reproduce.
    """
    dataset = version.dataset
    files = file_entries(version)
    root = merkle_root((item["path"], item["sha256"]) for item in files)
    if version.merkle_root and root != version.merkle_root:
        raise ManifestMismatch(
            f"{version.pk}: files give root {root}, the version says {version.merkle_root}"
        )
    return {
        "type": MANIFEST_TYPE,
        "format_version": FORMAT_VERSION,
        "issuer": {"name": settings.PLATFORM_NAME, "url": settings.SITE_URL},
        "kid": public_jwk()["kid"],
        "issued_at": now.isoformat(),
        "dataset": {
            "id": dataset.pk,
            "slug": dataset.slug,
            "title": dataset.title,
            "modality": dataset.modality,
            "languages": list(dataset.languages),
            "licensor": {
                "organization": dataset.organization.slug,
                "name": dataset.organization.name,
            },
        },
        "dataset_version": {
            "id": version.pk,
            "number": version.number,
            "approved_at": _date(version.approved_at),
        },
        "file_count": len(files),
        "total_bytes": sum(item["size"] for item in files),
        "merkle_root": root,
        "files": files,
        "provenance": declaration_entry(version),
        "license_terms": license_terms_entries(version),
        "quality": quality_entry(version),
    }


def build_version_manifest(*, version_id: str, now: datetime | None = None) -> Manifest | None:
    """Sign and store the manifest of an approved (or suspended) version; once per version.

    Returns the existing manifest when there is one, None for a version that is not approved.
    The payload is built and signed outside the transaction (a big version takes a while); a
    concurrent build loses on the one-per-version constraint and returns the winner's.
    Writes `version.manifest_issued` with the payload's SHA-256.
    """
    now = now or timezone.now()
    existing = Manifest.objects.filter(version_id=version_id).first()
    if existing is not None:
        return existing
    version = (
        DatasetVersion.objects.select_related("dataset__organization")
        .filter(pk=version_id, status__in=DatasetVersion.FROZEN_STATUSES)
        .first()
    )
    if version is None:
        return None
    envelope = sign_payload(version_manifest_payload(version, now=now))
    payload_sha256 = hashlib.sha256(canonical_json(envelope["payload"])).hexdigest()
    try:
        with transaction.atomic():
            manifest = Manifest.objects.create(
                version=version, envelope=envelope, payload_sha256=payload_sha256, issued_at=now
            )
            record_event(
                action="version.manifest_issued",
                subject_type="dataset_version",
                subject_id=version.pk,
                organization=version.dataset.organization,
                payload={
                    "manifest": manifest.pk,
                    "payload_sha256": payload_sha256,
                    "merkle_root": envelope["payload"]["merkle_root"],
                    "kid": envelope["kid"],
                },
                now=now,
            )
    except IntegrityError:
        logger.info("manifest of %s was built concurrently", version_id)
        return Manifest.objects.get(version_id=version_id)
    return manifest


def versions_missing_manifests() -> list[str]:
    """Ids of approved versions that have no manifest yet (the sweep's work list)."""
    return list(
        DatasetVersion.objects.filter(
            status=DatasetVersion.Status.APPROVED, manifest__isnull=True
        ).values_list("pk", flat=True)
    )


# --- Manifests of licenses: the bytes as delivered to one buyer ---------------------------


class DeliveriesIncomplete(Exception):
    """Some files of the licensed version have not been fingerprinted for the license yet."""


def delivered_file_entries(license: License) -> list[dict]:
    """The license's delivered files as its manifest lists them, sorted by path.

    Size and SHA-256 are those of the fingerprinted bytes the buyer downloads, not the
    creator's originals. Raises DeliveriesIncomplete while a file is still undelivered.
    """
    expected = DataFile.objects.filter(version_id=license.version_id).count()
    rows = list(
        Delivery.objects.filter(license=license)
        .order_by("data_file__path")
        .values_list(
            "data_file__path",
            "size_bytes",
            "data_file__media_type",
            "sha256",
            "data_file__record_count",
            "fingerprint_method",
        )
    )
    if len(rows) != expected:
        raise DeliveriesIncomplete(f"{len(rows)} of {expected} files delivered")
    return [
        {
            "path": path,
            "size": size,
            "media_type": media_type,
            "sha256": sha256,
            "records": records,
            "fingerprint": method,
        }
        for path, size, media_type, sha256, records, method in rows
    ]


def license_manifest_payload(license: License, *, now: datetime) -> dict:
    """The unsigned payload of a license's manifest. Raises DeliveriesIncomplete."""
    version = license.version
    dataset = version.dataset
    files = delivered_file_entries(license)
    return {
        "type": LICENSE_MANIFEST_TYPE,
        "format_version": FORMAT_VERSION,
        "issuer": {"name": settings.PLATFORM_NAME, "url": settings.SITE_URL},
        "kid": public_jwk()["kid"],
        "issued_at": now.isoformat(),
        "license": {
            "id": license.pk,
            "licensee": {
                "organization": license.organization.slug,
                "name": license.organization.name,
            },
            "starts_at": license.starts_at.isoformat(),
            "ends_at": _date(license.ends_at),
        },
        "dataset": {
            "id": dataset.pk,
            "slug": dataset.slug,
            "title": dataset.title,
            "modality": dataset.modality,
            "languages": list(dataset.languages),
            "licensor": {
                "organization": dataset.organization.slug,
                "name": dataset.organization.name,
            },
        },
        "dataset_version": {
            "id": version.pk,
            "number": version.number,
            "approved_at": _date(version.approved_at),
            "merkle_root": version.merkle_root,
        },
        "file_count": len(files),
        "total_bytes": sum(item["size"] for item in files),
        "merkle_root": merkle_root((item["path"], item["sha256"]) for item in files),
        "files": files,
        "provenance": declaration_entry(version),
        "terms": license.terms,
        "terms_sha256": license.terms_sha256,
        "odrl": odrl_for_license(license),
    }


def build_license_manifest(*, license_id: str, now: datetime | None = None) -> LicenseManifest:
    """Sign and store the manifest of what was delivered to a license; once per license.

    Returns the existing manifest when there is one. Raises DeliveriesIncomplete while files
    are still being fingerprinted, License.DoesNotExist for an unknown id. A concurrent build
    loses on the one-per-license constraint and returns the winner's. Writes
    `license.manifest_issued` with the payload's SHA-256.
    """
    now = now or timezone.now()
    existing = LicenseManifest.objects.filter(license_id=license_id).first()
    if existing is not None:
        return existing
    license = License.objects.select_related("organization", "version__dataset__organization").get(
        pk=license_id
    )
    envelope = sign_payload(license_manifest_payload(license, now=now))
    payload_sha256 = hashlib.sha256(canonical_json(envelope["payload"])).hexdigest()
    try:
        with transaction.atomic():
            manifest = LicenseManifest.objects.create(
                license=license, envelope=envelope, payload_sha256=payload_sha256, issued_at=now
            )
            record_event(
                action="license.manifest_issued",
                subject_type="license",
                subject_id=license.pk,
                organization=license.organization,
                payload={
                    "manifest": manifest.pk,
                    "payload_sha256": payload_sha256,
                    "merkle_root": envelope["payload"]["merkle_root"],
                    "kid": envelope["kid"],
                },
                now=now,
            )
    except IntegrityError:
        logger.info("manifest of %s was built concurrently", license_id)
        return LicenseManifest.objects.get(license_id=license_id)
    return manifest


def licenses_missing_manifests() -> list[str]:
    """Ids of licenses whose deliveries exist but that have no manifest yet (the sweep's list)."""
    return list(
        License.objects.filter(manifest__isnull=True, deliveries__isnull=False)
        .exclude(status=License.Status.REVOKED)
        .values_list("pk", flat=True)
        .distinct()
    )
