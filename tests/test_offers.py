"""Negotiation: offers, counters, acceptance into a hashed agreement, expiry and visibility."""

import hashlib
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from accounts.models import Event, Notification
from licensing import selectors, services
from licensing.models import Agreement, LicenseOption, Offer
from licensing.tasks import expire_offers_task
from provenance.ledger import verify_ledger
from provenance.models import LedgerEntry

TERMS = {
    "permitted_uses": ["training"],
    "term_days": 365,
    "territories": ["worldwide"],
    "price_minor": 250_000,
    "currency": "USD",
    "commercial_use": True,
}


def _open(cast, listing, **changes):
    return services.open_offer(
        actor=cast.buyer,
        organization=cast.buyer_org,
        dataset=listing.dataset,
        terms={**TERMS, **changes},
        message="We would like to train on this.",
    )


def _counter(cast, offer, **changes):
    return services.counter_offer(
        actor=cast.creator,
        organization=cast.creator_org,
        offer=offer,
        terms={**TERMS, **changes},
        message="A little more, please.",
    )


def test_buyer_opens_creator_counters_buyer_accepts_into_hashed_agreement(cast, make_listing):
    listing = make_listing("Harbour logs")
    offer = _open(cast, listing)
    assert offer.status == Offer.Status.OPEN
    assert offer.creator_org == cast.creator_org
    assert Event.objects.filter(organization=cast.creator_org, type="offer.created").exists()

    counter = _counter(cast, offer, price_minor=300_000, territories=["GB", "de"])
    assert counter.number == 2 and counter.side == "creator"
    steps = selectors.thread_of(offer=offer)
    assert [step.proposal.number for step in steps] == [1, 2]
    changed = {change["field"]: change for change in steps[1].changes}
    assert set(changed) == {"price_minor", "territories"}
    assert changed["price_minor"]["before"] == "$2,500.00"
    assert changed["price_minor"]["after"] == "$3,000.00"
    assert changed["territories"]["after"] == "DE, GB"

    agreement = services.accept_offer(actor=cast.buyer, organization=cast.buyer_org, offer=offer)
    offer.refresh_from_db()
    assert offer.status == Offer.Status.ACCEPTED
    assert agreement.price_minor == 300_000 and agreement.currency == "USD"
    assert agreement.terms["terms"]["territories"] == ["DE", "GB"]
    assert agreement.buyer_accepted_by == cast.buyer
    assert agreement.creator_accepted_by == cast.creator
    assert agreement.creator_accepted_at == counter.created_at
    canonical = json.dumps(
        agreement.terms, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()
    stored = Agreement.objects.get(pk=agreement.pk)
    assert stored.terms_sha256 == hashlib.sha256(canonical).hexdigest()
    assert stored.ledger_entry.action == "agreement.made"
    assert stored.ledger_entry.payload["terms_sha256"] == stored.terms_sha256
    assert verify_ledger().is_intact
    assert Event.objects.filter(type="offer.accepted").count() == 2


def test_agreement_cannot_be_changed_after_it_is_made(cast, make_listing):
    offer = _open(cast, make_listing())
    agreement = services.accept_offer(
        actor=cast.creator, organization=cast.creator_org, offer=offer
    )
    agreement.price_minor = 1
    with pytest.raises(Conflict):
        agreement.save()


def test_nobody_accepts_their_own_proposal_or_counters_out_of_turn(cast, make_listing):
    offer = _open(cast, make_listing())
    with pytest.raises(Conflict, match="accepts it"):
        services.accept_offer(actor=cast.buyer, organization=cast.buyer_org, offer=offer)
    with pytest.raises(Conflict, match="Wait"):
        services.counter_offer(
            actor=cast.buyer, organization=cast.buyer_org, offer=offer, terms=TERMS
        )
    with pytest.raises(InvalidInput, match="Change at least one term"):
        _counter(cast, offer)
    assert offer.proposals.count() == 1


def test_bad_terms_write_nothing(cast, make_listing):
    listing = make_listing()
    with pytest.raises(InvalidInput) as error:
        _open(cast, listing, permitted_uses=["mining"], price_minor=-5, territories=["Narnia"])
    assert {"permitted_uses", "price_minor", "territories"} <= set(error.value.errors)
    assert not Offer.objects.exists()


def test_offers_on_own_or_unlisted_datasets_are_refused(cast, make_listing):
    listing = make_listing()
    with pytest.raises(PermissionDenied):
        services.open_offer(
            actor=cast.creator,
            organization=cast.creator_org,
            dataset=listing.dataset,
            terms=TERMS,
        )
    draft = make_listing("Unreviewed", publish=False)
    with pytest.raises(NotFound):
        services.open_offer(
            actor=cast.buyer, organization=cast.buyer_org, dataset=draft.dataset, terms=TERMS
        )
    with pytest.raises(PermissionDenied):
        services.open_offer(
            actor=cast.outsider, organization=cast.buyer_org, dataset=listing.dataset, terms=TERMS
        )


def test_third_organizations_neither_see_nor_act_on_a_thread(cast, make_listing):
    offer = _open(cast, make_listing())
    assert (
        selectors.offer_for(organization=cast.outsider_org, user=cast.outsider, offer_id=offer.pk)
        is None
    )
    assert selectors.offer_for(organization=cast.buyer_org, user=cast.buyer, offer_id=offer.pk)
    assert selectors.offer_for(organization=None, user=cast.reviewer, offer_id=offer.pk)
    for verb in (services.accept_offer, services.reject_offer):
        with pytest.raises(NotFound):
            verb(actor=cast.outsider, organization=cast.outsider_org, offer=offer)


def test_reject_and_withdraw_close_the_thread(cast, make_listing):
    listing = make_listing()
    offer = _open(cast, listing)
    with pytest.raises(PermissionDenied):
        services.withdraw_offer(actor=cast.creator, organization=cast.creator_org, offer=offer)
    services.reject_offer(
        actor=cast.creator, organization=cast.creator_org, offer=offer, reason="Too low."
    )
    offer.refresh_from_db()
    assert offer.status == Offer.Status.REJECTED and offer.closed_reason == "Too low."
    with pytest.raises(Conflict, match="rejected"):
        services.accept_offer(actor=cast.creator, organization=cast.creator_org, offer=offer)
    second = _open(cast, listing)
    services.withdraw_offer(actor=cast.buyer, organization=cast.buyer_org, offer=second)
    assert Offer.objects.get(pk=second.pk).status == Offer.Status.WITHDRAWN


def test_offers_expire_and_expired_offers_cannot_be_accepted(cast, make_listing):
    offer = _open(cast, make_listing())
    later = offer.expires_at + timedelta(seconds=1)
    with pytest.raises(Conflict, match="expired"):
        services.accept_offer(
            actor=cast.creator, organization=cast.creator_org, offer=offer, now=later
        )
    assert services.expire_offers(now=offer.expires_at - timedelta(seconds=1)) == 0
    assert services.expire_offers(now=later) == 1
    assert services.expire_offers(now=later) == 0
    assert Offer.objects.get(pk=offer.pk).status == Offer.Status.EXPIRED


def test_the_periodic_task_expires_offers(cast, make_listing):
    offer = _open(cast, make_listing())
    Offer.objects.filter(pk=offer.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert expire_offers_task.delay().get(timeout=10) == 1
    assert Offer.objects.get(pk=offer.pk).status == Offer.Status.EXPIRED


def test_a_counter_restarts_the_clock(cast, make_listing):
    offer = _open(cast, make_listing())
    later = timezone.now() + timedelta(days=10)
    services.counter_offer(
        actor=cast.creator,
        organization=cast.creator_org,
        offer=offer,
        terms={**TERMS, "price_minor": 1},
        now=later,
    )
    offer.refresh_from_db()
    assert offer.expires_at == later + services.OFFER_LIFETIME


def test_an_exclusive_agreement_takes_the_dataset_off_the_market(cast, make_listing):
    listing = make_listing()
    other = services.open_offer(
        actor=cast.outsider,
        organization=cast.outsider_org,
        dataset=listing.dataset,
        terms=TERMS,
    )
    offer = _open(cast, listing, is_exclusive=True)
    agreement = services.accept_offer(
        actor=cast.creator, organization=cast.creator_org, offer=offer
    )
    assert agreement.is_exclusive and agreement.exclusive_until is not None
    other.refresh_from_db()
    assert other.status == Offer.Status.WITHDRAWN
    assert other.closed_reason == services.EXCLUSIVELY_LICENSED
    # The outsider is told; the buyer who got the exclusive license is not told of a withdrawal.
    withdrawn = Notification.objects.filter(verb="offer.withdrawn")
    assert [(n.recipient, n.organization) for n in withdrawn] == [
        (cast.outsider, cast.outsider_org)
    ]
    assert not LicenseOption.objects.filter(dataset=listing.dataset, is_active=True).exists()
    with pytest.raises(Conflict, match="exclusively"):
        _open(cast, listing)
    entry = LedgerEntry.objects.get(action="agreement.made")
    assert entry.payload["withdrawn_offers"] == [other.pk]


def test_exclusivity_ends_with_its_term(cast, make_listing):
    listing = make_listing()
    offer = _open(cast, listing, is_exclusive=True, term_days=30)
    agreement = services.accept_offer(
        actor=cast.creator, organization=cast.creator_org, offer=offer
    )
    assert selectors.exclusive_agreement_on(dataset=listing.dataset, now=timezone.now())
    after = agreement.exclusive_until + timedelta(seconds=1)
    assert selectors.exclusive_agreement_on(dataset=listing.dataset, now=after) is None


def test_seed_demo_leaves_one_open_offer_between_the_demo_organizations(db):
    from django.core.management import call_command

    call_command("seed_demo", verbosity=0)
    call_command("seed_demo", verbosity=0)
    offers = Offer.objects.filter(buyer_org__slug="demo-lab", creator_org__slug="demo-creators")
    assert offers.count() == 1
    assert offers.get().status == Offer.Status.OPEN


def test_portal_thread_counter_accept_and_agreement_hash(client, cast, make_listing):
    listing = make_listing("Portal tales")
    client.force_login(cast.buyer)
    assert (
        f"/library/propose/{listing.slug}/"
        in client.get(f"/catalog/{listing.slug}/").content.decode()
    )
    response = client.post(
        f"/library/propose/{listing.slug}/",
        {
            "permitted_uses": ["training"],
            "price": "1200.00",
            "currency": "USD",
            "territories": "worldwide",
        },
    )
    offer = Offer.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/library/offers/{offer.pk}/"
    client.force_login(cast.creator)
    page = client.get(f"/creator/offers/{offer.pk}/").content.decode()
    assert "Send counter-proposal" in page
    client.post(
        f"/library/offers/{offer.pk}/counter/",
        {
            "permitted_uses": ["training"],
            "price": "1500.00",
            "currency": "USD",
            "territories": "GB",
        },
    )
    client.force_login(cast.buyer)
    page = client.get(f"/library/offers/{offer.pk}/").content.decode()
    assert "$1,200.00" in page and "$1,500.00" in page
    client.post(f"/library/offers/{offer.pk}/accept/")
    agreement = Agreement.objects.get()
    for user, portal in ((cast.buyer, "library"), (cast.creator, "creator")):
        client.force_login(user)
        assert (
            agreement.terms_sha256 in client.get(f"/{portal}/offers/{offer.pk}/").content.decode()
        )
    client.force_login(cast.outsider)
    assert client.get(f"/library/offers/{offer.pk}/").status_code == 404
    assert client.post(f"/library/offers/{offer.pk}/reject/").status_code == 404


def test_third_organizations_get_404_on_every_offer_page(client, cast, make_listing):
    offer = _open(cast, make_listing("Portal secrets"))
    _counter(cast, offer, price_minor=300_000)
    client.force_login(cast.outsider)  # creator and buyer sides, but not a party to this thread
    for portal in ("library", "creator"):
        assert client.get(f"/{portal}/offers/{offer.pk}/").status_code == 404
        assert offer.dataset.title not in client.get(f"/{portal}/offers/").content.decode()
    counter = {"permitted_uses": ["training"], "price": "1.00", "currency": "USD"}
    for verb, data in (("accept", {}), ("reject", {}), ("withdraw", {}), ("counter", counter)):
        assert client.post(f"/library/offers/{offer.pk}/{verb}/", data).status_code == 404
    offer.refresh_from_db()
    assert offer.status == Offer.Status.OPEN and offer.proposals.count() == 2
    assert not Agreement.objects.exists()
