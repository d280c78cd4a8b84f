"""Blobs in the configured storage (local disk or S3 through django-storages).

What the generic Storage API lacks and ingest needs: a streaming read that never buffers a
whole object (django-storages' S3 file object downloads the object into memory before the
first read), ranged reads, deleting a folder's worth of leftovers, the raw S3 client for
presigned multipart uploads, and deleting a blob only when no other row still refers to it
(files carried over to a new version share their blob with the version they came from).
"""

import io
import logging
import os
import shutil
from contextlib import contextmanager

from django.core.files.storage import FileSystemStorage, default_storage
from django.db import transaction

logger = logging.getLogger(__name__)


def uses_s3() -> bool:
    """Whether the default storage is S3 (presigned multipart uploads instead of chunks)."""
    return hasattr(default_storage, "bucket") and hasattr(default_storage, "connection")


def s3_key(name: str) -> str:
    """The object key of a storage name, with the storage's location prefix applied."""
    from storages.utils import clean_name

    return default_storage._normalize_name(clean_name(name))


def s3_client():
    return default_storage.connection.meta.client


def s3_bucket_name() -> str:
    return default_storage.bucket_name


def local_path(name: str) -> str:
    """The file system path of a local blob; NotImplementedError on remote storage."""
    return default_storage.path(name)


def stream_opener():
    """A function that opens a blob by name for one front-to-back read, in bounded memory.

    Resolve it once for many files: looking the storage up again for each small file costs
    more than reading it.
    """
    if uses_s3():
        return _open_s3_stream
    if isinstance(default_storage, FileSystemStorage):
        root = default_storage.location
        # Unbuffered: reads go straight into the caller's buffer, with no copy in between.
        # The names are ours (normalized, relative): a plain join replaces safe_join.
        return lambda name: open(os.path.join(root, name), "rb", buffering=0)
    return lambda name: default_storage.open(name, "rb")


@contextmanager
def _open_s3_stream(name: str):
    # django-storages' S3 file object downloads the whole object before the first read;
    # the body of a plain GET streams.
    from botocore.exceptions import ClientError

    try:
        body = s3_client().get_object(Bucket=s3_bucket_name(), Key=s3_key(name))["Body"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            raise FileNotFoundError(name) from error
        raise
    try:
        yield body
    finally:
        body.close()


def open_stream(name: str):
    """A binary stream over a blob (a context manager), read front to back in bounded memory."""
    return stream_opener()(name)


def read_range(name: str, start: int, length: int) -> bytes:
    """`length` bytes of a blob from `start` (a Parquet footer, an archive's directory)."""
    if length <= 0:
        return b""
    if uses_s3():
        response = s3_client().get_object(
            Bucket=s3_bucket_name(), Key=s3_key(name), Range=f"bytes={start}-{start + length - 1}"
        )
        return response["Body"].read()
    with default_storage.open(name, "rb") as stream:
        stream.seek(start)
        return stream.read(length)


def delete_blob(name: str) -> None:
    """Delete a blob; a blob that is already gone is not an error."""
    if not name:
        return
    try:
        default_storage.delete(name)
    except FileNotFoundError:
        pass
    except Exception:
        # Deleting is housekeeping: the row that pointed here is gone, so a failure leaves an
        # orphan blob for an operator, never a broken version.
        logger.exception("could not delete blob %s", name)


def delete_prefix(prefix: str) -> None:
    """Delete every blob under a folder-like prefix (leftovers of a run that was killed)."""
    prefix = prefix.rstrip("/") + "/"
    if uses_s3():
        client, bucket = s3_client(), s3_bucket_name()
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=s3_key(prefix.rstrip("/")) + "/"):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
        return
    try:
        path = local_path(prefix)
    except NotImplementedError:
        return
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)


def is_referenced(name: str) -> bool:
    """Whether any file, evidence document or archive row still points at this blob."""
    from provenance.models import DataFile, EvidenceDocument, UploadedArchive

    return (
        DataFile.objects.filter(storage_name=name).exists()
        or EvidenceDocument.objects.filter(storage_name=name).exists()
        or UploadedArchive.objects.filter(storage_name=name).exists()
    )


def delete_unreferenced_on_commit(names) -> None:
    """After the surrounding transaction commits, delete the blobs no row refers to any more.

    A draft's file carried over from an approved version shares that version's blob: removing
    the draft's row must never remove the approved version's bytes.
    """
    names = [name for name in names if name]

    def sweep():
        for name in names:
            if not is_referenced(name):
                delete_blob(name)

    transaction.on_commit(sweep)


class TeeReader:
    """Reads from `source` and hands every chunk to `sink` on the way (hash while storing).

    Also counts the bytes and enforces `limit`, so a member of an archive that expands beyond
    what its header promised is caught while it streams, not after it filled the disk.
    """

    def __init__(
        self, source, sink=None, *, name: str = "", limit: int | None = None, on_limit=None
    ):
        self.source = source
        self.sink = sink
        self.name = name
        self.limit = limit
        self.on_limit = on_limit
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self.source.read(size if size and size > 0 else 1024 * 1024)
        if data:
            self.count += len(data)
            if self.limit is not None and self.count > self.limit and self.on_limit:
                self.on_limit(self.count)
            if self.sink is not None:
                self.sink(data)
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def seek(self, *args):
        raise io.UnsupportedOperation("a streamed member cannot seek")

    def tell(self) -> int:
        return self.count

    @property
    def closed(self) -> bool:
        return False

    def close(self) -> None:
        """The source belongs to the caller, who closes it."""
