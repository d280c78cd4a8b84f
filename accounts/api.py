"""The API of accounts: outbound webhook endpoints and the organization's events.

Both need the `webhooks:manage` scope; events are the same feed webhooks deliver, for systems
that poll. Changing endpoints is for owners (a member's session gets 403).
"""

import base64
import binascii
import json
import operator
from dataclasses import dataclass
from functools import reduce

from django.core.validators import RegexValidator
from django.db.models import Q
from django.http import Http404
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from accounts import selectors, webhooks
from accounts.idempotency import idempotent
from accounts.models import Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from accounts.rest import (
    HasOrganization,
    HasScope,
    InputSerializer,
    StrictPageSizeMixin,
    request_organization,
)

PROBLEM = OpenApiResponse(description="Problem details (RFC 9457), `application/problem+json`.")
READ_ERRORS = {401: PROBLEM, 403: PROBLEM, 404: PROBLEM, 429: PROBLEM}
WRITE_ERRORS = {400: PROBLEM, **READ_ERRORS}

EVENT_TYPES = [value for value in Event.Type.values if value != Event.Type.PING]


class CountedCursorPagination(StrictPageSizeMixin, CursorPagination):
    """Cursor pages that stay stable while rows are added, with the total like every list.

    A keyset cursor: it carries the values of every `ordering` field of the row it stops at (the
    last field unique, the tie-breaker), and the next page starts strictly after them. So no row
    is repeated or skipped when rows are added between two fetches, even when many rows share a
    timestamp (DRF's own cursor keeps only the first field and an offset, which shifts then).

    `page=N` still answers the Nth page by offset, for clients written when lists had page
    numbers; such a page shifts when rows arrive, its `next` and `previous` are cursors again.
    An unreadable cursor or a page past the end answers 404, as before.
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 100
    ordering = ("-created_at", "-id")
    page_query_param = "page"
    template = None

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.page_size = self.get_page_size(request)
        self.base_url = remove_query_param(request.build_absolute_uri(), self.page_query_param)
        self.count = queryset.count()
        cursor = self.decode_cursor(request)
        reverse = cursor.reverse if cursor else False
        ordering = tuple(self.ordering)
        if reverse:
            ordering = tuple(f[1:] if f.startswith("-") else f"-{f}" for f in ordering)
        queryset = queryset.order_by(*ordering)
        offset = 0
        if cursor is not None:
            queryset = queryset.filter(_after(ordering, cursor.position))
        else:
            offset = self._page_offset(request)
            if offset and offset >= self.count:
                raise NotFound("Invalid page.")
        rows = list(queryset[offset : offset + self.page_size + 1])
        page = rows[: self.page_size]
        has_more = len(rows) > self.page_size
        if reverse:
            page.reverse()
            self.has_next, self.has_previous = True, has_more
        else:
            self.has_next, self.has_previous = has_more, cursor is not None or offset > 0
        self.page = page
        return page

    def _page_offset(self, request) -> int:
        number = request.query_params.get(self.page_query_param)
        if number in (None, "", "1"):
            return 0
        if not (number.isascii() and number.isdigit()) or int(number) < 1:
            raise NotFound("Invalid page.")
        return (int(number) - 1) * self.page_size

    def _position(self, row) -> list[str]:
        values = []
        for field in self.ordering:
            value = row
            for name in field.lstrip("-").split("__"):
                value = getattr(value, name)
            values.append(value.isoformat() if hasattr(value, "isoformat") else str(value))
        return values

    def get_next_link(self):
        if not self.has_next or not self.page:
            return None
        return self.encode_cursor(_Cursor(self._position(self.page[-1]), reverse=False))

    def get_previous_link(self):
        if not self.has_previous or not self.page:
            return None
        return self.encode_cursor(_Cursor(self._position(self.page[0]), reverse=True))

    def decode_cursor(self, request):
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None
        try:
            token = json.loads(base64.urlsafe_b64decode(encoded.encode("ascii")))
            position, reverse = token["p"], token.get("r", 0)
            if (
                not isinstance(position, list)
                or len(position) != len(self.ordering)
                or not all(isinstance(value, str) for value in position)
                or reverse not in (0, 1)
            ):
                raise ValueError
        except (ValueError, TypeError, KeyError, UnicodeError, binascii.Error):
            raise NotFound("Invalid cursor.") from None
        return _Cursor(position, reverse=bool(reverse))

    def encode_cursor(self, cursor):
        token = json.dumps({"p": cursor.position, "r": int(cursor.reverse)}, separators=(",", ":"))
        encoded = base64.urlsafe_b64encode(token.encode()).decode("ascii")
        return replace_query_param(self.base_url, self.cursor_query_param, encoded)

    def get_paginated_response(self, data):
        return Response(
            {
                "count": self.count,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        result = super().get_paginated_response_schema(schema)
        result["properties"] = {
            "count": {"type": "integer", "example": 123},
            **result["properties"],
        }
        result["required"] = ["count", "next", "previous", "results"]
        return result

    def get_schema_operation_parameters(self, view):
        return [
            *super().get_schema_operation_parameters(view),
            {
                "name": self.page_query_param,
                "required": False,
                "in": "query",
                "description": "The Nth page by offset, for clients written for page numbers; "
                "it shifts when rows are added. Follow `next` instead.",
                "schema": {"type": "integer", "minimum": 1},
                "deprecated": True,
            },
        ]


@dataclass(frozen=True)
class _Cursor:
    position: list[str]
    reverse: bool


def _after(ordering: tuple[str, ...], position: list[str]) -> Q:
    """Rows strictly after `position` in `ordering`: compared field by field, left to right."""
    branches, equal = [], Q()
    for field, value in zip(ordering, position, strict=True):
        name = field.lstrip("-")
        branches.append(equal & Q(**{f"{name}__{'lt' if field.startswith('-') else 'gt'}": value}))
        equal &= Q(**{name: value})
    return reduce(operator.or_, branches)


# --- Serializers ------------------------------------------------------------------------------


class WebhookEndpointSerializer(serializers.ModelSerializer):
    enabled = serializers.BooleanField(source="is_enabled")
    status = serializers.ChoiceField(choices=["enabled", "disabled", "failing"])
    events = serializers.ListField(child=serializers.CharField())
    secret_rotation_ends_at = serializers.DateTimeField(
        source="previous_secret_expires_at", allow_null=True
    )

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "events",
            "enabled",
            "status",
            "failing_since",
            "secret_rotation_ends_at",
            "created_at",
        ]


class WebhookEndpointWithSecretSerializer(WebhookEndpointSerializer):
    secret = serializers.SerializerMethodField(
        help_text="The signing secret: shown in this response only."
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]

    def get_secret(self, endpoint) -> str:
        return self.context["secret"]


# The webhook URLs the API accepts, as one pattern the schema can state: an RFC 3986 URI with
# the scheme http or https, an optional user and password, a host name of up to six labels (up
# to 40 characters each, so the name stays within DNS's 253), an IPv4 address or localhost, a
# port, then path, query and fragment. Every URL it matches passes Django's URLValidator too,
# which the endpoint model applies.
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,38}[a-zA-Z0-9])?"
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_ESCAPE = r"%[0-9A-Fa-f]{2}"
_USER = rf"(?:[a-zA-Z0-9._~!$&'()*+,;=-]|{_ESCAPE})"
_PCHAR = rf"(?:[a-zA-Z0-9._~!$&'()*+,;=:@-]|{_ESCAPE})"
WEBHOOK_URL_PATTERN = (
    r"^[hH][tT][tT][pP][sS]?://"
    rf"(?:{_USER}+(?::{_USER}*)?@)?"
    rf"(?:(?:{_LABEL}\.){{1,5}}[a-zA-Z]{{2,40}}|{_OCTET}(?:\.{_OCTET}){{3}}"
    r"|[lL][oO][cC][aA][lL][hH][oO][sS][tT])"
    r"(?::[0-9]{1,5})?"
    rf"(?:/(?:{_PCHAR}|/)*)?(?:\?(?:{_PCHAR}|[/?])*)?(?:#(?:{_PCHAR}|[/?])*)?$"
)


@extend_schema_field(
    {
        "type": "string",
        "maxLength": 500,
        "pattern": WEBHOOK_URL_PATTERN,
        "example": "https://hooks.example.com/wellspring",
    }
)
class WebhookUrlField(serializers.URLField):
    def __init__(self, **kwargs):
        super().__init__(max_length=500, trim_whitespace=False, **kwargs)
        self.validators.append(
            RegexValidator(
                WEBHOOK_URL_PATTERN,
                message="An http or https URL with a host name, an IPv4 address or localhost.",
            )
        )


class WebhookEndpointInputSerializer(InputSerializer):
    url = WebhookUrlField()
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=["*", *EVENT_TYPES]),
        min_length=1,
        help_text='Event types to receive, or `["*"]` for all.',
    )


class WebhookEndpointUpdateSerializer(InputSerializer):
    url = WebhookUrlField(required=False)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=["*", *EVENT_TYPES]),
        min_length=1,
        required=False,
    )
    enabled = serializers.BooleanField(required=False, help_text="Enabling clears `failing`.")


class WebhookAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ["number", "started_at", "duration_ms", "status_code", "response_start", "error"]


class WebhookDeliverySerializer(serializers.ModelSerializer):
    event_type = serializers.CharField(source="event.type")
    attempts = WebhookAttemptSerializer(many=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "event",
            "event_type",
            "status",
            "attempt_count",
            "next_attempt_at",
            "created_at",
            "completed_at",
            "attempts",
        ]


class EventSerializer(serializers.ModelSerializer):
    type = serializers.ChoiceField(choices=Event.Type.choices)
    data = serializers.DictField()

    class Meta:
        model = Event
        fields = ["id", "type", "created_at", "data"]


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


# --- Views ------------------------------------------------------------------------------------


class OrganizationViewSet(viewsets.GenericViewSet):
    permission_classes = [IsAuthenticated, HasScope, HasOrganization]
    required_scopes = {"*": "webhooks:manage"}

    @property
    def organization(self):
        return request_organization(self.request)


@extend_schema_view(
    list=extend_schema(
        operation_id="webhook_endpoints_list",
        summary="The organization's webhook endpoints",
        responses={200: WebhookEndpointSerializer(many=True), **READ_ERRORS},
    ),
    retrieve=extend_schema(
        operation_id="webhook_endpoints_retrieve",
        summary="One webhook endpoint",
        responses={200: WebhookEndpointSerializer, **READ_ERRORS},
    ),
)
class WebhookEndpointViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationViewSet):
    """Endpoints that receive the organization's events, signed (see docs/webhooks.md)."""

    serializer_class = WebhookEndpointSerializer

    def get_queryset(self):
        return selectors.webhook_endpoints(organization=self.organization)

    def get_object(self):
        endpoint = selectors.webhook_endpoint(
            organization=self.organization, endpoint_id=self.kwargs["pk"]
        )
        if endpoint is None:
            raise Http404("No such webhook endpoint.")
        return endpoint

    @extend_schema(
        operation_id="webhook_endpoints_create",
        summary="Register a webhook endpoint; its signing secret is returned this once",
        request=WebhookEndpointInputSerializer,
        responses={201: WebhookEndpointWithSecretSerializer, **WRITE_ERRORS},
    )
    @idempotent
    def create(self, request):
        data = _valid(WebhookEndpointInputSerializer, request.data)
        endpoint, secret = webhooks.create_webhook_endpoint(
            actor=request.user, organization=self.organization, **data
        )
        return Response(
            WebhookEndpointWithSecretSerializer(endpoint, context={"secret": secret}).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        operation_id="webhook_endpoints_partial_update",
        summary="Change an endpoint's URL or events, or enable or disable it",
        request=WebhookEndpointUpdateSerializer,
        responses={200: WebhookEndpointSerializer, **WRITE_ERRORS},
    )
    def partial_update(self, request, pk=None):
        endpoint = self.get_object()
        data = _valid(WebhookEndpointUpdateSerializer, request.data)
        endpoint = webhooks.update_webhook_endpoint(
            actor=request.user, endpoint=endpoint, changes=data
        )
        return Response(WebhookEndpointSerializer(endpoint).data)

    @extend_schema(
        operation_id="webhook_endpoints_destroy",
        summary="Delete an endpoint and its delivery log",
        responses={204: None, **READ_ERRORS},
    )
    def destroy(self, request, pk=None):
        webhooks.delete_webhook_endpoint(actor=request.user, endpoint=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        operation_id="webhook_endpoints_ping",
        summary="Send a signed `ping` event to the endpoint now and report its answer",
        request=None,
        responses={200: WebhookDeliverySerializer, **READ_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def ping(self, request, pk=None):
        delivery = webhooks.ping_webhook_endpoint(actor=request.user, endpoint=self.get_object())
        delivery = selectors.webhook_deliveries(endpoint=delivery.endpoint).get(pk=delivery.pk)
        return Response(WebhookDeliverySerializer(delivery).data)

    @extend_schema(
        operation_id="webhook_endpoints_rotate_secret",
        summary="Replace the signing secret; the old one keeps signing for 24 hours",
        request=None,
        responses={200: WebhookEndpointWithSecretSerializer, **READ_ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        endpoint, secret = webhooks.rotate_webhook_secret(
            actor=request.user, endpoint=self.get_object()
        )
        return Response(
            WebhookEndpointWithSecretSerializer(endpoint, context={"secret": secret}).data
        )

    @extend_schema(
        operation_id="webhook_endpoints_deliveries_list",
        summary="The endpoint's delivery log: each attempt's status, duration and answer",
        responses={200: WebhookDeliverySerializer(many=True), **READ_ERRORS},
    )
    @action(detail=True, methods=["get"], pagination_class=CountedCursorPagination)
    def deliveries(self, request, pk=None):
        page = self.paginate_queryset(selectors.webhook_deliveries(endpoint=self.get_object()))
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)

    @extend_schema(
        operation_id="webhook_endpoints_deliveries_redeliver",
        summary="Send a delivery's event to the endpoint again (a new delivery)",
        request=None,
        responses={202: WebhookDeliverySerializer, **READ_ERRORS},
    )
    @idempotent
    @action(
        detail=True,
        methods=["post"],
        url_path=r"deliveries/(?P<delivery_id>whd_[0-9a-z]+)/redeliver",
    )
    def redeliver(self, request, pk=None, delivery_id=None):
        delivery = (
            selectors.webhook_deliveries(endpoint=self.get_object()).filter(pk=delivery_id).first()
        )
        if delivery is None:
            raise Http404("No such delivery.")
        again = webhooks.redeliver(actor=request.user, delivery=delivery)
        again = selectors.webhook_deliveries(endpoint=again.endpoint).get(pk=again.pk)
        return Response(WebhookDeliverySerializer(again).data, status=status.HTTP_202_ACCEPTED)


@extend_schema_view(
    list=extend_schema(
        operation_id="events_list",
        summary="The organization's events, newest first (cursor pages, stable while rows arrive)",
        responses={200: EventSerializer(many=True), **READ_ERRORS},
    ),
    retrieve=extend_schema(
        operation_id="events_retrieve",
        summary="One event",
        responses={200: EventSerializer, **READ_ERRORS},
    ),
)
class EventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationViewSet):
    """Everything webhooks deliver, for systems that poll."""

    serializer_class = EventSerializer
    pagination_class = CountedCursorPagination

    def get_queryset(self):
        return selectors.events_of(organization=self.organization)
