from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import ApiKey, Membership
from accounts.services import authenticate_api_key, create_api_key, remove_member, revoke_api_key

LISTINGS = "/api/v1/listings/"


def auth(raw: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Api-Key {raw}"}


def test_a_valid_key_authenticates_as_its_organization(api_client, cast, key_for):
    raw = key_for(cast.buyer_org)
    response = api_client.get(LISTINGS, **auth(raw))
    assert response.status_code == 200
    assert authenticate_api_key(raw_key=raw).organization == cast.buyer_org


def test_a_revoked_key_gets_401_problem_json(api_client, cast):
    api_key, raw = create_api_key(actor=cast.buyer, organization=cast.buyer_org, name="ci")
    revoke_api_key(actor=cast.buyer, organization=cast.buyer_org, key_id=api_key.pk)
    response = api_client.get(LISTINGS, **auth(raw))
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 401 and "revoked" in body["detail"]
    assert response["WWW-Authenticate"] == "Api-Key"


def test_a_key_with_an_unknown_prefix_gets_401(api_client, cast, key_for):
    raw = key_for(cast.buyer_org)
    prefix, _, secret = raw.rpartition("_")
    forged = f"wsk_zzzzzzzz_{secret}"
    assert api_client.get(LISTINGS, **auth(forged)).status_code == 401


def test_a_key_with_the_right_prefix_and_wrong_secret_gets_401(api_client, cast, key_for):
    raw = key_for(cast.buyer_org)
    prefix, _, secret = raw.rpartition("_")
    assert api_client.get(LISTINGS, **auth(f"{prefix}_{'x' * len(secret)}")).status_code == 401


@pytest.mark.parametrize("header", ["Api-Key", "Api-Key   ", "Api-Key not-a-key", "Api-Key wsk_"])
def test_malformed_keys_get_401(api_client, cast, header):
    assert api_client.get(LISTINGS, HTTP_AUTHORIZATION=header).status_code == 401


def test_an_expired_key_stops_working(api_client, cast):
    now = timezone.now()
    api_key, raw = create_api_key(
        actor=cast.buyer,
        organization=cast.buyer_org,
        name="short",
        expires_at=now + timedelta(hours=1),
    )
    assert authenticate_api_key(raw_key=raw, now=now) is not None
    assert authenticate_api_key(raw_key=raw, now=now + timedelta(hours=2)) is None


def test_the_key_of_a_removed_member_stops_working_at_once(api_client, cast):
    Membership.objects.create(user=cast.outsider, organization=cast.buyer_org, role="owner")
    _, raw = create_api_key(actor=cast.outsider, organization=cast.buyer_org, name="theirs")
    assert api_client.get(LISTINGS, **auth(raw)).status_code == 200
    remove_member(actor=cast.buyer, organization=cast.buyer_org, user=cast.outsider)
    assert api_client.get(LISTINGS, **auth(raw)).status_code == 401


def test_keys_of_a_disabled_organization_stop_working(api_client, cast, key_for):
    raw = key_for(cast.buyer_org)
    cast.buyer_org.is_active = False
    cast.buyer_org.save()
    assert api_client.get(LISTINGS, **auth(raw)).status_code == 401


def test_a_key_without_the_catalog_scope_gets_403_naming_it(api_client, cast, key_for):
    raw = key_for(cast.buyer_org, scopes=["orders:write"])
    response = api_client.get(LISTINGS, **auth(raw))
    assert response.status_code == 403
    assert "catalog:read" in response.json()["detail"]


def test_last_used_time_is_recorded(api_client, cast, key_for):
    raw = key_for(cast.buyer_org)
    api_client.get(LISTINGS, **auth(raw))
    assert ApiKey.objects.get(organization=cast.buyer_org).last_used_at is not None


def test_only_owners_create_keys(cast):
    from accounts.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        create_api_key(actor=cast.creator_member, organization=cast.creator_org, name="nope")


def test_unknown_scopes_are_refused(cast):
    from accounts.errors import InvalidInput

    with pytest.raises(InvalidInput, match="Unknown scope"):
        create_api_key(
            actor=cast.creator, organization=cast.creator_org, name="x", scopes=["catalog:write"]
        )


def test_create_api_key_command_prints_a_working_key_on_its_last_line(api_client, cast, capsys):
    call_command(
        "create_api_key",
        "--org",
        "buyers",
        "--name",
        "ops",
        "--scopes",
        "catalog:read,licenses:read",
    )
    raw = capsys.readouterr().out.strip().splitlines()[-1]
    assert api_client.get(LISTINGS, **auth(raw)).status_code == 200
    assert ApiKey.objects.get(name="ops").scopes == ["catalog:read", "licenses:read"]


def test_create_api_key_command_for_an_unknown_organization_fails_clearly(cast):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No organization"):
        call_command("create_api_key", "--org", "nope", "--name", "x")


def test_calls_are_logged_and_shown_to_owners_only(api_client, client, cast, key_for):
    from accounts.models import ApiKeyCall

    raw = key_for(cast.creator_org, scopes=["datasets:write"])
    api_client.get(LISTINGS, **auth(raw))
    api_client.get("/api/v1/datasets/", **auth(raw))
    calls = list(ApiKeyCall.objects.order_by("created_at", "id"))
    assert [(call.method, call.path, call.status) for call in calls] == [
        ("GET", LISTINGS, 403),
        ("GET", "/api/v1/datasets/", 200),
    ]
    client.force_login(cast.creator)
    page = client.get("/accounts/api-keys/").content.decode()
    assert "/api/v1/datasets/" in page
    client.force_login(cast.creator_member)
    assert client.get("/accounts/api-keys/").status_code in (403, 404)


def test_old_calls_are_pruned(api_client, cast, key_for):
    from accounts.models import ApiKeyCall
    from accounts.services import prune_api_records

    api_client.get(LISTINGS, **auth(key_for(cast.buyer_org)))
    assert prune_api_records()["api_key_calls"] == 0
    later = timezone.now() + timedelta(days=31)
    assert prune_api_records(now=later)["api_key_calls"] == 1
    assert not ApiKeyCall.objects.exists()
