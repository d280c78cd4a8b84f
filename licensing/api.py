"""The licenses API: a buyer's licenses, certificates and files; public certificate checks."""

from django.http import Http404
from django.urls import reverse
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api import CountedCursorPagination
from accounts.errors import Conflict, InvalidInput, NotFound
from accounts.idempotency import idempotent
from accounts.models import ApiKey
from accounts.rest import (
    HasOrganization,
    HasScope,
    InputSerializer,
    document_rules,
    request_organization,
)
from licensing import delivery as delivering
from licensing import manifests, selectors, services, summaries, usage
from licensing.models import Agreement, License, Offer, PriceModel, Proposal, UsageReport, Use
from licensing.money import SUPPORTED_CURRENCIES
from licensing.services import MAX_CAP, MAX_PRICE_MINOR, MAX_TERM_DAYS, verify_certificate
from provenance.models import Dataset, DatasetVersion

PROBLEM = OpenApiResponse(description="Problem details (RFC 9457), `application/problem+json`.")
ID_PATTERN = r"[a-z]+_[0-9a-z]+"


class LicensedVersionSerializer(serializers.Serializer):
    id = serializers.CharField()
    number = serializers.IntegerField()
    merkle_root = serializers.CharField()
    dataset = serializers.CharField(source="dataset.slug")
    title = serializers.CharField(source="dataset.title")


class LicenseSerializer(serializers.ModelSerializer):
    version = LicensedVersionSerializer()
    licensor = serializers.CharField(source="version.dataset.organization.slug")
    certificate_id = serializers.SerializerMethodField()

    class Meta:
        model = License
        fields = [
            "id",
            "status",
            "status_reason",
            "version",
            "licensor",
            "terms",
            "terms_sha256",
            "starts_at",
            "ends_at",
            "certificate_id",
            "created_at",
        ]

    def get_certificate_id(self, license) -> str | None:
        certificate = getattr(license, "certificate", None)
        return certificate.pk if certificate else None


class EnvelopeSerializer(InputSerializer):
    payload = serializers.DictField()
    kid = serializers.CharField()
    signature = serializers.CharField(help_text="base64url Ed25519 signature, unpadded.")


class FileSerializer(serializers.Serializer):
    path = serializers.CharField()
    size = serializers.IntegerField(help_text="Bytes as delivered (fingerprinted).")
    sha256 = serializers.CharField(help_text="SHA-256 of the bytes as delivered.")
    media_type = serializers.CharField()
    fingerprint = serializers.CharField(help_text="text-eol, png-text or none.")
    download_url = serializers.URLField(help_text="Signed; expires; supports HTTP Range.")


class FilesSerializer(serializers.Serializer):
    expires_in_seconds = serializers.IntegerField()
    archive_url = serializers.URLField(help_text="All files as one streamed ZIP.")
    files = FileSerializer(many=True)


@document_rules(anyOf=[{"required": ["certificate"]}, {"required": ["license_id"]}])
class VerifyInputSerializer(InputSerializer):
    certificate = EnvelopeSerializer(required=False)
    license_id = serializers.CharField(required=False, max_length=40)

    def validate(self, data):
        if not data.get("certificate") and not data.get("license_id"):
            raise serializers.ValidationError("Send a `certificate` envelope or a `license_id`.")
        return data


class VerifyResultSerializer(serializers.Serializer):
    signature_valid = serializers.BooleanField()
    license_id = serializers.CharField(allow_null=True)
    license_status = serializers.CharField(allow_null=True)
    is_active = serializers.BooleanField()
    message = serializers.CharField()


class UsageReportInputSerializer(InputSerializer):
    """Shape only; the period and the terms are checked by `licensing.usage.file_usage_report`."""

    period_start_on = serializers.DateField(help_text="First day of the period (YYYY-MM-DD).")
    period_end_on = serializers.DateField(
        help_text="Last day of the period, inclusive; not in the future."
    )
    purpose = serializers.ChoiceField(choices=Use.choices)
    models_trained = serializers.ListField(
        child=serializers.CharField(max_length=usage.MAX_MODEL_NAME),
        required=False,
        default=list,
        max_length=usage.MAX_MODELS,
        help_text="Names of the models trained or fine-tuned on the data in the period.",
    )
    records_used = serializers.IntegerField(
        min_value=0, max_value=usage.MAX_COUNT, required=False, default=0
    )
    tokens_used = serializers.IntegerField(
        min_value=0, max_value=usage.MAX_COUNT, required=False, default=0
    )
    seats = serializers.IntegerField(
        min_value=0,
        max_value=usage.MAX_SEATS,
        required=False,
        default=0,
        help_text="Deployments or seats in use.",
    )
    note = serializers.CharField(
        required=False, allow_blank=True, max_length=usage.MAX_NOTE, default=""
    )


class BreachSerializer(serializers.Serializer):
    code = serializers.ChoiceField(
        choices=["purpose_not_permitted", "model_cap_exceeded", "seat_cap_exceeded"]
    )
    message = serializers.CharField()


class UsageReportSerializer(serializers.ModelSerializer):
    license = serializers.CharField(source="license_id")
    reported_by = serializers.EmailField(source="reported_by.email", allow_null=True, default=None)
    api_key = serializers.CharField(
        source="api_key.prefix", allow_null=True, default=None, help_text="The key's prefix."
    )
    breach_reasons = BreachSerializer(many=True)

    class Meta:
        model = UsageReport
        fields = [
            "id",
            "license",
            "period_start_on",
            "period_end_on",
            "purpose",
            "models_trained",
            "records_used",
            "tokens_used",
            "seats",
            "note",
            "status",
            "breach_reasons",
            "billable_minor",
            "currency",
            "reported_by",
            "api_key",
            "created_at",
        ]


class UsageReportPagination(CountedCursorPagination):
    """Oldest first, so a client can page forward as reports arrive."""

    ordering = ("created_at", "id")


class LicensePagination(CountedCursorPagination):
    """Newest first, as the list was when it had page numbers; the id breaks ties."""

    ordering = ("-created_at", "id")


class DeliveryPagination(CountedCursorPagination):
    """By path, as `files/` and the manifest list them; the id breaks ties."""

    ordering = ("data_file__path", "id")


class DeliverySerializer(serializers.Serializer):
    id = serializers.CharField()
    path = serializers.CharField(source="data_file.path")
    size = serializers.IntegerField(source="size_bytes", help_text="Bytes as delivered.")
    sha256 = serializers.CharField(help_text="SHA-256 of the bytes as delivered.")
    media_type = serializers.CharField(source="data_file.media_type")
    fingerprint = serializers.CharField(
        source="fingerprint_method", help_text="text-eol, png-text or none."
    )
    download_url = serializers.SerializerMethodField(
        help_text="Signed; expires after `DOWNLOAD_LINK_SECONDS`; supports HTTP Range."
    )
    created_at = serializers.DateTimeField()

    def get_download_url(self, item) -> str:
        url = reverse("licensing:download", args=[delivering.file_token(item)])
        return self.context["request"].build_absolute_uri(url)


def files_payload(request, license: License) -> dict:
    from django.conf import settings

    items = []
    for item in selectors.deliveries_of(license=license).order_by("data_file__path"):
        url = reverse("licensing:download", args=[delivering.file_token(item)])
        items.append(
            {
                "path": item.data_file.path,
                "size": item.size_bytes,
                "sha256": item.sha256,
                "media_type": item.data_file.media_type,
                "fingerprint": item.fingerprint_method,
                "download_url": request.build_absolute_uri(url),
            }
        )
    archive = reverse("licensing:download", args=[delivering.archive_token(license)])
    return {
        "expires_in_seconds": settings.DOWNLOAD_LINK_SECONDS,
        "archive_url": request.build_absolute_uri(archive),
        "files": items,
    }


@extend_schema_view(
    list=extend_schema(
        operation_id="licenses_list",
        summary="Your organization's licenses, newest first (cursor pages)",
        responses={200: LicenseSerializer(many=True), 404: PROBLEM},
    ),
    retrieve=extend_schema(
        operation_id="licenses_retrieve",
        summary="One of your licenses",
        responses={200: LicenseSerializer, 404: PROBLEM},
    ),
)
class LicenseViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The caller organization's licenses. Another organization's license answers 404."""

    serializer_class = LicenseSerializer
    permission_classes = [IsAuthenticated, HasScope, HasOrganization]
    required_scopes = {"*": "licenses:read", "POST": "usage:write"}
    lookup_value_regex = ID_PATTERN
    pagination_class = LicensePagination

    def get_queryset(self):
        return selectors.licenses_of(organization=request_organization(self.request)).order_by(
            "-created_at", "id"
        )

    def get_object(self):
        license = selectors.license_of(
            organization=request_organization(self.request), license_id=self.kwargs["pk"]
        )
        if license is None:
            raise Http404("No such license.")
        return license

    @extend_schema(
        operation_id="licenses_certificate",
        summary="The license's signed certificate",
        description="The shared signed envelope; verify it with the key at /.well-known/jwks.json.",
        responses={200: EnvelopeSerializer, 404: PROBLEM},
    )
    @action(detail=True, methods=["get"])
    def certificate(self, request, pk=None):
        license = self.get_object()
        certificate = getattr(license, "certificate", None)
        if certificate is None:
            raise Http404("The certificate is being issued; try again in a moment.")
        return Response(certificate.envelope)

    @extend_schema(
        operation_id="licenses_manifest",
        summary="The signed manifest of the files as delivered to your organization",
        description=(
            "The shared signed envelope (docs/manifests.md) over the fingerprinted files as "
            "delivered under this license (path, size, SHA-256, media type, records), their "
            "Merkle root, the license's terms and their hash, the provenance declaration and "
            "the license's ODRL policy. Check a download with `tools/verify_manifest.py`. 409 "
            "while the files are still being prepared."
        ),
        responses={200: EnvelopeSerializer, 404: PROBLEM, 409: PROBLEM},
    )
    @action(detail=True, methods=["get"])
    def manifest(self, request, pk=None):
        license = self.get_object()
        try:
            # Normally built by a task once the deliveries are complete; built here otherwise.
            manifest = manifests.build_license_manifest(license_id=license.pk)
        except manifests.DeliveriesIncomplete as incomplete:
            raise Conflict(
                "The files are still being prepared for this license; try again in a moment "
                f"({incomplete}).",
                code="deliveries_incomplete",
            ) from None
        response = Response(manifest.envelope)
        response["Content-Disposition"] = f'inline; filename="{license.pk}.manifest.json"'
        return response

    @extend_schema(
        operation_id="licenses_files",
        summary="The licensed files, with signed expiring download links",
        description="Links stop working at once when the license is suspended or revoked.",
        responses={200: FilesSerializer, 404: PROBLEM, 409: PROBLEM},
    )
    @action(detail=True, methods=["get"])
    def files(self, request, pk=None):
        license = self.get_object()
        if license.status != License.Status.ACTIVE:
            raise Conflict(f"The license is {license.status}: its files cannot be downloaded.")
        return Response(files_payload(request, license))

    @extend_schema(
        operation_id="licenses_deliveries_list",
        summary="The licensed files as delivered, by path, with signed links (cursor pages)",
        description=(
            "The same files as `files/`, one delivery per file, in cursor pages for versions "
            "with many files: follow `next`. The list is complete once the license's manifest "
            "is issued. 409 when the license is not active."
        ),
        responses={200: DeliverySerializer(many=True), 404: PROBLEM, 409: PROBLEM},
    )
    @action(detail=True, methods=["get"], pagination_class=DeliveryPagination)
    def deliveries(self, request, pk=None):
        license = self.get_object()
        if license.status != License.Status.ACTIVE:
            raise Conflict(f"The license is {license.status}: its files cannot be downloaded.")
        page = self.paginate_queryset(selectors.deliveries_of(license=license))
        serializer = DeliverySerializer(page, many=True, context={"request": request})
        return self.get_paginated_response(serializer.data)

    @extend_schema(
        methods=["GET"],
        operation_id="licenses_usage_reports_list",
        summary="The license's usage reports, oldest first (cursor pages)",
        responses={200: UsageReportSerializer(many=True), 404: PROBLEM},
    )
    @extend_schema(
        methods=["POST"],
        operation_id="licenses_usage_reports_create",
        summary="Report usage of the licensed data for a period",
        description=(
            "Checked against the license's permitted uses and caps: a breach is recorded on the "
            "report (`status` `breach`, `breach_reasons`), both organizations and staff are told "
            "and `usage_report.breach` is emitted. Metered licenses get `billable_minor`. "
            "Periods are whole days, may not end in the future, must lie within the license's "
            "term and may not overlap an earlier report. 409 when the license is not active."
        ),
        request=UsageReportInputSerializer,
        responses={201: UsageReportSerializer, 400: PROBLEM, 404: PROBLEM, 409: PROBLEM},
    )
    @idempotent
    @action(
        detail=True,
        methods=["get", "post"],
        url_path="usage-reports",
        pagination_class=UsageReportPagination,
    )
    def usage_reports(self, request, pk=None):
        license = self.get_object()
        if request.method == "GET":
            reports = usage.usage_reports_of(
                organization=request_organization(request), license=license
            )
            page = self.paginate_queryset(reports)
            return self.get_paginated_response(UsageReportSerializer(page, many=True).data)
        serializer = UsageReportInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        report = usage.file_usage_report(
            actor=request.user,
            organization=request_organization(request),
            license=license,
            api_key=request.auth if isinstance(request.auth, ApiKey) else None,
            **serializer.validated_data,
        )
        return Response(UsageReportSerializer(report).data, status=status.HTTP_201_CREATED)


class CertificateVerifyView(APIView):
    """Public: is this certificate genuine, and is its license still active?"""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="certificates_verify",
        summary="Check a certificate (or a license id): genuine and active?",
        request=VerifyInputSerializer,
        responses={200: VerifyResultSerializer, 400: PROBLEM},
        auth=[],
    )
    def post(self, request):
        serializer = VerifyInputSerializer(data=request.data)
        if not serializer.is_valid():
            raise InvalidInput(
                "Send a `certificate` envelope or a `license_id`.", errors=serializer.errors
            )
        data = serializer.validated_data
        certificate = request.data.get("certificate") if data.get("certificate") else None
        check = verify_certificate(envelope=certificate, license_id=data.get("license_id"))
        return Response(VerifyResultSerializer(check.__dict__).data)


# --- Negotiation: offers ------------------------------------------------------------------

ERRORS = {400: PROBLEM, 403: PROBLEM, 404: PROBLEM, 409: PROBLEM}


class ProposedTermsSerializer(InputSerializer):
    """Structured license terms; money in minor units of `currency`."""

    permitted_uses = serializers.ListField(
        child=serializers.ChoiceField(choices=Use.choices), min_length=1
    )
    commercial_use = serializers.BooleanField(required=False, default=False)
    term_days = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=1,
        max_value=MAX_TERM_DAYS,
        help_text="Null for perpetual.",
    )
    territories = serializers.ListField(
        child=serializers.RegexField(
            r"^([A-Za-z]{2}|[Ww][Oo][Rr][Ll][Dd][Ww][Ii][Dd][Ee])$", trim_whitespace=False
        ),
        required=False,
        default=list,
        help_text='ISO 3166-1 alpha-2 codes, or ["worldwide"] (the default).',
    )
    is_exclusive = serializers.BooleanField(required=False, default=False)
    attribution_required = serializers.BooleanField(required=False, default=False)
    model_cap = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=1, max_value=MAX_CAP
    )
    seat_cap = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=1, max_value=MAX_CAP
    )
    price_model = serializers.ChoiceField(
        choices=PriceModel.choices, required=False, default=PriceModel.FLAT
    )
    price_minor = serializers.IntegerField(
        min_value=0, max_value=MAX_PRICE_MINOR, help_text="Whole minor units (cents)."
    )
    currency = serializers.ChoiceField(choices=SUPPORTED_CURRENCIES)


class ChangeSerializer(serializers.Serializer):
    field = serializers.CharField()
    label = serializers.CharField()
    before = serializers.CharField()
    after = serializers.CharField()


class ProposalSerializer(serializers.ModelSerializer):
    terms = serializers.SerializerMethodField()
    author = serializers.EmailField(source="created_by.email")
    changes = serializers.SerializerMethodField()

    class Meta:
        model = Proposal
        fields = ["id", "number", "side", "author", "message", "terms", "changes", "created_at"]

    @extend_schema_field(ProposedTermsSerializer)
    def get_terms(self, proposal) -> dict:
        return proposal.terms_dict()

    @extend_schema_field(ChangeSerializer(many=True))
    def get_changes(self, proposal) -> list[dict]:
        return self.context.get("changes", {}).get(proposal.pk, [])


class AgreementSerializer(serializers.ModelSerializer):
    buyer_accepted_by = serializers.EmailField(source="buyer_accepted_by.email")
    creator_accepted_by = serializers.EmailField(source="creator_accepted_by.email")
    ledger_seq = serializers.IntegerField(source="ledger_entry_id", allow_null=True)

    class Meta:
        model = Agreement
        fields = [
            "id",
            "terms",
            "terms_sha256",
            "price_minor",
            "currency",
            "is_exclusive",
            "exclusive_until",
            "buyer_accepted_by",
            "buyer_accepted_at",
            "creator_accepted_by",
            "creator_accepted_at",
            "ledger_seq",
            "created_at",
        ]


class OfferSerializer(serializers.ModelSerializer):
    dataset = serializers.CharField(source="dataset.slug", help_text="The listing's slug.")
    buyer = serializers.CharField(source="buyer_org.slug")
    creator = serializers.CharField(source="creator_org.slug")
    awaiting = serializers.SerializerMethodField(
        help_text="The side whose answer is awaited while the offer is open."
    )
    proposals = serializers.SerializerMethodField()
    agreement = serializers.SerializerMethodField()

    class Meta:
        model = Offer
        fields = [
            "id",
            "dataset",
            "buyer",
            "creator",
            "status",
            "awaiting",
            "expires_at",
            "created_at",
            "updated_at",
            "closed_reason",
            "proposals",
            "agreement",
        ]

    def _steps(self, offer):
        cache = self.context.setdefault("_steps", {})
        if offer.pk not in cache:
            cache[offer.pk] = selectors.thread_of(offer=offer)
        return cache[offer.pk]

    def get_awaiting(self, offer) -> str | None:
        steps = self._steps(offer)
        if offer.status != Offer.Status.OPEN or not steps:
            return None
        return "buyer" if steps[-1].proposal.side == "creator" else "creator"

    @extend_schema_field(ProposalSerializer(many=True))
    def get_proposals(self, offer) -> list[dict]:
        steps = self._steps(offer)
        changes = {step.proposal.pk: step.changes for step in steps}
        return ProposalSerializer(
            [step.proposal for step in steps], many=True, context={"changes": changes}
        ).data

    @extend_schema_field(AgreementSerializer(allow_null=True))
    def get_agreement(self, offer) -> dict | None:
        agreement = Agreement.objects.filter(offer=offer).first()
        return AgreementSerializer(agreement).data if agreement else None


class OfferCreateSerializer(InputSerializer):
    dataset = serializers.SlugField(help_text="The listing's slug.")
    terms = ProposedTermsSerializer()
    message = serializers.CharField(required=False, allow_blank=True, max_length=4000, default="")


class CounterSerializer(InputSerializer):
    terms = ProposedTermsSerializer()
    message = serializers.CharField(required=False, allow_blank=True, max_length=4000, default="")


class RejectSerializer(InputSerializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=300, default="")


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


@extend_schema_view(
    list=extend_schema(
        operation_id="offers_list",
        summary="Your organization's offers, as buyer or creator",
        responses={200: OfferSerializer(many=True)},
    ),
    retrieve=extend_schema(
        operation_id="offers_retrieve",
        summary="One offer thread with every proposal and what changed",
        responses={200: OfferSerializer, 404: PROBLEM},
    ),
)
class OfferViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Negotiation threads of the caller's organization."""

    permission_classes = [IsAuthenticated, HasScope, HasOrganization]
    required_scopes = {"GET": "catalog:read", "POST": "offers:write"}
    serializer_class = OfferSerializer
    lookup_value_regex = ID_PATTERN

    @property
    def organization(self):
        return request_organization(self.request)

    def get_queryset(self):
        return selectors.offers_of(organization=self.organization).order_by("-updated_at", "id")

    def get_object(self):
        offer = self.get_queryset().filter(pk=self.kwargs["pk"]).first()
        if offer is None:
            raise Http404("No such offer.")
        return offer

    def _thread(self, offer, code=status.HTTP_200_OK):
        offer = Offer.objects.select_related("dataset", "buyer_org", "creator_org").get(pk=offer.pk)
        return Response(OfferSerializer(offer).data, status=code)

    @extend_schema(
        operation_id="offers_create",
        summary="Propose terms for a listed dataset (opens a thread)",
        request=OfferCreateSerializer,
        responses={201: OfferSerializer, **ERRORS},
    )
    @idempotent
    def create(self, request):
        data = _valid(OfferCreateSerializer, request.data)
        dataset = (
            Dataset.objects.filter(
                slug=data["dataset"], versions__status=DatasetVersion.Status.APPROVED
            )
            .distinct()
            .first()
        )
        if dataset is None:
            raise NotFound("No listed dataset has this slug.")
        offer = services.open_offer(
            actor=request.user,
            organization=self.organization,
            dataset=dataset,
            terms=dict(data["terms"]),
            message=data["message"],
        )
        return self._thread(offer, status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="offers_counter",
        summary="Answer the other side's proposal with changed terms",
        request=CounterSerializer,
        responses={200: OfferSerializer, **ERRORS},
    )
    @idempotent
    @action(detail=True, methods=["post"])
    def counter(self, request, pk=None):
        offer = self.get_object()
        data = _valid(CounterSerializer, request.data)
        services.counter_offer(
            actor=request.user,
            organization=self.organization,
            offer=offer,
            terms=dict(data["terms"]),
            message=data["message"],
        )
        return self._thread(offer)

    @extend_schema(
        operation_id="offers_accept",
        summary="Accept the other side's latest proposal; returns the thread with its agreement",
        request=None,
        responses={200: OfferSerializer, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        offer = self.get_object()
        services.accept_offer(actor=request.user, organization=self.organization, offer=offer)
        return self._thread(offer)

    @extend_schema(
        operation_id="offers_reject",
        summary="Decline the other side's latest proposal; the thread closes",
        request=RejectSerializer,
        responses={200: OfferSerializer, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        offer = self.get_object()
        data = _valid(RejectSerializer, request.data)
        services.reject_offer(
            actor=request.user, organization=self.organization, offer=offer, reason=data["reason"]
        )
        return self._thread(offer)


# --- Training-content summary (issue 8) -------------------------------------------------
# Output serializers document the payload of licensing.summaries (docs/training-summary.md);
# the view answers the signed envelope as built, so the bytes match the signature.


class SummaryPartySerializer(serializers.Serializer):
    organization = serializers.CharField(help_text="The organization's slug.")
    name = serializers.CharField()


class SummaryLedgerRefSerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    entry_hash = serializers.CharField()
    action = serializers.CharField()
    at = serializers.DateTimeField()


class SummaryManifestRefSerializer(serializers.Serializer):
    id = serializers.CharField()
    payload_sha256 = serializers.CharField()


class SummaryTraceSerializer(serializers.Serializer):
    granted = SummaryLedgerRefSerializer(help_text="The ledger entry that granted the license.")
    status = SummaryLedgerRefSerializer(
        allow_null=True, help_text="The ledger entry that set the status it has in the summary."
    )
    license_manifest = SummaryManifestRefSerializer(
        allow_null=True,
        help_text="The signed manifest of the files as delivered; null until issued.",
    )
    certificate = serializers.CharField(allow_null=True)


class SummaryDatasetSerializer(serializers.Serializer):
    id = serializers.CharField()
    slug = serializers.CharField()
    title = serializers.CharField()
    modality = serializers.ChoiceField(choices=Dataset.Modality.choices)
    languages = serializers.ListField(child=serializers.CharField())


class SummaryVersionSerializer(serializers.Serializer):
    id = serializers.CharField()
    number = serializers.IntegerField()
    merkle_root = serializers.CharField()
    approved_at = serializers.DateTimeField(allow_null=True)
    review = serializers.CharField(allow_null=True, help_text="The approving review.")


class SummaryPeriodSerializer(serializers.Serializer):
    started_on = serializers.DateField(allow_null=True)
    ended_on = serializers.DateField(allow_null=True)


class SummarySourceSerializer(serializers.Serializer):
    url = serializers.CharField(allow_blank=True)
    description = serializers.CharField(allow_blank=True)


class SummaryOptOutSerializer(serializers.Serializer):
    status = serializers.CharField(
        allow_blank=True, help_text="not_applicable, none_found, honoured; empty if undeclared."
    )
    label = serializers.CharField()
    notes = serializers.CharField(allow_blank=True)


class SummaryEvidenceSerializer(serializers.Serializer):
    title = serializers.CharField()
    sha256 = serializers.CharField()


class SummaryLineageSerializer(serializers.Serializer):
    version = serializers.CharField()
    dataset = serializers.CharField()
    licensor = serializers.CharField()
    merkle_root = serializers.CharField()


class SummaryTermsSerializer(serializers.Serializer):
    permitted_uses = serializers.ListField(child=serializers.CharField())
    permits_training = serializers.BooleanField(help_text="Training or fine-tuning is permitted.")
    commercial_use = serializers.BooleanField()
    territories = serializers.ListField(child=serializers.CharField())
    term_days = serializers.IntegerField(allow_null=True, help_text="Null for perpetual.")


class SummaryFlagSerializer(serializers.Serializer):
    since = serializers.DateTimeField()
    reason = serializers.CharField(allow_blank=True)


class SummaryNoteSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text="revoked, suspended, flagged or training_not_permitted (more may be added)."
    )
    message = serializers.CharField()


class SummaryLicenseSerializer(serializers.Serializer):
    license = serializers.CharField()
    status = serializers.ChoiceField(choices=License.Status.choices)
    status_label = serializers.CharField()
    status_since = serializers.DateTimeField(allow_null=True)
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField(allow_null=True)
    licensor = SummaryPartySerializer()
    dataset = SummaryDatasetSerializer()
    version = SummaryVersionSerializer()
    files = serializers.IntegerField()
    bytes = serializers.IntegerField()
    records = serializers.IntegerField(allow_null=True)
    source = SummarySourceSerializer()
    collection_method = serializers.CharField(allow_blank=True)
    collection_period = SummaryPeriodSerializer()
    consent_basis = serializers.CharField(allow_blank=True)
    consent_basis_label = serializers.CharField(allow_blank=True)
    rights_holder = serializers.CharField(allow_blank=True)
    authorship = serializers.CharField()
    authorship_label = serializers.CharField()
    synthetic_share_bps = serializers.IntegerField(help_text="Declared, in basis points.")
    opt_out = SummaryOptOutSerializer()
    evidence = SummaryEvidenceSerializer(many=True)
    lineage = SummaryLineageSerializer(many=True)
    measured_synthetic_evidence_bps = serializers.IntegerField(
        allow_null=True, help_text="From the measured quality report; null when not measured."
    )
    terms = SummaryTermsSerializer()
    terms_sha256 = serializers.CharField()
    flagged = SummaryFlagSerializer(allow_null=True)
    models_reported = serializers.ListField(
        child=serializers.CharField(), help_text="Models named in usage reports of the license."
    )
    trace = SummaryTraceSerializer()
    attention = SummaryNoteSerializer(many=True)


class SummarySizesSerializer(serializers.Serializer):
    licenses = serializers.IntegerField()
    dataset_versions = serializers.IntegerField(
        help_text="Distinct versions: sizes count each once."
    )
    files = serializers.IntegerField()
    bytes = serializers.IntegerField()
    records = serializers.IntegerField()
    versions_without_record_count = serializers.IntegerField()


class SummaryModalitySerializer(SummarySizesSerializer):
    modality = serializers.ChoiceField(choices=Dataset.Modality.choices)
    label = serializers.CharField()


class SummaryTotalsSerializer(SummarySizesSerializer):
    licensors = serializers.IntegerField()


class SummaryLicensorSerializer(serializers.Serializer):
    licensor = SummaryPartySerializer()
    totals = SummarySizesSerializer()
    licenses = SummaryLicenseSerializer(many=True)


class SummaryCollectionSerializer(serializers.Serializer):
    earliest_started_on = serializers.DateField(allow_null=True)
    latest_ended_on = serializers.DateField(allow_null=True)


class SummaryGeneralSerializer(serializers.Serializer):
    provider = SummaryPartySerializer()
    models = serializers.ListField(child=serializers.CharField())
    modalities = SummaryModalitySerializer(many=True)
    totals = SummaryTotalsSerializer()
    licenses_by_status = serializers.DictField(child=serializers.IntegerField())
    languages = serializers.ListField(child=serializers.CharField())
    collection_period = SummaryCollectionSerializer()


class SummaryDataSourcesSerializer(serializers.Serializer):
    commercially_licensed = SummaryLicensorSerializer(many=True)
    not_covered = serializers.CharField()


class SummaryReservationsSerializer(serializers.Serializer):
    statement = serializers.CharField()
    opt_out_status_counts = serializers.DictField(child=serializers.IntegerField())


class SummaryAttentionSerializer(SummaryNoteSerializer):
    license = serializers.CharField()
    dataset = serializers.CharField()


class SummaryProcessingSerializer(serializers.Serializer):
    rights_reservations = SummaryReservationsSerializer()
    attention = SummaryAttentionSerializer(many=True)


class SummaryIssuerSerializer(serializers.Serializer):
    name = serializers.CharField()
    url = serializers.URLField()


class SummaryLedgerHeadSerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    entry_hash = serializers.CharField()


class SummarySelectionSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=["all", "chosen"])
    licenses = serializers.ListField(child=serializers.CharField())


class TrainingSummarySerializer(serializers.Serializer):
    type = serializers.CharField(help_text='"wellspring.training-summary"')
    format_version = serializers.IntegerField()
    template = serializers.CharField()
    issuer = SummaryIssuerSerializer()
    kid = serializers.CharField()
    generated_at = serializers.DateTimeField()
    ledger_head = SummaryLedgerHeadSerializer(help_text="Statuses are read as of this entry.")
    selection = SummarySelectionSerializer()
    general_information = SummaryGeneralSerializer()
    data_sources = SummaryDataSourcesSerializer()
    data_processing = SummaryProcessingSerializer()


class TrainingSummaryEnvelopeSerializer(serializers.Serializer):
    payload = TrainingSummarySerializer()
    kid = serializers.CharField(help_text="The key id in /.well-known/jwks.json.")
    signature = serializers.CharField(help_text="base64url Ed25519 signature, unpadded.")


class TrainingSummaryRequestSerializer(InputSerializer):
    licenses = serializers.ListField(
        child=serializers.CharField(max_length=summaries.LICENSE_ID_MAX),
        required=False,
        max_length=summaries.MAX_LICENSES,
        help_text="License ids of your organization; leave out (or empty) for all of them.",
    )
    model = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=summaries.MAX_MODEL_NAME,
        default="",
        help_text="The model (and version) the summary is for.",
    )


TRAINING_SUMMARY_DESCRIPTION = (
    "The training-content summary of your organization's licenses, laid out after the EU AI "
    "Act's public summary template (docs/training-summary.md), in the platform's signed "
    "envelope: verify it with /.well-known/jwks.json. Every row names its license, the ledger "
    "entries that granted it and set its status, the license manifest's hash and the terms' "
    "hash. A license id that is not your organization's gets 404 `unknown_licenses` naming it, "
    "as another organization's objects do everywhere in the API."
)


class TrainingSummaryView(APIView):
    """The caller organization's training-content summary (all licenses, or a chosen set)."""

    permission_classes = [IsAuthenticated, HasScope, HasOrganization]
    required_scopes = {"*": "licenses:read"}

    def _answer(self, request, *, license_ids, model: str):
        envelope = summaries.signed_training_summary(
            organization=request_organization(request), license_ids=license_ids, model_name=model
        )
        return Response(envelope)

    @extend_schema(
        operation_id="training_summary_retrieve",
        summary="Your training-content summary (all licenses, or those named in `licenses`)",
        description=TRAINING_SUMMARY_DESCRIPTION,
        parameters=[
            OpenApiParameter(
                "licenses",
                str,
                description="Comma-separated license ids; all of your licenses when left out.",
            ),
            OpenApiParameter("model", str, description="The model the summary is for."),
        ],
        responses={200: TrainingSummaryEnvelopeSerializer, 400: PROBLEM, 404: PROBLEM},
    )
    def get(self, request):
        values = [
            part for value in request.query_params.getlist("licenses") for part in value.split(",")
        ]
        return self._answer(
            request,
            license_ids=summaries.clean_license_ids(values),
            model=request.query_params.get("model", ""),
        )

    @extend_schema(
        operation_id="training_summary_build",
        summary="Your training-content summary of a chosen set of licenses",
        description=TRAINING_SUMMARY_DESCRIPTION
        + " For sets too long for a query string; creates nothing.",
        request=TrainingSummaryRequestSerializer,
        responses={200: TrainingSummaryEnvelopeSerializer, 400: PROBLEM, 404: PROBLEM},
    )
    def post(self, request):
        serializer = TrainingSummaryRequestSerializer(data=request.data)
        if not serializer.is_valid():
            raise InvalidInput(
                "Send `licenses` as a list of license ids and an optional `model`.",
                errors=serializer.errors,
            )
        data = serializer.validated_data
        return self._answer(request, license_ids=data.get("licenses"), model=data["model"])
