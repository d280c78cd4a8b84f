"""The review and claims API: the creator's review status, public claims, the staff queue."""

import pytest
from django.core.cache import cache

from provenance.models import DatasetVersion, RightsClaim
from provenance.reviews import CHECKLIST_FIELDS

ALL_TICKED = dict.fromkeys(CHECKLIST_FIELDS, True)
STATEMENT = "These recordings are mine; I never licensed them to anyone."


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


def test_creator_reads_the_review_status_of_its_version(api_client, cast, key_for, make_listing):
    listing = make_listing("Reviewed tales")
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.creator_org)}")
    response = api_client.get(f"/api/v1/versions/{listing.version_id}/review/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "approved"
    assert body["decisions"][0]["decision"] == "approved"
    assert body["decisions"][0]["checklist"] == ALL_TICKED
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.outsider_org)}")
    response = api_client.get(f"/api/v1/versions/{listing.version_id}/review/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"


def test_staff_list_the_queue_and_decide(api_client, cast, make_listing):
    version = make_listing("Queued tales", publish=False)
    api_client.force_authenticate(cast.reviewer)
    queue = api_client.get("/api/v1/review/queue/").json()
    assert queue["count"] == 1 and queue["results"][0]["id"] == version.pk
    url = f"/api/v1/review/queue/{version.pk}/decision/"
    response = api_client.post(
        url, {"decision": "approved", "reason": "Fine.", "checklist": {}}, format="json"
    )
    assert response.status_code == 400
    assert "Tick every item" in response.json()["detail"]
    response = api_client.post(
        url, {"decision": "approved", "reason": "Fine.", "checklist": ALL_TICKED}, format="json"
    )
    assert response.status_code == 201
    assert DatasetVersion.objects.get(pk=version.pk).status == "approved"
    response = api_client.post(url, {"decision": "rejected", "reason": "Late."}, format="json")
    assert response.status_code == 409


def test_non_staff_get_404_on_every_staff_endpoint(api_client, cast, key_for, make_listing):
    version = make_listing("Guarded tales", publish=False)
    claim = RightsClaim.objects.create(
        dataset=version.dataset,
        claimant_name="C",
        claimant_email="c@example.test",
        basis="other",
        statement=STATEMENT,
    )
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.creator_org)}")
    for method, url in [
        ("get", "/api/v1/review/queue/"),
        ("post", f"/api/v1/review/queue/{version.pk}/decision/"),
        ("get", "/api/v1/claims/"),
        ("get", f"/api/v1/claims/{claim.pk}/"),
        ("post", f"/api/v1/claims/{claim.pk}/uphold/"),
    ]:
        response = getattr(api_client, method)(url, {"reason": "x"}, format="json")
        assert response.status_code == 404, url
    api_client.credentials()
    assert api_client.get("/api/v1/claims/").status_code in (401, 403)
    assert DatasetVersion.objects.get(pk=version.pk).status == "submitted"


def test_anyone_files_a_claim_through_the_api_throttled(api_client, settings, cast, make_listing):
    settings.CLAIMS_PER_HOUR = 1
    listing = make_listing("Claimed songs")
    data = {
        "dataset": listing.dataset.slug,
        "claimant_name": "Ada",
        "claimant_email": "ada@example.test",
        "basis": "copyright",
        "statement": STATEMENT,
    }
    response = api_client.post("/api/v1/claims/", data, format="json")
    assert response.status_code == 201
    assert response.json()["status"] == "open"
    response = api_client.post("/api/v1/claims/", data, format="json")
    assert response.status_code == 429
    assert response["Content-Type"] == "application/problem+json"
    bad = api_client.post(
        "/api/v1/claims/", {**data, "claimant_email": "nope"}, format="json", REMOTE_ADDR="10.1.1.1"
    )
    assert bad.status_code == 400 and "claimant_email" in bad.json()["errors"]
    missing = api_client.post(
        "/api/v1/claims/", {**data, "dataset": "no-such"}, format="json", REMOTE_ADDR="10.1.1.2"
    )
    assert missing.status_code == 404
    assert RightsClaim.objects.count() == 1


def test_staff_triage_claims_through_the_api(api_client, cast, make_listing):
    listing = make_listing("Disputed songs")
    claim = RightsClaim.objects.create(
        dataset=listing.dataset,
        version=listing.version,
        claimant_name="C",
        claimant_email="c@example.test",
        basis="copyright",
        statement=STATEMENT,
    )
    api_client.force_authenticate(cast.reviewer)
    assert api_client.get("/api/v1/claims/?status=open").json()["count"] == 1
    response = api_client.post(f"/api/v1/claims/{claim.pk}/uphold/", {}, format="json")
    assert response.status_code == 400
    response = api_client.post(
        f"/api/v1/claims/{claim.pk}/uphold/", {"reason": "Holds."}, format="json"
    )
    assert response.status_code == 200 and response.json()["status"] == "upheld"
    response = api_client.post(
        f"/api/v1/claims/{claim.pk}/dismiss/", {"reason": "Late."}, format="json"
    )
    assert response.status_code == 409
    response = api_client.post(
        f"/api/v1/claims/{claim.pk}/reinstate/", {"reason": "Settled."}, format="json"
    )
    assert response.status_code == 200 and response.json()["reinstated_at"]
