"""MLCommons Croissant 1.0 JSON-LD of an approved version, derived from its signed manifest.

Every file is a `cr:FileObject` with its SHA-256 and a `contentUrl` relative to the dataset's
root, so the document placed in a download's top folder lets `mlcroissant` read the records and
check each file's hash. CSV and JSON Lines files get a RecordSet whose fields come from the
file's head (header or first records), typed by sampling. The Responsible AI (RAI) fields carry
what the provenance declaration says and, next to it, what Wellspring measured (the quality
report: duplicates, synthetic-content signals, personal data, language mix). Built by hand rather than with `mlcroissant`, which is a
heavy dependency for the web process; the tests validate the output with it.
"""

import csv
import io
import json
import re
from datetime import date

from django.conf import settings

from licensing.manifests import build_version_manifest, quality_entry
from provenance import storage
from provenance.models import DataFile, DatasetVersion, ProvenanceDeclaration

CONFORMS_TO = "http://mlcommons.org/croissant/1.0"
CONTEXT = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}

CSV_TYPES = {"text/csv"}
JSONL_TYPES = {"application/jsonl", "application/x-ndjson", "application/jsonlines"}
# Files whose head is read for a RecordSet; a version with more still lists every file.
MAX_RECORD_SETS = 50
HEAD_BYTES = 64 * 1024
SAMPLE_ROWS = 200

_INTEGER = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$")


def _is_csv(item: dict) -> bool:
    return item["media_type"] in CSV_TYPES or item["path"].lower().endswith(".csv")


def _is_jsonl(item: dict) -> bool:
    return item["media_type"] in JSONL_TYPES or item["path"].lower().endswith((".jsonl", ".ndjson"))


def _type_of_strings(values: list[str]) -> str:
    values = [value for value in values if value != ""]
    if values and all(_INTEGER.match(value) for value in values):
        return "sc:Integer"
    if values and all(_FLOAT.match(value) for value in values):
        return "sc:Float"
    return "sc:Text"


def _type_of_values(values: list) -> str | None:
    """The Croissant type of JSON values, or None for nested ones (not a flat field)."""
    present = [value for value in values if value is not None]
    if any(isinstance(value, dict | list) for value in present):
        return None
    if present and all(isinstance(value, bool) for value in present):
        return "sc:Boolean"
    if present and all(isinstance(value, int) and not isinstance(value, bool) for value in present):
        return "sc:Integer"
    if present and all(
        isinstance(value, int | float) and not isinstance(value, bool) for value in present
    ):
        return "sc:Float"
    return "sc:Text"


def _complete_lines(head: bytes, size: int) -> list[str]:
    text = head.decode("utf-8", errors="replace")
    lines = text.splitlines()
    if len(head) < size and lines:
        lines = lines[:-1]  # cut in the middle: the last line is partial
    return lines


def csv_columns(head: bytes, size: int) -> list[tuple[str, str]]:
    """(column, type) pairs from a CSV file's header and first rows."""
    rows = list(csv.reader(io.StringIO("\n".join(_complete_lines(head, size)))))
    if not rows:
        return []
    header, body = rows[0], rows[1 : SAMPLE_ROWS + 1]
    return [
        (name, _type_of_strings([row[index] for row in body if index < len(row)]))
        for index, name in enumerate(header)
        if name
    ]


def jsonl_columns(head: bytes, size: int) -> list[tuple[str, str]]:
    """(key, type) pairs of the flat keys of a JSON Lines file's first records, in order seen."""
    seen: dict[str, list] = {}
    for line in _complete_lines(head, size)[:SAMPLE_ROWS]:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            for key, value in record.items():
                seen.setdefault(str(key), []).append(value)
    columns = []
    for key, values in seen.items():
        kind = _type_of_values(values)
        if kind is not None:
            columns.append((key, kind))
    return columns


def _id(path: str) -> str:
    # FileObject and RecordSet ids must be unique; the path already is.
    return path


def _record_set(item: dict, columns: list[tuple[str, str]]) -> dict:
    file_id = _id(item["path"])
    return {
        "@type": "cr:RecordSet",
        "@id": f"records/{file_id}",
        "name": f"records/{file_id}",
        "description": f"The records of {item['path']}.",
        "field": [
            {
                "@type": "cr:Field",
                "@id": f"records/{file_id}/{column}",
                "name": column,
                "dataType": kind,
                "source": {"fileObject": {"@id": file_id}, "extract": {"column": column}},
            }
            for column, kind in columns
        ],
    }


def _rai(declaration: dict, payload: dict) -> dict:
    labels = dict(ProvenanceDeclaration.ConsentBasis.choices)
    authorship = dict(ProvenanceDeclaration.Authorship.choices)
    opt_out = dict(ProvenanceDeclaration.OptOutStatus.choices)
    share = declaration["synthetic_share_bps"]
    source = declaration["source"]
    collection = " ".join(
        part
        for part in (
            declaration["collection_method"],
            f"Source: {source['description']}" if source["description"] else "",
            f"({source['url']})" if source["url"] else "",
        )
        if part
    )
    kind = authorship.get(declaration["authorship"], declaration["authorship"])
    rai = {
        "rai:dataCollection": collection,
        "rai:dataCollectionType": [
            f"{kind}: {share / 100:g}% of the content is synthetic (declared by the creator)."
        ],
        "rai:personalSensitiveInformation": [
            "Consent basis: "
            + labels.get(declaration["consent_basis"], declaration["consent_basis"] or "not stated")
            + f". Rights holder: {declaration['rights_holder'] or 'not stated'}."
        ],
        "rai:dataUseCases": sorted(
            {
                use
                for option in payload["license_terms"]
                for use in option["terms"]["permitted_uses"]
            }
        ),
        "rai:dataLimitations": [
            "Opt-out and text-and-data-mining reservations: "
            + opt_out.get(declaration["opt_out"]["status"], "not stated")
            + (f" ({declaration['opt_out']['notes']})" if declaration["opt_out"]["notes"] else "")
        ],
    }
    period = declaration["collection_period"]
    timeframe = [value for value in (period["started_on"], period["ended_on"]) if value]
    if timeframe:
        rai["rai:dataCollectionTimeframe"] = timeframe
    return rai


def _percent(value: int | None) -> str:
    return "not measured" if value is None else f"{value / 100:.1f}%"


def _measured_rai(rai: dict, declaration: dict, quality: dict | None) -> dict:
    """Add the measured figures of the quality report beside the declared RAI values."""
    declared_synthetic = (
        declaration["authorship"] != ProvenanceDeclaration.Authorship.HUMAN
        or (declaration["synthetic_share_bps"] or 0) > 0
    )
    if quality is None:
        rai["rai:hasSyntheticData"] = declared_synthetic
        rai["rai:dataLimitations"].append("Not measured by Wellspring yet: no quality report.")
        return rai
    sample = quality["sample"]
    evidence = quality["synthetic"]["evidence"]
    heuristic = quality["synthetic"]["heuristic"]
    near = quality["near_duplicates"]
    reference = (
        f"(Wellspring quality method {quality['method_version']}, report sha256 "
        f"{quality['figures_sha256']})"
    )
    rai["rai:hasSyntheticData"] = declared_synthetic or evidence["count"] > 0
    rai["rai:dataCollectionType"].append(
        f"Measured by Wellspring: embedded evidence of AI generation (C2PA, IPTC "
        f"DigitalSourceType, generator metadata) in {evidence['count']} item(s), "
        f"{_percent(evidence['share_bps'])}; statistical text signals (a heuristic, not proof) "
        f"in {heuristic['count']} record(s), {_percent(heuristic['share_bps'])} {reference}."
    )
    kinds = ", ".join(
        f"{kind} {count}" for kind, count in quality["personal_data"]["kinds"].items() if count
    )
    rai["rai:personalSensitiveInformation"].append(
        f"Measured by Wellspring: {quality['personal_data']['records_with_hits']} record(s) "
        f"({_percent(quality['personal_data']['rate_bps'])}) contain what looks like personal "
        f"data{f' ({kinds})' if kinds else ''}, by pattern and checksum detectors {reference}."
    )
    languages = ", ".join(
        f"{item['code']} {_percent(item['share_bps'])}" for item in quality["languages"]
    )
    rai["rai:dataBiases"] = [
        f"Measured by Wellspring: exact duplicates {_percent(quality['exact_duplicates']['records_bps'])}"
        f" of records; near-duplicates {_percent(near['records']['rate_bps'])} of records "
        f"(MinHash + LSH, Jaccard >= {near['records']['parameters']['threshold_jaccard']})"
        + (
            f" and {_percent(near['images']['rate_bps'])} of images (perceptual hash)"
            if sample["images_measured"]
            else ""
        )
        + (f"; language mix {languages}" if languages else "")
        + f" {reference}."
    ]
    rai["rai:dataLimitations"].append(
        f"Quality figures measured on {sample['records_measured']:,} of "
        f"{sample['records_total']:,} records"
        + (
            f" and {sample['images_measured']:,} of {sample['images_total']:,} images"
            if sample["images_total"]
            else ""
        )
        + f", seeded sample (seed {sample['seed']}); the largest overlap with another listing "
        f"is {_percent(quality['catalog_overlap_bps'])} of the records {reference}."
    )
    return rai


def version_croissant(*, version: DatasetVersion) -> dict:
    """The Croissant JSON-LD of an approved version (its manifest is built if still missing)."""
    payload = build_version_manifest(version_id=version.pk).envelope["payload"]
    dataset = payload["dataset"]
    slug = dataset["slug"]
    listing_url = f"{settings.SITE_URL}/catalog/{slug}/"
    storage_names = dict(
        DataFile.objects.filter(version=version).values_list("path", "storage_name")
    )
    distribution, record_sets = [], []
    for item in payload["files"]:
        distribution.append(
            {
                "@type": "cr:FileObject",
                "@id": _id(item["path"]),
                "name": item["path"],
                "contentUrl": item["path"],
                "contentSize": f"{item['size']} B",
                "encodingFormat": item["media_type"] or "application/octet-stream",
                "sha256": item["sha256"],
            }
        )
        if len(record_sets) >= MAX_RECORD_SETS or not (_is_csv(item) or _is_jsonl(item)):
            continue
        head = storage.read_range(storage_names[item["path"]], 0, HEAD_BYTES)
        if _is_csv(item):
            distribution[-1]["encodingFormat"] = "text/csv"
            columns = csv_columns(head, item["size"])
        else:
            distribution[-1]["encodingFormat"] = "application/jsonlines"
            columns = jsonl_columns(head, item["size"])
        if columns:
            record_sets.append(_record_set(item, columns))
    approved_on = payload["dataset_version"]["approved_at"] or payload["issued_at"]
    document = {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "conformsTo": CONFORMS_TO,
        "name": slug,
        "alternateName": dataset["title"],
        "description": version.dataset.summary or version.dataset.description or dataset["title"],
        "url": listing_url,
        "version": f"{payload['dataset_version']['number']}.0.0",
        "datePublished": date.fromisoformat(approved_on[:10]).isoformat(),
        "creator": {"@type": "sc:Organization", "name": dataset["licensor"]["name"]},
        "publisher": {"@type": "sc:Organization", "name": payload["issuer"]["name"]},
        "citeAs": f"{dataset['licensor']['name']}. {dataset['title']}, version "
        f"{payload['dataset_version']['number']}. {payload['issuer']['name']}, {listing_url}",
        "license": [
            f"{listing_url}#option-{option['option']}" for option in payload["license_terms"]
        ]
        or [listing_url],
        "inLanguage": dataset["languages"],
        "identifier": f"merkle-sha256:{payload['merkle_root']}",
        "distribution": distribution,
        **_measured_rai(
            _rai(payload["provenance"], payload), payload["provenance"], quality_entry(version)
        ),
    }
    if record_sets:
        document["recordSet"] = record_sets
    return document
