"""Training-content summaries for buyers: what a buyer organization licensed on Wellspring, laid
out after the European Commission's template for the public summary of training content of
general-purpose AI models (Article 53(1)(d) AI Act, July 2025).

Wellspring fills the parts its records can vouch for: the provider and model (section 1), the
commercially licensed datasets by licensor with their sizes, modalities, languages and
collection periods (section 2), and how rights reservations were handled, from the frozen
provenance declarations (section 3). Every row names its license, the ledger entries that
granted it and set its status, the license manifest's hash and the terms' hash. Statuses are
read from the ledger as of one entry (`ledger_head`), so the same summary can be rebuilt from
the same entry: the HTML, PDF and JSON of one generation carry the same payload and hash.

The format is documented in docs/training-summary.md.
"""

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core import signing
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from fpdf import FPDF

from accounts.errors import InvalidInput, NotFound
from accounts.models import Organization
from licensing.documents import _latin1
from licensing.models import License, UsageReport, Use
from provenance.models import (
    GENESIS_HASH,
    Dataset,
    LedgerEntry,
    LedgerHead,
    ProvenanceDeclaration,
    QualityReport,
    Review,
    canonical_json,
)
from provenance.signing import public_jwk, sign_payload

SUMMARY_TYPE = "wellspring.training-summary"
FORMAT_VERSION = 1
TEMPLATE = (
    "European Commission, Template for the Public Summary of Training Content for "
    "general-purpose AI models, Article 53(1)(d) of Regulation (EU) 2024/1689 (July 2025)"
)
MAX_LICENSES = 1000
MAX_MODEL_NAME = 200
LICENSE_ID_MAX = 40
TRAINING_USES = frozenset({Use.TRAINING, Use.FINE_TUNING})
# Ledger actions that set a license's status (the others repeat it).
STATUS_ACTIONS = frozenset(
    {
        "license.granted",
        "license.reinstated",
        "license.suspended",
        "license.revoked",
        "license.expired",
    }
)
NOT_COVERED = (
    "Wellspring records only the datasets licensed on it. Publicly available datasets, data "
    "crawled or scraped from online sources, user data, synthetic data you generated and other "
    "sources belong in the other parts of section 2 of the template, which you complete "
    "yourself."
)
RESERVATIONS_STATEMENT = (
    "Every dataset listed was licensed from its licensor on Wellspring under the terms named "
    "by its terms hash. Before the version was listed, its licensor declared who holds the "
    "rights, the basis on which the data was collected and whether any reservation of rights "
    "from text and data mining (Article 4(3) of Directive (EU) 2019/790) applied to content in "
    "it; a Wellspring reviewer checked the declaration against its evidence and approved the "
    "version, which froze the declaration. The declarations, as frozen, follow."
)
PIN_SALT = "licensing.training-summary.pin"


class UnknownLicenses(NotFound):
    code = "unknown_licenses"
    title = "Some licenses are not your organization's"


@dataclass(frozen=True)
class LedgerPoint:
    """The ledger entry a summary is read as of."""

    seq: int
    entry_hash: str


def ledger_point(seq: int | None = None) -> LedgerPoint:
    """The ledger head now, or the entry `seq` (InvalidInput when it does not exist)."""
    if seq is None:
        head = LedgerHead.objects.filter(pk=1).first()
        if head is None:
            return LedgerPoint(0, GENESIS_HASH)
        return LedgerPoint(head.seq, head.entry_hash)
    if seq == 0:
        return LedgerPoint(0, GENESIS_HASH)
    entry_hash = LedgerEntry.objects.filter(seq=seq).values_list("entry_hash", flat=True).first()
    if entry_hash is None:
        raise InvalidInput(f"The ledger has no entry #{seq}.", code="unknown_ledger_entry")
    return LedgerPoint(seq, entry_hash)


def clean_license_ids(values) -> list[str] | None:
    """The chosen license ids, stripped and without repeats; None when none were chosen (all).

    Raises InvalidInput for more than MAX_LICENSES ids or an id longer than any license id.
    """
    if values is None:
        return None
    if isinstance(values, str):
        values = values.split(",")
    ids = list(dict.fromkeys(str(value).strip() for value in values if str(value).strip()))
    if not ids:
        return None
    if len(ids) > MAX_LICENSES:
        raise InvalidInput(
            f"Choose at most {MAX_LICENSES} licenses; {len(ids)} were sent.",
            errors={"licenses": [f"At most {MAX_LICENSES} licenses."]},
        )
    too_long = [value[:60] for value in ids if len(value) > LICENSE_ID_MAX]
    if too_long:
        raise UnknownLicenses(
            f"Not licenses of your organization: {', '.join(too_long)}.",
            errors={
                "licenses": [f"{value}: not a license of your organization." for value in too_long]
            },
        )
    return ids


def clean_model_name(value) -> str:
    name = " ".join(str(value or "").split())
    if len(name) > MAX_MODEL_NAME:
        raise InvalidInput(
            f"The model name is longer than {MAX_MODEL_NAME} characters.",
            errors={"model": [f"At most {MAX_MODEL_NAME} characters."]},
        )
    return name


def _date(value) -> str | None:
    return value.isoformat() if value else None


def _entry_ref(entry: LedgerEntry | None) -> dict | None:
    if entry is None:
        return None
    return {
        "seq": entry.seq,
        "entry_hash": entry.entry_hash,
        "action": entry.action,
        "at": entry.created_at.isoformat(),
    }


@dataclass
class _LicenseHistory:
    """What the ledger says about one license up to the summary's entry."""

    granted: LedgerEntry | None = None
    status_entry: LedgerEntry | None = None
    status: str | None = None  # as the last entry that states it says
    flag: LedgerEntry | None = None  # the last license.flagged, cleared by license.unflagged


def _histories(
    *, organization: Organization, license_ids: list[str] | None, point: LedgerPoint
) -> dict[str, _LicenseHistory]:
    histories: dict[str, _LicenseHistory] = defaultdict(_LicenseHistory)
    # License entries name the licensee organization: a summary of all its licenses reads them
    # by organization rather than by a list of every id, which can outgrow a query's limits.
    entries = LedgerEntry.objects.filter(
        subject_type="license", organization=organization, seq__lte=point.seq
    )
    if license_ids is not None:
        entries = entries.filter(subject_id__in=license_ids)
    entries = entries.order_by("seq")
    for entry in entries.iterator(chunk_size=2000):
        history = histories[entry.subject_id]
        # Every license entry of licensing.services states the status after it; a manifest's
        # entry does not.
        if entry.payload.get("status") in License.Status.values:
            history.status = entry.payload["status"]
        if entry.action == "license.granted" and history.granted is None:
            history.granted = entry
        if entry.action in STATUS_ACTIONS:
            history.status_entry = entry
        if entry.action == "license.flagged":
            history.flag = entry
        elif entry.action == "license.unflagged":
            history.flag = None
    return histories


def _selected_licenses(
    *, organization: Organization, license_ids: list[str] | None, point: LedgerPoint
) -> tuple[list[License], dict[str, _LicenseHistory]]:
    """The licenses to summarize, with their ledger histories.

    All of the organization's licenses granted at or before the entry, or exactly the chosen
    ones: a chosen id that is not one of them raises UnknownLicenses naming it.
    """
    licenses = License.objects.filter(organization=organization).select_related(
        "version__dataset__organization", "manifest", "certificate"
    )
    if license_ids is not None:
        licenses = licenses.filter(pk__in=license_ids)
    licenses = list(licenses.order_by("pk"))
    histories = _histories(organization=organization, license_ids=license_ids, point=point)
    granted = [license for license in licenses if histories[license.pk].granted is not None]
    if license_ids is not None:
        found = {license.pk for license in granted}
        unknown = [value for value in license_ids if value not in found]
        if unknown:
            raise UnknownLicenses(
                f"Not licenses of your organization: {', '.join(unknown[:20])}"
                + (f" and {len(unknown) - 20} more." if len(unknown) > 20 else "."),
                errors={
                    "licenses": [
                        f"{value}: not a license of your organization." for value in unknown
                    ]
                },
            )
    return granted, histories


def _declarations(version_ids: list[str]) -> dict[str, ProvenanceDeclaration]:
    declarations = ProvenanceDeclaration.objects.filter(
        version_id__in=version_ids
    ).prefetch_related("evidence", "parents__dataset__organization")
    return {declaration.version_id: declaration for declaration in declarations}


def _declaration_row(declaration: ProvenanceDeclaration | None) -> dict:
    declaration = declaration or ProvenanceDeclaration()
    consent = declaration.consent_basis
    opt_out = declaration.opt_out_status
    evidence = (
        sorted(declaration.evidence.all(), key=lambda item: (item.uploaded_at, item.pk))
        if declaration.pk
        else []
    )
    parents = sorted(declaration.parents.all(), key=lambda item: item.pk) if declaration.pk else []
    return {
        "source": {"url": declaration.source_url, "description": declaration.source_description},
        "collection_method": declaration.collection_method,
        "collection_period": {
            "started_on": _date(declaration.collection_started_on),
            "ended_on": _date(declaration.collection_ended_on),
        },
        "consent_basis": consent,
        "consent_basis_label": ProvenanceDeclaration.ConsentBasis(consent).label if consent else "",
        "rights_holder": declaration.rights_holder,
        "authorship": declaration.authorship,
        "authorship_label": ProvenanceDeclaration.Authorship(declaration.authorship).label,
        "synthetic_share_bps": declaration.synthetic_share_bps,
        "opt_out": {
            "status": opt_out,
            "label": ProvenanceDeclaration.OptOutStatus(opt_out).label
            if opt_out
            else "Not declared",
            "notes": declaration.opt_out_notes,
        },
        "evidence": [{"title": item.title, "sha256": item.sha256} for item in evidence],
        "lineage": [
            {
                "version": parent.pk,
                "dataset": parent.dataset.slug,
                "licensor": parent.dataset.organization.slug,
                "merkle_root": parent.merkle_root,
            }
            for parent in parents
        ],
    }


def _sentence(*parts: str) -> str:
    return " ".join(part.strip() for part in parts if part and part.strip())


def _attention(row: dict, history: _LicenseHistory) -> list[dict]:
    """What a reader of the summary must not miss about one license."""
    notes = []
    status = row["status"]
    reason = str((history.status_entry.payload.get("reason") if history.status_entry else "") or "")
    since = (row["status_since"] or "")[:10]
    if status == License.Status.REVOKED:
        notes.append(
            {
                "code": "revoked",
                "message": _sentence(
                    f"Revoked on {since}.",
                    reason,
                    "The licensor's authorisation has ended: do not train on this data again.",
                ),
            }
        )
    elif status == License.Status.SUSPENDED:
        notes.append(
            {
                "code": "suspended",
                "message": _sentence(
                    f"Suspended on {since}.",
                    reason,
                    "Hold off using the data until the license is reinstated.",
                ),
            }
        )
    if row["flagged"]:
        notes.append(
            {
                "code": "flagged",
                "message": f"A rights claim on this dataset was upheld on "
                f"{row['flagged']['since'][:10]}: hold off using the data until it is resolved.",
            }
        )
    if not row["terms"]["permits_training"]:
        uses = ", ".join(row["terms"]["permitted_uses"]) or "no use"
        notes.append(
            {
                "code": "training_not_permitted",
                "message": f"The terms permit {uses}; not training or fine-tuning.",
            }
        )
    return notes


def _totals(rows: list[dict]) -> dict:
    """Sizes over the distinct versions of `rows`: a version licensed twice counts once."""
    versions = {}
    for row in rows:
        versions.setdefault(row["version"]["id"], row)
    unknown_records = sum(1 for row in versions.values() if row["records"] is None)
    return {
        "licenses": len(rows),
        "dataset_versions": len(versions),
        "files": sum(row["files"] for row in versions.values()),
        "bytes": sum(row["bytes"] for row in versions.values()),
        "records": sum(row["records"] or 0 for row in versions.values()),
        "versions_without_record_count": unknown_records,
    }


def training_summary(
    *,
    organization: Organization,
    license_ids: list[str] | None = None,
    model_name: str = "",
    now: datetime | None = None,
    ledger_seq: int | None = None,
) -> dict:
    """The training-content summary of the organization's licenses (all, or the chosen ids).

    Statuses and flags are read from the ledger as of entry `ledger_seq` (the head when None),
    and only licenses granted at or before it are summarized. Raises UnknownLicenses naming
    every chosen id that is not such a license of the organization, InvalidInput for a bad
    model name or an unknown entry. Reads only.
    """
    now = now or timezone.now()
    license_ids = clean_license_ids(license_ids)
    model_name = clean_model_name(model_name)
    point = ledger_point(ledger_seq)
    licenses, histories = _selected_licenses(
        organization=organization, license_ids=license_ids, point=point
    )
    version_ids = sorted({license.version_id for license in licenses})
    declarations = _declarations(version_ids)
    approvals = {}
    for review in Review.objects.filter(
        version_id__in=version_ids, decision=Review.Decision.APPROVED
    ).order_by("decided_at", "id"):
        approvals.setdefault(review.version_id, review)
    measured = dict(
        QualityReport.objects.filter(
            version_id__in=version_ids, state=QualityReport.State.DONE
        ).values_list("version_id", "synthetic_evidence_bps")
    )
    models_reported = defaultdict(set)
    for license_id, names in UsageReport.objects.filter(
        license_id__in=[license.pk for license in licenses], created_at__lte=now
    ).values_list("license_id", "models_trained"):
        models_reported[license_id].update(str(name) for name in names or [])

    rows = []
    for license in licenses:
        history = histories[license.pk]
        version = license.version
        dataset = version.dataset
        terms = license.agreed_terms
        uses = sorted(terms.get("permitted_uses") or [])
        status = history.status or license.status
        manifest = getattr(license, "manifest", None)
        certificate = getattr(license, "certificate", None)
        review = approvals.get(version.pk)
        row = {
            "license": license.pk,
            "status": status,
            "status_label": License.Status(status).label,
            "status_since": history.status_entry.created_at.isoformat()
            if history.status_entry
            else None,
            "starts_at": license.starts_at.isoformat(),
            "ends_at": _date(license.ends_at),
            "licensor": {
                "organization": dataset.organization.slug,
                "name": dataset.organization.name,
            },
            "dataset": {
                "id": dataset.pk,
                "slug": dataset.slug,
                "title": dataset.title,
                "modality": dataset.modality,
                "languages": sorted(dataset.languages or []),
            },
            "version": {
                "id": version.pk,
                "number": version.number,
                "merkle_root": version.merkle_root,
                "approved_at": _date(version.approved_at),
                "review": review.pk if review else None,
            },
            "files": version.file_count,
            "bytes": version.total_bytes,
            "records": version.total_records,
            **_declaration_row(declarations.get(version.pk)),
            "measured_synthetic_evidence_bps": measured.get(version.pk),
            "terms": {
                "permitted_uses": uses,
                "permits_training": bool(TRAINING_USES & set(uses)),
                "commercial_use": bool(terms.get("commercial_use")),
                "territories": sorted(terms.get("territories") or []),
                "term_days": terms.get("term_days"),
            },
            "terms_sha256": license.terms_sha256,
            "flagged": {
                "since": history.flag.created_at.isoformat(),
                "reason": str(history.flag.payload.get("reason", "")),
            }
            if history.flag
            else None,
            "models_reported": sorted(models_reported.get(license.pk, ())),
            "trace": {
                "granted": _entry_ref(history.granted),
                "status": _entry_ref(history.status_entry),
                "license_manifest": {"id": manifest.pk, "payload_sha256": manifest.payload_sha256}
                if manifest is not None and manifest.issued_at <= now
                else None,
                "certificate": certificate.pk
                if certificate is not None and certificate.issued_at <= now
                else None,
            },
        }
        row["attention"] = _attention(row, history)
        rows.append(row)

    by_licensor = defaultdict(list)
    for row in rows:
        by_licensor[row["licensor"]["organization"]].append(row)
    licensed = [
        {
            "licensor": group[0]["licensor"],
            "totals": _totals(group),
            "licenses": sorted(group, key=lambda row: (row["dataset"]["title"], row["license"])),
        }
        for _, group in sorted(by_licensor.items())
    ]
    by_modality = defaultdict(list)
    for row in rows:
        by_modality[row["dataset"]["modality"]].append(row)
    modalities = [
        {"modality": modality, "label": Dataset.Modality(modality).label, **_totals(group)}
        for modality, group in sorted(by_modality.items())
    ]
    starts = [row["collection_period"]["started_on"] for row in rows]
    ends = [row["collection_period"]["ended_on"] for row in rows]
    by_status = {status: 0 for status in License.Status.values}
    for row in rows:
        by_status[row["status"]] += 1
    opt_outs = {status: 0 for status in [*ProvenanceDeclaration.OptOutStatus.values, ""]}
    for row in {row["version"]["id"]: row for row in rows}.values():
        opt_outs[row["opt_out"]["status"]] += 1

    return {
        "type": SUMMARY_TYPE,
        "format_version": FORMAT_VERSION,
        "template": TEMPLATE,
        "issuer": {"name": settings.PLATFORM_NAME, "url": settings.SITE_URL},
        "kid": public_jwk()["kid"],
        "generated_at": now.isoformat(),
        "ledger_head": {"seq": point.seq, "entry_hash": point.entry_hash},
        "selection": {
            "mode": "all" if license_ids is None else "chosen",
            "licenses": [row["license"] for row in rows],
        },
        "general_information": {
            "provider": {"organization": organization.slug, "name": organization.name},
            "models": [model_name] if model_name else [],
            "modalities": modalities,
            "totals": {**_totals(rows), "licensors": len(licensed)},
            "licenses_by_status": by_status,
            "languages": sorted({code for row in rows for code in row["dataset"]["languages"]}),
            "collection_period": {
                "earliest_started_on": min((day for day in starts if day), default=None),
                "latest_ended_on": max((day for day in ends if day), default=None),
            },
        },
        "data_sources": {
            "commercially_licensed": licensed,
            "not_covered": NOT_COVERED,
        },
        "data_processing": {
            "rights_reservations": {
                "statement": RESERVATIONS_STATEMENT,
                "opt_out_status_counts": {
                    (status or "not_declared"): count for status, count in opt_outs.items()
                },
            },
            "attention": [
                {"license": row["license"], "dataset": row["dataset"]["title"], **note}
                for row in rows
                for note in row["attention"]
            ],
        },
    }


def payload_sha256(payload: dict) -> str:
    return hashlib.sha256(canonical_json(payload)).hexdigest()


def signed_training_summary(**kwargs) -> dict:
    """`training_summary(**kwargs)` in the platform's signed envelope (provenance.signing)."""
    return sign_payload(training_summary(**kwargs))


# --- Pins: rebuild one generation for its PDF and JSON downloads ---------------------------


@dataclass(frozen=True)
class SummaryPin:
    """One generation of a summary: the ledger entry, the time, and whether it was of all."""

    seq: int
    generated_at: datetime
    is_all: bool


def summary_pin(*, organization: Organization, payload: dict) -> str:
    """A signed token naming the generation of `payload`, for links that download the same
    summary in another format."""
    return signing.dumps(
        {
            "organization": organization.pk,
            "seq": payload["ledger_head"]["seq"],
            "at": payload["generated_at"],
            "all": payload["selection"]["mode"] == "all",
        },
        salt=PIN_SALT,
        compress=True,
    )


def read_summary_pin(*, organization: Organization, pin: str) -> SummaryPin:
    """The generation a pin names. Raises InvalidInput for a pin that was tampered with or
    made for another organization."""
    try:
        data = signing.loads(pin, salt=PIN_SALT)
        if data["organization"] != organization.pk:
            raise ValueError("another organization's pin")
        at = parse_datetime(data["at"])
        seq = int(data["seq"])
        if at is None or seq < 0:
            raise ValueError("malformed pin")
        return SummaryPin(seq=seq, generated_at=at, is_all=bool(data["all"]))
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise InvalidInput(
            "This download link is not valid: generate the summary again.", code="invalid_pin"
        ) from None


# --- The PDF: the same payload, for people ------------------------------------------------


def _size(value: int) -> str:
    """Bytes for people: "1.2 MB (1,234,567 bytes)"."""
    amount = float(value)
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if amount < 1000 or unit == "TB":
            break
        amount /= 1000
    if unit == "bytes":
        return f"{value:,} bytes"
    return f"{amount:.1f} {unit} ({value:,} bytes)"


def _records(value: int | None) -> str:
    return "unknown" if value is None else f"{value:,}"


def _share(bps: int | None) -> str:
    return "not measured" if bps is None else f"{bps / 100:.1f}%"


def _period(period: dict, start: str = "started_on", end: str = "ended_on") -> str:
    if not period.get(start) and not period.get(end):
        return "not declared"
    return f"{period.get(start) or '?'} to {period.get(end) or '?'}"


def _count(number: int | None, noun: str) -> str:
    """A count and its noun: 1 file, 3 files, unknown records."""
    if number is None:
        return f"unknown {noun}s"
    return f"{number:,} {noun}" + ("" if number == 1 else "s")


class _SummaryPDF:
    """Writes the sections of a summary with fpdf2's core fonts (Latin-1)."""

    def __init__(self, envelope: dict):
        self.text = _latin1
        self.payload = envelope["payload"]
        self.sha256 = payload_sha256(self.payload)
        sha256 = self.sha256

        class Document(FPDF):
            def footer(inner):
                inner.set_y(-12)
                inner.set_font("Helvetica", "", 7)
                inner.cell(0, 5, f"Payload SHA-256 {sha256}", align="L")
                inner.cell(0, 5, f"Page {inner.page_no()} of {{nb}}", align="R")

        self.pdf = Document()
        self.pdf.set_auto_page_break(auto=True, margin=16)

    def heading(self, text: str, size: int = 13) -> None:
        self.pdf.ln(2)
        self.pdf.set_font("Helvetica", "B", size)
        self.pdf.multi_cell(0, size * 0.55, self.text(text), new_x="LMARGIN", new_y="NEXT")
        self.pdf.ln(1)

    def paragraph(self, text: str, size: int = 9) -> None:
        self.pdf.set_font("Helvetica", "", size)
        self.pdf.multi_cell(0, 4.5, self.text(text), new_x="LMARGIN", new_y="NEXT")
        self.pdf.ln(1)

    def field(self, label: str, value, *, mono: bool = False) -> None:
        self.pdf.set_font("Helvetica", "B", 8.5)
        self.pdf.cell(44, 4.5, self.text(label))
        self.pdf.set_font("Courier" if mono else "Helvetica", "", 7.5 if mono else 8.5)
        self.pdf.multi_cell(0, 4.5, self.text(str(value)), new_x="LMARGIN", new_y="NEXT")

    def table(self, columns: list[tuple[str, int]], rows: list[list[str]]) -> None:
        self.pdf.set_font("Helvetica", "B", 8.5)
        for title, width in columns:
            self.pdf.cell(width, 5.5, self.text(title), border="B")
        self.pdf.ln()
        self.pdf.set_font("Helvetica", "", 8.5)
        for row in rows:
            for (_, width), value in zip(columns, row, strict=True):
                self.pdf.cell(width, 5, self.text(value)[:60])
            self.pdf.ln()
        self.pdf.ln(2)

    def render(self) -> bytes:
        payload = self.payload
        general = payload["general_information"]
        totals = general["totals"]
        pdf = self.pdf
        provider = general["provider"]
        pdf.set_title(f"Training-content summary of {provider['name']}")
        pdf.set_author(payload["issuer"]["name"])
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 18)
        pdf.cell(0, 11, "Training-content summary", new_x="LMARGIN", new_y="NEXT")
        self.paragraph(
            f"Shaped after the {payload['template']}. It covers the datasets "
            f"{provider['name']} licensed on {payload['issuer']['name']}; every figure traces to "
            "a license, its ledger entries, its manifest and its terms.",
            size=8.5,
        )
        self.field("Generated", payload["generated_at"])
        self.field("Ledger entry", f"#{payload['ledger_head']['seq']}")
        self.field("Entry hash", payload["ledger_head"]["entry_hash"], mono=True)
        self.field("Payload SHA-256", self.sha256, mono=True)
        self.field("Signing key id", payload["kid"], mono=True)
        self.field("Issued by", f"{payload['issuer']['name']} ({payload['issuer']['url']})")

        self.heading("1. General information")
        self.heading("1.1 Provider", 10.5)
        self.field("Provider", f"{provider['name']} ({provider['organization']})")
        self.heading("1.2 Model", 10.5)
        self.field("Model", ", ".join(general["models"]) or "not named")
        self.heading("1.3 Modalities, size and other characteristics", 10.5)
        self.table(
            [("Modality", 34), ("Versions", 20), ("Files", 22), ("Size", 64), ("Records", 40)],
            [
                [
                    item["label"],
                    f"{item['dataset_versions']:,}",
                    f"{item['files']:,}",
                    _size(item["bytes"]),
                    _records(item["records"]),
                ]
                for item in general["modalities"]
            ],
        )
        self.field(
            "Overall",
            f"{_count(totals['licenses'], 'license')} of "
            f"{_count(totals['dataset_versions'], 'dataset version')} from "
            f"{_count(totals['licensors'], 'licensor')}; {_count(totals['files'], 'file')}, "
            f"{_size(totals['bytes'])}, {_count(totals['records'], 'record')}"
            + (
                f" ({totals['versions_without_record_count']} versions without a record count)"
                if totals["versions_without_record_count"]
                else ""
            ),
        )
        self.field("Languages", ", ".join(general["languages"]) or "none declared")
        self.field(
            "Collection period",
            _period(general["collection_period"], "earliest_started_on", "latest_ended_on"),
        )
        self.field(
            "Licenses by status",
            ", ".join(
                f"{status} {count}" for status, count in general["licenses_by_status"].items()
            ),
        )

        self.heading("2. List of data sources")
        self.heading("2.2 Datasets commercially licensed from their rights holders", 10.5)
        if not payload["data_sources"]["commercially_licensed"]:
            self.paragraph("No licenses in this summary.")
        for group in payload["data_sources"]["commercially_licensed"]:
            licensor = group["licensor"]
            group_totals = group["totals"]
            self.heading(f"Licensor: {licensor['name']} ({licensor['organization']})", 10)
            self.paragraph(
                f"{_count(group_totals['licenses'], 'license')}, "
                f"{_count(group_totals['dataset_versions'], 'version')}, "
                f"{_count(group_totals['files'], 'file')}, {_size(group_totals['bytes'])}, "
                f"{_count(group_totals['records'], 'record')}."
            )
            for row in group["licenses"]:
                self._license(row)
        self.paragraph(payload["data_sources"]["not_covered"], size=8.5)

        processing = payload["data_processing"]
        self.heading("3. Data processing aspects")
        self.heading("3.1 Respect of reservations of rights from text and data mining", 10.5)
        self.paragraph(processing["rights_reservations"]["statement"], size=8.5)
        self.field(
            "Declared opt-out status",
            ", ".join(
                f"{status} {count}"
                for status, count in processing["rights_reservations"][
                    "opt_out_status_counts"
                ].items()
            ),
        )
        for group in payload["data_sources"]["commercially_licensed"]:
            for row in group["licenses"]:
                notes = f" {row['opt_out']['notes']}" if row["opt_out"]["notes"] else ""
                self.field(row["dataset"]["title"][:40], f"{row['opt_out']['label']}.{notes}")
        self.heading("Needs attention", 10.5)
        if not processing["attention"]:
            self.paragraph("Nothing: every license is in force and permits training.")
        for note in processing["attention"]:
            self.field(note["license"], f"{note['dataset']}: {note['message']}")
        pdf.ln(3)
        self.paragraph(
            "The JSON of this summary is the same payload in the platform's signed envelope; "
            "check its signature with the key at /.well-known/jwks.json and its SHA-256 "
            "against the one printed on every page.",
            size=8,
        )
        return bytes(pdf.output())

    def _license(self, row: dict) -> None:
        pdf = self.pdf
        pdf.ln(1)
        pdf.set_font("Helvetica", "B", 9.5)
        pdf.multi_cell(
            0,
            5,
            self.text(f"{row['dataset']['title']}, version {row['version']['number']}"),
            new_x="LMARGIN",
            new_y="NEXT",
        )
        trace = row["trace"]
        granted = trace["granted"]
        self.field("License", f"{row['license']} ({row['status_label'].lower()})")
        self.field(
            "Content",
            f"{row['dataset']['modality']}; {_count(row['files'], 'file')}, "
            f"{_size(row['bytes'])}, {_count(row['records'], 'record')}; languages "
            f"{', '.join(row['dataset']['languages']) or 'none declared'}",
        )
        self.field("Collected", _period(row["collection_period"]))
        self.field("Source", row["source"]["url"] or row["source"]["description"] or "not declared")
        self.field("Rights holder", row["rights_holder"] or "not declared")
        self.field("Consent basis", row["consent_basis_label"] or "not declared")
        self.field(
            "Authorship",
            f"{row['authorship_label']}; declared synthetic share "
            f"{row['synthetic_share_bps'] / 100:.1f}%, measured synthetic evidence "
            f"{_share(row['measured_synthetic_evidence_bps'])}",
        )
        self.field("Opt-out", row["opt_out"]["label"])
        self.field(
            "Permitted uses", ", ".join(row["terms"]["permitted_uses"]) or "none", mono=False
        )
        self.field("Terms SHA-256", row["terms_sha256"], mono=True)
        self.field(
            "Granted",
            f"ledger #{granted['seq']} on {granted['at'][:10]}" if granted else "not in the ledger",
        )
        if granted:
            self.field("Entry hash", granted["entry_hash"], mono=True)
        manifest = trace["license_manifest"]
        self.field(
            "Manifest SHA-256",
            manifest["payload_sha256"] if manifest else "not issued yet",
            mono=bool(manifest),
        )
        self.field("Merkle root", row["version"]["merkle_root"] or "none", mono=True)


def training_summary_pdf(envelope: dict) -> bytes:
    """The summary in `envelope` (from `signed_training_summary`) as a PDF."""
    return _SummaryPDF(envelope).render()
