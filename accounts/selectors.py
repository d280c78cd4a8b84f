"""Read queries for accounts. The first argument scopes the result."""

from django.db.models import QuerySet

from accounts.models import (
    ApiKey,
    ApiKeyCall,
    Event,
    Membership,
    Notification,
    Organization,
    User,
    WebhookDelivery,
    WebhookEndpoint,
)


def memberships_for_user(*, user: User) -> QuerySet[Membership]:
    if not user.is_authenticated:
        return Membership.objects.none()
    return (
        Membership.objects.filter(user=user, organization__is_active=True)
        .select_related("organization")
        .order_by("organization__name", "id")
    )


def membership_in(*, organization: Organization, user: User) -> Membership | None:
    if not user.is_authenticated:
        return None
    return (
        Membership.objects.filter(
            organization=organization, user=user, organization__is_active=True
        )
        .select_related("organization")
        .first()
    )


def members(*, organization: Organization) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(organization=organization)
        .select_related("user")
        .order_by("user__email")
    )


def api_keys(*, organization: Organization) -> QuerySet[ApiKey]:
    return (
        ApiKey.objects.filter(organization=organization)
        .select_related("created_by")
        .order_by("-created_at", "id")
    )


def recent_api_key_calls(*, organization: Organization, limit: int = 50) -> list[ApiKeyCall]:
    """The organization's latest API key calls, newest first, with their keys."""
    return list(
        ApiKeyCall.objects.filter(api_key__organization=organization)
        .select_related("api_key")
        .order_by("-created_at", "-id")[:limit]
    )


def notifications_of(*, user: User) -> QuerySet[Notification]:
    return Notification.objects.filter(recipient=user).order_by("-created_at", "-id")


def unread_notification_count(*, user: User) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


def webhook_endpoints(*, organization: Organization) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(organization=organization).order_by("-created_at", "id")


def webhook_endpoint(*, organization: Organization, endpoint_id: str) -> WebhookEndpoint | None:
    return webhook_endpoints(organization=organization).filter(pk=endpoint_id).first()


def webhook_deliveries(*, endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    """An endpoint's deliveries, newest first, with their events and attempts."""
    return (
        WebhookDelivery.objects.filter(endpoint=endpoint)
        .select_related("event")
        .prefetch_related("attempts")
        .order_by("-created_at", "-id")
    )


def events_of(*, organization: Organization) -> QuerySet[Event]:
    """The organization's events for polling systems, newest first (pings left out)."""
    return (
        Event.objects.filter(organization=organization)
        .exclude(type=Event.Type.PING)
        .order_by("-created_at", "-id")
    )
