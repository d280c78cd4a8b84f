"""The creator API: datasets, versions, files, resumable uploads, ingest and submission.

Everything is scoped to the caller's organization (another organization's ids answer 404)
and needs the `datasets:write` scope. Serializers for input check shape only; the services
decide.
"""

from django.conf import settings
from django.http import Http404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response

from accounts.errors import InvalidInput, NotFound
from accounts.idempotency import idempotent
from accounts.rest import HasOrganization, HasScope, InputSerializer, request_organization
from provenance import claims as claim_services
from provenance import selectors, services, uploads
from provenance.models import (
    DataFile,
    Dataset,
    DatasetVersion,
    EvidenceDocument,
    IngestProgress,
    ProvenanceDeclaration,
    QualityReport,
    Review,
    RightsClaim,
    UploadedArchive,
    UploadSession,
)
from provenance.paths import normalize_member_path

PROBLEM = OpenApiResponse(description="Problem details (RFC 9457), `application/problem+json`.")
ERRORS = {400: PROBLEM, 404: PROBLEM, 409: PROBLEM}
ID_PATTERN = r"[a-z]+_[0-9a-z]+"


# --- Output -----------------------------------------------------------------------------


class VersionSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = DatasetVersion
        fields = ["id", "number", "status"]


class DatasetSerializer(serializers.ModelSerializer):
    versions = VersionSummarySerializer(many=True, read_only=True)

    class Meta:
        model = Dataset
        fields = [
            "id",
            "slug",
            "title",
            "summary",
            "description",
            "modality",
            "languages",
            "tags",
            "created_at",
            "updated_at",
            "versions",
        ]


class IngestErrorSerializer(serializers.Serializer):
    path = serializers.CharField()
    member = serializers.CharField(required=False, help_text="The archive member, if any.")
    message = serializers.CharField()


class IngestProgressSerializer(serializers.ModelSerializer):
    percent = serializers.IntegerField(help_text="Whole percent; 100 only when done.")
    errors = IngestErrorSerializer(many=True)

    class Meta:
        model = IngestProgress
        fields = [
            "state",
            "percent",
            "files_total",
            "files_done",
            "bytes_total",
            "bytes_done",
            "current_path",
            "errors",
            "attempts",
            "queued_at",
            "started_at",
            "finished_at",
        ]


class ProblemItemSerializer(serializers.Serializer):
    field = serializers.CharField()
    message = serializers.CharField()


class VersionSerializer(serializers.ModelSerializer):
    dataset = serializers.CharField(source="dataset_id")
    based_on = serializers.CharField(source="based_on_id", allow_null=True)
    ingest = serializers.SerializerMethodField()
    submission_problems = serializers.SerializerMethodField()

    class Meta:
        model = DatasetVersion
        fields = [
            "id",
            "dataset",
            "number",
            "status",
            "based_on",
            "notes",
            "merkle_root",
            "file_count",
            "total_bytes",
            "total_records",
            "created_at",
            "ingested_at",
            "submitted_at",
            "approved_at",
            "ingest",
            "submission_problems",
        ]

    @extend_schema_field(IngestProgressSerializer)
    def get_ingest(self, version) -> dict:
        return IngestProgressSerializer(selectors.ingest_progress_of(version=version)).data

    @extend_schema_field(
        ProblemItemSerializer(many=True, help_text="Empty when the version may be submitted.")
    )
    def get_submission_problems(self, version) -> list:
        if version.status != DatasetVersion.Status.DRAFT:
            return []
        problems = selectors.submission_problems(version=version)
        return [{"field": problem.field, "message": problem.message} for problem in problems]


class QualityReportSerializer(serializers.ModelSerializer):
    """A quality report. With `public=True` in the context (a reader who is neither the
    creator nor a reviewer), the reviewer's flags and the redacted personal-data examples are
    left out, as on the public dataset page."""

    version_id = serializers.CharField(read_only=True)
    percent = serializers.IntegerField(read_only=True)
    figures = serializers.JSONField(
        read_only=True,
        help_text="Every figure with its method, parameters and the sample seed: `sample`, "
        "`exact_duplicates`, `near_duplicates`, `shape`, `synthetic` (`evidence` and "
        "`heuristic`), `personal_data`, `novelty`, `declared`.",
    )
    flags = serializers.JSONField(read_only=True, help_text='[{"code", "severity", "message"}]')

    class Meta:
        model = QualityReport
        fields = [
            "version_id",
            "state",
            "percent",
            "files_total",
            "files_done",
            "errors",
            "method_version",
            "figures_sha256",
            "records_measured",
            "exact_duplicate_bps",
            "near_duplicate_bps",
            "synthetic_evidence_bps",
            "synthetic_heuristic_bps",
            "has_synthetic_signals",
            "personal_data_hits",
            "catalog_overlap_bps",
            "flags",
            "figures",
            "finished_at",
        ]

    def to_representation(self, report):
        data = super().to_representation(report)
        if self.context.get("public"):
            data["flags"] = []
            data["figures"] = report.public_figures()
        return data


class DataFileSerializer(serializers.ModelSerializer):
    class Meta:
        model = DataFile
        fields = [
            "id",
            "path",
            "size_bytes",
            "sha256",
            "media_type",
            "record_count",
            "expected_sha256",
            "error",
            "created_at",
            "ingested_at",
        ]


class ArchiveSerializer(serializers.ModelSerializer):
    class Meta:
        model = UploadedArchive
        fields = [
            "id",
            "name",
            "size_bytes",
            "state",
            "rejected_member",
            "error",
            "file_count",
            "expanded_bytes",
            "created_at",
            "expanded_at",
        ]


class UploadPartSerializer(serializers.Serializer):
    part_number = serializers.IntegerField()
    size = serializers.IntegerField()
    etag = serializers.CharField(required=False)


class UploadSessionSerializer(serializers.ModelSerializer):
    version = serializers.CharField(source="version_id")
    percent = serializers.IntegerField()
    part_count = serializers.SerializerMethodField()
    chunk_size = serializers.SerializerMethodField()
    upload_url = serializers.SerializerMethodField()
    parts = serializers.SerializerMethodField()

    class Meta:
        model = UploadSession
        fields = [
            "id",
            "version",
            "path",
            "size_bytes",
            "received_bytes",
            "percent",
            "expected_sha256",
            "is_archive",
            "backend",
            "state",
            "chunk_size",
            "part_size_bytes",
            "part_count",
            "parts",
            "upload_url",
            "created_at",
            "expires_at",
            "completed_at",
        ]

    def get_part_count(self, session) -> int:
        return uploads.part_count(session)

    def get_chunk_size(self, session) -> int:
        """The chunk size to send (chunked uploads); parts use `part_size_bytes`."""
        if session.backend == UploadSession.Backend.CHUNKED:
            return settings.UPLOAD_CHUNK_BYTES
        return session.part_size_bytes

    def get_upload_url(self, session) -> str:
        return reverse("upload-detail", kwargs={"pk": session.pk})

    @extend_schema_field(
        UploadPartSerializer(many=True, help_text="S3 uploads: the parts S3 holds already.")
    )
    def get_parts(self, session) -> list:
        if session.backend != UploadSession.Backend.S3_MULTIPART or session.state != "open":
            return []
        return self.context.get("parts", [])


class EvidenceSerializer(serializers.ModelSerializer):
    class Meta:
        model = EvidenceDocument
        fields = ["id", "title", "size_bytes", "sha256", "media_type", "uploaded_at"]


class DeclarationSerializer(serializers.ModelSerializer):
    parents = serializers.SerializerMethodField()
    evidence = EvidenceSerializer(many=True, read_only=True)
    synthetic_share_percent = serializers.SerializerMethodField()
    problems = serializers.SerializerMethodField()

    class Meta:
        model = ProvenanceDeclaration
        fields = [
            "source_url",
            "source_description",
            "collection_method",
            "collection_started_on",
            "collection_ended_on",
            "consent_basis",
            "rights_holder",
            "authorship",
            "synthetic_share_bps",
            "synthetic_share_percent",
            "opt_out_status",
            "opt_out_notes",
            "parents",
            "evidence",
            "updated_at",
            "problems",
        ]

    def get_parents(self, declaration) -> list[str]:
        if declaration.pk is None:
            return []
        return sorted(declaration.parents.values_list("pk", flat=True))

    def get_synthetic_share_percent(self, declaration) -> float:
        return declaration.synthetic_share_bps / 100

    @extend_schema_field(ProblemItemSerializer(many=True))
    def get_problems(self, declaration) -> list:
        problems = selectors.declaration_problems(version=declaration.version)
        return [{"field": problem.field, "message": problem.message} for problem in problems]


# --- Input ------------------------------------------------------------------------------


class LanguageCodeField(serializers.RegexField):
    """An ISO 639 code, optionally with a region or script (`en`, `cy`, `pt-br`), any case."""

    def __init__(self, **kwargs):
        super().__init__(
            r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})?$",
            max_length=12,
            trim_whitespace=False,
            **kwargs,
        )


# A member path as provenance.paths.normalize_member_path accepts it, as one pattern: relative
# (no leading separator, no drive letter), no `..` part, no control characters, at least one
# part that names something; `/` and `\` both separate parts.
_NAME = r"[^\u0000-\u001f/\\]"
_PART = rf"(?:[^.\u0000-\u001f/\\]{_NAME}*|\.[^.\u0000-\u001f/\\]{_NAME}*|\.\.{_NAME}+)"
_FIRST = (
    rf"(?:[^.\u0000-\u001f/\\](?:[^:\u0000-\u001f/\\]{_NAME}*)?"
    rf"|\.[^.:\u0000-\u001f/\\]{_NAME}*|\.\.{_NAME}+)"
)
MEMBER_PATH_PATTERN = (
    rf"^(?:{_FIRST}(?:[/\\](?:{_PART}|\.)?)*"
    rf"|\.(?:[/\\]\.?)*[/\\]{_PART}(?:[/\\](?:{_PART}|\.)?)*)$"
)


def _check_member_path(value: str) -> None:
    try:
        normalize_member_path(value)
    except InvalidInput as error:
        raise serializers.ValidationError(error.message) from error


@extend_schema_field({"type": "string", "maxLength": 1024, "pattern": MEMBER_PATH_PATTERN})
class MemberPathField(serializers.CharField):
    """A file's path inside a version, at most 1024 characters: checked by ingest's own rule,
    which MEMBER_PATH_PATTERN states for the schema (tests/test_api_inputs.py holds them
    equal), so the answer names what is wrong with the path."""

    def __init__(self, **kwargs):
        super().__init__(max_length=1024, trim_whitespace=False, **kwargs)
        self.validators.append(_check_member_path)


@extend_schema_field({"type": "string", "pattern": "^([0-9a-fA-F]{64})?$", "default": ""})
class Sha256Field(serializers.RegexField):
    """A SHA-256 as 64 hexadecimal digits (any case), or empty for none."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("default", "")
        super().__init__(
            r"^[0-9a-fA-F]{64}$",
            allow_blank=True,
            trim_whitespace=False,
            error_messages={"invalid": "A SHA-256 is 64 hexadecimal digits."},
            **kwargs,
        )


class DatasetInputSerializer(InputSerializer):
    title = serializers.CharField(max_length=200)
    modality = serializers.ChoiceField(choices=Dataset.Modality.choices)
    summary = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    description = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="Markdown."
    )
    languages = serializers.ListField(child=LanguageCodeField(), required=False, default=list)
    tags = serializers.ListField(
        child=serializers.CharField(max_length=40), required=False, default=list, max_length=20
    )


class DatasetUpdateInputSerializer(DatasetInputSerializer):
    title = serializers.CharField(max_length=200, required=False)
    modality = serializers.ChoiceField(choices=Dataset.Modality.choices, required=False)
    summary = serializers.CharField(max_length=300, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    languages = serializers.ListField(child=LanguageCodeField(), required=False)
    tags = serializers.ListField(
        child=serializers.CharField(max_length=40), required=False, max_length=20
    )


class VersionInputSerializer(InputSerializer):
    based_on = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="An approved version of this dataset whose files carry over by reference.",
    )
    notes = serializers.CharField(required=False, allow_blank=True, default="")


class VersionUpdateInputSerializer(InputSerializer):
    notes = serializers.CharField(
        allow_blank=True, required=False, help_text="What changed (Markdown)."
    )


class FileInputSerializer(InputSerializer):
    file = serializers.FileField()
    path = MemberPathField(
        required=False, allow_blank=True, help_text="Path in the version; the file's name if empty."
    )
    sha256 = Sha256Field()
    expand_archive = serializers.BooleanField(
        required=False,
        default=False,
        help_text="The file is a zip, tar or tar.gz to expand into the version at ingest.",
    )


class UploadInputSerializer(InputSerializer):
    path = MemberPathField()
    size = serializers.IntegerField(
        min_value=0,
        max_value=settings.UPLOAD_MAX_FILE_BYTES,
        help_text="The whole file's size in bytes (at most UPLOAD_MAX_FILE_BYTES).",
    )
    sha256 = Sha256Field(help_text="Checked by ingest when given.")
    expand_archive = serializers.BooleanField(required=False, default=False)


class PartsInputSerializer(InputSerializer):
    part_numbers = serializers.ListField(
        child=serializers.IntegerField(min_value=1), min_length=1, max_length=1000
    )


class PresignedPartSerializer(serializers.Serializer):
    part_number = serializers.IntegerField()
    size = serializers.IntegerField()
    url = serializers.CharField(help_text="PUT the part's bytes here (Content-Type octet-stream).")


class DeclarationInputSerializer(InputSerializer):
    source_url = serializers.CharField(max_length=500, required=False, allow_blank=True)
    source_description = serializers.CharField(required=False, allow_blank=True)
    collection_method = serializers.CharField(required=False, allow_blank=True)
    collection_started_on = serializers.DateField(required=False, allow_null=True)
    collection_ended_on = serializers.DateField(required=False, allow_null=True)
    consent_basis = serializers.ChoiceField(
        choices=ProvenanceDeclaration.ConsentBasis.choices, required=False, allow_blank=True
    )
    rights_holder = serializers.CharField(max_length=200, required=False, allow_blank=True)
    authorship = serializers.ChoiceField(
        choices=ProvenanceDeclaration.Authorship.choices, required=False
    )
    synthetic_share_bps = serializers.IntegerField(
        min_value=0, max_value=10_000, required=False, help_text="10000 = 100% synthetic."
    )
    opt_out_status = serializers.ChoiceField(
        choices=ProvenanceDeclaration.OptOutStatus.choices, required=False, allow_blank=True
    )
    opt_out_notes = serializers.CharField(required=False, allow_blank=True)
    parents = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="Ids of approved versions this data derives from (replaces the list).",
    )


class EvidenceInputSerializer(InputSerializer):
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    file = serializers.FileField()


class ReviewDecisionSerializer(serializers.ModelSerializer):
    reviewer = serializers.EmailField(source="reviewer.email")
    checklist = serializers.SerializerMethodField()

    class Meta:
        model = Review
        fields = ["id", "decision", "reason", "checklist", "merkle_root", "reviewer", "decided_at"]

    def get_checklist(self, review) -> dict[str, bool]:
        return {name: ticked for name, _, ticked in review.checklist()}


class ReviewStatusSerializer(serializers.ModelSerializer):
    decisions = ReviewDecisionSerializer(source="reviews", many=True, read_only=True)

    class Meta:
        model = DatasetVersion
        fields = ["id", "status", "submitted_at", "approved_at", "decisions"]


# --- Views ------------------------------------------------------------------------------


class CreatorViewSet(viewsets.GenericViewSet):
    permission_classes = [IsAuthenticated, HasScope, HasOrganization]
    required_scopes = {"*": "datasets:write"}
    lookup_value_regex = ID_PATTERN

    @property
    def organization(self):
        return request_organization(self.request)


@extend_schema_view(
    list=extend_schema(
        operation_id="datasets_list",
        summary="Your organization's datasets",
        responses={200: DatasetSerializer(many=True)},
    ),
    retrieve=extend_schema(
        operation_id="datasets_retrieve",
        summary="One of your datasets",
        responses={200: DatasetSerializer, 404: PROBLEM},
    ),
)
class DatasetViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, CreatorViewSet):
    """Datasets of the caller's organization, each with its versions."""

    serializer_class = DatasetSerializer

    def get_queryset(self):
        return selectors.datasets_of(organization=self.organization).prefetch_related("versions")

    @extend_schema(
        operation_id="datasets_create",
        summary="Register a dataset (with its first, empty draft version)",
        request=DatasetInputSerializer,
        responses={201: DatasetSerializer, **ERRORS},
    )
    @idempotent
    def create(self, request):
        data = _valid(DatasetInputSerializer, request.data)
        dataset = services.create_dataset(
            actor=request.user, organization=self.organization, **data
        )
        return Response(DatasetSerializer(dataset).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="datasets_partial_update",
        summary="Change a dataset's title, description, modality, languages or tags",
        request=DatasetUpdateInputSerializer,
        responses={200: DatasetSerializer, **ERRORS},
    )
    def partial_update(self, request, pk=None):
        dataset = self.get_object()
        data = _valid(DatasetUpdateInputSerializer, request.data)
        dataset = services.update_dataset(actor=request.user, dataset=dataset, changes=data)
        return Response(DatasetSerializer(dataset).data)

    @extend_schema(
        methods=["GET"],
        operation_id="datasets_versions_list",
        summary="The dataset's versions, newest first",
        responses={200: VersionSerializer(many=True), 404: PROBLEM},
    )
    @extend_schema(
        methods=["POST"],
        operation_id="datasets_versions_create",
        summary="Start a new draft version, empty or from an approved one",
        description="With `based_on`, the approved version's files carry over by reference "
        "(nothing is copied or read again), and so does its declaration.",
        request=VersionInputSerializer,
        responses={201: VersionSerializer, **ERRORS},
    )
    @idempotent
    @action(detail=True, methods=["get", "post"])
    def versions(self, request, pk=None):
        dataset = self.get_object()
        if request.method == "GET":
            page = self.paginate_queryset(selectors.versions_of_dataset(dataset=dataset))
            return self.get_paginated_response(VersionSerializer(page, many=True).data)
        data = _valid(VersionInputSerializer, request.data)
        based_on = None
        if data.get("based_on"):
            based_on = selectors.version_of(
                organization=self.organization, version_id=data["based_on"]
            )
            if based_on is None or based_on.dataset_id != dataset.pk:
                raise NotFound(
                    "No such version in this dataset.",
                    errors={"based_on": ["No such version in this dataset."]},
                )
        version = services.create_version(
            actor=request.user, dataset=dataset, based_on=based_on, notes=data["notes"]
        )
        return Response(VersionSerializer(version).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    retrieve=extend_schema(
        operation_id="versions_retrieve",
        summary="A version's state, ingest progress and what submission still needs",
        responses={200: VersionSerializer, 404: PROBLEM},
    ),
)
class VersionViewSet(mixins.RetrieveModelMixin, CreatorViewSet):
    """One version of the caller's datasets: files, uploads, ingest, declaration, submission."""

    serializer_class = VersionSerializer

    def get_queryset(self):
        return selectors.versions_of(organization=self.organization).select_related("based_on")

    def get_object(self):
        version = selectors.version_of(organization=self.organization, version_id=self.kwargs["pk"])
        if version is None:
            raise Http404("No such version.")
        return version

    @extend_schema(
        operation_id="versions_partial_update",
        summary="Change a draft's notes (what changed in this version)",
        request=VersionUpdateInputSerializer,
        responses={200: VersionSerializer, **ERRORS},
    )
    def partial_update(self, request, pk=None):
        version = self.get_object()
        data = _valid(VersionUpdateInputSerializer, request.data)
        if "notes" in data:  # a PATCH without fields changes nothing
            version = services.update_version_notes(
                actor=request.user, version=version, notes=data["notes"]
            )
        return Response(VersionSerializer(version).data)

    @extend_schema(
        methods=["GET"],
        operation_id="versions_files_list",
        summary="The version's files with their measured facts",
        responses={200: DataFileSerializer(many=True), 404: PROBLEM},
    )
    @extend_schema(
        methods=["POST"],
        operation_id="versions_files_create",
        summary="Upload a file in one request (use uploads/ for large files)",
        description="Multipart form with `file`; `path` defaults to the file's name. With "
        "`expand_archive`, a zip, tar or tar.gz is expanded into the version at ingest. "
        f"Requests are limited by the web server; above {settings.UPLOAD_CHUNK_BYTES:,} bytes "
        "prefer a resumable upload.",
        request={"multipart/form-data": FileInputSerializer},
        responses={201: DataFileSerializer, **ERRORS},
    )
    @idempotent
    @action(detail=True, methods=["get", "post"], parser_classes=[MultiPartParser])
    def files(self, request, pk=None):
        version = self.get_object()
        if request.method == "GET":
            page = self.paginate_queryset(selectors.files_of_version(version=version))
            return self.get_paginated_response(DataFileSerializer(page, many=True).data)
        data = _valid(FileInputSerializer, request.data)
        upload = data["file"]
        path = data.get("path") or upload.name
        if data["expand_archive"]:
            archive = uploads.add_archive(
                actor=request.user, version=version, name=path, content=upload
            )
            return Response(ArchiveSerializer(archive).data, status=status.HTTP_201_CREATED)
        data_file = services.add_file(
            actor=request.user,
            version=version,
            path=path,
            content=upload,
            expected_sha256=data["sha256"],
        )
        return Response(DataFileSerializer(data_file).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="versions_files_destroy",
        summary="Remove a file from a draft",
        description="The bytes are deleted unless another version still uses them.",
        responses={204: None, **ERRORS},
    )
    @action(detail=True, methods=["delete"], url_path=rf"files/(?P<file_id>{ID_PATTERN})")
    def remove_file(self, request, pk=None, file_id=None):
        version = self.get_object()
        data_file = selectors.files_of_version(version=version).filter(pk=file_id).first()
        if data_file is None:
            raise Http404("No such file.")
        services.delete_file(actor=request.user, data_file=data_file)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        operation_id="versions_archives_list",
        summary="Archives uploaded to the version: pending, expanded or rejected (and why)",
        responses={200: ArchiveSerializer(many=True), 404: PROBLEM},
    )
    @action(detail=True, methods=["get"])
    def archives(self, request, pk=None):
        version = self.get_object()
        page = self.paginate_queryset(selectors.archives_of_version(version=version))
        return self.get_paginated_response(ArchiveSerializer(page, many=True).data)

    @extend_schema(
        methods=["GET"],
        operation_id="versions_uploads_list",
        summary="Uploads under way, to resume after a dropped connection",
        responses={200: UploadSessionSerializer(many=True), 404: PROBLEM},
    )
    @extend_schema(
        methods=["POST"],
        operation_id="versions_uploads_create",
        summary="Start a resumable upload",
        description=(
            "Answers with the upload's `backend`:\n\n"
            "- `chunked` (local storage): PUT consecutive byte ranges to `upload_url` with "
            "`Content-Range: bytes START-END/TOTAL` (END inclusive) and "
            "`Content-Type: application/octet-stream`, at most `chunk_size` bytes each is "
            "usual. Each answer gives `received_bytes`, the confirmed offset. After a dropped "
            "connection, GET the upload and resume at `received_bytes`; a chunk that starts "
            "earlier is trimmed, one that starts later gets 409.\n"
            "- `s3_multipart` (S3): POST `parts/` for presigned URLs, PUT each part "
            "(`part_size_bytes` each, the last one shorter) straight to S3. GET the upload to "
            "see which parts S3 holds.\n\n"
            "Then POST `complete/`. Repeating this request for the same path, size and hash "
            "returns the upload already open."
        ),
        request=UploadInputSerializer,
        responses={201: UploadSessionSerializer, 200: UploadSessionSerializer, **ERRORS},
    )
    @idempotent
    @action(detail=True, methods=["get", "post"])
    def uploads(self, request, pk=None):
        version = self.get_object()
        if request.method == "GET":
            page = self.paginate_queryset(selectors.open_uploads_of_version(version=version))
            return self.get_paginated_response(UploadSessionSerializer(page, many=True).data)
        data = _valid(UploadInputSerializer, request.data)
        session = uploads.create_upload(
            actor=request.user,
            version=version,
            path=data["path"],
            size_bytes=data["size"],
            sha256=data["sha256"],
            is_archive=data["expand_archive"],
        )
        created = session.created_by_id == request.user.pk and session.received_bytes == 0
        return Response(
            UploadSessionSerializer(session).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(
        operation_id="versions_ingest",
        summary="Start processing the files (hash, measure, Merkle root)",
        description="Queues the ingest task; poll the version for `ingest` progress. Calling "
        "it again while a run is alive returns that run.",
        request=None,
        responses={202: IngestProgressSerializer, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def ingest(self, request, pk=None):
        version = self.get_object()
        progress = services.start_ingest(actor=request.user, version=version)
        progress.refresh_from_db()
        return Response(IngestProgressSerializer(progress).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        operation_id="versions_submit",
        summary="Submit the version for rights review",
        description="Needs a finished ingest without errors and a complete declaration; a 409 "
        "lists what is missing under `errors`.",
        request=None,
        responses={200: VersionSerializer, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        version = services.submit_version(actor=request.user, version=self.get_object())
        return Response(VersionSerializer(version).data)

    @extend_schema(
        methods=["GET"],
        operation_id="versions_declaration_retrieve",
        summary="The provenance declaration, with what it still lacks",
        responses={200: DeclarationSerializer, 404: PROBLEM},
    )
    @extend_schema(
        methods=["PATCH"],
        operation_id="versions_declaration_partial_update",
        summary="Change the provenance declaration",
        description="The fields sent replace the stored ones, and the rules apply to the "
        "result (400 naming the field): an http(s) `source_url`, a collection period that does "
        "not lie in the future, notes when the opt-out status is `honoured`, and `parents` that "
        "are approved versions other than this one. 409 once the version is in review or "
        "frozen.",
        request=DeclarationInputSerializer,
        responses={200: DeclarationSerializer, **ERRORS},
    )
    @action(detail=True, methods=["get", "patch"])
    def declaration(self, request, pk=None):
        version = self.get_object()
        if request.method == "PATCH":
            data = _valid(DeclarationInputSerializer, request.data)
            parent_ids = data.pop("parents", None)
            parents = None
            if parent_ids is not None:
                candidates = selectors.lineage_candidates(version=version)
                parents = list(candidates.filter(pk__in=parent_ids))
                unknown = sorted(set(parent_ids) - {parent.pk for parent in parents})
                if unknown:
                    raise InvalidInput(
                        "Parents must be approved versions.",
                        errors={"parents": [f"{pk} is not an approved version." for pk in unknown]},
                    )
            for name in ("collection_started_on", "collection_ended_on"):
                if name in data and data[name] is None:
                    data[name] = None
            services.update_declaration(
                actor=request.user, version=version, changes=data, parents=parents
            )
        return Response(DeclarationSerializer(selectors.declaration_of(version=version)).data)

    @extend_schema(
        operation_id="versions_declaration_evidence_create",
        summary="Attach an evidence document (contract, consent form, licence)",
        request={"multipart/form-data": EvidenceInputSerializer},
        responses={201: EvidenceSerializer, **ERRORS},
    )
    @idempotent
    @action(
        detail=True,
        methods=["post"],
        url_path="declaration/evidence",
        parser_classes=[MultiPartParser],
    )
    def evidence(self, request, pk=None):
        version = self.get_object()
        data = _valid(EvidenceInputSerializer, request.data)
        evidence = services.add_evidence(
            actor=request.user, version=version, title=data["title"], content=data["file"]
        )
        return Response(EvidenceSerializer(evidence).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="versions_review_retrieve",
        summary="The version's rights review: its state and every decision with its reason",
        responses={200: ReviewStatusSerializer, 404: PROBLEM},
    )
    @action(detail=True, methods=["get"])
    def review(self, request, pk=None):
        version = self.get_object()
        return Response(ReviewStatusSerializer(version).data)


@extend_schema_view(
    retrieve=extend_schema(
        operation_id="uploads_retrieve",
        summary="An upload's confirmed offset (chunked) or the parts S3 holds (S3)",
        responses={200: UploadSessionSerializer, 404: PROBLEM},
    ),
)
class UploadViewSet(mixins.RetrieveModelMixin, CreatorViewSet):
    """Resumable uploads; see `versions_uploads_create` for the protocol."""

    serializer_class = UploadSessionSerializer

    def get_object(self):
        session = selectors.upload_of(organization=self.organization, upload_id=self.kwargs["pk"])
        if session is None:
            raise Http404("No such upload.")
        return session

    def retrieve(self, request, pk=None):
        session = uploads.refresh_upload(session=self.get_object())
        return Response(
            UploadSessionSerializer(session, context={"parts": uploads.s3_parts(session)}).data
        )

    @extend_schema(
        operation_id="uploads_chunk",
        summary="Send the next chunk of a chunked upload",
        parameters=[
            OpenApiParameter(
                "Content-Range",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=True,
                description="`bytes START-END/TOTAL`, END inclusive, TOTAL the upload's size.",
            )
        ],
        request={"application/octet-stream": OpenApiTypes.BINARY},
        responses={200: UploadSessionSerializer, **ERRORS},
    )
    def update(self, request, pk=None):
        session = self.get_object()
        start, end, total = uploads.parse_content_range(request.headers.get("Content-Range", ""))
        length = end - start + 1
        declared = request.headers.get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) != length:
            raise InvalidInput(
                f"The body has {declared} bytes but the Content-Range names {length}.",
                errors={"Content-Range": ["Does not match the body's length."]},
            )
        # The body streams from the socket: it is never read into memory whole.
        session = uploads.receive_chunk(
            session=session, start=start, length=length, stream=request._request, total=total
        )
        return Response(UploadSessionSerializer(session).data)

    @extend_schema(
        operation_id="uploads_destroy",
        summary="Cancel an upload and delete what arrived",
        responses={204: None, 404: PROBLEM, 409: PROBLEM},
    )
    def destroy(self, request, pk=None):
        uploads.abort_upload(actor=request.user, session=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        operation_id="uploads_parts",
        summary="Presigned URLs to PUT parts of an S3 upload straight to the bucket",
        request=PartsInputSerializer,
        responses={200: PresignedPartSerializer(many=True), **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def parts(self, request, pk=None):
        session = self.get_object()
        data = _valid(PartsInputSerializer, request.data)
        return Response(uploads.presign_parts(session=session, part_numbers=data["part_numbers"]))

    @extend_schema(
        operation_id="uploads_complete",
        summary="Finish an upload: check the size and add the file (or archive) to the version",
        request=None,
        responses={
            201: inline_serializer(
                "CompletedUpload",
                fields={
                    "file": DataFileSerializer(allow_null=True),
                    "archive": ArchiveSerializer(allow_null=True),
                },
            ),
            **ERRORS,
        },
    )
    @idempotent
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        created = uploads.complete_upload(actor=request.user, session=self.get_object())
        is_archive = isinstance(created, UploadedArchive)
        return Response(
            {
                "file": None if is_archive else DataFileSerializer(created).data,
                "archive": ArchiveSerializer(created).data if is_archive else None,
            },
            status=status.HTTP_201_CREATED,
        )


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


# --- Rights review and claims (staff desk, public claims) ---------------------------------


class ClaimInputSerializer(InputSerializer):
    dataset = serializers.SlugField(help_text="The listing's slug (its address in the catalog).")
    claimant_name = serializers.CharField(max_length=200)
    claimant_email = serializers.EmailField()
    claimant_organization = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default=""
    )
    basis = serializers.ChoiceField(choices=RightsClaim.Basis.choices)
    statement = serializers.CharField(
        min_length=20,
        max_length=10_000,
        error_messages={
            "min_length": "Say what you hold rights in and why (at least 20 characters)."
        },
    )
    evidence = serializers.FileField(required=False)


class ClaimJsonInputSerializer(ClaimInputSerializer):
    """A claim in JSON: the same fields without the evidence file, which needs multipart."""

    evidence = None


class ClaimReceiptSerializer(serializers.ModelSerializer):
    dataset = serializers.CharField(source="dataset.slug")

    class Meta:
        model = RightsClaim
        fields = ["id", "dataset", "basis", "status", "created_at"]


class ClaimSerializer(serializers.ModelSerializer):
    dataset = serializers.CharField(source="dataset.slug")
    version = serializers.CharField(source="version_id", allow_null=True)

    class Meta:
        model = RightsClaim
        fields = [
            "id",
            "dataset",
            "version",
            "claimant_name",
            "claimant_email",
            "claimant_organization",
            "basis",
            "statement",
            "evidence_name",
            "evidence_sha256",
            "status",
            "resolution_reason",
            "resolved_at",
            "counter_statement",
            "counter_statement_at",
            "reinstated_at",
            "reinstatement_reason",
            "created_at",
        ]


class ReasonInputSerializer(InputSerializer):
    reason = serializers.CharField(max_length=5000)


class DecisionInputSerializer(InputSerializer):
    decision = serializers.ChoiceField(choices=Review.Decision.choices)
    reason = serializers.CharField(max_length=5000)
    checklist = serializers.DictField(
        child=serializers.BooleanField(),
        required=False,
        default=dict,
        help_text="Names from the checklist (rights_holder_matches_evidence, "
        "consent_basis_plausible, authorship_declared, no_personal_data_in_samples) to true; "
        "approving needs all four.",
    )


class ReviewQueueItemSerializer(serializers.ModelSerializer):
    dataset = serializers.CharField(source="dataset_id")
    title = serializers.CharField(source="dataset.title")
    organization = serializers.CharField(source="dataset.organization.slug")
    modality = serializers.CharField(source="dataset.modality")

    class Meta:
        model = DatasetVersion
        fields = [
            "id",
            "dataset",
            "title",
            "organization",
            "modality",
            "number",
            "merkle_root",
            "file_count",
            "total_bytes",
            "submitted_at",
        ]


class StaffOnly(IsAuthenticated):
    """Wellspring's reviewers. Anybody else is told nothing exists here (404)."""

    def has_permission(self, request, view):
        if not super().has_permission(request, view):
            return False
        if request.method not in view.allowed_methods:
            return True  # the view answers 405, which says nothing about what exists here
        if not request.user.is_staff:
            raise Http404("Not found.")
        return True


@extend_schema_view(
    list=extend_schema(
        operation_id="review_queue_list",
        summary="Staff: versions waiting for review, oldest first",
        parameters=[
            OpenApiParameter("modality", OpenApiTypes.STR, description="Filter by modality."),
            OpenApiParameter("organization", OpenApiTypes.STR, description="Creator's slug."),
            OpenApiParameter("q", OpenApiTypes.STR, description="Words of the title."),
        ],
        responses={200: ReviewQueueItemSerializer(many=True), 401: PROBLEM, 404: PROBLEM},
    ),
)
class ReviewQueueViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The reviewer desk's queue and decisions, for staff."""

    permission_classes = [StaffOnly, HasScope]
    required_scopes = {"*": "*"}
    serializer_class = ReviewQueueItemSerializer
    lookup_value_regex = ID_PATTERN

    def get_queryset(self):
        params = self.request.query_params
        return selectors.review_queue(
            viewer=self.request.user,
            modality=params.get("modality", ""),
            organization=params.get("organization", ""),
            q=params.get("q", ""),
        )

    @extend_schema(
        operation_id="review_queue_decide",
        summary="Staff: approve, reject or request changes, with a reason and the checklist",
        request=DecisionInputSerializer,
        responses={201: ReviewDecisionSerializer, **ERRORS},
    )
    @idempotent
    @action(detail=True, methods=["post"])
    def decision(self, request, pk=None):
        version = selectors.version_for_review(viewer=request.user, version_id=pk)
        if version is None:
            raise Http404("No such version.")
        data = _valid(DecisionInputSerializer, request.data)
        review = services.decide_version(
            actor=request.user,
            version=version,
            decision=data["decision"],
            reason=data["reason"],
            checklist=data["checklist"],
        )
        return Response(ReviewDecisionSerializer(review).data, status=status.HTTP_201_CREATED)


def _client_address(request) -> str:
    return request.META.get("REMOTE_ADDR", "") or "unknown"


@extend_schema_view(
    list=extend_schema(
        operation_id="claims_list",
        summary="Staff: rights claims, oldest first",
        parameters=[
            OpenApiParameter(
                "status", OpenApiTypes.STR, enum=RightsClaim.Status.values, description="Filter."
            )
        ],
        responses={200: ClaimSerializer(many=True), 401: PROBLEM, 404: PROBLEM},
    ),
    retrieve=extend_schema(
        operation_id="claims_retrieve",
        summary="Staff: one rights claim",
        responses={200: ClaimSerializer, 401: PROBLEM, 404: PROBLEM},
    ),
)
class ClaimViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Rights claims: anyone may file one (throttled per address); staff triage them."""

    serializer_class = ClaimSerializer
    parser_classes = [JSONParser, MultiPartParser]
    lookup_value_regex = ID_PATTERN
    required_scopes = {"*": "*"}

    def get_permissions(self):
        if self.action == "create":
            return [AllowAny()]
        return [StaffOnly(), HasScope()]

    def get_throttles(self):
        # The public form has its own per-address limit (CLAIMS_PER_HOUR).
        return [] if self.action == "create" else super().get_throttles()

    def get_queryset(self):
        return selectors.claims_for_review(
            viewer=self.request.user, status=self.request.query_params.get("status", "")
        )

    @extend_schema(
        operation_id="claims_create",
        summary="File a rights claim over a listed dataset (public, throttled)",
        description="No authentication needed. At most `CLAIMS_PER_HOUR` claims an hour from "
        "one address; more answer 429. JSON, or multipart with an `evidence` file. "
        "`Idempotency-Key` is honoured for callers acting for an organization (API key or "
        "session); anonymous claims have no organization to keep the key under.",
        request={
            "application/json": ClaimJsonInputSerializer,
            "multipart/form-data": ClaimInputSerializer,
        },
        responses={201: ClaimReceiptSerializer, 400: PROBLEM, 404: PROBLEM, 429: PROBLEM},
        auth=[],
    )
    @idempotent
    def create(self, request):
        # A file travels only in multipart; in JSON, `evidence` is not a field at all.
        is_multipart = request.content_type.startswith("multipart/form-data")
        data = _valid(
            ClaimInputSerializer if is_multipart else ClaimJsonInputSerializer, request.data
        )
        dataset = selectors.listed_dataset(slug=data.pop("dataset"))
        if dataset is None:
            raise Http404("No listed dataset has this address.")
        claim_services.check_claim_rate(client_key=_client_address(request))
        claim = claim_services.file_claim(
            dataset=dataset, evidence=data.pop("evidence", None), **data
        )
        return Response(ClaimReceiptSerializer(claim).data, status=status.HTTP_201_CREATED)

    def _act(self, request, pk, service):
        claim = selectors.claim_for_review(viewer=request.user, claim_id=pk)
        if claim is None:
            raise Http404("No such claim.")
        data = _valid(ReasonInputSerializer, request.data)
        claim = service(actor=request.user, claim=claim, reason=data["reason"])
        return Response(ClaimSerializer(claim).data)

    @extend_schema(
        operation_id="claims_dismiss",
        summary="Staff: dismiss an open claim, with a reason",
        request=ReasonInputSerializer,
        responses={200: ClaimSerializer, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def dismiss(self, request, pk=None):
        return self._act(request, pk, claim_services.dismiss_claim)

    @extend_schema(
        operation_id="claims_uphold",
        summary="Staff: uphold an open claim (suspends the dataset, flags its licenses)",
        request=ReasonInputSerializer,
        responses={200: ClaimSerializer, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def uphold(self, request, pk=None):
        return self._act(request, pk, claim_services.uphold_claim)

    @extend_schema(
        operation_id="claims_reinstate",
        summary="Staff: lift an upheld claim and reinstate the dataset",
        request=ReasonInputSerializer,
        responses={200: ClaimSerializer, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def reinstate(self, request, pk=None):
        return self._act(request, pk, claim_services.reinstate_dataset)
