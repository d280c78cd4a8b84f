"""Documents of approved versions: the signed manifest and the Croissant JSON-LD.

Kept apart from the catalog API because who may read them depends on licenses and listings
alike (see `selectors.documented_version`).
"""

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.rest import HasScope, request_organization
from licensing.croissant import version_croissant
from licensing.manifests import build_version_manifest
from marketplace import selectors

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
        responses={200: OpenApiTypes.OBJECT, 404: PROBLEM},
    )
    def get(self, request, version_id: str):
        version = self.get_version(request, version_id)
        response = Response(version_croissant(version=version), content_type="application/ld+json")
        response["Content-Disposition"] = f'inline; filename="{version.pk}.croissant.json"'
        return response
