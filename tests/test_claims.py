"""Rights claims: the public form and its throttle, triage, suspension, counter-statements and
reinstatement."""

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.errors import Conflict, InvalidInput, NotFound
from accounts.models import Event, Notification
from licensing.models import License
from licensing.services import grant_license
from marketplace.models import Listing
from provenance import claims
from provenance.ledger import verify_ledger
from provenance.models import DatasetVersion, LedgerEntry, RightsClaim
from tests.factories import PASSWORD

STATEMENT = "These photographs are mine; I never licensed them to anyone."


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def listing(make_listing):
    return make_listing("Harbour photos")


@pytest.fixture
def license_on(cast, listing):
    return grant_license(
        organization=cast.buyer_org,
        version=listing.version,
        terms={"permitted_uses": ["evaluation"]},
        source="test:claims",
    )


def file(listing, **overrides):
    data = {
        "dataset": listing.dataset,
        "claimant_name": "Ada Lens",
        "claimant_email": "ada@example.test",
        "basis": "copyright",
        "statement": STATEMENT,
    }
    data.update(overrides)
    return claims.file_claim(**data)


def login(client, user):
    assert client.login(email=user.email, password=PASSWORD)


def test_anyone_can_file_a_claim_with_evidence_through_the_public_form(client, cast, listing):
    response = client.post(
        reverse("catalog:claim", args=[listing.dataset.slug]),
        {
            "claimant_name": "Ada Lens",
            "claimant_email": "ada@example.test",
            "basis": "copyright",
            "statement": STATEMENT,
            "evidence": SimpleUploadedFile("registration.pdf", b"%PDF-1.4 registration"),
        },
    )
    assert response.status_code == 302
    claim = RightsClaim.objects.get()
    assert claim.status == RightsClaim.Status.OPEN and claim.version == listing.version
    assert claim.evidence_size_bytes == len(b"%PDF-1.4 registration")
    entry = LedgerEntry.objects.get(action="claim.filed")
    assert "ada@example.test" not in str(entry.payload)  # personal data stays out of the ledger
    assert Notification.objects.filter(recipient=cast.reviewer, verb="claim.filed").exists()
    assert Notification.objects.filter(recipient=cast.creator, verb="claim.filed").exists()
    login(client, cast.reviewer)
    evidence = client.get(reverse("review:claim-evidence", args=[claim.pk]))
    assert evidence.status_code == 200


def test_a_bad_claim_is_refused_with_field_errors_and_nothing_written(client, listing):
    response = client.post(
        reverse("catalog:claim", args=[listing.dataset.slug]),
        {"claimant_name": "", "claimant_email": "not-an-email", "basis": "x", "statement": "no"},
    )
    assert response.status_code == 400
    assert not RightsClaim.objects.exists()
    with pytest.raises(InvalidInput) as error:
        file(listing, statement="short")
    assert "statement" in error.value.errors


def test_the_claim_form_is_throttled_per_address(client, settings, listing):
    settings.CLAIMS_PER_HOUR = 2
    url = reverse("catalog:claim", args=[listing.dataset.slug])
    data = {
        "claimant_name": "Ada",
        "claimant_email": "ada@example.test",
        "basis": "copyright",
        "statement": STATEMENT,
    }
    assert client.post(url, data).status_code == 302
    assert client.post(url, data).status_code == 302
    response = client.post(url, data)
    assert response.status_code == 429
    assert "At most 2 claims an hour" in response.content.decode()
    assert RightsClaim.objects.count() == 2
    assert client.post(url, data, REMOTE_ADDR="10.0.0.9").status_code == 302


def test_an_unlisted_dataset_cannot_be_claimed(client, make_listing):
    version = make_listing("Not yet listed", publish=False)
    assert client.get(reverse("catalog:claim", args=[version.dataset.slug])).status_code == 404


def test_dismissing_a_claim_keeps_the_listing(cast, listing):
    claim = file(listing)
    claims.dismiss_claim(actor=cast.reviewer, claim=claim, reason="No evidence of authorship.")
    claim.refresh_from_db()
    assert claim.status == RightsClaim.Status.DISMISSED and claim.resolved_by == cast.reviewer
    assert Listing.objects.get(pk=listing.pk).status == Listing.Status.PUBLISHED
    with pytest.raises(Conflict):
        claims.uphold_claim(actor=cast.reviewer, claim=claim, reason="Changed my mind.")


def test_upholding_suspends_hides_flags_licenses_and_tells_everyone(
    client, cast, listing, license_on
):
    claim = file(listing)
    login(client, cast.reviewer)
    response = client.post(
        reverse("review:claim-action", args=[claim.pk, "uphold"]),
        {"reason": "The registration predates the dataset."},
    )
    assert response.status_code == 302
    claim.refresh_from_db()
    assert claim.status == RightsClaim.Status.UPHELD
    version = DatasetVersion.objects.get(pk=listing.version_id)
    assert version.status == DatasetVersion.Status.SUSPENDED
    assert Listing.objects.get(pk=listing.pk).status == Listing.Status.SUSPENDED
    assert client.get(reverse("catalog:detail", args=[listing.dataset.slug])).status_code == 404
    license = License.objects.get(pk=license_on.pk)
    assert license.is_flagged and license.status == License.Status.ACTIVE
    assert Event.objects.filter(organization=cast.buyer_org, type="claim.upheld").exists()
    assert Notification.objects.filter(recipient=cast.buyer, verb="license.flagged").exists()
    assert Notification.objects.filter(recipient=cast.creator, verb="claim.upheld").exists()
    actions = set(LedgerEntry.objects.values_list("action", flat=True))
    assert {"claim.upheld", "dataset.suspended", "listing.suspended", "license.flagged"} <= actions
    assert LedgerEntry.objects.get(action="claim.upheld").actor == cast.reviewer
    client.logout()
    login(client, cast.buyer)
    page = client.get(reverse("library:license", args=[license.pk])).content.decode()
    assert 'id="license-flag"' in page
    assert verify_ledger().is_intact


def test_creator_answers_and_a_reviewer_reinstates(client, cast, listing, license_on):
    claim = file(listing)
    claims.uphold_claim(actor=cast.reviewer, claim=claim, reason="Looks right.")
    login(client, cast.creator)
    response = client.post(
        reverse("creator:claim", args=[claim.pk]),
        {"statement": "The photographer assigned us the copyright in 2019; see the contract."},
    )
    assert response.status_code == 302
    claim.refresh_from_db()
    assert claim.counter_statement_by == cast.creator
    assert Notification.objects.filter(
        recipient=cast.reviewer, verb="claim.counter_statement"
    ).exists()
    with pytest.raises(Conflict):
        claims.submit_counter_statement(
            actor=cast.creator,
            organization=cast.creator_org,
            claim=claim,
            statement="A second answer is not needed here.",
        )
    claims.reinstate_dataset(actor=cast.reviewer, claim=claim, reason="The contract holds.")
    assert DatasetVersion.objects.get(pk=listing.version_id).status == "approved"
    assert Listing.objects.get(pk=listing.pk).status == Listing.Status.PUBLISHED
    assert not License.objects.get(pk=license_on.pk).is_flagged
    assert Notification.objects.filter(recipient=cast.buyer, verb="license.unflagged").exists()
    assert LedgerEntry.objects.filter(action="dataset.reinstated", actor=cast.reviewer).exists()
    with pytest.raises(Conflict):
        claims.reinstate_dataset(actor=cast.reviewer, claim=claim, reason="Again.")
    assert verify_ledger().is_intact


def test_reinstating_one_claim_keeps_the_dataset_down_while_another_holds(cast, listing):
    first, second = file(listing), file(listing, claimant_email="bo@example.test")
    claims.uphold_claim(actor=cast.reviewer, claim=first, reason="Holds.")
    claims.uphold_claim(actor=cast.reviewer, claim=second, reason="Holds too.")
    claims.reinstate_dataset(actor=cast.reviewer, claim=first, reason="Settled.")
    assert Listing.objects.get(pk=listing.pk).status == Listing.Status.SUSPENDED
    claims.reinstate_dataset(actor=cast.reviewer, claim=second, reason="Settled too.")
    assert Listing.objects.get(pk=listing.pk).status == Listing.Status.PUBLISHED


def test_other_organizations_and_non_staff_cannot_touch_claims(client, cast, listing):
    claim = file(listing)
    for user in (cast.outsider, cast.buyer):
        login(client, user)
        assert client.get(reverse("creator:claim", args=[claim.pk])).status_code == 404
        assert client.get(reverse("review:claim", args=[claim.pk])).status_code == 404
        response = client.post(
            reverse("review:claim-action", args=[claim.pk, "uphold"]), {"reason": "x"}
        )
        assert response.status_code == 404
        client.logout()
    with pytest.raises(NotFound):
        claims.submit_counter_statement(
            actor=cast.outsider,
            organization=cast.outsider_org,
            claim=claim,
            statement="Not mine to answer, but trying anyway.",
        )
    with pytest.raises(NotFound):
        claims.uphold_claim(actor=cast.creator, claim=claim, reason="Self-serving.")
    claim.refresh_from_db()
    assert claim.status == RightsClaim.Status.OPEN and not claim.counter_statement
