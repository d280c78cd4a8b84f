"""The catalog API: read-only listings for procurement systems."""

from django.http import Http404
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import serializers, viewsets
from rest_framework.permissions import AllowAny

from accounts.rest import HasScope
from licensing.models import LicenseOption, Use
from licensing.money import SUPPORTED_CURRENCIES, parse_major
from marketplace import selectors
from marketplace.models import Listing
from provenance.models import Dataset

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


class LicenseOptionSerializer(serializers.ModelSerializer):
    price = serializers.SerializerMethodField()
    terms = serializers.SerializerMethodField()
    terms_hash = serializers.SerializerMethodField()
    plain_language = serializers.SerializerMethodField()

    class Meta:
        model = LicenseOption
        fields = ["id", "name", "price", "terms", "terms_hash", "plain_language"]

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


class ListingDetailSerializer(ListingSerializer):
    description = serializers.CharField(source="dataset.description", help_text="Markdown.")
    license_options = LicenseOptionSerializer(source="dataset.active_options", many=True)

    class Meta(ListingSerializer.Meta):
        fields = [*ListingSerializer.Meta.fields, "description", "license_options"]


class CatalogQuerySerializer(serializers.Serializer):
    q = serializers.CharField(required=False, allow_blank=True, max_length=200)
    modality = serializers.ChoiceField(required=False, choices=Dataset.Modality.choices)
    language = serializers.RegexField(r"^[a-zA-Z]{2,3}$", required=False)
    use = serializers.ChoiceField(required=False, choices=Use.choices)
    price_max = serializers.CharField(
        required=False, help_text="Highest 'price from', in major units, e.g. 500.00."
    )
    currency = serializers.ChoiceField(required=False, choices=SUPPORTED_CURRENCIES, default="USD")
    sort = serializers.ChoiceField(required=False, choices=list(selectors.SORTS), default="newest")

    def validate(self, attrs):
        price_max = attrs.pop("price_max", None)
        attrs["price_max_minor"] = None
        if price_max:
            try:
                attrs["price_max_minor"] = parse_major(price_max, attrs.get("currency", "USD"))
            except ValueError as error:
                raise serializers.ValidationError({"price_max": [str(error)]}) from error
        return attrs


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
    lookup_field = "slug"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"

    def get_serializer_class(self):
        return ListingDetailSerializer if self.action == "retrieve" else ListingSerializer

    def get_queryset(self):
        if self.action == "retrieve":
            return selectors.public_listings()
        query = CatalogQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        return selectors.listings_for_catalog(
            filters=selectors.CatalogFilters(
                q=data.get("q", ""),
                modality=data.get("modality", ""),
                language=data.get("language", ""),
                use=data.get("use", ""),
                price_max_minor=data.get("price_max_minor"),
                sort=data.get("sort", "newest"),
            )
        )

    def get_object(self):
        listing = selectors.listing_by_slug(slug=self.kwargs["slug"])
        if listing is None:
            raise Http404("No published listing has this slug.")
        return listing
