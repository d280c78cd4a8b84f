"""The catalog API: read-only listings for procurement systems."""

import stripe
from django.conf import settings
from django.http import Http404
from django.urls import reverse
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response

from accounts.errors import Busy, Conflict, InvalidInput, NotFound
from accounts.idempotency import idempotent
from accounts.rest import (
    HasOrganization,
    HasScope,
    InputSerializer,
    PagePagination,
    document_rules,
    request_organization,
)
from licensing.models import Agreement, LicenseOption, Use
from licensing.money import (
    FILTER_AMOUNT_PATTERN,
    SUPPORTED_CURRENCIES,
    filter_amount_minor,
)
from licensing.odrl import odrl_for_option
from marketplace import selectors, services
from marketplace.forms import TEST_CARDS
from marketplace.models import Listing, Order
from provenance.models import Dataset
from provenance.selectors import quality_report_of

PROBLEM = OpenApiResponse(description="Problem details (RFC 9457), `application/problem+json`.")


class MoneySerializer(serializers.Serializer):
    amount_minor = serializers.IntegerField(
        help_text="Integer amount in the currency's minor unit (cents)."
    )
    currency = serializers.CharField(help_text="ISO 4217 code.")


class TermsSerializer(serializers.Serializer):
    permitted_uses = serializers.ListField(child=serializers.ChoiceField(choices=Use.choices))
    commercial_use = serializers.BooleanField()
    term_days = serializers.IntegerField(allow_null=True, help_text="Null for perpetual.")
    territories = serializers.ListField(child=serializers.CharField())
    is_exclusive = serializers.BooleanField()
    attribution_required = serializers.BooleanField()
    model_cap = serializers.IntegerField(allow_null=True)
    seat_cap = serializers.IntegerField(allow_null=True)
    price_model = serializers.CharField()
    price_minor = serializers.IntegerField()
    currency = serializers.CharField()


_NODE = {"type": "object", "additionalProperties": True}
ODRL_POLICY_SCHEMA = {
    "type": "object",
    "description": "The option's terms as an ODRL 2.2 `Offer` in JSON-LD, the creator "
    "organization as assigner (docs/odrl.md). Also downloadable from the dataset page.",
    "properties": {
        "@context": {
            "type": "array",
            "items": {"oneOf": [{"type": "string"}, _NODE]},
            "description": "The ODRL context, then Wellspring's vocabulary (`ws:`).",
        },
        "@type": {"type": "string", "enum": ["Offer"]},
        "uid": {"type": "string", "format": "uri", "description": "Changes with the terms."},
        "profile": {"type": "string", "format": "uri"},
        "target": _NODE,
        "assigner": _NODE,
        "permission": {
            "type": "array",
            "items": _NODE,
            "description": "One `use` permission per permitted use (a `purpose` constraint).",
        },
        "obligation": {
            "type": "array",
            "items": _NODE,
            "description": "`compensate` (the price); `ensureExclusivity` when exclusive.",
        },
        "ws:termsSha256": {"type": "string", "description": "The same as `terms_hash`."},
        "ws:exclusive": {"type": "boolean"},
    },
    "required": ["@context", "@type", "uid", "target", "assigner", "permission", "obligation"],
    "additionalProperties": True,
}


class LicenseOptionSerializer(serializers.ModelSerializer):
    price = serializers.SerializerMethodField()
    terms = serializers.SerializerMethodField()
    terms_hash = serializers.SerializerMethodField()
    plain_language = serializers.SerializerMethodField()
    odrl = serializers.SerializerMethodField()
    odrl_url = serializers.SerializerMethodField()

    class Meta:
        model = LicenseOption
        fields = [
            "id",
            "name",
            "price",
            "terms",
            "terms_hash",
            "plain_language",
            "odrl",
            "odrl_url",
        ]

    @extend_schema_field(MoneySerializer)
    def get_price(self, option) -> dict:
        return {"amount_minor": option.price_minor, "currency": option.currency}

    @extend_schema_field(TermsSerializer)
    def get_terms(self, option) -> dict:
        return option.terms_dict()

    def get_terms_hash(self, option) -> str:
        return option.terms_hash()

    def get_plain_language(self, option) -> list[str]:
        return option.plain_language()

    @extend_schema_field(ODRL_POLICY_SCHEMA)
    def get_odrl(self, option) -> dict:
        return odrl_for_option(option)

    def get_odrl_url(self, option) -> str:
        """The same policy as a JSON-LD download (`application/ld+json`)."""
        return reverse("catalog:option-odrl", args=[option.dataset.slug, option.pk])


class CreatorSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()


class VersionFactsSerializer(serializers.Serializer):
    id = serializers.CharField()
    number = serializers.IntegerField()
    merkle_root = serializers.CharField()
    file_count = serializers.IntegerField()
    total_bytes = serializers.IntegerField()
    total_records = serializers.IntegerField(allow_null=True)
    approved_at = serializers.DateTimeField(allow_null=True)


class ListingSerializer(serializers.ModelSerializer):
    slug = serializers.CharField(source="dataset.slug")
    title = serializers.CharField(source="dataset.title")
    summary = serializers.CharField(source="dataset.summary")
    modality = serializers.ChoiceField(source="dataset.modality", choices=Dataset.Modality.choices)
    languages = serializers.ListField(source="dataset.languages", child=serializers.CharField())
    tags = serializers.ListField(source="dataset.tags", child=serializers.CharField())
    creator = CreatorSerializer(source="dataset.organization")
    version = VersionFactsSerializer()
    price_from = serializers.SerializerMethodField()
    permitted_uses = serializers.SerializerMethodField()

    class Meta:
        model = Listing
        fields = [
            "id",
            "slug",
            "title",
            "summary",
            "modality",
            "languages",
            "tags",
            "creator",
            "version",
            "price_from",
            "permitted_uses",
            "published_at",
        ]

    @extend_schema_field(MoneySerializer(allow_null=True))
    def get_price_from(self, listing) -> dict | None:
        if listing.price_from_minor is None:
            return None
        return {"amount_minor": listing.price_from_minor, "currency": listing.price_from_currency}

    def get_permitted_uses(self, listing) -> list[str]:
        return sorted(
            {
                use
                for option in getattr(listing.dataset, "active_options", [])
                for use in option.permitted_uses
            }
        )


class QualitySummarySerializer(serializers.Serializer):
    state = serializers.CharField(help_text="`done` once measured; figures are null before.")
    records_measured = serializers.IntegerField(allow_null=True)
    exact_duplicate_bps = serializers.IntegerField(allow_null=True, help_text="10000 = 100%.")
    near_duplicate_bps = serializers.IntegerField(allow_null=True)
    has_synthetic_signals = serializers.BooleanField(
        help_text="Any synthetic-content signal measured, evidence or heuristic."
    )
    synthetic_evidence_bps = serializers.IntegerField(
        allow_null=True, help_text="Items with embedded evidence (C2PA, IPTC, generator tags)."
    )
    synthetic_heuristic_bps = serializers.IntegerField(
        allow_null=True, help_text="Records flagged by statistical text signals (not proof)."
    )
    personal_data_hits = serializers.IntegerField()
    catalog_overlap_bps = serializers.IntegerField(
        allow_null=True, help_text="The largest share of records found in one other listing."
    )
    figures_sha256 = serializers.CharField()
    method_version = serializers.CharField()
    finished_at = serializers.DateTimeField(allow_null=True)
    report_url = serializers.CharField(help_text="The full report with every method.")


class LicenseOverlapSerializer(serializers.Serializer):
    dataset_slug = serializers.CharField()
    dataset_title = serializers.CharField()
    version_id = serializers.CharField(help_text="The licensed version that holds the records.")
    records = serializers.IntegerField()
    share_bps = serializers.IntegerField(help_text="Of this version's indexed records.")


class ListingDetailSerializer(ListingSerializer):
    description = serializers.CharField(source="dataset.description", help_text="Markdown.")
    license_options = LicenseOptionSerializer(source="dataset.active_options", many=True)
    quality = serializers.SerializerMethodField()
    overlap_with_licenses = serializers.SerializerMethodField()

    class Meta(ListingSerializer.Meta):
        fields = [
            *ListingSerializer.Meta.fields,
            "description",
            "license_options",
            "quality",
            "overlap_with_licenses",
        ]

    @extend_schema_field(
        QualitySummarySerializer(
            allow_null=True, help_text="The measured quality card's key figures; null if never."
        )
    )
    def get_quality(self, listing) -> dict | None:
        report = quality_report_of(version=listing.version)
        if report is None:
            return None
        return {
            **{name: getattr(report, name) for name in QUALITY_SUMMARY_FIELDS},
            "report_url": f"/api/v1/versions/{listing.version_id}/quality/",
        }

    @extend_schema_field(
        LicenseOverlapSerializer(
            many=True,
            help_text="For a buyer organization: its licensed datasets that already hold this "
            "version's records, largest share first. Empty without an organization.",
        )
    )
    def get_overlap_with_licenses(self, listing) -> list[dict]:
        return selectors.overlaps_with_licenses(
            organization=self.context.get("organization"), version=listing.version
        )


QUALITY_SUMMARY_FIELDS = [
    name for name in QualitySummarySerializer().fields if name != "report_url"
]


class CatalogQuerySerializer(InputSerializer):
    """The catalog's filters. An empty value (`modality=`) means no filter, as a search form
    sends it; the schema says so by allowing the empty string."""

    q = serializers.CharField(required=False, allow_blank=True, max_length=200)
    modality = serializers.ChoiceField(
        required=False, allow_blank=True, choices=Dataset.Modality.choices
    )
    language = serializers.RegexField(
        r"^[a-zA-Z]{2,3}$", required=False, allow_blank=True, trim_whitespace=False
    )
    use = serializers.ChoiceField(required=False, allow_blank=True, choices=Use.choices)
    price_max = serializers.RegexField(
        FILTER_AMOUNT_PATTERN,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text="Highest 'price from', in major units, e.g. 500.00 (digits past the "
        "currency's minor unit are ignored).",
    )
    currency = serializers.ChoiceField(
        required=False,
        allow_blank=True,
        choices=SUPPORTED_CURRENCIES,
        default="USD",
        help_text="Of `price_max`; USD when empty.",
    )
    price = serializers.ChoiceField(
        required=False,
        allow_blank=True,
        choices=list(selectors.PRICE_BUCKETS),
        help_text="A price facet bucket.",
    )
    authorship = serializers.ChoiceField(
        required=False,
        allow_blank=True,
        choices=selectors.AUTHORSHIP.choices,
        help_text="Human, hybrid, synthetic.",
    )
    size = serializers.ChoiceField(
        required=False,
        allow_blank=True,
        choices=list(selectors.SIZE_BUCKETS),
        help_text="A size facet bucket.",
    )
    exclusive = serializers.BooleanField(
        required=False, default=False, help_text="Only listings offering an exclusive license."
    )
    sort = serializers.ChoiceField(
        required=False,
        allow_blank=True,
        choices=list(selectors.SORTS),
        help_text="Default: relevance when `q` is given, else newest.",
    )
    facets = serializers.BooleanField(
        required=False, default=False, help_text="Also return facet counts under `facets`."
    )
    no_synthetic = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Human-made: only listings whose measured quality card found no synthetic "
        "signals (neither evidence nor heuristics). Unmeasured listings are left out.",
    )
    few_duplicates = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Only listings whose measured near-duplicate rate is under 1%.",
    )
    no_overlap = serializers.BooleanField(
        required=False,
        default=False,
        help_text="No overlap with my licenses: leaves out what the caller's organization "
        "already licenses and every listing with records found in those versions (the quality "
        "card's novelty index). Needs an API key or a session with an organization (else 400).",
    )

    def validate(self, attrs):
        price_max = attrs.pop("price_max", None)
        attrs["currency"] = attrs.get("currency") or "USD"
        attrs["price_max_minor"] = None
        if price_max:
            try:
                attrs["price_max_minor"] = filter_amount_minor(price_max, attrs["currency"])
            except ValueError as error:
                raise serializers.ValidationError({"price_max": [str(error)]}) from error
        return attrs


class CatalogPagination(PagePagination):
    """The shared page shape, plus `facets` when the caller asks for them."""

    def get_paginated_response_schema(self, schema):
        page = super().get_paginated_response_schema(schema)
        page["properties"]["facets"] = {
            "type": "object",
            "description": "With `facets=true` only: for each facet (modality, language, use, "
            "price, authorship, size, exclusive) a list of `{value, label, count}`.",
            "additionalProperties": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "value": {"type": "string"},
                        "label": {"type": "string"},
                        "count": {"type": "integer"},
                    },
                },
            },
        }
        return page


def catalog_filters(data: dict, *, organization=None) -> selectors.CatalogFilters:
    excluded = frozenset()
    if data.get("no_overlap"):
        excluded = selectors.overlapping_versions(organization=organization)
    return selectors.CatalogFilters(
        q=data.get("q", ""),
        modality=data.get("modality", ""),
        language=data.get("language", ""),
        use=data.get("use", ""),
        price_max_minor=data.get("price_max_minor"),
        price=data.get("price", ""),
        authorship=data.get("authorship", ""),
        size=data.get("size", ""),
        exclusive=data.get("exclusive", False),
        sort=data.get("sort", ""),
        no_synthetic=data.get("no_synthetic", False),
        few_duplicates=data.get("few_duplicates", False),
        excluded_versions=excluded,
    )


@extend_schema_view(
    list=extend_schema(
        operation_id="listings_list",
        summary="Search the catalog",
        parameters=[CatalogQuerySerializer],
        responses={200: ListingSerializer(many=True), 400: PROBLEM},
    ),
    retrieve=extend_schema(
        operation_id="listings_retrieve",
        summary="A listing with its license options and terms",
        responses={200: ListingDetailSerializer, 404: PROBLEM},
    ),
)
class ListingViewSet(viewsets.ReadOnlyModelViewSet):
    """The public catalog. Anonymous reads are allowed; API keys need `catalog:read`."""

    permission_classes = [AllowAny, HasScope]
    required_scopes = {"*": "catalog:read"}
    pagination_class = CatalogPagination
    lookup_field = "slug"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"

    def get_serializer_class(self):
        return ListingDetailSerializer if self.action == "retrieve" else ListingSerializer

    def get_queryset(self):
        if self.action == "retrieve":
            return selectors.public_listings()
        return selectors.listings_for_catalog(filters=self._filters())

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "organization": self._organization()}

    def _organization(self):
        return request_organization(self.request)

    def _query(self) -> dict:
        if not hasattr(self, "_validated_query"):
            query = CatalogQuerySerializer(data=self.request.query_params)
            query.is_valid(raise_exception=True)
            if query.validated_data.get("no_overlap") and self._organization() is None:
                raise InvalidInput(
                    "no_overlap compares with your organization's licenses: call with an API "
                    "key or a session of a buyer organization.",
                    errors={"no_overlap": ["Needs an organization."]},
                )
            self._validated_query = dict(query.validated_data)
        return self._validated_query

    def _filters(self) -> selectors.CatalogFilters:
        if not hasattr(self, "_catalog_filters"):
            self._catalog_filters = catalog_filters(
                self._query(), organization=self._organization()
            )
        return self._catalog_filters

    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        if self._query().get("facets"):
            response.data["facets"] = selectors.catalog_facets(filters=self._filters())
        return response

    def get_object(self):
        listing = selectors.listing_by_slug(slug=self.kwargs["slug"])
        if listing is None:
            raise Http404("No published listing has this slug.")
        return listing


# --- Orders (checkout) ---------------------------------------------------------------------


class InvoiceSummarySerializer(serializers.Serializer):
    number = serializers.CharField()
    issued_at = serializers.DateTimeField()
    due_at = serializers.DateTimeField()
    paid_at = serializers.DateTimeField(allow_null=True)
    pdf_url = serializers.CharField()


class OrderSerializer(serializers.ModelSerializer):
    amount = serializers.SerializerMethodField()
    platform_fee = serializers.SerializerMethodField()
    creator_share = serializers.SerializerMethodField()
    refunded = serializers.SerializerMethodField()
    version = serializers.CharField(source="version_id")
    option = serializers.CharField(source="option_id", allow_null=True)
    agreement = serializers.CharField(source="agreement_id", allow_null=True)
    license = serializers.CharField(source="license_id", allow_null=True)
    invoice = serializers.SerializerMethodField()
    payment_state = serializers.SerializerMethodField()

    class Meta:
        model = Order
        fields = [
            "id",
            "status",
            "version",
            "option",
            "agreement",
            "terms",
            "terms_sha256",
            "amount",
            "platform_fee",
            "creator_share",
            "refunded",
            "payment_method",
            "payment_state",
            "po_number",
            "billing_company",
            "billing_address",
            "billing_vat_id",
            "license",
            "invoice",
            "created_at",
            "expires_at",
            "paid_at",
        ]

    def _money(self, amount: int, order: Order) -> dict:
        return {"amount_minor": amount, "currency": order.currency}

    @extend_schema_field(MoneySerializer)
    def get_amount(self, order) -> dict:
        return self._money(order.amount_minor, order)

    @extend_schema_field(MoneySerializer)
    def get_platform_fee(self, order) -> dict:
        return self._money(order.platform_fee_minor, order)

    @extend_schema_field(MoneySerializer)
    def get_creator_share(self, order) -> dict:
        return self._money(order.creator_share_minor, order)

    @extend_schema_field(MoneySerializer)
    def get_refunded(self, order) -> dict:
        return self._money(order.refunded_minor, order)

    @extend_schema_field(InvoiceSummarySerializer(allow_null=True))
    def get_invoice(self, order) -> dict | None:
        invoice = getattr(order, "invoice", None) if order.payment_method == "invoice" else None
        if invoice is None:
            return None
        return {
            "number": invoice.number,
            "issued_at": invoice.issued_at,
            "due_at": invoice.due_at,
            "paid_at": invoice.paid_at,
            "pdf_url": f"/library/orders/{order.pk}/invoice.pdf",
        }

    def get_payment_state(self, order) -> str:
        """`awaiting_payment`, `paid`, `refunded`, `partially_refunded`, `disputed` or `closed`."""
        if order.status == Order.Status.PENDING:
            return "awaiting_payment"
        if order.status in (Order.Status.PAID, Order.Status.FULFILLED):
            return "paid"
        if order.status in (Order.Status.CANCELED, Order.Status.EXPIRED):
            return "closed"
        return order.status


class CardPaymentSerializer(serializers.Serializer):
    client_secret = serializers.CharField(help_text="Confirm it with Stripe.js.")
    publishable_key = serializers.CharField()
    test_mode = serializers.BooleanField()


class CreatedOrderSerializer(OrderSerializer):
    card_payment = serializers.SerializerMethodField()

    class Meta(OrderSerializer.Meta):
        fields = [*OrderSerializer.Meta.fields, "card_payment"]

    @extend_schema_field(CardPaymentSerializer(allow_null=True))
    def get_card_payment(self, order) -> dict | None:
        return self.context.get("card_payment")


@document_rules(
    # A license option or an accepted agreement, never both.
    oneOf=[
        {"required": ["option"], "not": {"required": ["agreement"]}},
        {"required": ["agreement"], "not": {"required": ["option"]}},
    ]
)
class OrderInputSerializer(InputSerializer):
    option = serializers.CharField(
        required=False, help_text="A license option id (`opt_...`) of a published listing."
    )
    agreement = serializers.CharField(
        required=False, help_text="Or an accepted agreement id (`agr_...`) of your organization."
    )
    payment_method = serializers.ChoiceField(choices=Order.PaymentMethod.choices, default="card")
    po_number = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    billing_company = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default=""
    )
    billing_address = serializers.CharField(required=False, allow_blank=True, default="")
    billing_vat_id = serializers.CharField(
        max_length=32, required=False, allow_blank=True, default=""
    )

    def validate(self, data):
        if bool(data.get("option")) == bool(data.get("agreement")):
            raise serializers.ValidationError(
                {"option": ["Name either the license option or the agreement to buy."]}
            )
        return data


class TestPaymentSerializer(serializers.Serializer):
    card = serializers.ChoiceField(
        choices=TEST_CARDS,
        required=False,
        default=TEST_CARDS[0][0],
        help_text="A Stripe test card: `4242424242424242` succeeds, "
        "`pm_card_chargeCustomerFail` is declined.",
    )


@extend_schema_view(
    list=extend_schema(
        operation_id="orders_list",
        summary="Your organization's orders, newest first",
        responses={200: OrderSerializer(many=True)},
    ),
    retrieve=extend_schema(
        operation_id="orders_retrieve",
        summary="One order, with its payment state",
        responses={200: OrderSerializer, 404: PROBLEM},
    ),
)
class OrderViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The caller organization's orders. Another organization's order answers 404."""

    serializer_class = OrderSerializer
    permission_classes = [IsAuthenticated, HasScope, HasOrganization]
    required_scopes = {"GET": "licenses:read", "POST": "orders:write"}
    lookup_value_regex = r"[a-z]+_[0-9a-z]+"

    def get_queryset(self):
        return selectors.orders_of(organization=request_organization(self.request))

    def get_object(self):
        order = selectors.order_of(
            organization=request_organization(self.request), order_id=self.kwargs["pk"]
        )
        if order is None:
            raise Http404("No such order.")
        return order

    @extend_schema(
        operation_id="orders_test_payment",
        summary="Test mode only: pay a card order with a Stripe test card",
        description="For procurement systems and scripts under test, with no browser to run "
        "Stripe.js: Wellspring confirms the order's PaymentIntent with the test card at Stripe "
        "(localstripe in development) and reads the outcome back, as the checkout page's test "
        "card does. The license follows as for any card payment. 409 outside test mode or for "
        "an order not awaiting a card payment; 400 `card_declined` for a declined card.",
        request=TestPaymentSerializer,
        responses={
            200: OrderSerializer,
            400: PROBLEM,
            403: PROBLEM,
            404: PROBLEM,
            409: PROBLEM,
            503: PROBLEM,
        },
    )
    @idempotent
    @action(detail=True, methods=["post"], url_path="test-payment")
    def test_payment(self, request, pk=None):
        order = self.get_object()
        serializer = TestPaymentSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if not settings.STRIPE_TEST_MODE:
            raise Conflict(
                "Test cards work only in test mode; confirm the client secret with Stripe.js.",
                code="not_test_mode",
            )
        if order.payment_method != Order.PaymentMethod.CARD or order.status != "pending":
            raise Conflict("This order is not awaiting a card payment.", code="not_awaiting_card")
        try:
            order = services.pay_with_test_card(order=order, card=serializer.validated_data["card"])
        except stripe.StripeError:
            raise Busy("Stripe did not answer as expected; try again in a moment.") from None
        order = self.get_object()
        return Response(OrderSerializer(order).data)

    @extend_schema(
        operation_id="orders_create",
        summary="Place an order for a license option (card or invoice)",
        description="Card orders return a PaymentIntent `client_secret` to confirm with "
        "Stripe.js; the license is granted when Stripe reports the payment. Invoice orders need "
        "`po_number` and `billing_company`; the license is granted when the invoice is paid. "
        "Send an `Idempotency-Key` header: a retry returns the first order.",
        request=OrderInputSerializer,
        responses={
            201: CreatedOrderSerializer,
            400: PROBLEM,
            403: PROBLEM,
            404: PROBLEM,
            409: PROBLEM,
            422: PROBLEM,
        },
    )
    @idempotent
    def create(self, request):
        serializer = OrderInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        organization = request_organization(request)
        # Replays are answered by @idempotent; the key on the order is the last line of defence.
        key = request.headers.get("Idempotency-Key", "")
        agreement_id = data.pop("agreement", "")
        option_id = data.pop("option", "")
        if agreement_id:
            agreement = Agreement.objects.filter(pk=agreement_id, buyer_org=organization).first()
            if agreement is None:
                raise NotFound("No such agreement.")
            order = services.create_order_from_agreement(
                actor=request.user,
                organization=organization,
                agreement=agreement,
                idempotency_key=key,
                **data,
            )
        else:
            option = LicenseOption.objects.filter(pk=option_id, is_active=True).first()
            if option is None:
                raise NotFound("No such license option on sale.")
            order = services.create_order(
                actor=request.user,
                organization=organization,
                option=option,
                idempotency_key=key,
                **data,
            )
        card_payment = None
        if order.payment_method == Order.PaymentMethod.CARD and order.status == "pending":
            card_payment = {
                "client_secret": services.start_card_payment(order=order),
                "publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
                "test_mode": settings.STRIPE_TEST_MODE,
            }
        order.refresh_from_db()
        body = CreatedOrderSerializer(order, context={"card_payment": card_payment}).data
        return Response(body, status=status.HTTP_201_CREATED)
