"""License terms as ODRL 2.2 JSON-LD: well-formed (it expands, and to RDF every ODRL term it
uses is one the ODRL vocabulary defines), and every term of the license appears in it."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from pyld import jsonld
from rdflib import Graph, Literal, Namespace, URIRef, namespace

from licensing import odrl, services
from licensing.models import LicenseOption
from tests.factories import DatasetFactory, OrganizationFactory

ODRL = Namespace(odrl.ODRL)
DOCS = Path(__file__).resolve().parent.parent / "docs" / "odrl.md"
ODRL_TERMS = set(namespace.ODRL2.__annotations__)
# Namespaces as plain ones: pytest inspects module globals, and rdflib's closed namespaces warn.
RDF = Namespace(str(namespace.RDF))
XSD = Namespace(str(namespace.XSD))


def offline_odrl_context() -> dict:
    """The ODRL JSON-LD context, generated from the ODRL 2.2 vocabulary that rdflib ships: each
    term maps into the ODRL namespace, with the same keyword aliases (`uid`, `type`) and the
    same typing of IRI-valued properties as the published context. Tests run with no network,
    so the loader below serves this instead of fetching it."""
    definitions = {name: f"odrl:{name}" for name in ODRL_TERMS}
    for name in ("action", "leftOperand", "operator", "unit", "conflict"):
        definitions[name] = {"@type": "@vocab", "@id": f"odrl:{name}"}
    for name in (
        "target",
        "assigner",
        "assignee",
        "profile",
        "attributedParty",
        "compensatedParty",
        "partOf",
        "inheritFrom",
    ):
        definitions[name] = {"@type": "@id", "@id": f"odrl:{name}"}
    return {
        "@context": {
            "odrl": odrl.ODRL,
            "xsd": str(XSD),
            "rdf": str(RDF),
            **definitions,
            "uid": "@id",
            "type": "@type",
        }
    }


def load_offline(url, options=None):
    if url.rstrip("/") != odrl.ODRL_CONTEXT:
        raise AssertionError(f"the policy asked for a context it should not need: {url}")
    return {"contextUrl": None, "documentUrl": url, "document": offline_odrl_context()}


def expanded(policy: dict) -> list:
    return jsonld.expand(policy, {"documentLoader": load_offline})


def graph_of(policy: dict) -> Graph:
    nquads = jsonld.to_rdf(
        policy, {"documentLoader": load_offline, "format": "application/n-quads"}
    )
    # One default graph: the N-Quads are N-Triples.
    return Graph().parse(data=nquads, format="nt")


@pytest.fixture
def ws(settings):
    settings.SITE_URL = "https://wellspring.test"
    return Namespace(odrl.vocabulary_iri())


def option(**terms) -> LicenseOption:
    organization = OrganizationFactory(name="Harbour Archive", slug="harbour-archive")
    dataset = DatasetFactory(organization=organization, title="Harbour logs", slug="harbour-logs")
    cleaned = services.clean_terms(
        {"permitted_uses": ["training"], "price_minor": 250_001, "currency": "EUR", **terms}
    )
    return LicenseOption.objects.create(dataset=dataset, name="Research", **cleaned)


FULL_TERMS = {
    "permitted_uses": ["training", "fine_tuning", "retrieval"],
    "commercial_use": False,
    "term_days": 365,
    "territories": ["DE", "FR"],
    "is_exclusive": True,
    "attribution_required": True,
    "model_cap": 3,
    "seat_cap": 40,
    "price_model": "per_seat",
}


def test_an_option_is_an_odrl_offer_that_expands_with_only_defined_odrl_terms(db, ws):
    listed = option(**FULL_TERMS)
    policy = odrl.odrl_for_option(listed)
    assert policy["@context"][0] == "http://www.w3.org/ns/odrl.jsonld"
    assert policy["@type"] == "Offer"
    assert policy["uid"] == (
        f"https://wellspring.test/odrl/policies/{listed.pk}-{listed.terms_hash()[:12]}"
    )
    [node] = expanded(policy)
    assert node["@type"] == [f"{odrl.ODRL}Offer"]
    assert node["@id"] == policy["uid"]
    assert f"{odrl.ODRL}permission" in node and f"{odrl.ODRL}obligation" in node
    graph = graph_of(policy)
    used = {
        term
        for triple in graph
        for term in triple
        if isinstance(term, URIRef) and str(term).startswith(odrl.ODRL)
    }
    unknown = sorted(str(term) for term in used if str(term)[len(odrl.ODRL) :] not in ODRL_TERMS)
    assert unknown == []
    assert ODRL.Offer in used and ODRL.compensate in used and ODRL.ensureExclusivity in used


def test_every_wellspring_term_is_documented(db, ws):
    graph = graph_of(odrl.odrl_for_option(option(**FULL_TERMS)))
    ours = {
        str(term)[len(str(ws)) :]
        for triple in graph
        for term in triple
        if isinstance(term, URIRef) and str(term).startswith(str(ws))
    }
    assert {"training", "model", "seat", "termsSha256", "commercialUse"} <= ours
    text = DOCS.read_text()
    assert [name for name in sorted(ours) if f"`ws:{name}`" not in text] == []


def test_the_creator_is_the_assigner_of_an_offer_of_the_dataset(db, ws):
    policy = odrl.odrl_for_option(option())
    graph = graph_of(policy)
    uid = URIRef(policy["uid"])
    creator = URIRef("https://wellspring.test/organizations/harbour-archive")
    dataset = URIRef("https://wellspring.test/catalog/harbour-logs/")
    assert (uid, ODRL.assigner, creator) in graph
    assert (uid, ODRL.target, dataset) in graph
    assert (uid, RDF.type, ODRL.Offer) in graph
    assert not list(graph.objects(uid, ODRL.assignee))


def _permissions(graph: Graph, uid: URIRef) -> dict:
    """Each permission's purpose, and its other constraints as (leftOperand, operator, value)."""
    found = {}
    for permission in graph.objects(uid, ODRL.permission):
        assert (permission, ODRL.action, ODRL.use) in graph
        purpose, others = None, set()
        for constraint in graph.objects(permission, ODRL.constraint):
            left = graph.value(constraint, ODRL.leftOperand)
            operator = graph.value(constraint, ODRL.operator)
            values = tuple(sorted(str(v) for v in graph.objects(constraint, ODRL.rightOperand)))
            unit = graph.value(constraint, ODRL.unit)
            if left == ODRL.purpose:
                assert operator == ODRL.eq
                purpose = values[0]
            else:
                others.add((str(left), str(operator), values, str(unit) if unit else None))
        duties = {
            (str(graph.value(duty, ODRL.action)), str(graph.value(duty, ODRL.attributedParty)))
            for duty in graph.objects(permission, ODRL.duty)
        }
        found[purpose] = (others, duties)
    return found


def test_each_permitted_use_is_a_permission_under_every_constraint_of_the_terms(db, ws):
    policy = odrl.odrl_for_option(option(**FULL_TERMS))
    graph = graph_of(policy)
    permissions = _permissions(graph, URIRef(policy["uid"]))
    assert set(permissions) == {str(ws.training), str(ws.fine_tuning), str(ws.retrieval)}
    expected = {
        (
            str(ODRL.spatial),
            str(ODRL.isAnyOf),
            (f"{odrl.COUNTRY}DE", f"{odrl.COUNTRY}FR"),
            None,
        ),
        (str(ODRL.elapsedTime), str(ODRL.lteq), ("P365D",), None),
        (str(ODRL["count"]), str(ODRL.lteq), ("3",), str(ws.model)),
        (str(ODRL["count"]), str(ODRL.lteq), ("40",), str(ws.seat)),
        (str(ws.commercialUse), str(ODRL.eq), ("false",), None),
    }
    creator = "https://wellspring.test/organizations/harbour-archive"
    for others, duties in permissions.values():
        assert others == expected
        assert duties == {(str(ODRL.attribute), creator)}
    # The term is an xsd:duration, as elapsedTime requires.
    assert Literal("P365D", datatype=XSD.duration) in set(graph.objects(None, ODRL.rightOperand))


def test_open_terms_add_no_constraints_beyond_the_purpose(db, ws):
    policy = odrl.odrl_for_option(
        option(permitted_uses=["evaluation"], commercial_use=True, territories=["worldwide"])
    )
    graph = graph_of(policy)
    permissions = _permissions(graph, URIRef(policy["uid"]))
    assert permissions == {str(ws.evaluation): (set(), set())}
    uid = URIRef(policy["uid"])
    assert (uid, ws.perpetual, Literal(True)) in graph
    assert (uid, ws.exclusive, Literal(False)) in graph
    assert (uid, ws.commercialUse, Literal(True)) in graph
    # The price is the one obligation: no exclusivity to ensure.
    [duty] = graph.objects(uid, ODRL.obligation)
    assert graph.value(graph.value(duty, ODRL.action), RDF.value) == ODRL.compensate


@pytest.mark.parametrize(
    ("price_minor", "currency", "decimal"),
    [(250_001, "EUR", "2500.01"), (5, "USD", "0.05"), (12_000, "JPY", "12000")],
)
def test_the_price_is_a_compensation_obligation_exactly(db, ws, price_minor, currency, decimal):
    policy = odrl.odrl_for_option(option(price_minor=price_minor, currency=currency))
    graph = graph_of(policy)
    [duty] = graph.objects(URIRef(policy["uid"]), ODRL.obligation)
    action = graph.value(duty, ODRL.action)
    assert graph.value(action, RDF.value) == ODRL.compensate
    refinement = graph.value(action, ODRL.refinement)
    assert graph.value(refinement, ODRL.leftOperand) == ODRL.payAmount
    assert graph.value(refinement, ODRL.operator) == ODRL.eq
    amount = graph.value(refinement, ODRL.rightOperand)
    assert (str(amount), amount.datatype) == (decimal, XSD.decimal)
    assert graph.value(refinement, ODRL.unit) == URIRef(f"{odrl.CURRENCY_UNIT}{currency}")
    assert graph.value(duty, ws.amountMinor).toPython() == price_minor
    assert str(graph.value(duty, ws.currency)) == currency
    assert graph.value(duty, ws.priceModel) == ws.flat
    assert graph.value(duty, ODRL.compensatedParty) == URIRef(
        "https://wellspring.test/organizations/harbour-archive"
    )


def test_exclusive_terms_bind_the_creator_to_ensure_exclusivity(db, ws):
    policy = odrl.odrl_for_option(option(is_exclusive=True))
    graph = graph_of(policy)
    uid = URIRef(policy["uid"])
    duties = {graph.value(duty, ODRL.action): duty for duty in graph.objects(uid, ODRL.obligation)}
    assert graph.value(duties[ODRL.ensureExclusivity], ODRL.assignee) == URIRef(
        "https://wellspring.test/organizations/harbour-archive"
    )
    assert (uid, ws.exclusive, Literal(True)) in graph
    assert (uid, ws.termsSha256, Literal(policy["ws:termsSha256"])) in graph


def test_the_uid_is_stable_and_changes_with_the_terms(db, ws, cast):
    listed = option()
    first = odrl.odrl_for_option(listed)
    assert odrl.odrl_for_option(LicenseOption.objects.get(pk=listed.pk)) == first
    assert first["ws:termsSha256"] == listed.terms_hash()
    services.update_license_option(
        actor=cast.creator,
        organization=listed.dataset.organization,
        option=listed,
        name="Research",
        terms={**listed.terms_dict(), "price_minor": 300_000},
    )
    changed = odrl.odrl_for_option(LicenseOption.objects.get(pk=listed.pk))
    assert changed["uid"] != first["uid"]
    assert changed["uid"].startswith(f"https://wellspring.test/odrl/policies/{listed.pk}-")


def test_a_license_is_an_agreement_between_both_organizations_with_its_dates(
    cast, make_listing, ws
):
    listing = make_listing("Shore notes", uses=("training",))
    terms = {**listing.dataset.license_options.get().terms_dict(), "term_days": 30}
    now = timezone.now().replace(microsecond=0)
    license = services.grant_license(
        organization=cast.buyer_org, version=listing.version, terms=terms, source="t:1", now=now
    )
    policy = odrl.odrl_for_license(license)
    graph = graph_of(policy)
    uid = URIRef(policy["uid"])
    assert (uid, RDF.type, ODRL.Agreement) in graph
    assert graph.value(uid, ODRL.assigner) == URIRef(
        "https://wellspring.test/organizations/creators"
    )
    assert graph.value(uid, ODRL.assignee) == URIRef("https://wellspring.test/organizations/buyers")
    target = graph.value(uid, ODRL.target)
    assert target == URIRef(
        f"https://wellspring.test/catalog/shore-notes/#version-{listing.version.number}"
    )
    assert str(graph.value(target, ws.merkleRoot)) == listing.version.merkle_root
    assert (uid, ws.termsSha256, Literal(license.terms_sha256)) in graph
    [permission] = graph.objects(uid, ODRL.permission)
    dates = {
        (graph.value(c, ODRL.operator), graph.value(c, ODRL.rightOperand).toPython())
        for c in graph.objects(permission, ODRL.constraint)
        if graph.value(c, ODRL.leftOperand) == ODRL.dateTime
    }
    assert dates == {(ODRL.gteq, now), (ODRL.lt, now + timedelta(days=30))}


def test_a_negotiated_license_states_the_agreed_terms_under_the_agreement_hash(
    cast, make_listing, ws
):
    listing = make_listing("Quay voices")
    offer = services.open_offer(
        actor=cast.buyer,
        organization=cast.buyer_org,
        dataset=listing.dataset,
        terms={"permitted_uses": ["retrieval"], "price_minor": 77_700, "currency": "GBP"},
    )
    services.counter_offer(
        actor=cast.creator,
        organization=cast.creator_org,
        offer=offer,
        terms={
            "permitted_uses": ["retrieval"],
            "price_minor": 88_800,
            "currency": "GBP",
            "seat_cap": 5,
        },
    )
    agreement = services.accept_offer(actor=cast.buyer, organization=cast.buyer_org, offer=offer)
    license = services.grant_license(
        organization=cast.buyer_org,
        version=listing.version,
        terms=agreement.terms,
        source="agreement-test",
    )
    for policy in (odrl.odrl_for_agreement(agreement), odrl.odrl_for_license(license)):
        assert policy["@type"] == "Agreement"
        assert policy["ws:termsSha256"] == agreement.terms_sha256
        graph = graph_of(policy)
        [duty] = graph.objects(URIRef(policy["uid"]), ODRL.obligation)
        assert graph.value(duty, ws.amountMinor).toPython() == 88_800
        units = {str(unit) for unit in graph.objects(None, ODRL.unit)}
        assert units == {f"{odrl.CURRENCY_UNIT}GBP", str(ws.seat)}


def test_unknown_policy_types_and_agreements_without_an_assignee_are_refused(db, ws):
    listed = option()
    common = {
        "uid": "https://wellspring.test/odrl/policies/x",
        "target": odrl.dataset_asset(listed.dataset),
        "assigner": odrl.party(listed.dataset.organization),
    }
    with pytest.raises(ValueError, match="Offer or an Agreement"):
        odrl.odrl_for_terms(listed.terms_dict(), policy_type="Set", **common)
    with pytest.raises(ValueError, match="assignee"):
        odrl.odrl_for_terms(listed.terms_dict(), policy_type="Agreement", **common)


def ws_terms_in(graph: Graph, ws: Namespace) -> set[str]:
    return {
        str(term)[len(str(ws)) :]
        for triple in graph
        for term in triple
        if isinstance(term, URIRef) and str(term).startswith(str(ws))
    }


def test_the_vocabulary_is_served_and_defines_every_wellspring_term_a_policy_uses(
    client, cast, make_listing, ws
):
    response = client.get("/ns/odrl")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/ld+json")
    vocabulary = graph_of(response.json())
    itself = URIRef("https://wellspring.test/ns/odrl")
    assert str(ws) == f"{itself}#"  # the `ws:` terms resolve into this document
    assert "vocabulary" in str(vocabulary.value(itself, URIRef(f"{odrl.DCT}title")))
    RDFS = Namespace(odrl.RDFS)
    defined = {str(term)[len(str(ws)) :] for term in vocabulary.subjects(RDFS.isDefinedBy, itself)}
    assert all(vocabulary.value(ws[name], RDFS.label) for name in defined)
    assert (ws.termsSha256, RDF.type, RDF.Property) in vocabulary
    assert (ws.per_seat, RDF.type, RDFS.Resource) in vocabulary

    listing = make_listing("Shore notes", uses=("training",))
    license = services.grant_license(
        organization=cast.buyer_org,
        version=listing.version,
        terms={**FULL_TERMS, "price_minor": 10_000, "currency": "USD", "term_days": None},
        source="t:vocabulary",
    )
    used = ws_terms_in(graph_of(odrl.odrl_for_option(option(**FULL_TERMS))), ws)
    used |= ws_terms_in(graph_of(odrl.odrl_for_license(license)), ws)
    assert {"perpetual", "merkleRoot", "versionId", "per_seat", "fine_tuning"} <= used
    assert used - defined == set()


def test_the_vocabulary_and_the_documentation_list_the_same_terms():
    documented = set(re.findall(r"^\| `ws:(\w+)` \|", DOCS.read_text(), flags=re.MULTILINE))
    assert documented == set(odrl.VOCABULARY)
