"""Ingest: expand a version's archives, measure each file once, then compute its Merkle root.

How a run goes:

1. `start_ingest` (a creator's click or API call) puts the version in `processing`, gives the
   run a token, and enqueues `ingest_version_task` on the `ingest` queue after the commit.
2. `ingest_version` claims the run, expands pending archives (checking every member first,
   see `provenance.archives`), and streams every unmeasured file once through
   `FileInspector`: SHA-256, size, media type from the content, record counts.
3. It finishes with the Merkle root over all files and a `version.ingested` ledger entry, or
   with the errors listed; either way the version is a draft again.

Progress (files and bytes done, the current file, errors) is written as the run goes, at most
every `INGEST_PROGRESS_SECONDS`, so pages and the API show it live.

Idempotent and retry-safe: a file's facts are saved as soon as it is measured and a rerun
skips measured files; an archive's members become rows in one transaction, and the blobs of a
run that died before it are removed first; the totals and the root are recomputed from the
rows. A run killed at any point and run again gives the same rows and the same root.
"""

import errno
import logging
import tempfile
import threading
import time
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from datetime import datetime
from functools import partial
from typing import NamedTuple

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone

from accounts.errors import Conflict, NotFound
from accounts.models import User
from provenance import archives, inspection, storage
from provenance.inspection import FileInspector, inspect_stream
from provenance.ledger import record_event
from provenance.merkle import merkle_root
from provenance.models import DataFile, DatasetVersion, IngestProgress, UploadedArchive

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
# Errors listed on the progress (the files keep their own); past this, a count says how many.
MAX_ERRORS_SHOWN = 100


class RunSuperseded(Exception):
    """Another run took the version over (or the creator started again): stop quietly."""


class RunBusy(Exception):
    """This very run is alive on another worker: try again once it may have died."""


def _new_token() -> str:
    return uuid.uuid4().hex


def start_ingest(*, actor: User, version: DatasetVersion, now: datetime | None = None):
    """Queue the version's files for processing; returns its IngestProgress.

    Safe to call twice: while a run is queued or running (and alive) it is returned as is. A
    run whose worker stopped reporting for `INGEST_STALE_SECONDS` may be started again.
    Raises Conflict when the version is not a draft or has nothing to process.
    Enqueues `ingest_version_task` after the commit.
    """
    # Imported here: the task module wraps this one.
    from provenance.tasks import ingest_version_task

    now = now or timezone.now()
    with transaction.atomic():
        version = (
            DatasetVersion.objects.select_for_update()
            .select_related("dataset__organization")
            .get(pk=version.pk)
        )
        progress, _ = IngestProgress.objects.select_for_update().get_or_create(version=version)
        if version.status == DatasetVersion.Status.PROCESSING:
            if progress.is_active and not progress.is_stale(now, settings.INGEST_STALE_SECONDS):
                return progress
        elif version.status != DatasetVersion.Status.DRAFT:
            raise Conflict(
                f"Only a draft can be processed; this version is "
                f"{version.get_status_display().lower()}."
            )
        pending_files = DataFile.objects.filter(version=version, ingested_at__isnull=True)
        pending_archives = UploadedArchive.objects.filter(
            version=version, state=UploadedArchive.State.PENDING
        )
        if not version.files.exists() and not pending_archives.exists():
            raise Conflict("Add files before processing them.", errors={"files": ["No files."]})
        token = _new_token()
        progress.state = IngestProgress.State.QUEUED
        progress.run_token = token
        progress.files_total = version.files.count()
        progress.files_done = progress.files_total - pending_files.count()
        progress.bytes_total = _total_size(pending_files) + _total_size(pending_archives)
        progress.bytes_done = 0
        progress.current_path = ""
        progress.errors = []
        progress.queued_at = now
        progress.started_at = None
        progress.heartbeat_at = None
        progress.finished_at = None
        progress.save()
        version.status = DatasetVersion.Status.PROCESSING
        version.save(update_fields=["status"])
        record_event(
            action="version.ingest_started",
            subject_type="dataset_version",
            subject_id=version.pk,
            actor=actor,
            organization=version.dataset.organization,
            payload={"files": progress.files_total, "archives": pending_archives.count()},
            now=now,
        )
        transaction.on_commit(
            partial(ingest_version_task.delay, version_id=version.pk, run_token=token)
        )
    logger.info("ingest of %s queued (run %s)", version.pk, token)
    return progress


def _total_size(queryset) -> int:
    return queryset.aggregate(total=Sum("size_bytes"))["total"] or 0


def _claim(version_id: str, run_token: str, now: datetime):
    """Take the run for this worker: (version, progress, token), or None if it is not ours."""
    with transaction.atomic():
        version = (
            DatasetVersion.objects.select_for_update()
            .select_related("dataset__organization")
            .filter(pk=version_id)
            .first()
        )
        if version is None:
            raise NotFound("No such version.")
        if version.status not in (DatasetVersion.Status.DRAFT, DatasetVersion.Status.PROCESSING):
            raise Conflict(
                f"Only a draft can be processed; this version is "
                f"{version.get_status_display().lower()}."
            )
        progress, _ = IngestProgress.objects.select_for_update().get_or_create(version=version)
        alive = progress.is_active and not progress.is_stale(now, settings.INGEST_STALE_SECONDS)
        if run_token and progress.run_token != run_token:
            if alive or not progress.is_active:
                # A newer run owns the version, or this message outlived a finished run.
                logger.info("ingest of %s: run %s is not current, skipped", version_id, run_token)
                return None
        elif run_token:
            if progress.state in (IngestProgress.State.DONE, IngestProgress.State.FAILED):
                # A duplicate delivery of a run that finished: nothing to do.
                return None
            if progress.state == IngestProgress.State.RUNNING and alive:
                # The broker handed this run to a second worker while the first still reports
                # (a redelivery after a visibility timeout). Two workers expanding one archive
                # would delete each other's members: wait until the first is done or silent.
                raise RunBusy(f"ingest of {version_id} is running elsewhere")
        elif alive and progress.state == IngestProgress.State.RUNNING:
            # A direct call takes over a run still waiting in the queue, never a live one.
            logger.info("ingest of %s is under way elsewhere, skipped", version_id)
            return None
        token = run_token or _new_token()
        pending = DataFile.objects.filter(version=version, ingested_at__isnull=True)
        pending_archives = UploadedArchive.objects.filter(
            version=version, state=UploadedArchive.State.PENDING
        )
        progress.state = IngestProgress.State.RUNNING
        progress.run_token = token
        progress.attempts += 1
        progress.files_total = version.files.count()
        progress.files_done = progress.files_total - pending.count()
        progress.bytes_total = _total_size(pending) + _total_size(pending_archives)
        progress.bytes_done = 0
        progress.errors = []
        progress.started_at = progress.started_at or now
        progress.heartbeat_at = timezone.now()
        progress.finished_at = None
        progress.save()
        if version.status != DatasetVersion.Status.PROCESSING:
            version.status = DatasetVersion.Status.PROCESSING
            version.save(update_fields=["status"])
    return version, progress, token


class _Reporter:
    """Writes the run's progress now and then; notices when the run is no longer ours."""

    def __init__(self, progress: IngestProgress, token: str):
        self.version_id = progress.pk
        self.token = token
        self.interval = settings.INGEST_PROGRESS_SECONDS
        self.values = {
            "files_total": progress.files_total,
            "files_done": progress.files_done,
            "bytes_total": progress.bytes_total,
            "bytes_done": 0,
            "current_path": "",
        }
        self.errors: list[dict] = []
        self._last = 0.0
        # Storage backends may read the stream in threads of their own (boto3's uploads do):
        # counts from there add up, but only the ingest's own thread writes to the database.
        self._owner = threading.get_ident()
        self._lock = threading.Lock()

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self.values[name] += amount
        self.flush()

    def add_bytes(self, amount: int) -> None:
        self.add("bytes_done", amount)

    def current(self, path: str) -> None:
        self.values["current_path"] = path[:1024]
        self.flush()

    def error(self, **entry) -> None:
        if len(self.errors) < MAX_ERRORS_SHOWN:
            self.errors.append(entry)
            self.flush(force=True)

    def flush(self, force: bool = False) -> None:
        if threading.get_ident() != self._owner:
            return
        moment = time.monotonic()
        if not force and moment - self._last < self.interval:
            return
        self._last = moment
        self.values["bytes_done"] = min(self.values["bytes_done"], self.values["bytes_total"])
        updated = IngestProgress.objects.filter(
            pk=self.version_id, run_token=self.token, state=IngestProgress.State.RUNNING
        ).update(**self.values, errors=self.errors, heartbeat_at=timezone.now())
        if not updated:
            raise RunSuperseded


def ingest_version(
    *, version_id: str, run_token: str = "", now: datetime | None = None
) -> DatasetVersion:
    """Expand, measure and seal a version's files; see the module docstring for the steps.

    `run_token` names the run `start_ingest` queued; without one (a direct call) the run goes
    ahead unless another is alive. Raises RunBusy when the same run is alive on another
    worker (the task retries later). Returns the version: with its Merkle root when every file
    was measured, without one when errors were found (they are listed on its IngestProgress).
    Raises NotFound, or Conflict for a version that is not a draft. Writes `version.ingested`
    (with the root) or, for each archive, `version.files_added`.
    """
    now = now or timezone.now()
    claimed = _claim(version_id, run_token, now)
    if claimed is None:
        return DatasetVersion.objects.get(pk=version_id)
    version, progress, token = claimed
    reporter = _Reporter(progress, token)
    try:
        reporter.flush(force=True)
        for archive in UploadedArchive.objects.filter(
            version=version, state=UploadedArchive.State.PENDING
        ).order_by("created_at", "id"):
            _expand_archive(version, archive, reporter, now)
        _measure_files(version, reporter, now)
        return _finish(version, reporter, token, now)
    except RunSuperseded:
        logger.info("ingest of %s: run %s was superseded", version_id, token)
        return DatasetVersion.objects.get(pk=version_id)
    except Exception:
        # Hand the run back so the task's retry (same token) can claim it at once.
        IngestProgress.objects.filter(pk=version_id, run_token=token).update(
            state=IngestProgress.State.QUEUED, heartbeat_at=None
        )
        raise


class _ByteCounter:
    """Bytes read by the reader threads, summed for the progress the main thread writes."""

    def __init__(self):
        self.value = 0
        self._lock = threading.Lock()

    def add(self, amount: int) -> None:
        with self._lock:
            self.value += amount


_thread_state = threading.local()


def _read_group(storage_names: list[str], counter: _ByteCounter) -> list:
    """Measure a few files in a reader thread: each one's facts, or None when its blob is missing."""
    buffer = getattr(_thread_state, "buffer", None)
    if buffer is None:
        buffer = _thread_state.buffer = bytearray(inspection.CHUNK_SIZE)
    results = []
    opener = storage.stream_opener()
    for storage_name in storage_names:
        try:
            with opener(storage_name) as stream:
                results.append(
                    inspect_stream(
                        stream,
                        on_bytes=counter.add,
                        read_range=partial(storage.read_range, storage_name),
                        buffer=buffer,
                    )
                )
        except FileNotFoundError:
            results.append(None)
    return results


# Small files travel to the reader threads in groups, so the hand-over costs little per file.
GROUP_BYTES = 4 * 1024 * 1024
GROUP_FILES = 256


def _groups(rows):
    group, size = [], 0
    for row in rows:
        group.append(row)
        size += row[4]
        if size >= GROUP_BYTES or len(group) >= GROUP_FILES:
            yield group
            group, size = [], 0
    if group:
        yield group


def _measure_files(version: DatasetVersion, reporter: _Reporter, now: datetime) -> None:
    """Read every unmeasured file once, `INGEST_READ_THREADS` at a time, in path order.

    Hashing releases the GIL, so reader threads use the worker's cores (and overlap the
    latency of S3 reads); the database and the progress stay with this thread. Each thread
    reuses one buffer: memory stays flat.
    """
    groups = _groups(
        DataFile.objects.filter(version=version, ingested_at__isnull=True)
        .order_by("path")
        .values_list("pk", "path", "storage_name", "expected_sha256", "size_bytes")
    )
    threads = max(1, settings.INGEST_READ_THREADS)
    wait_seconds = max(reporter.interval, 0.05)
    batch = _FactBatch(now)
    counter = _ByteCounter()
    base_bytes = reporter.values["bytes_done"]
    flushed_at = time.monotonic()
    window: deque = deque()
    # Large files hash in parallel (hashing releases the GIL); groups of small files, whose
    # cost is Python's per-file work, take turns on one thread: run side by side they only
    # fight over the GIL.
    large_pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ingest-read")
    small_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-read-small")

    def submit_next() -> None:
        group = next(groups, None)
        if group is not None:
            pool = large_pool if group[0][4] >= GROUP_BYTES else small_pool
            names = [row[2] for row in group]
            window.append((group, pool.submit(_read_group, names, counter)))

    try:
        for _ in range(threads * 2):
            submit_next()
        while window:
            group, future = window[0]
            reporter.current(group[0][1])
            try:
                results = future.result(timeout=wait_seconds)
            except FutureTimeout:
                reporter.values["bytes_done"] = base_bytes + counter.value
                reporter.flush()
                continue
            window.popleft()
            submit_next()
            reporter.values["bytes_done"] = base_bytes + counter.value
            for (pk, path, _, expected_sha256, _), facts in zip(group, results, strict=True):
                _record(batch, reporter, pk, path, expected_sha256, facts)
            # Save in batches, and at least as often as progress is reported, so a run killed
            # after a long file does not have to read it again.
            if len(batch) >= BATCH_SIZE or time.monotonic() - flushed_at >= reporter.interval:
                batch.save()
                flushed_at = time.monotonic()
        batch.save()
    finally:
        small_pool.shutdown(wait=True, cancel_futures=True)
        large_pool.shutdown(wait=True, cancel_futures=True)


def _record(batch, reporter: _Reporter, pk: str, path: str, expected_sha256: str, facts) -> None:
    if facts is None:
        message = "The stored file is missing: remove it and upload it again."
        batch.missing.append((message, pk))
        reporter.error(path=path, message=message)
        return
    problem = facts.problem
    if expected_sha256 and facts.sha256 != expected_sha256:
        problem = (
            f"Its SHA-256 is {facts.sha256}, not the {expected_sha256} given at upload: "
            "the bytes changed on the way. Remove it and upload it again."
        )
    batch.add(pk, facts, problem)
    if problem:
        reporter.error(path=path, message=problem)
    else:
        reporter.add("files_done")


class _FactBatch:
    """Measured facts waiting to be written, one UPDATE statement per batch.

    Not `bulk_update` (building its CASE expressions cost more than hashing small files) and
    not `executemany`: a statement per row hands the GIL to the reader threads and back for
    every row. One `UPDATE ... FROM (VALUES ...)` writes the whole batch in one step.
    """

    COLUMNS = ("size_bytes", "sha256", "media_type", "record_count", "ingested_at", "error")
    CASTS = {
        "postgresql": ("", "::bigint", "::text", "::text", "::bigint", "::timestamptz", "::text")
    }

    def __init__(self, now: datetime):
        self.ingested_at = connection.ops.adapt_datetimefield_value(now)
        self.measured: list[tuple] = []
        self.missing: list[tuple] = []

    def __len__(self) -> int:
        return len(self.measured) + len(self.missing)

    def add(self, pk: str, facts, problem: str) -> None:
        self.measured.append(
            (
                pk,
                facts.size_bytes,
                facts.sha256,
                facts.media_type,
                facts.record_count,
                None if problem else self.ingested_at,
                problem,
            )
        )

    def save(self) -> None:
        if not len(self):
            return
        quote = connection.ops.quote_name
        table = quote(DataFile._meta.db_table)
        key = quote(DataFile._meta.pk.column)
        with transaction.atomic(), connection.cursor() as cursor:
            if self.measured and self._one_statement():
                for start in range(0, len(self.measured), BATCH_SIZE):
                    rows = self.measured[start : start + BATCH_SIZE]
                    cursor.execute(
                        self._statement(table, key, len(rows)), [v for r in rows for v in r]
                    )
            elif self.measured:
                assignments = ", ".join(
                    f"{quote(DataFile._meta.get_field(name).column)} = %s" for name in self.COLUMNS
                )
                cursor.executemany(
                    f"UPDATE {table} SET {assignments} WHERE {key} = %s",  # noqa: S608 - model names
                    [(*row[1:], row[0]) for row in self.measured],
                )
            if self.missing:
                error = quote(DataFile._meta.get_field("error").column)
                cursor.executemany(
                    f"UPDATE {table} SET {error} = %s WHERE {key} = %s",  # noqa: S608 - model names
                    self.missing,
                )
        self.measured, self.missing = [], []

    @staticmethod
    def _one_statement() -> bool:
        """UPDATE ... FROM needs PostgreSQL or SQLite 3.33 and later."""
        if connection.vendor == "postgresql":
            return True
        if connection.vendor == "sqlite":
            import sqlite3

            return sqlite3.sqlite_version_info >= (3, 33)
        return False

    def _statement(self, table: str, key: str, count: int) -> str:
        quote = connection.ops.quote_name
        names = ["id", *self.COLUMNS]
        casts = self.CASTS.get(connection.vendor, ("",) * len(names))
        row = "(" + ", ".join(f"%s{cast}" for cast in casts) + ")"
        values = ", ".join([row] * count)
        if connection.vendor == "postgresql":
            source = f"(VALUES {values}) AS v({', '.join(names)})"
            column = dict(zip(names, names, strict=True))
        else:
            # SQLite names the columns of a VALUES list column1, column2, ...
            source = f"(VALUES {values}) AS v"
            column = {name: f"column{index}" for index, name in enumerate(names, start=1)}
        assignments = ", ".join(
            f"{quote(DataFile._meta.get_field(name).column)} = v.{column[name]}"
            for name in self.COLUMNS
        )
        return (
            f"UPDATE {table} SET {assignments} FROM {source} WHERE {table}.{key} = v.{column['id']}"  # noqa: S608 - model names
        )


class _ProgressingReader:
    """The archive's raw bytes, counted into the progress as the expander reads them."""

    def __init__(self, source, on_bytes):
        self.source, self.on_bytes = source, on_bytes

    def read(self, size: int = -1) -> bytes:
        data = self.source.read(size)
        self.on_bytes(len(data))
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.source.seek(offset, whence)

    def tell(self) -> int:
        return self.source.tell()

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True


@contextmanager
def _archive_source(archive: UploadedArchive, kind: str):
    """A stream over the archive; a seekable local copy for a zip that lives in S3."""
    with storage.open_stream(archive.storage_name) as stream:
        if kind != archives.ZIP or (hasattr(stream, "seekable") and stream.seekable()):
            yield stream
            return
        # A zip's directory is at its end: spool the object to disk, never to memory.
        with tempfile.TemporaryFile() as copy:
            while chunk := stream.read(1024 * 1024):
                copy.write(chunk)
            copy.seek(0)
            yield copy


def _expand_archive(
    version: DatasetVersion, archive: UploadedArchive, reporter: _Reporter, now: datetime
) -> None:
    prefix = f"datasets/{version.dataset_id}/{version.pk}/{archive.pk}"
    storage.delete_prefix(prefix)  # what a run that died here left behind
    taken = set(DataFile.objects.filter(version=version).values_list("path", flat=True))
    written: list[_MemberRow] = []  # tuples: model instances would cost ~1 KB per member
    reporter.current(archive.name)
    try:
        head = storage.read_range(archive.storage_name, 0, 512)
        kind = archives.detect_kind(head)
        if kind is None:
            raise archives.ArchiveRejected(
                archive=archive.name,
                member=archives.WHOLE_ARCHIVE,
                reason="is not a zip, tar or tar.gz archive",
            )
        with _archive_source(archive, kind) as raw:
            source = (
                _ProgressingReader(raw, reporter.add_bytes)
                if kind == archives.ZIP
                else storage.TeeReader(raw, lambda data: reporter.add_bytes(len(data)))
            )
            for member in archives.members(
                source,
                kind=kind,
                archive=archive.name,
                taken_paths=taken,
                limits=archives.ArchiveLimits.from_settings(),
            ):
                written.append(_store_member(prefix, archive, member, reporter, version, now))
    except archives.ArchiveRejected as rejection:
        storage.delete_prefix(prefix)
        with transaction.atomic():
            UploadedArchive.objects.filter(
                pk=archive.pk, state=UploadedArchive.State.PENDING
            ).update(
                state=UploadedArchive.State.REJECTED,
                rejected_member=rejection.member[:1024],
                error=rejection.message,
                storage_name="",
            )
            transaction.on_commit(partial(storage.delete_blob, archive.storage_name))
        reporter.error(path=archive.name, member=rejection.member, message=rejection.message)
        logger.info("archive %s of %s rejected: %s", archive.pk, version.pk, rejection.message)
        return
    except Exception:
        storage.delete_prefix(prefix)
        raise
    with transaction.atomic():
        locked = UploadedArchive.objects.select_for_update().get(pk=archive.pk)
        if locked.state != UploadedArchive.State.PENDING:
            storage.delete_prefix(prefix)
            return
        for start in range(0, len(written), 1000):
            DataFile.objects.bulk_create(
                [
                    DataFile(
                        version=version,
                        created_at=now,
                        ingested_at=None if row.error else now,
                        **row._asdict(),
                    )
                    for row in written[start : start + 1000]
                ]
            )
        total = sum(row.size_bytes for row in written)
        UploadedArchive.objects.filter(pk=archive.pk).update(
            state=UploadedArchive.State.EXPANDED,
            file_count=len(written),
            expanded_bytes=total,
            expanded_at=now,
            storage_name="",
        )
        record_event(
            action="version.files_added",
            subject_type="dataset_version",
            subject_id=version.pk,
            organization=version.dataset.organization,
            actor=archive.created_by,
            payload={
                "archive": archive.name,
                "archive_id": archive.pk,
                "files": len(written),
                "bytes": total,
            },
            now=now,
        )
        transaction.on_commit(partial(storage.delete_blob, archive.storage_name))
    for item in written:
        if item.error:
            reporter.error(path=item.path, message=item.error)


class _MemberRow(NamedTuple):
    path: str
    storage_name: str
    size_bytes: int
    sha256: str
    media_type: str
    record_count: int | None
    error: str


def _store_member(prefix, archive, member, reporter, version, now) -> _MemberRow:
    """Write one member to storage while measuring it: one read of its bytes."""
    reporter.current(f"{archive.name}: {member.path}")
    inspector = FileInspector()
    reader = storage.TeeReader(member.stream, inspector.update)
    try:
        storage_name = default_storage.save(
            f"{prefix}/{member.path}", File(reader, name=member.path)
        )
    except SuspiciousFileOperation as error:
        raise archives.ArchiveRejected(
            archive=archive.name, member=member.path, reason="has a name that cannot be stored"
        ) from error
    except OSError as error:
        if error.errno != errno.ENAMETOOLONG:
            raise
        raise archives.ArchiveRejected(
            archive=archive.name, member=member.path, reason="has a name too long to store"
        ) from error
    facts = inspector.finish()
    reporter.values["files_total"] += 1
    if not facts.problem:
        reporter.add("files_done")
    return _MemberRow(
        path=member.path,
        storage_name=storage_name,
        size_bytes=facts.size_bytes,
        sha256=facts.sha256,
        media_type=facts.media_type,
        record_count=facts.record_count,
        error=facts.problem,
    )


def _finish(version: DatasetVersion, reporter: _Reporter, token: str, now: datetime):
    with transaction.atomic():
        progress = IngestProgress.objects.select_for_update().get(pk=version.pk)
        if progress.run_token != token or progress.state != IngestProgress.State.RUNNING:
            raise RunSuperseded
        version = (
            DatasetVersion.objects.select_for_update()
            .select_related("dataset__organization")
            .get(pk=version.pk)
        )
        # The outcome is read from the rows, not from this run's memory: a rerun agrees.
        errors = [
            {"path": path, "message": error}
            for path, error in DataFile.objects.filter(version=version)
            .exclude(error="")
            .order_by("path")
            .values_list("path", "error")
        ]
        errors += [
            {"path": name, "member": member, "message": error}
            for name, member, error in UploadedArchive.objects.filter(
                version=version, state=UploadedArchive.State.REJECTED
            )
            .order_by("created_at", "id")
            .values_list("name", "rejected_member", "error")
        ]
        if len(errors) > MAX_ERRORS_SHOWN:
            more = len(errors) - MAX_ERRORS_SHOWN
            errors = [
                *errors[:MAX_ERRORS_SHOWN],
                {"path": "", "message": f"… and {more:,} more problems like these."},
            ]
        unmeasured = DataFile.objects.filter(version=version, ingested_at__isnull=True).exists()
        rows = list(
            DataFile.objects.filter(version=version).values_list(
                "path", "sha256", "size_bytes", "record_count"
            )
        )
        progress.files_total = len(rows)
        progress.files_done = DataFile.objects.filter(
            version=version, ingested_at__isnull=False
        ).count()
        progress.bytes_done = progress.bytes_total
        progress.current_path = ""
        progress.errors = errors
        progress.finished_at = now
        progress.heartbeat_at = timezone.now()
        version.status = DatasetVersion.Status.DRAFT
        if errors or unmeasured:
            progress.state = IngestProgress.State.FAILED
            version.merkle_root = ""
            version.ingested_at = None
            progress.save()
            version.save(update_fields=["status", "merkle_root", "ingested_at"])
            logger.info("ingest of %s finished with %d errors", version.pk, len(errors))
            return version
        root = merkle_root((path, digest) for path, digest, _, _ in rows)
        records = [count for *_, count in rows if count is not None]
        version.merkle_root = root
        version.file_count = len(rows)
        version.total_bytes = sum(size for _, _, size, _ in rows)
        version.total_records = sum(records) if records else None
        version.ingested_at = now
        version.save(
            update_fields=[
                "status",
                "merkle_root",
                "file_count",
                "total_bytes",
                "total_records",
                "ingested_at",
            ]
        )
        progress.state = IngestProgress.State.DONE
        progress.save()
        # The quality card is measured next, on its own queue.
        from provenance.quality.service import queue_quality

        queue_quality(version_id=version.pk, now=now)
        record_event(
            action="version.ingested",
            subject_type="dataset_version",
            subject_id=version.pk,
            organization=version.dataset.organization,
            payload={
                "merkle_root": root,
                "file_count": len(rows),
                "total_bytes": version.total_bytes,
            },
            now=now,
        )
    logger.info("version %s ingested: %d files, root %s", version.pk, len(rows), root)
    return version


def fail_ingest(*, version_id: str, run_token: str = "", message: str = "") -> None:
    """Mark a run failed when its task gave up (retries exhausted or an unexpected error).

    The version becomes a draft again; the creator sees the message and may start again.
    """
    now = timezone.now()
    with transaction.atomic():
        progress = IngestProgress.objects.select_for_update().filter(pk=version_id).first()
        if progress is None or (run_token and progress.run_token != run_token):
            return
        if progress.state in (IngestProgress.State.DONE, IngestProgress.State.FAILED):
            return
        progress.state = IngestProgress.State.FAILED
        progress.errors = [
            *progress.errors,
            {
                "path": progress.current_path,
                "message": message
                or "Processing stopped on an unexpected error. Start it again; if it keeps "
                "failing, contact support.",
            },
        ]
        progress.finished_at = now
        progress.save()
        DatasetVersion.objects.filter(
            pk=version_id, status=DatasetVersion.Status.PROCESSING
        ).update(status=DatasetVersion.Status.DRAFT)
    logger.warning("ingest of %s failed: %s", version_id, message)
