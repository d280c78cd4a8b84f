"""Portal pages of negotiation: a buyer's and a creator's offer threads and agreements."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.decorators import organization_required
from accounts.errors import DomainError, NotFound, PermissionDenied
from licensing import selectors, services
from licensing.models import Agreement, Offer, Use
from licensing.money import parse_major
from marketplace import selectors as catalog
from marketplace.services import agreement_checkout_conflict


def _offer(request, offer_id: str) -> Offer:
    offer = selectors.offer_for(
        organization=request.organization, user=request.user, offer_id=offer_id
    )
    if offer is None:
        raise Http404("No such offer.")
    return offer


def _portal(offer: Offer, request) -> str:
    return "creator" if offer.side_of(request.organization) == "creator" else "library"


def _terms_from(post) -> dict:
    currency = post.get("currency", "USD")
    try:
        price = parse_major(post.get("price", ""), currency)
    except ValueError as error:
        price = None
        bad = str(error)
    else:
        bad = ""
    term = post.get("term_days", "").strip()
    terms = {
        "permitted_uses": post.getlist("permitted_uses"),
        "commercial_use": bool(post.get("commercial_use")),
        "term_days": int(term) if term.isdigit() else (term or None),
        "territories": [t for t in post.get("territories", "").replace(",", " ").split() if t],
        "is_exclusive": bool(post.get("is_exclusive")),
        "price_minor": price if price is not None else -1,
        "currency": currency,
    }
    return terms, bad


@organization_required()
def offers(request):
    threads = selectors.offers_of(organization=request.organization).order_by("-updated_at")
    return render(request, "marketplace/offers/list.html", {"offers": threads})


@organization_required()
def offer_detail(request, offer_id: str):
    offer = _offer(request, offer_id)
    steps = selectors.thread_of(offer=offer)
    side = offer.side_of(request.organization)
    your_turn = offer.is_open and side is not None and steps and steps[-1].proposal.side != side
    agreement = Agreement.objects.filter(offer=offer).first()
    now = timezone.now()
    agreement_order = (
        catalog.live_order_of_agreement(agreement=agreement, now=now) if agreement else None
    )
    # An agreement with no order yet may have been overtaken by someone's exclusive license:
    # say so instead of offering a checkout that would be refused.
    checkout_refused = (
        agreement_checkout_conflict(agreement=agreement, now=now)
        if agreement and agreement_order is None
        else None
    )
    return render(
        request,
        "marketplace/offers/detail.html",
        {
            "offer": offer,
            "steps": steps,
            "side": side,
            "your_turn": your_turn,
            "latest": steps[-1].proposal if steps else None,
            "agreement": agreement,
            "agreement_order": agreement_order,
            "checkout_refused": checkout_refused,
            "uses": Use.choices,
        },
    )


@organization_required(side="buyer")
def offer_new(request, slug: str):
    listing = catalog.listing_by_slug(slug=slug)
    if listing is None:
        raise Http404("No published dataset has this address.")
    error = ""
    if request.method == "POST":
        terms, error = _terms_from(request.POST)
        if not error:
            try:
                offer = services.open_offer(
                    actor=request.user,
                    organization=request.organization,
                    dataset=listing.dataset,
                    terms=terms,
                    message=request.POST.get("message", ""),
                )
            except (NotFound, PermissionDenied):
                raise Http404("No such dataset.") from None
            except DomainError as refused:
                error = refused.message
            else:
                messages.success(request, "Your offer is with the creator.")
                return redirect("library:offer", offer_id=offer.pk)
    return render(
        request,
        "marketplace/offers/new.html",
        {"listing": listing, "uses": Use.choices, "error": error, "post": request.POST},
    )


@require_POST
@organization_required()
def offer_act(request, offer_id: str, verb: str):
    offer = _offer(request, offer_id)
    if offer.side_of(request.organization) is None:
        raise Http404("No such offer.")
    common = {"actor": request.user, "organization": request.organization, "offer": offer}
    try:
        if verb == "accept":
            agreement = services.accept_offer(**common)
            messages.success(
                request,
                "Accepted: the agreement is below."
                + (
                    " Check out at the agreed price to receive the license."
                    if agreement.buyer_org_id == request.organization.pk
                    else ""
                ),
            )
        elif verb == "reject":
            services.reject_offer(**common, reason=request.POST.get("reason", ""))
        elif verb == "withdraw":
            services.withdraw_offer(**common)
        elif verb == "counter":
            terms, bad = _terms_from(request.POST)
            if bad:
                messages.error(request, bad)
            else:
                services.counter_offer(
                    **common, terms=terms, message=request.POST.get("message", "")
                )
        else:
            raise Http404("No such action.")
    except NotFound:
        raise Http404("No such offer.") from None
    except DomainError as refused:
        messages.error(request, refused.message)
    return redirect(f"{_portal(offer, request)}:offer", offer_id=offer.pk)
