"""Use cases of accounts: sign-up, organizations, memberships, API keys and notifications."""

import logging
import secrets
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts.bulk import insert_objects
from accounts.errors import InvalidInput, NotFound, PermissionDenied
from accounts.ids import random_base32
from accounts.models import (
    ApiKey,
    ApiKeyCall,
    Event,
    IdempotencyRecord,
    Membership,
    Notification,
    Organization,
    User,
    normalize_email,
)
from accounts.selectors import membership_in

logger = logging.getLogger(__name__)

API_KEY_PREFIX = "wsk"
# A key is used on every request; writing last_used_at each time would make every read a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "organization"
    slug = base
    counter = 2
    while Organization.objects.filter(slug=slug).exists():
        slug = f"{base}-{counter}"
        counter += 1
    return slug


def require_owner(*, actor: User, organization: Organization) -> Membership:
    """The actor's membership, if it is an owner's; raises PermissionDenied or NotFound otherwise."""
    membership = membership_in(organization=organization, user=actor)
    if membership is None:
        raise NotFound("No such organization.")
    if not membership.is_owner:
        raise PermissionDenied("Only the organization's owners can do this.")
    return membership


def create_organization(
    *, actor: User, name: str, is_creator: bool, is_buyer: bool
) -> Organization:
    """Create an organization with the actor as its owner.

    Raises InvalidInput when the name is empty or no side (creator, buyer) is chosen.
    """
    name = name.strip()
    if not name:
        raise InvalidInput(
            "An organization needs a name.", errors={"name": ["This field is required."]}
        )
    if not (is_creator or is_buyer):
        raise InvalidInput(
            "Choose whether the organization sells data, buys it, or both.",
            errors={"side": ["Choose creator, buyer or both."]},
        )
    with transaction.atomic():
        organization = Organization(
            name=name, slug=_unique_slug(name), is_creator=is_creator, is_buyer=is_buyer
        )
        organization.full_clean()
        organization.save()
        Membership.objects.create(user=actor, organization=organization, role=Membership.Role.OWNER)
    logger.info("organization %s created by user %s", organization.slug, actor.pk)
    return organization


def sign_up(
    *,
    email: str,
    password: str,
    full_name: str,
    organization_name: str,
    is_creator: bool,
    is_buyer: bool,
) -> User:
    """Register a person together with their first organization, of which they become owner.

    Raises InvalidInput for a taken email address, a weak password or a missing organization side.
    """
    email = normalize_email(email)
    if User.objects.filter(email=email).exists():
        raise InvalidInput(
            "An account with this email address already exists.",
            errors={"email": ["An account with this email address already exists."]},
        )
    candidate = User(email=email, full_name=full_name.strip())
    try:
        validate_password(password, user=candidate)
    except ValidationError as error:
        raise InvalidInput(
            "Choose a stronger password.", errors={"password": list(error.messages)}
        ) from error
    with transaction.atomic():
        user = User.objects.create_user(email=email, password=password, full_name=full_name.strip())
        create_organization(
            actor=user, name=organization_name, is_creator=is_creator, is_buyer=is_buyer
        )
    return user


def add_member(*, actor: User, organization: Organization, email: str, role: str) -> Membership:
    """Add an existing user to the organization. Owners only."""
    require_owner(actor=actor, organization=organization)
    if role not in Membership.Role.values:
        raise InvalidInput(f"Unknown role {role!r}.", errors={"role": ["Choose owner or member."]})
    user = User.objects.filter(email=normalize_email(email), is_active=True).first()
    if user is None:
        message = "No Wellspring account has that email address; ask them to sign up first."
        raise InvalidInput(message, errors={"email": [message]})
    membership, created = Membership.objects.get_or_create(
        user=user, organization=organization, defaults={"role": role}
    )
    if not created and membership.role != role:
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


def remove_member(*, actor: User, organization: Organization, user: User) -> None:
    """Remove a member. Their API keys stop working at once, since keys act as their creator.

    Raises InvalidInput when it would leave the organization without an owner.
    """
    require_owner(actor=actor, organization=organization)
    with transaction.atomic():
        memberships = list(
            Membership.objects.select_for_update().filter(organization=organization).order_by("pk")
        )
        target = next((m for m in memberships if m.user_id == user.pk), None)
        if target is None:
            raise NotFound("That person is not a member of this organization.")
        owners = [m for m in memberships if m.is_owner]
        if target.is_owner and len(owners) == 1:
            raise InvalidInput("An organization needs at least one owner.")
        target.delete()


def _new_raw_key() -> tuple[str, str]:
    prefix = f"{API_KEY_PREFIX}_{random_base32(8)}"
    return prefix, f"{prefix}_{random_base32(32)}"


def create_api_key(
    *,
    actor: User,
    organization: Organization,
    name: str,
    scopes: list[str] | None = None,
    expires_at: datetime | None = None,
    now: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Create an API key; returns it with the plain key, which is never shown again.

    Owners only. Raises InvalidInput for an empty name, an unknown scope or a past expiry.
    """
    require_owner(actor=actor, organization=organization)
    now = now or timezone.now()
    name = name.strip()
    if not name:
        raise InvalidInput(
            "Give the key a name, so you know later what uses it.", errors={"name": ["Required."]}
        )
    scopes = list(dict.fromkeys(scopes or [ApiKey.Scope.ALL.value]))
    unknown = [scope for scope in scopes if scope not in ApiKey.Scope.values]
    if unknown:
        raise InvalidInput(
            f"Unknown scope {unknown[0]!r}; choose from {', '.join(ApiKey.Scope.values)}.",
            errors={"scopes": [f"Unknown scope {scope!r}." for scope in unknown]},
        )
    if expires_at is not None and expires_at <= now:
        raise InvalidInput(
            "The expiry date must be in the future.",
            errors={"expires_at": ["Must be in the future."]},
        )
    prefix, raw_key = _new_raw_key()
    api_key = ApiKey.objects.create(
        organization=organization,
        name=name,
        prefix=prefix,
        key_hash=ApiKey.hash_secret(raw_key),
        scopes=scopes,
        created_by=actor,
        created_at=now,
        expires_at=expires_at,
    )
    logger.info("api key %s created for organization %s", api_key.prefix, organization.slug)
    return api_key, raw_key


def revoke_api_key(
    *, actor: User, organization: Organization, key_id: str, now: datetime | None = None
) -> ApiKey:
    """Revoke a key of the organization. Owners only; another organization's key is NotFound."""
    require_owner(actor=actor, organization=organization)
    api_key = ApiKey.objects.filter(organization=organization, pk=key_id).first()
    if api_key is None:
        raise NotFound("No such API key.")
    if api_key.revoked_at is None:
        api_key.revoked_at = now or timezone.now()
        api_key.save(update_fields=["revoked_at"])
        logger.info("api key %s revoked", api_key.prefix)
    return api_key


def authenticate_api_key(*, raw_key: str, now: datetime | None = None) -> ApiKey | None:
    """The usable key matching `raw_key`, or None.

    A key works only while it is neither revoked nor expired, its organization is active and its
    creator is still an active member of that organization.
    """
    now = now or timezone.now()
    raw_key = raw_key.strip()
    parts = raw_key.split("_")
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    prefix = f"{parts[0]}_{parts[1]}"
    api_key = (
        ApiKey.objects.select_related("organization", "created_by").filter(prefix=prefix).first()
    )
    if api_key is None:
        return None
    if not secrets.compare_digest(api_key.key_hash, ApiKey.hash_secret(raw_key)):
        return None
    if (
        not api_key.is_usable(now)
        or not api_key.organization.is_active
        or not api_key.created_by.is_active
    ):
        return None
    if membership_in(organization=api_key.organization, user=api_key.created_by) is None:
        return None
    if api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key


def emit_event(
    *, organization: Organization, type: str, data: dict, now: datetime | None = None
) -> Event:
    """Record an event for the organization, to be listed at /api/v1/events/ and sent to webhooks.

    Each enabled webhook endpoint listening to the type gets a delivery, sent by a task after
    the commit.

    Call it inside the transaction of the state change it reports, so that a rolled-back change
    announces nothing. `data` carries ids and states, never secrets. Raises InvalidInput for an
    unknown type.
    """
    # Imported here: webhooks builds on this module's require_owner.
    from accounts.webhooks import schedule_deliveries

    if type not in Event.Type.values:
        raise InvalidInput(f"Unknown event type {type!r}.")
    event = Event.objects.create(
        organization=organization, type=type, data=data, created_at=now or timezone.now()
    )
    schedule_deliveries(event=event)
    return event


def emit_events(*, events: list[dict], now: datetime | None = None) -> list[Event]:
    """`emit_event` for many events at once (each dict: `organization`, `type`, `data`): one
    insert of the events and one of their webhook deliveries, for batch writers. Same rules:
    inside the transaction of the change; InvalidInput for an unknown type."""
    from accounts.webhooks import schedule_deliveries_of

    unknown = {event["type"] for event in events} - set(Event.Type.values)
    if unknown:
        raise InvalidInput(f"Unknown event type {sorted(unknown)[0]!r}.")
    created_at = now or timezone.now()
    rows = insert_objects([Event(created_at=created_at, **event) for event in events])
    schedule_deliveries_of(events=rows)
    return rows


def record_api_key_call(
    *, api_key: ApiKey, method: str, path: str, status: int, now: datetime | None = None
) -> ApiKeyCall:
    """Log one request made with the key, for its organization's owners to see."""
    return ApiKeyCall.objects.create(
        api_key=api_key,
        method=method[:10],
        path=path[:300],
        status=status,
        created_at=now or timezone.now(),
    )


def prune_api_records(*, now: datetime | None = None) -> dict[str, int]:
    """Delete API key calls past API_CALL_RETENTION_DAYS and idempotency keys past their 24 hours.

    Safe to run repeatedly and concurrently; returns how many rows of each went.
    """
    now = now or timezone.now()
    calls, _ = ApiKeyCall.objects.filter(
        created_at__lt=now - timedelta(days=settings.API_CALL_RETENTION_DAYS)
    ).delete()
    keys, _ = IdempotencyRecord.objects.filter(
        created_at__lt=now - timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS)
    ).delete()
    return {"api_key_calls": calls, "idempotency_records": keys}


# --- Notifications ----------------------------------------------------------------------


def _send_notification_mail(recipients: list[tuple[str, str]], text: str, link: str) -> None:
    site = settings.SITE_URL
    subject = text if len(text) <= 78 else text[:77] + "…"
    body = f"{text}\n\n{site}{link}\n" if link else f"{text}\n"
    for email, _ in recipients:
        try:
            send_mail(f"[Wellspring] {subject}", body, None, [email])
        except Exception:
            # The in-app notification is the record; a mail server hiccup must not undo it.
            logger.exception("Could not send the %s notification mail", text[:40])


def notify(
    *,
    recipients,
    verb: str,
    text: str,
    link: str = "",
    organization: Organization | None = None,
    now: datetime | None = None,
) -> list[Notification]:
    """Tell each recipient (active users, deduplicated) something in the app and by email.

    Call it inside the transaction of the change it reports: the rows commit with it and the
    mails go out only after the commit (Django's email backend; the console in development).
    """
    now = now or timezone.now()
    people = {user.pk: user for user in recipients if user is not None and user.is_active}
    notifications = Notification.objects.bulk_create(
        [
            Notification(
                recipient=user,
                organization=organization,
                verb=verb,
                text=text[:500],
                link=link[:500],
                created_at=now,
            )
            for user in people.values()
        ]
    )
    if people:
        addresses = [(user.email, user.get_short_name()) for user in people.values()]
        transaction.on_commit(partial(_send_notification_mail, addresses, text, link))
    return notifications


def notify_organization(
    *, organization: Organization, verb: str, text: str, link: str = "", now=None
) -> list[Notification]:
    """`notify` every active member of the organization."""
    members = User.objects.filter(memberships__organization=organization, is_active=True)
    return notify(
        recipients=list(members),
        verb=verb,
        text=text,
        link=link,
        organization=organization,
        now=now,
    )


def notify_organizations(*, notices: list[dict], now=None) -> list[Notification]:
    """`notify_organization` for many notices at once (each dict: `organization`, `verb`,
    `text`, `link`): one read of all their members and one insert, for batch writers. The
    mails go out after the commit, as `notify` sends them."""
    now = now or timezone.now()
    members: dict = {}
    for membership in Membership.objects.filter(
        organization__in=[notice["organization"] for notice in notices], user__is_active=True
    ).select_related("user"):
        members.setdefault(membership.organization_id, {})[membership.user_id] = membership.user
    rows = []
    for notice in notices:
        people = members.get(notice["organization"].pk, {})
        link = notice.get("link", "")
        rows += [
            Notification(
                recipient=user,
                organization=notice["organization"],
                verb=notice["verb"],
                text=notice["text"][:500],
                link=link[:500],
                created_at=now,
            )
            for user in people.values()
        ]
        if people:
            addresses = [(user.email, user.get_short_name()) for user in people.values()]
            transaction.on_commit(partial(_send_notification_mail, addresses, notice["text"], link))
    return insert_objects(rows)


def notify_reviewers(*, verb: str, text: str, link: str = "", now=None) -> list[Notification]:
    """`notify` Wellspring's staff reviewers."""
    return notify(
        recipients=list(User.objects.filter(is_staff=True, is_active=True)),
        verb=verb,
        text=text,
        link=link,
        now=now,
    )


def mark_notifications_read(
    *, user: User, notification_ids: list[str] | None = None, now: datetime | None = None
) -> int:
    """Mark the user's notifications read: the given ones, or all. Returns how many changed."""
    now = now or timezone.now()
    unread = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if notification_ids is not None:
        unread = unread.filter(pk__in=notification_ids)
    return unread.update(read_at=now)
