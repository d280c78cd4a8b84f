import pytest
from django.core import mail
from django.urls import reverse

from accounts.models import ApiKey, Membership, Organization, User
from accounts.services import create_api_key, remove_member
from provenance.services import create_dataset
from tests.factories import PASSWORD


def test_sign_up_creates_user_organization_and_ownership(client, db):
    response = client.post(
        reverse("accounts:signup"),
        {
            "full_name": "Ada Lovelace",
            "email": "Ada@Example.test",
            "password": "analytical-engine-1843",
            "organization_name": "Engine Works",
            "side": "creator",
        },
    )
    assert response.status_code == 302
    user = User.objects.get(email="ada@example.test")
    membership = Membership.objects.get(user=user)
    assert membership.role == Membership.Role.OWNER
    assert membership.organization.is_creator and not membership.organization.is_buyer
    assert client.get(reverse("creator:home")).status_code == 200


def test_sign_up_with_a_taken_email_says_so_and_creates_nothing(client, cast):
    before = Organization.objects.count()
    response = client.post(
        reverse("accounts:signup"),
        {
            "full_name": "X",
            "email": "CREATOR@example.test",
            "password": "analytical-engine-1843",
            "organization_name": "Dup",
            "side": "buyer",
        },
    )
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert Organization.objects.count() == before


def test_sign_up_rejects_a_weak_password(client, db):
    response = client.post(
        reverse("accounts:signup"),
        {
            "full_name": "X",
            "email": "x@example.test",
            "password": "1234567890",
            "organization_name": "X",
            "side": "buyer",
        },
    )
    assert response.status_code == 200
    assert not User.objects.filter(email="x@example.test").exists()


def test_login_is_by_email_case_insensitively(client, cast):
    response = client.post(
        reverse("accounts:login"), {"username": "Creator@Example.test", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert client.get(reverse("creator:home")).status_code == 200


def test_logout_needs_post(client, cast):
    client.force_login(cast.creator)
    assert client.post(reverse("accounts:logout")).status_code == 302
    assert client.get(reverse("creator:home")).status_code == 302


def test_password_reset_sends_a_working_link(client, cast):
    response = client.post(reverse("accounts:password-reset"), {"email": "creator@example.test"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    link = next(line for line in mail.outbox[0].body.splitlines() if "/accounts/reset/" in line)
    path = link.split("testserver", 1)[1]
    form_page = client.get(path, follow=True)
    assert form_page.status_code == 200
    response = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "a-brand-new-passphrase", "new_password2": "a-brand-new-passphrase"},
    )
    assert response.status_code == 302
    assert client.login(username="creator@example.test", password="a-brand-new-passphrase")


def test_organization_switcher_changes_the_current_organization(client, cast):
    second = Organization.objects.create(name="Second", slug="second", is_buyer=True)
    Membership.objects.create(user=cast.creator, organization=second, role=Membership.Role.MEMBER)
    client.force_login(cast.creator)
    assert client.get(reverse("library:home")).status_code == 404  # Creators is not a buyer
    client.post(
        reverse("accounts:organization-switch"), {"organization": "second", "next": "/library/"}
    )
    assert client.get(reverse("library:home")).status_code == 200


def test_switching_to_an_organization_you_do_not_belong_to_is_404(client, cast):
    client.force_login(cast.creator)
    response = client.post(
        reverse("accounts:organization-switch"), {"organization": cast.outsider_org.slug}
    )
    assert response.status_code == 404


def test_switch_does_not_redirect_off_site(client, cast):
    client.force_login(cast.creator)
    response = client.post(
        reverse("accounts:organization-switch"),
        {"organization": "creators", "next": "https://evil.example/"},
    )
    assert response["Location"] == "/"


def test_owner_creates_an_api_key_shown_once_and_stored_hashed(client, cast):
    client.force_login(cast.creator)
    response = client.post(
        reverse("accounts:api-keys"), {"name": "procurement sync", "scopes": ["catalog:read"]}
    )
    assert response.status_code == 302
    page = client.get(reverse("accounts:api-keys")).content.decode()
    api_key = ApiKey.objects.get(organization=cast.creator_org)
    raw = page.split('id="new-api-key">', 1)[1].split("<", 1)[0]
    assert raw.startswith(api_key.prefix + "_")
    assert api_key.key_hash == ApiKey.hash_secret(raw) and raw not in api_key.key_hash
    assert api_key.scopes == ["catalog:read"]
    assert raw not in client.get(reverse("accounts:api-keys")).content.decode()


def test_members_who_are_not_owners_cannot_manage_api_keys(client, cast):
    client.force_login(cast.creator_member)
    assert client.get(reverse("accounts:api-keys")).status_code == 403


def test_a_user_cannot_see_another_organizations_api_keys(client, cast):
    create_api_key(actor=cast.outsider, organization=cast.outsider_org, name="outsider secret tool")
    client.force_login(cast.creator)
    assert "outsider secret tool" not in client.get(reverse("accounts:api-keys")).content.decode()


def test_revoking_another_organizations_key_is_404_and_leaves_it_active(client, cast):
    api_key, _ = create_api_key(actor=cast.outsider, organization=cast.outsider_org, name="theirs")
    client.force_login(cast.creator)
    response = client.post(reverse("accounts:api-key-revoke", args=[api_key.pk]))
    assert response.status_code == 404
    api_key.refresh_from_db()
    assert api_key.revoked_at is None


def test_owner_revokes_a_key(client, cast):
    api_key, _ = create_api_key(actor=cast.creator, organization=cast.creator_org, name="old")
    client.force_login(cast.creator)
    client.post(reverse("accounts:api-key-revoke", args=[api_key.pk]))
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None


def test_a_user_cannot_see_another_organizations_draft_datasets(client, cast):
    create_dataset(
        actor=cast.outsider,
        organization=cast.outsider_org,
        title="Secret draft corpus",
        modality="text",
    )
    client.force_login(cast.creator)
    assert "Secret draft corpus" not in client.get(reverse("creator:home")).content.decode()
    client.force_login(cast.outsider)
    assert "Secret draft corpus" in client.get(reverse("creator:home")).content.decode()


def test_buyer_organizations_have_no_creator_portal(client, cast):
    client.force_login(cast.buyer)
    assert client.get(reverse("creator:home")).status_code == 404


def test_the_last_owner_cannot_be_removed(cast):
    from accounts.errors import InvalidInput

    with pytest.raises(InvalidInput, match="at least one owner"):
        remove_member(actor=cast.creator, organization=cast.creator_org, user=cast.creator)


def test_owner_adds_a_member_by_email(client, cast):
    client.force_login(cast.creator)
    response = client.post(
        reverse("accounts:organization"), {"email": "buyer@example.test", "role": "member"}
    )
    assert response.status_code == 302
    assert Membership.objects.filter(
        user=cast.buyer, organization=cast.creator_org, role="member"
    ).exists()


def test_adding_an_unknown_email_explains_what_to_do(client, cast):
    client.force_login(cast.creator)
    response = client.post(
        reverse("accounts:organization"), {"email": "nobody@example.test", "role": "member"}
    )
    assert response.status_code == 200
    assert "ask them to sign up first" in response.content.decode()


def test_a_member_cannot_add_members(client, cast):
    client.force_login(cast.creator_member)
    response = client.post(
        reverse("accounts:organization"), {"email": "buyer@example.test", "role": "owner"}
    )
    assert response.status_code == 403
    assert not Membership.objects.filter(user=cast.buyer, organization=cast.creator_org).exists()


def test_an_organization_must_be_on_some_side(cast):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Organization.objects.create(
            name="Nowhere", slug="nowhere", is_creator=False, is_buyer=False
        )


def test_events_are_recorded_per_organization_and_unknown_types_refused(cast):
    from accounts.errors import InvalidInput
    from accounts.models import Event
    from accounts.services import emit_event

    event = emit_event(
        organization=cast.buyer_org, type="license.granted", data={"license": "lic_1"}
    )
    assert event.pk.startswith("evt_")
    assert list(Event.objects.filter(organization=cast.buyer_org)) == [event]
    with pytest.raises(InvalidInput):
        emit_event(organization=cast.buyer_org, type="license.exploded", data={})
