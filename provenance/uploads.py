"""Resumable uploads of large files (and archives) into a draft version.

Two ways, chosen by the configured storage; the client learns which from the session:

- `chunked` (local disk): the client PUTs consecutive byte ranges with `Content-Range`.
  `received_bytes` is the confirmed offset: after a dropped connection the client asks for the
  session and resumes there. A chunk that starts before the offset is trimmed (re-sending is
  harmless); one that starts after it is refused (409), so no gap can ever be written.
- `s3_multipart` (S3): the browser PUTs parts straight to the bucket with presigned URLs; S3
  keeps the parts that arrived, so resuming means sending the parts S3 does not list yet.

Completing checks the size (and the part layout on S3), then turns the upload into a file of
the version (or an archive to expand at ingest). A declared SHA-256 is checked by ingest,
which reads every file once anyway. Abandoned sessions expire (`UPLOAD_SESSION_HOURS`) and
their bytes are deleted; each chunk sent (or batch of parts signed) moves the expiry on.
"""

import logging
import math
import os
import re
import shutil
import tempfile
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.errors import Conflict, InvalidInput, NotFound
from accounts.models import User
from provenance import archives, storage
from provenance.ledger import record_event
from provenance.models import DataFile, DatasetVersion, UploadedArchive, UploadSession
from provenance.paths import normalize_member_path
from provenance.services import (
    check_path_free,
    clean_sha256,
    lock_draft,
    mark_files_changed,
)

logger = logging.getLogger(__name__)

S3_MIN_PART_BYTES = 5 * 1024 * 1024
S3_MAX_PARTS = 10_000
COPY_BUFFER = 1024 * 1024
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")


def parse_content_range(header: str) -> tuple[int, int, int]:
    """`bytes START-END/TOTAL` (END inclusive) as three integers; InvalidInput otherwise."""
    match = _CONTENT_RANGE.match((header or "").strip())
    if not match:
        raise InvalidInput(
            "Send each chunk with a Content-Range header: bytes START-END/TOTAL.",
            errors={"Content-Range": ["Expected bytes START-END/TOTAL, END inclusive."]},
        )
    start, end, total = (int(group) for group in match.groups())
    if end < start:
        raise InvalidInput("The Content-Range ends before it starts.")
    return start, end, total


def part_count(session: UploadSession) -> int:
    if not session.part_size_bytes:
        return 0
    return max(1, math.ceil(session.size_bytes / session.part_size_bytes))


def create_upload(
    *,
    actor: User,
    version: DatasetVersion,
    path: str,
    size_bytes: int,
    sha256: str = "",
    is_archive: bool = False,
    now: datetime | None = None,
) -> UploadSession:
    """Open a resumable upload of `size_bytes` bytes to `path` in a draft version.

    Retrying the same request (same path, size and hash) returns the session already open, so a
    client that lost the answer can go on. Raises InvalidInput for a bad path, size or hash,
    Conflict when the version is not a draft or the path is taken. For S3, starts the multipart
    upload (a call to S3, made before the row is written and undone if it cannot be).
    """
    now = now or timezone.now()
    path = normalize_member_path(path)
    sha256 = clean_sha256(sha256)
    if not isinstance(size_bytes, int) or isinstance(size_bytes, bool) or size_bytes < 0:
        raise InvalidInput(
            "The size must be a whole number of bytes.", errors={"size": ["Invalid."]}
        )
    if size_bytes > settings.UPLOAD_MAX_FILE_BYTES:
        raise InvalidInput(
            f"{path} is larger than the {settings.UPLOAD_MAX_FILE_BYTES:,} bytes a file may have.",
            errors={"size": ["Too large."]},
        )
    version = DatasetVersion.objects.select_related("dataset").get(pk=version.pk)
    if version.status != DatasetVersion.Status.DRAFT:
        raise Conflict("Files can only be added to a draft version.")
    existing = UploadSession.objects.filter(
        version=version, path=path, state=UploadSession.State.OPEN
    ).first()
    if existing is not None:
        if (existing.size_bytes, existing.expected_sha256, existing.is_archive) == (
            size_bytes,
            sha256,
            is_archive,
        ) and not existing.is_expired(now):
            return existing
        raise Conflict(
            f"An upload to {path} is already under way; resume it or cancel it first.",
            errors={"path": [f"An upload to {path} is already under way."]},
        )
    if not is_archive:
        check_path_free(version=version, path=path)
    session = UploadSession(
        version=version,
        path=path,
        size_bytes=size_bytes,
        expected_sha256=sha256,
        is_archive=is_archive,
        created_by=actor,
        created_at=now,
        updated_at=now,
        expires_at=now + timedelta(hours=settings.UPLOAD_SESSION_HOURS),
    )
    folder = "archives" if is_archive else "datasets"
    leaf = path.rsplit("/", 1)[-1] if is_archive else path
    session.storage_name = f"{folder}/{version.dataset_id}/{version.pk}/{session.pk}/{leaf}"
    if storage.uses_s3():
        session.backend = UploadSession.Backend.S3_MULTIPART
        session.part_size_bytes = max(
            settings.UPLOAD_S3_PART_BYTES, math.ceil(size_bytes / S3_MAX_PARTS), S3_MIN_PART_BYTES
        )
        response = storage.s3_client().create_multipart_upload(
            Bucket=storage.s3_bucket_name(),
            Key=storage.s3_key(session.storage_name),
            ContentType="application/octet-stream",
        )
        session.s3_upload_id = response["UploadId"]
    else:
        session.backend = UploadSession.Backend.CHUNKED
        _reserve_local_blob(session.storage_name)
    try:
        with transaction.atomic():
            lock_draft(version, "Adding files")
            session.full_clean(exclude=["version", "created_by"])
            session.save(force_insert=True)
    except Exception as error:
        _discard_blob(session)
        if isinstance(error, IntegrityError | ValidationError):
            raise Conflict(f"An upload to {path} is already under way.") from error
        raise
    logger.info("upload %s opened for %s (%s bytes)", session.pk, version.pk, size_bytes)
    return session


def _reserve_local_blob(name: str) -> None:
    try:
        path = storage.local_path(name)
    except NotImplementedError as error:
        raise Conflict("Resumable uploads need local or S3 storage.") from error
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "xb"):
        pass


def _discard_blob(session: UploadSession) -> None:
    if session.backend == UploadSession.Backend.S3_MULTIPART and session.s3_upload_id:
        try:
            storage.s3_client().abort_multipart_upload(
                Bucket=storage.s3_bucket_name(),
                Key=storage.s3_key(session.storage_name),
                UploadId=session.s3_upload_id,
            )
        except Exception:
            logger.exception("could not abort the S3 upload of %s", session.pk)
    storage.delete_blob(session.storage_name)


def _check_open(session: UploadSession, now: datetime) -> None:
    if session.state == UploadSession.State.COMPLETED:
        raise Conflict("This upload is complete already.")
    if session.state == UploadSession.State.ABORTED:
        raise Conflict("This upload was cancelled; start a new one.")
    if session.is_expired(now):
        raise Conflict("This upload has expired; start a new one.")


def receive_chunk(
    *,
    session: UploadSession,
    start: int,
    length: int,
    stream,
    total: int | None = None,
    now: datetime | None = None,
) -> UploadSession:
    """Append `length` bytes read from `stream`, which start at byte `start` of the file.

    The chunk is read in full before anything is written, so a connection dropped mid-chunk
    writes nothing. Bytes before `received_bytes` are skipped (a re-sent chunk is harmless).
    Raises InvalidInput for a malformed or oversized chunk, Conflict for a gap (naming the
    offset to resume from) or an upload that is not open.
    """
    now = now or timezone.now()
    if session.backend != UploadSession.Backend.CHUNKED:
        raise Conflict("This upload goes straight to S3: PUT its parts to the presigned URLs.")
    _check_open(session, now)
    if total is not None and total != session.size_bytes:
        raise InvalidInput(
            f"The upload is {session.size_bytes:,} bytes long, not {total:,}.",
            errors={"Content-Range": ["The total does not match the upload's size."]},
        )
    if length > settings.UPLOAD_CHUNK_MAX_BYTES:
        raise InvalidInput(
            f"A chunk may carry at most {settings.UPLOAD_CHUNK_MAX_BYTES:,} bytes.",
            code="chunk_too_large",
        )
    if length <= 0 or start + length > session.size_bytes:
        raise InvalidInput("The chunk goes past the end of the file.")
    if start > session.received_bytes:
        raise _gap(session.received_bytes)
    with tempfile.SpooledTemporaryFile(max_size=COPY_BUFFER) as spool:
        remaining = length
        while remaining:
            data = stream.read(min(COPY_BUFFER, remaining))
            if not data:
                break
            spool.write(data)
            remaining -= len(data)
        if remaining:
            raise InvalidInput(
                f"The chunk was cut off after {length - remaining:,} of {length:,} bytes; "
                "send it again.",
                code="chunk_incomplete",
            )
        with transaction.atomic():
            locked = UploadSession.objects.select_for_update().get(pk=session.pk)
            _check_open(locked, now)
            if start > locked.received_bytes:
                raise _gap(locked.received_bytes)
            skip = locked.received_bytes - start
            if skip < length:
                spool.seek(skip)
                with open(storage.local_path(locked.storage_name), "r+b") as blob:
                    blob.seek(locked.received_bytes)
                    shutil.copyfileobj(spool, blob, COPY_BUFFER)
                    blob.flush()
                    os.fsync(blob.fileno())
                locked.received_bytes = start + length
                locked.updated_at = now
                # The expiry slides: an upload that keeps moving is not abandoned.
                locked.expires_at = now + timedelta(hours=settings.UPLOAD_SESSION_HOURS)
                locked.save(update_fields=["received_bytes", "updated_at", "expires_at"])
    return locked


def _gap(received: int) -> Conflict:
    return Conflict(
        f"The upload has {received:,} bytes; send the chunk that starts at byte {received}.",
        code="offset_mismatch",
        errors={"received_bytes": [str(received)]},
    )


def s3_parts(session: UploadSession) -> list[dict]:
    """The parts S3 holds for this upload, in order: what a resuming browser may skip."""
    if session.backend != UploadSession.Backend.S3_MULTIPART or not session.s3_upload_id:
        return []
    client, parts, marker = storage.s3_client(), [], 0
    while True:
        response = client.list_parts(
            Bucket=storage.s3_bucket_name(),
            Key=storage.s3_key(session.storage_name),
            UploadId=session.s3_upload_id,
            PartNumberMarker=marker,
        )
        parts += [
            {"part_number": part["PartNumber"], "size": part["Size"], "etag": part["ETag"]}
            for part in response.get("Parts", [])
        ]
        if not response.get("IsTruncated"):
            return parts
        marker = response["NextPartNumberMarker"]


def refresh_upload(*, session: UploadSession) -> UploadSession:
    """Bring `received_bytes` of an S3 upload up to date with the parts S3 holds."""
    if session.backend != UploadSession.Backend.S3_MULTIPART or session.state != "open":
        return session
    received = min(sum(part["size"] for part in s3_parts(session)), session.size_bytes)
    if received != session.received_bytes:
        UploadSession.objects.filter(pk=session.pk, state=UploadSession.State.OPEN).update(
            received_bytes=received
        )
        session.received_bytes = received
    return session


def presign_parts(
    *, session: UploadSession, part_numbers: list[int], now: datetime | None = None
) -> list[dict]:
    """Presigned PUT URLs for parts of an S3 upload (numbered from 1), each with its size.

    Raises Conflict for a chunked upload or one that is not open, InvalidInput for part
    numbers outside the upload.
    """
    now = now or timezone.now()
    if session.backend != UploadSession.Backend.S3_MULTIPART:
        raise Conflict("This upload goes through Wellspring: PUT its chunks to the upload.")
    _check_open(session, now)
    count = part_count(session)
    bad = [number for number in part_numbers if not 1 <= number <= count]
    if bad or not part_numbers:
        raise InvalidInput(
            f"Part numbers run from 1 to {count}.",
            errors={"part_numbers": [f"Part numbers run from 1 to {count}."]},
        )
    UploadSession.objects.filter(pk=session.pk, state=UploadSession.State.OPEN).update(
        updated_at=now, expires_at=now + timedelta(hours=settings.UPLOAD_SESSION_HOURS)
    )
    client = storage.s3_client()
    urls = []
    for number in sorted(set(part_numbers)):
        size = min(
            session.part_size_bytes, session.size_bytes - (number - 1) * session.part_size_bytes
        )
        url = client.generate_presigned_url(
            "upload_part",
            Params={
                "Bucket": storage.s3_bucket_name(),
                "Key": storage.s3_key(session.storage_name),
                "UploadId": session.s3_upload_id,
                "PartNumber": number,
            },
            ExpiresIn=settings.UPLOAD_PRESIGN_SECONDS,
        )
        urls.append({"part_number": number, "url": url, "size": max(size, 0)})
    return urls


def complete_upload(*, actor: User, session: UploadSession, now: datetime | None = None):
    """Check that every byte arrived and add the upload to its version.

    Returns the new DataFile, or the UploadedArchive when the upload is an archive (expanded at
    ingest). Completing twice returns the same object. Raises Conflict naming what is missing
    (bytes, or S3 parts), InvalidInput when an archive upload is not a zip, tar or tar.gz (its
    bytes are then discarded). Writes `version.file_added` for a file.
    """
    now = now or timezone.now()
    if session.state == UploadSession.State.COMPLETED:
        return _completed_object(session)
    _check_open(session, now)
    if session.backend == UploadSession.Backend.S3_MULTIPART:
        _complete_s3(session)
    else:
        if session.received_bytes != session.size_bytes:
            raise Conflict(
                f"{session.received_bytes:,} of {session.size_bytes:,} bytes have arrived; "
                f"send the rest from byte {session.received_bytes}.",
                code="upload_incomplete",
                errors={"received_bytes": [str(session.received_bytes)]},
            )
        # A chunk written before a failed commit may have left bytes past the end.
        with open(storage.local_path(session.storage_name), "r+b") as blob:
            blob.truncate(session.size_bytes)
    if session.is_archive:
        kind = archives.detect_kind(storage.read_range(session.storage_name, 0, 512))
        if kind is None:
            abort_upload(actor=actor, session=session, now=now)
            raise InvalidInput(
                f"{session.path} is not a zip, tar or tar.gz archive; upload it as a file "
                "instead, or upload the right archive.",
                errors={"file": ["Not a zip, tar or tar.gz archive."]},
            )
    return _register(actor, session, now)


def _complete_s3(session: UploadSession) -> None:
    from botocore.exceptions import ClientError

    client, bucket = storage.s3_client(), storage.s3_bucket_name()
    key = storage.s3_key(session.storage_name)
    parts = s3_parts(session)
    expected = part_count(session)
    if session.size_bytes == 0:
        # S3 will not complete a multipart upload of nothing: store the empty object directly.
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=session.s3_upload_id)
        client.put_object(Bucket=bucket, Key=key, Body=b"")
        return
    numbers = [part["part_number"] for part in parts]
    missing = sorted(set(range(1, expected + 1)) - set(numbers))
    if missing:
        raise Conflict(
            f"{len(missing)} of {expected} parts have not arrived yet (first missing: part "
            f"{missing[0]}).",
            code="upload_incomplete",
            errors={"missing_parts": [str(number) for number in missing[:100]]},
        )
    for part in parts:
        start = (part["part_number"] - 1) * session.part_size_bytes
        want = min(session.part_size_bytes, session.size_bytes - start)
        if part["size"] != want:
            raise Conflict(
                f"Part {part['part_number']} has {part['size']:,} bytes; it should have {want:,}. "
                "Send that part again.",
                code="upload_incomplete",
            )
    try:
        client.complete_multipart_upload(
            Bucket=bucket,
            Key=key,
            UploadId=session.s3_upload_id,
            MultipartUpload={
                "Parts": [{"PartNumber": p["part_number"], "ETag": p["etag"]} for p in parts]
            },
        )
    except ClientError as error:
        raise Conflict(f"S3 refused to assemble the upload: {error}") from error
    size = client.head_object(Bucket=bucket, Key=key)["ContentLength"]
    if size != session.size_bytes:
        storage.delete_blob(session.storage_name)
        raise Conflict(f"S3 holds {size:,} bytes, not the {session.size_bytes:,} announced.")


def _completed_object(session: UploadSession):
    if session.is_archive:
        found = UploadedArchive.objects.filter(
            version_id=session.version_id, name=session.path, created_at__gte=session.created_at
        ).first()
    else:
        found = DataFile.objects.filter(version_id=session.version_id, path=session.path).first()
    if found is None:
        raise Conflict("This upload is complete already.")
    return found


def _register(actor: User, session: UploadSession, now: datetime):
    with transaction.atomic():
        locked = UploadSession.objects.select_for_update().get(pk=session.pk)
        if locked.state == UploadSession.State.COMPLETED:
            return _completed_object(locked)
        _check_open(locked, now)
        version = lock_draft(locked.version, "Adding files")
        if locked.is_archive:
            created = UploadedArchive.objects.create(
                version=version,
                name=locked.path,
                storage_name=locked.storage_name,
                size_bytes=locked.size_bytes,
                created_by=actor,
                created_at=now,
            )
        else:
            check_path_free(version=version, path=locked.path, except_upload=locked)
            created = DataFile.objects.create(
                version=version,
                path=locked.path,
                storage_name=locked.storage_name,
                size_bytes=locked.size_bytes,
                expected_sha256=locked.expected_sha256,
                created_at=now,
            )
            record_event(
                action="version.file_added",
                subject_type="dataset_version",
                subject_id=version.pk,
                actor=actor,
                organization=version.dataset.organization,
                payload={"path": locked.path, "file": created.pk, "size": locked.size_bytes},
                now=now,
            )
        mark_files_changed(version=version)
        locked.state = UploadSession.State.COMPLETED
        locked.received_bytes = locked.size_bytes
        locked.completed_at = now
        locked.updated_at = now
        locked.save(update_fields=["state", "received_bytes", "completed_at", "updated_at"])
    return created


def abort_upload(
    *, actor: User | None, session: UploadSession, now: datetime | None = None
) -> UploadSession:
    """Cancel an open upload and delete what arrived. Cancelling twice is harmless.

    Raises Conflict for a completed upload (remove the file instead).
    """
    now = now or timezone.now()
    with transaction.atomic():
        locked = UploadSession.objects.select_for_update().get(pk=session.pk)
        if locked.state == UploadSession.State.ABORTED:
            return locked
        if locked.state == UploadSession.State.COMPLETED:
            raise Conflict("This upload is complete: remove the file instead.")
        locked.state = UploadSession.State.ABORTED
        locked.updated_at = now
        locked.save(update_fields=["state", "updated_at"])
        transaction.on_commit(partial(_discard_blob, locked))
    logger.info("upload %s aborted", locked.pk)
    return locked


def expire_uploads(*, now: datetime | None = None) -> int:
    """Cancel uploads left open past their expiry and delete their bytes; returns how many."""
    now = now or timezone.now()
    expired = list(
        UploadSession.objects.filter(state=UploadSession.State.OPEN, expires_at__lte=now)
    )
    for session in expired:
        try:
            abort_upload(actor=None, session=session, now=now)
        except (Conflict, NotFound):
            continue
    return len(expired)


def add_archive(
    *, actor: User, version: DatasetVersion, name: str, content, now: datetime | None = None
) -> UploadedArchive:
    """Store an archive uploaded in one request; ingest expands it into the version's files.

    Raises InvalidInput when it is not a zip, tar or tar.gz (nothing is kept), Conflict when
    the version is not a draft.
    """
    from django.core.files.storage import default_storage

    now = now or timezone.now()
    name = normalize_member_path(name)
    version = DatasetVersion.objects.select_related("dataset").get(pk=version.pk)
    if version.status != DatasetVersion.Status.DRAFT:
        raise Conflict("Files can only be added to a draft version.")
    size = getattr(content, "size", None) or 0
    if size > settings.UPLOAD_MAX_FILE_BYTES:
        raise InvalidInput(
            f"{name} is larger than the {settings.UPLOAD_MAX_FILE_BYTES:,} bytes allowed."
        )
    head = content.read(512)
    content.seek(0)
    if archives.detect_kind(head) is None:
        raise InvalidInput(
            f"{name} is not a zip, tar or tar.gz archive; upload it as a file instead.",
            errors={"file": ["Not a zip, tar or tar.gz archive."]},
        )
    leaf = name.rsplit("/", 1)[-1]
    storage_name = default_storage.save(
        f"archives/{version.dataset_id}/{version.pk}/{leaf}", content
    )
    try:
        with transaction.atomic():
            version = lock_draft(version, "Adding files")
            archive = UploadedArchive.objects.create(
                version=version,
                name=name,
                storage_name=storage_name,
                size_bytes=size,
                created_by=actor,
                created_at=now,
            )
            mark_files_changed(version=version)
    except Exception:
        storage.delete_blob(storage_name)
        raise
    return archive
