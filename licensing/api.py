"""The licenses API: a buyer's licenses, certificates and files; public certificate checks."""

from django.http import Http404
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.errors import InvalidInput
from accounts.rest import HasOrganization, HasScope, request_organization
from licensing import delivery as delivering
from licensing import selectors
from licensing.models import License
from licensing.services import verify_certificate

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


class EnvelopeSerializer(serializers.Serializer):
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


class VerifyInputSerializer(serializers.Serializer):
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
        summary="Your organization's licenses",
        responses={200: LicenseSerializer(many=True)},
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
    required_scopes = {"*": "licenses:read"}
    lookup_value_regex = ID_PATTERN

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
        operation_id="licenses_files",
        summary="The licensed files, with signed expiring download links",
        description="Links stop working at once when the license is suspended or revoked.",
        responses={200: FilesSerializer, 404: PROBLEM, 409: PROBLEM},
    )
    @action(detail=True, methods=["get"])
    def files(self, request, pk=None):
        license = self.get_object()
        if license.status != License.Status.ACTIVE:
            from accounts.errors import Conflict

            raise Conflict(f"The license is {license.status}: its files cannot be downloaded.")
        return Response(files_payload(request, license))


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
