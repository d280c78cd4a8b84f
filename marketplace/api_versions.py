"""Documents of approved versions: the signed manifest and the Croissant JSON-LD.

Kept apart from the catalog API because who may read them depends on licenses and listings
alike (see `selectors.documented_version`).
"""

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotAuthenticated
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiKey
from accounts.rest import HasScope, request_organization
from licensing.croissant import version_croissant
from licensing.manifests import build_version_manifest
from marketplace import selectors
from provenance import selectors as provenance_selectors
from provenance.api import QualityReportSerializer
from provenance.models import DatasetVersion
from provenance.quality import service as quality_service

PROBLEM = OpenApiResponse(description="Problem details (RFC 9457), `application/problem+json`.")


class ManifestEnvelopeSerializer(serializers.Serializer):
    payload = serializers.DictField(
        help_text="files, merkle_root, provenance, license_terms, issuer, kid: docs/manifests.md"
    )
    kid = serializers.CharField(help_text="The key id in /.well-known/jwks.json.")
    signature = serializers.CharField(help_text="base64url Ed25519 signature, unpadded.")


class VersionDocumentView(APIView):
    """Anonymous reads of public versions are allowed; API keys need `catalog:read`."""

    permission_classes = [AllowAny, HasScope]
    required_scopes = {"*": "catalog:read"}

    def get_version(self, request, version_id: str):
        version = selectors.documented_version(
            viewer=request.user,
            organization=request_organization(request),
            version_id=version_id,
        )
        if version is None:
            raise Http404("No such approved version.")
        return version


class VersionManifestView(VersionDocumentView):
    @extend_schema(
        operation_id="versions_manifest",
        summary="The signed manifest of an approved version",
        description=(
            "The shared signed envelope over the version's files (path, size, media type, "
            "SHA-256, records), Merkle root, provenance declaration and license terms. Verify "
            "it with /.well-known/jwks.json and `tools/verify_manifest.py`. Public while a "
            "published listing shows the version; otherwise for its creator, its licensees "
            "and staff (others get 404)."
        ),
        responses={200: ManifestEnvelopeSerializer, 404: PROBLEM},
    )
    def get(self, request, version_id: str):
        version = self.get_version(request, version_id)
        # Normally built by a task right after approval; built here if that has not run yet.
        manifest = build_version_manifest(version_id=version.pk)
        response = Response(manifest.envelope)
        response["Content-Disposition"] = f'inline; filename="{version.pk}.manifest.json"'
        return response


class VersionCroissantView(VersionDocumentView):
    @extend_schema(
        operation_id="versions_croissant",
        summary="Croissant 1.0 JSON-LD of an approved version",
        description=(
            "MLCommons Croissant metadata: a FileObject per file with its SHA-256 and a "
            "contentUrl relative to the dataset's root, a RecordSet per CSV or JSON Lines file, "
            "the license options and the Responsible AI fields of the provenance declaration. "
            "Same access rules as the manifest."
        ),
        responses={(200, "application/ld+json"): OpenApiTypes.OBJECT, 404: PROBLEM},
    )
    def get(self, request, version_id: str):
        version = self.get_version(request, version_id)
        response = Response(version_croissant(version=version), content_type="application/ld+json")
        response["Content-Disposition"] = f'inline; filename="{version.pk}.croissant.json"'
        return response


class _QualityScopes(BasePermission):
    """GET: a key with `catalog:read` or `datasets:write` (creators read their drafts' reports
    with the key that uploads them); POST: `datasets:write`."""

    message = "This API key lacks the scope 'catalog:read' (or 'datasets:write')."

    def has_permission(self, request, view):
        if not isinstance(request.auth, ApiKey):
            return True
        if request.method == "POST":
            self.message = "This API key lacks the scope 'datasets:write'."
            return request.auth.has_scope("datasets:write")
        return request.auth.has_scope("catalog:read") or request.auth.has_scope("datasets:write")


class VersionQualityView(APIView):
    """The quality report of a version: for its creator at any stage, for staff, and for
    everyone else on the same terms as the manifest (an approved version that a published
    listing shows or that the caller licenses). Measuring again is the creator's."""

    permission_classes = [AllowAny, _QualityScopes]

    def _own_version(self, request, version_id: str):
        organization = request_organization(request)
        if organization is None:
            return None
        return provenance_selectors.version_of(organization=organization, version_id=version_id)

    @extend_schema(
        operation_id="versions_quality_retrieve",
        summary="The measured quality report of a version",
        description="Duplicates, near-duplicates, shape, synthetic-content signals (evidence "
        "and heuristics kept apart), personal data and overlap with the catalog, each with "
        "its method. Its creator reads it at any stage; buyers and anyone else read it for an "
        "approved version that a published listing shows or that they license (others get "
        "404), without the reviewer's flags and the redacted personal-data examples, which "
        "only the creator and reviewers see. 404 until the version was first measured.",
        responses={200: QualityReportSerializer, 404: PROBLEM},
    )
    def get(self, request, id: str):
        version = self._own_version(request, id)
        if version is None and request.user.is_authenticated and request.user.is_staff:
            version = DatasetVersion.objects.filter(pk=id).first()
        public = version is None
        if public:
            version = selectors.documented_version(
                viewer=request.user, organization=request_organization(request), version_id=id
            )
        if version is None:
            raise Http404("No such version.")
        report = provenance_selectors.quality_report_of(version=version)
        if report is None:
            raise Http404("This version was not measured yet.")
        return Response(QualityReportSerializer(report, context={"public": public}).data)

    @extend_schema(
        operation_id="versions_quality_create",
        summary="Measure the version's quality again",
        description="For the version's creator. Queues the quality task (idempotent: a live "
        "run is returned as is). 409 when the files were not processed yet.",
        request=None,
        responses={
            202: QualityReportSerializer,
            400: PROBLEM,
            401: PROBLEM,
            403: PROBLEM,
            404: PROBLEM,
            409: PROBLEM,
        },
    )
    def post(self, request, id: str):
        if not request.user.is_authenticated:
            raise NotAuthenticated()
        version = self._own_version(request, id)
        if version is None:
            raise Http404("No such version.")
        report = quality_service.queue_quality(version_id=version.pk)
        report.refresh_from_db()
        return Response(QualityReportSerializer(report).data, status=status.HTTP_202_ACCEPTED)
