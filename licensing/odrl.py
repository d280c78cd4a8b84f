"""License terms as ODRL 2.2 policies in JSON-LD, for procurement systems and rights tools.

A list option becomes an `Offer` (the creator organization is the assigner; anyone may take it
up); an agreement or a license becomes an `Agreement` between the creator organization
(assigner) and the buyer organization (assignee). Each permitted use is one permission to `use`
the dataset for that purpose, under the same constraints: territory (`spatial`), term
(`elapsedTime` while not yet running, `dateTime` once a license has dates), the model and seat
caps (`count`), and non-commercial use. Attribution is a duty of every permission; the price is
the policy's compensation obligation; exclusivity is the creator's obligation to
`ensureExclusivity`. What ODRL has no word for (the purposes, the caps' units, the terms hash)
comes from a small Wellspring vocabulary under `SITE_URL/ns/odrl#`, documented in docs/odrl.md.

Every IRI value is written as a node (`{"@id": ...}` or `{"uid": ...}`), so that the policy
expands the same whichever way a context types a property.
"""

from datetime import datetime

from django.conf import settings

from accounts.models import Organization
from licensing.models import Agreement, License, LicenseOption, PriceModel, Use
from licensing.money import exponent
from provenance.models import Dataset, DatasetVersion

ODRL_CONTEXT = "http://www.w3.org/ns/odrl.jsonld"
ODRL = "http://www.w3.org/ns/odrl/2/"
XSD = "http://www.w3.org/2001/XMLSchema#"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
DCT = "http://purl.org/dc/terms/"
VCARD = "http://www.w3.org/2006/vcard/ns#"
# ISO 4217 currencies and ISO 3166-1 countries as IRIs (QUDT's currency units and the ISO
# Online Browsing Platform's entries), because ODRL wants IRIs for units and places.
CURRENCY_UNIT = "http://qudt.org/vocab/currency/"
COUNTRY = "https://www.iso.org/obp/ui/#iso:code:3166:"
MEDIA_TYPE = "application/ld+json"

OFFER = "Offer"
AGREEMENT = "Agreement"

# Use values stay the vocabulary's local names, so `ws:fine_tuning` reads as the API's value.
PURPOSES = {use: f"ws:{use}" for use in Use.values}


def vocabulary_iri() -> str:
    """The namespace of Wellspring's own terms (what ODRL lacks)."""
    return f"{settings.SITE_URL}/ns/odrl#"


def profile_iri() -> str:
    """The ODRL profile a Wellspring policy conforms to: ODRL 2.2 plus the vocabulary."""
    return f"{settings.SITE_URL}/ns/odrl"


RDFS = "http://www.w3.org/2000/01/rdf-schema#"

# Wellspring's own terms, each with what it is and what it means; served as JSON-LD at
# `profile_iri()` (the document the `ws:` namespace resolves into) and listed in docs/odrl.md.
VOCABULARY: dict[str, tuple[str, str]] = {
    **{use: ("purpose", label) for use, label in Use.choices},
    "model": ("unit", "A model trained or fine-tuned on the data (the model cap counts these)."),
    "seat": ("unit", "A seat or deployment (the seat cap counts these)."),
    "commercialUse": ("property", "Whether use in commercial products is permitted."),
    "exclusive": ("property", "No one else may license the dataset while the terms run."),
    "attributionRequired": ("property", "The creator must be credited."),
    "termDays": ("property", "The term in days."),
    "perpetual": ("property", "The terms never end."),
    "termsSha256": (
        "property",
        "SHA-256 of the canonical JSON of the terms, as on the certificate and the manifest.",
    ),
    "amountMinor": ("property", "The price in minor units of its currency (cents), an integer."),
    "currency": ("property", "The price's currency, an ISO 4217 code."),
    "priceModel": ("property", "How the price is charged: ws:flat, ws:per_seat or ws:metered."),
    **{model: ("price model", label) for model, label in PriceModel.choices},
    "versionId": ("property", "The licensed dataset version's id on Wellspring."),
    "merkleRoot": (
        "property",
        "The version's Merkle root over its files (RFC 6962, as in its signed manifest).",
    ),
}


def vocabulary_document() -> dict:
    """The `ws:` vocabulary in JSON-LD: properties as rdf:Property, values (purposes, units,
    price models) as resources, each with a label and the kind of term it is."""
    defined_by = {"@id": profile_iri()}
    nodes = [
        {
            "@id": f"ws:{name}",
            "@type": "rdf:Property" if kind == "property" else "rdfs:Resource",
            "rdfs:label": name,
            "rdfs:comment": f"{kind}: {meaning}",
            "rdfs:isDefinedBy": defined_by,
        }
        for name, (kind, meaning) in VOCABULARY.items()
    ]
    about = {
        "@id": profile_iri(),
        "dct:title": f"{settings.PLATFORM_NAME} license terms vocabulary (ODRL 2.2 profile)",
        "dct:description": (
            "The terms Wellspring policies use where ODRL 2.2 has no word of its own: "
            "purposes, the caps' units, the terms hash, the price's minor units and model."
        ),
    }
    return {
        "@context": {"ws": vocabulary_iri(), "rdf": RDF, "rdfs": RDFS, "dct": DCT},
        "@graph": [about, *nodes],
    }


def policy_iri(local_id: str) -> str:
    return f"{settings.SITE_URL}/odrl/policies/{local_id}"


def context() -> list:
    return [
        ODRL_CONTEXT,
        {"ws": vocabulary_iri(), "xsd": XSD, "rdf": RDF, "dct": DCT, "vcard": VCARD},
    ]


def party(organization: Organization) -> dict:
    return {
        "@type": "Party",
        "uid": f"{settings.SITE_URL}/organizations/{organization.slug}",
        "vcard:fn": organization.name,
    }


def dataset_asset(dataset: Dataset) -> dict:
    return {
        "@type": "Asset",
        "uid": f"{settings.SITE_URL}/catalog/{dataset.slug}/",
        "dct:title": dataset.title,
    }


def version_asset(version: DatasetVersion) -> dict:
    """One approved version: the asset a license grants, identified by its Merkle root too."""
    dataset = version.dataset
    return {
        "@type": "Asset",
        "uid": f"{settings.SITE_URL}/catalog/{dataset.slug}/#version-{version.number}",
        "dct:title": f"{dataset.title}, version {version.number}",
        "partOf": {"uid": f"{settings.SITE_URL}/catalog/{dataset.slug}/"},
        "ws:versionId": version.pk,
        "ws:merkleRoot": version.merkle_root,
    }


def decimal_amount(amount_minor: int, currency: str) -> str:
    """Minor units as the exact decimal ODRL's payAmount wants: `250001, "EUR"` -> `"2500.01"`."""
    places = exponent(currency)
    if not places:
        return str(amount_minor)
    major, minor = divmod(amount_minor, 10**places)
    return f"{major}.{minor:0{places}d}"


def _typed(value, datatype: str) -> dict:
    return {"@value": value, "@type": f"xsd:{datatype}"}


def _constraints(terms: dict, *, starts_at: datetime | None, ends_at: datetime | None) -> list:
    constraints = []
    territories = [t for t in terms.get("territories") or [] if t != "worldwide"]
    if territories:
        constraints.append(
            {
                "leftOperand": "spatial",
                "operator": "isAnyOf",
                "rightOperand": [{"@id": f"{COUNTRY}{code}"} for code in sorted(territories)],
            }
        )
    if starts_at is not None:
        constraints.append(
            {
                "leftOperand": "dateTime",
                "operator": "gteq",
                "rightOperand": _typed(starts_at.isoformat(), "dateTime"),
            }
        )
        if ends_at is not None:
            constraints.append(
                {
                    "leftOperand": "dateTime",
                    "operator": "lt",
                    "rightOperand": _typed(ends_at.isoformat(), "dateTime"),
                }
            )
    elif terms.get("term_days"):
        constraints.append(
            {
                "leftOperand": "elapsedTime",
                "operator": "lteq",
                "rightOperand": _typed(f"P{terms['term_days']}D", "duration"),
            }
        )
    for cap, unit in (("model_cap", "ws:model"), ("seat_cap", "ws:seat")):
        if terms.get(cap):
            constraints.append(
                {
                    "leftOperand": "count",
                    "operator": "lteq",
                    "rightOperand": terms[cap],
                    "unit": {"@id": unit},
                }
            )
    if not terms.get("commercial_use"):
        constraints.append(
            {"leftOperand": "ws:commercialUse", "operator": "eq", "rightOperand": False}
        )
    return constraints


def _compensation(terms: dict, *, compensated: dict) -> dict:
    currency = terms["currency"]
    return {
        "action": [
            {
                "rdf:value": {"@id": "odrl:compensate"},
                "refinement": [
                    {
                        "leftOperand": "payAmount",
                        "operator": "eq",
                        "rightOperand": _typed(
                            decimal_amount(terms["price_minor"], currency), "decimal"
                        ),
                        "unit": {"@id": f"{CURRENCY_UNIT}{currency}"},
                    }
                ],
            }
        ],
        "compensatedParty": compensated,
        "ws:amountMinor": terms["price_minor"],
        "ws:currency": currency,
        "ws:priceModel": {"@id": f"ws:{terms.get('price_model') or 'flat'}"},
    }


def odrl_for_terms(
    terms: dict,
    *,
    uid: str,
    policy_type: str,
    target: dict,
    assigner: dict,
    assignee: dict | None = None,
    terms_sha256: str = "",
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    title: str = "",
) -> dict:
    """The ODRL policy of structured `terms` (LicenseTerms.terms_dict()'s shape).

    `policy_type` is "Offer" (no assignee yet) or "Agreement" (both parties); `target`,
    `assigner` and `assignee` are nodes from `dataset_asset`/`version_asset` and `party`.
    With `starts_at` (a running license) the term is stated as dates, else as a duration.
    Raises ValueError for an unknown policy type or an agreement without an assignee.
    """
    if policy_type not in (OFFER, AGREEMENT):
        raise ValueError(f"An ODRL policy here is an Offer or an Agreement, not {policy_type!r}.")
    if policy_type == AGREEMENT and assignee is None:
        raise ValueError("An Agreement names its assignee.")
    constraints = _constraints(terms, starts_at=starts_at, ends_at=ends_at)
    duties = (
        [{"action": "attribute", "attributedParty": assigner}]
        if terms.get("attribution_required")
        else []
    )
    permissions = []
    for use in sorted(terms.get("permitted_uses") or []):
        purpose = {
            "leftOperand": "purpose",
            "operator": "eq",
            "rightOperand": {"@id": PURPOSES[use]},
        }
        permission = {"action": "use", "constraint": [purpose, *constraints]}
        if duties:
            permission["duty"] = duties
        permissions.append(permission)
    obligations = [_compensation(terms, compensated=assigner)]
    if terms.get("is_exclusive"):
        # The creator is the one bound to keep everyone else off the dataset.
        obligations.append({"action": "ensureExclusivity", "assignee": assigner})
    policy = {
        "@context": context(),
        "@type": policy_type,
        "uid": uid,
        "profile": profile_iri(),
        "target": target,
        "assigner": assigner,
    }
    if assignee is not None:
        policy["assignee"] = assignee
    if title:
        policy["dct:title"] = title
    policy.update(
        {
            "permission": permissions,
            "obligation": obligations,
            "ws:exclusive": bool(terms.get("is_exclusive")),
            "ws:commercialUse": bool(terms.get("commercial_use")),
            "ws:attributionRequired": bool(terms.get("attribution_required")),
        }
    )
    if terms.get("term_days"):
        policy["ws:termDays"] = terms["term_days"]
    else:
        policy["ws:perpetual"] = True
    if terms_sha256:
        policy["ws:termsSha256"] = terms_sha256
    return policy


def odrl_for_option(option: LicenseOption) -> dict:
    """A list option as an ODRL Offer of the dataset by its creator organization.

    The uid carries the start of the terms hash: once the creator changes the terms, the
    option's policy is a new policy.
    """
    dataset = option.dataset
    terms_sha256 = option.terms_hash()
    return odrl_for_terms(
        option.terms_dict(),
        uid=policy_iri(f"{option.pk}-{terms_sha256[:12]}"),
        policy_type=OFFER,
        target=dataset_asset(dataset),
        assigner=party(dataset.organization),
        terms_sha256=terms_sha256,
        title=f"{option.name}: {dataset.title}",
    )


def odrl_for_agreement(agreement: Agreement) -> dict:
    """A negotiated agreement as an ODRL Agreement, under the hash of its frozen document."""
    return odrl_for_terms(
        agreement.terms["terms"],
        uid=policy_iri(agreement.pk),
        policy_type=AGREEMENT,
        target=dataset_asset(agreement.dataset),
        assigner=party(agreement.creator_org),
        assignee=party(agreement.buyer_org),
        terms_sha256=agreement.terms_sha256,
        title=f"Agreement {agreement.pk}: {agreement.dataset.title}",
    )


def odrl_for_license(license: License) -> dict:
    """A license as an ODRL Agreement on the licensed version, with its dates and terms hash.

    `terms_sha256` is the license's own: that of the option's terms, or of the agreement's
    frozen document for a negotiated license.
    """
    version = license.version
    return odrl_for_terms(
        license.agreed_terms,
        uid=policy_iri(license.pk),
        policy_type=AGREEMENT,
        target=version_asset(version),
        assigner=party(version.dataset.organization),
        assignee=party(license.organization),
        terms_sha256=license.terms_sha256,
        starts_at=license.starts_at,
        ends_at=license.ends_at,
        title=f"License {license.pk}: {version.dataset.title}",
    )
