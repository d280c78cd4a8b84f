"""Read queries of licensing, scoped to the viewer's organization first."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet

from accounts.models import Organization, User
from licensing.models import Agreement, Delivery, Download, License, Offer, Proposal
from licensing.money import format_minor
from provenance.models import Dataset


def licenses_of(*, organization: Organization) -> QuerySet[License]:
    """The organization's licenses (as licensee), newest first."""
    return License.objects.filter(organization=organization).select_related(
        "version__dataset__organization", "certificate"
    )


def license_of(*, organization: Organization, license_id: str) -> License | None:
    return licenses_of(organization=organization).filter(pk=license_id).first()


def deliveries_of(*, license: License) -> QuerySet[Delivery]:
    return Delivery.objects.filter(license=license).select_related("data_file")


def downloads_of(*, license: License) -> QuerySet[Download]:
    return Download.objects.filter(license=license).select_related("delivery", "user")


def licenses_sold(*, organization: Organization) -> QuerySet[License]:
    """Licenses to the creator organization's datasets, for its sales pages."""
    return License.objects.filter(version__dataset__organization=organization).select_related(
        "organization", "version__dataset"
    )


def downloads_of_creator(*, organization: Organization) -> QuerySet[Download]:
    return Download.objects.filter(
        license__version__dataset__organization=organization
    ).select_related("license__organization", "user")


# --- Negotiation threads and agreements ---------------------------------------------------

TERM_LABELS = {
    "permitted_uses": "Permitted uses",
    "commercial_use": "Commercial use",
    "term_days": "Term (days)",
    "territories": "Territory",
    "is_exclusive": "Exclusive",
    "attribution_required": "Attribution required",
    "model_cap": "Model cap",
    "seat_cap": "Seat cap",
    "price_model": "Price model",
    "price_minor": "Price",
    "currency": "Currency",
}


def exclusive_agreement_on(*, dataset: Dataset, now: datetime) -> Agreement | None:
    """The agreement that holds the dataset exclusively at `now`, if any."""
    return (
        Agreement.objects.filter(dataset=dataset, is_exclusive=True)
        .filter(Q(exclusive_until__isnull=True) | Q(exclusive_until__gt=now))
        .first()
    )


def offers_of(*, organization: Organization) -> QuerySet[Offer]:
    """The organization's own threads, as buyer or as creator (what the API lists)."""
    return Offer.objects.select_related("dataset", "buyer_org", "creator_org").filter(
        Q(buyer_org=organization) | Q(creator_org=organization)
    )


def offers_visible_to(*, organization: Organization | None, user: User) -> QuerySet[Offer]:
    """Offers of the two organizations involved; staff see every thread."""
    offers = Offer.objects.select_related("dataset", "buyer_org", "creator_org")
    if user.is_staff:
        return offers
    if organization is None:
        return offers.none()
    return offers.filter(Q(buyer_org=organization) | Q(creator_org=organization))


def offer_for(*, organization: Organization | None, user: User, offer_id: str) -> Offer | None:
    return offers_visible_to(organization=organization, user=user).filter(pk=offer_id).first()


def _show(field: str, value, terms: dict) -> str:
    if value is None:
        return {"term_days": "perpetual"}.get(field, "no cap")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none"
    if field == "price_minor":
        return format_minor(value, terms.get("currency", "USD"))
    return str(value)


def terms_changes(before: dict, after: dict) -> list[dict]:
    """What changed between two sets of terms, field by field, as people read them."""
    return [
        {
            "field": field,
            "label": label,
            "before": _show(field, before.get(field), before),
            "after": _show(field, after.get(field), after),
        }
        for field, label in TERM_LABELS.items()
        if before.get(field) != after.get(field)
    ]


@dataclass(frozen=True)
class ThreadStep:
    proposal: Proposal
    changes: list[dict]


def thread_of(*, offer: Offer) -> list[ThreadStep]:
    """The offer's proposals in order, each with what changed since the one before it."""
    steps, previous = [], None
    for proposal in offer.proposals.select_related("created_by").order_by("number"):
        terms = proposal.terms_dict()
        steps.append(
            ThreadStep(proposal, terms_changes(previous, terms) if previous is not None else [])
        )
        previous = terms
    return steps


def latest_proposal(offer: Offer) -> Proposal | None:
    return offer.proposals.order_by("-number").first()


def agreements_of(*, organization: Organization) -> QuerySet[Agreement]:
    return Agreement.objects.filter(
        Q(buyer_org=organization) | Q(creator_org=organization)
    ).select_related("dataset", "buyer_org", "creator_org")
