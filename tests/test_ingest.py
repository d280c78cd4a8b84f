"""Ingest: one read per file, live progress, errors by file, and identical results on a rerun."""

import hashlib
import io
import threading
import tracemalloc
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from accounts.errors import Conflict
from provenance import ingest, inspection, services, tasks, uploads
from provenance.inspection import inspect_stream
from provenance.models import DataFile, DatasetVersion, IngestProgress, LedgerEntry
from provenance.tasks import ingest_version_task
from tests.helpers import require
from tests.test_archives import make_zip

FILES = {
    "a/records.jsonl": b'{"n": 1}\n{"n": 2}\n{"n": 3}\n',
    "b/table.csv": b'id,text\n1,"multi\nline"\n2,plain\n',
    "c/notes.txt": b"Plain notes.\n",
    "d/image.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
    "e/empty.bin": b"",
}


def new_draft(cast, title="Measured", files=FILES):
    dataset = services.create_dataset(
        actor=cast.creator, organization=cast.creator_org, title=title, modality="text"
    )
    version = dataset.versions.get()
    for path, data in files.items():
        services.add_file(actor=cast.creator, version=version, path=path, content=ContentFile(data))
    return version


def facts_of(version) -> list[tuple]:
    return list(
        DataFile.objects.filter(version=version)
        .order_by("path")
        .values_list("path", "size_bytes", "sha256", "media_type", "record_count", "error")
    )


class Killed(BaseException):
    """Stands for SIGKILL: nothing in the service may catch it."""


def test_ingest_measures_every_file_from_its_content_once(cast):
    version = services.ingest_version(version_id=new_draft(cast).pk)
    facts = {row[0]: row for row in facts_of(version)}
    assert facts["a/records.jsonl"][3:5] == ("application/jsonl", 3)
    assert facts["b/table.csv"][3:5] == ("text/csv", 2)
    assert facts["d/image.png"][3] == "image/png"
    assert facts["e/empty.bin"][1:3] == (0, hashlib.sha256(b"").hexdigest())
    for path, data in FILES.items():
        assert facts[path][2] == hashlib.sha256(data).hexdigest()
    assert version.file_count == 5 and version.total_records == 5
    assert version.total_bytes == sum(len(data) for data in FILES.values())
    assert version.status == DatasetVersion.Status.DRAFT
    progress = IngestProgress.objects.get(pk=version.pk)
    assert (progress.state, progress.percent, progress.files_done) == ("done", 100, 5)


def test_the_root_is_the_documented_merkle_root_of_the_files(cast):
    version = services.ingest_version(version_id=new_draft(cast).pk)

    def documented(files):  # the snippet in docs/merkle.md
        def tree(hashes):
            if len(hashes) == 1:
                return hashes[0]
            k = 1 << ((len(hashes) - 1).bit_length() - 1)
            return hashlib.sha256(b"\x01" + tree(hashes[:k]) + tree(hashes[k:])).digest()

        leaves = [hashlib.sha256(b"\x00" + f"{p}\0{h}".encode()).digest() for p, h in sorted(files)]
        return (tree(leaves) if leaves else hashlib.sha256(b"").digest()).hex()

    files = [(path, hashlib.sha256(data).hexdigest()) for path, data in FILES.items()]
    assert version.merkle_root == documented(files)
    entry = LedgerEntry.objects.get(action="version.ingested", subject_id=version.pk)
    assert entry.payload["merkle_root"] == version.merkle_root


@pytest.mark.parametrize("threads", [1, 4])
def test_a_rerun_gives_identical_rows_and_root_with_no_duplicates(cast, settings, threads):
    settings.INGEST_READ_THREADS = threads
    version = new_draft(cast)
    first = services.ingest_version(version_id=version.pk)
    rows = facts_of(version)
    services.start_ingest(actor=cast.creator, version=version)
    second = services.ingest_version(
        version_id=version.pk, run_token=IngestProgress.objects.get(pk=version.pk).run_token
    )
    assert facts_of(version) == rows
    assert second.merkle_root == first.merkle_root
    assert DataFile.objects.filter(version=version).count() == len(FILES)


def test_a_run_killed_halfway_and_run_again_gives_the_same_result(cast, settings, monkeypatch):
    settings.INGEST_PROGRESS_SECONDS = 0
    settings.INGEST_READ_THREADS = 1  # so that "the third read" is the third file
    monkeypatch.setattr(ingest, "GROUP_FILES", 1)  # and each file is saved once it is read
    reference = services.ingest_version(version_id=new_draft(cast, "Reference").pk)
    version = new_draft(cast, "Killed")
    progress = services.start_ingest(actor=cast.creator, version=version)
    real = ingest.inspect_stream
    reads = []

    def dies_on_the_third_file(stream, **kwargs):
        reads.append(1)
        if len(reads) == 3:
            raise Killed
        return real(stream, **kwargs)

    monkeypatch.setattr(ingest, "inspect_stream", dies_on_the_third_file)
    with pytest.raises(Killed):
        services.ingest_version(version_id=version.pk, run_token=progress.run_token)
    version.refresh_from_db()
    assert version.status == DatasetVersion.Status.PROCESSING
    assert DataFile.objects.filter(version=version, ingested_at__isnull=False).count() == 2

    # While the killed worker's heartbeat is fresh, the same run is not started twice.
    monkeypatch.setattr(ingest, "inspect_stream", real)
    with pytest.raises(ingest.RunBusy):
        services.ingest_version(version_id=version.pk, run_token=progress.run_token)
    # Once it is silent, the broker's redelivery of the message (acks_late) resumes the run.
    settings.INGEST_STALE_SECONDS = 0
    calls = []
    monkeypatch.setattr(
        ingest, "inspect_stream", lambda stream, **kwargs: calls.append(1) or real(stream, **kwargs)
    )
    result = services.ingest_version(version_id=version.pk, run_token=progress.run_token)
    assert len(calls) == 3  # only the files the killed run had not finished
    assert facts_of(version) == facts_of(reference)
    assert result.merkle_root == reference.merkle_root
    assert DataFile.objects.filter(version=version).count() == len(FILES)
    assert IngestProgress.objects.get(pk=version.pk).attempts == 2


def test_a_run_killed_while_expanding_an_archive_leaves_no_orphans_on_rerun(
    cast, settings, monkeypatch, django_capture_on_commit_callbacks
):
    archive_data = make_zip([(f"part/{n}.txt", f"line {n}\n".encode()) for n in range(5)])
    reference = new_draft(cast, "Reference", files={})
    uploads.add_archive(
        actor=cast.creator,
        version=reference,
        name="p.zip",
        content=SimpleUploadedFile("p.zip", archive_data),
    )
    reference = services.ingest_version(version_id=reference.pk)

    version = new_draft(cast, "Killed", files={})
    uploads.add_archive(
        actor=cast.creator,
        version=version,
        name="p.zip",
        content=SimpleUploadedFile("p.zip", archive_data),
    )
    real_storage = ingest.default_storage
    saves = []

    class DiesOnTheThirdMember:
        def save(self, name, content, **kwargs):
            saves.append(name)
            if len(saves) == 3:
                raise Killed
            return real_storage.save(name, content, **kwargs)

    monkeypatch.setattr(ingest, "default_storage", DiesOnTheThirdMember())
    with pytest.raises(Killed):
        services.ingest_version(version_id=version.pk)
    assert not DataFile.objects.filter(version=version).exists()
    media = Path(settings.MEDIA_ROOT) / "datasets" / version.dataset_id / version.pk
    assert len([path for path in media.rglob("*") if path.is_file()]) == 2  # orphans of the kill
    monkeypatch.setattr(ingest, "default_storage", real_storage)
    settings.INGEST_STALE_SECONDS = 0  # the killed worker stopped reporting
    with django_capture_on_commit_callbacks(execute=True):
        result = services.ingest_version(version_id=version.pk)
    assert [row[0] for row in facts_of(version)] == [f"part/{n}.txt" for n in range(5)]
    assert [row[1:] for row in facts_of(version)] == [row[1:] for row in facts_of(reference)]
    assert result.merkle_root == reference.merkle_root
    assert len([path for path in media.rglob("*") if path.is_file()]) == 5


def test_a_live_run_is_not_taken_over_by_a_second_worker(cast):
    version = new_draft(cast)
    progress = services.start_ingest(actor=cast.creator, version=version)
    IngestProgress.objects.filter(pk=version.pk).update(state="running")
    # Another message for an older run, or a direct call, leaves the live run alone.
    assert services.ingest_version(version_id=version.pk, run_token="stale").merkle_root == ""
    assert services.ingest_version(version_id=version.pk).merkle_root == ""
    assert IngestProgress.objects.get(pk=version.pk).run_token == progress.run_token


def test_starting_twice_returns_the_run_already_queued(cast, django_capture_on_commit_callbacks):
    version = new_draft(cast)
    with django_capture_on_commit_callbacks() as callbacks:
        first = services.start_ingest(actor=cast.creator, version=version)
        second = services.start_ingest(actor=cast.creator, version=version)
    assert first.run_token == second.run_token
    assert len(callbacks) == 1
    version.refresh_from_db()
    assert version.status == DatasetVersion.Status.PROCESSING
    with pytest.raises(Conflict, match="draft"):
        services.add_file(
            actor=cast.creator, version=version, path="late.txt", content=ContentFile(b"x")
        )


def test_processing_needs_files_and_a_draft(cast, make_listing):
    empty = new_draft(cast, "Empty", files={})
    with pytest.raises(Conflict, match="Add files"):
        services.start_ingest(actor=cast.creator, version=empty)
    approved = make_listing("Approved").version
    with pytest.raises(Conflict, match="Only a draft"):
        services.start_ingest(actor=cast.creator, version=approved)


def test_a_sha256_that_does_not_match_the_declared_one_is_an_error(cast):
    version = new_draft(cast, files={})
    services.add_file(
        actor=cast.creator,
        version=version,
        path="x.txt",
        content=ContentFile(b"changed on the way"),
        expected_sha256=hashlib.sha256(b"what was sent").hexdigest(),
    )
    version = services.ingest_version(version_id=version.pk)
    progress = IngestProgress.objects.get(pk=version.pk)
    assert progress.state == IngestProgress.State.FAILED
    assert "not the" in progress.errors[0]["message"] and progress.errors[0]["path"] == "x.txt"
    assert version.merkle_root == ""
    with pytest.raises(Conflict, match="Processing found errors"):
        services.submit_version(actor=cast.creator, version=version)


def test_a_missing_blob_is_named_and_the_rest_is_measured(cast, settings):
    version = new_draft(cast)
    lost = DataFile.objects.get(version=version, path="c/notes.txt")
    Path(settings.MEDIA_ROOT, lost.storage_name).unlink()
    services.ingest_version(version_id=version.pk)
    progress = IngestProgress.objects.get(pk=version.pk)
    assert progress.errors == [
        {
            "path": "c/notes.txt",
            "message": "The stored file is missing: remove it and upload it again.",
        }
    ]
    assert DataFile.objects.filter(version=version, ingested_at__isnull=False).count() == 4
    services.delete_file(actor=cast.creator, data_file=lost)
    assert services.ingest_version(version_id=version.pk).merkle_root


def parquet_bytes(rows: int, **options) -> bytes:
    table = pa.table({"id": list(range(rows)), "text": [f"row {n}" for n in range(rows)]})
    buffer = io.BytesIO()
    pq.write_table(table, buffer, **options)
    return buffer.getvalue()


def test_parquet_record_counts_come_from_the_footer(cast):
    small = parquet_bytes(1234)
    grouped = parquet_bytes(50_000, row_group_size=1000, compression="gzip")
    version = new_draft(cast, files={"small.parquet": small, "data/grouped.bin": grouped})
    version = services.ingest_version(version_id=version.pk)
    facts = {row[0]: row for row in facts_of(version)}
    assert facts["small.parquet"][3:5] == ("application/vnd.apache.parquet", 1234)
    assert facts["data/grouped.bin"][4] == 50_000
    assert version.total_records == 51_234


def test_a_parquet_footer_larger_than_the_kept_tail_is_read_by_range(cast, monkeypatch):
    monkeypatch.setattr(inspection, "PARQUET_TAIL_SIZE", 64)
    version = new_draft(cast, files={"t.parquet": parquet_bytes(777)})
    version = services.ingest_version(version_id=version.pk)
    assert facts_of(version)[0][4] == 777


def test_a_corrupt_parquet_file_is_an_error_naming_the_file(cast):
    broken = parquet_bytes(10)[:-20] + b"\x00" * 16 + b"PAR1"
    version = new_draft(cast, files={"bad.parquet": broken})
    services.ingest_version(version_id=version.pk)
    progress = IngestProgress.objects.get(pk=version.pk)
    assert progress.state == "failed"
    assert "footer is unreadable" in progress.errors[0]["message"]


def test_a_task_that_gives_up_marks_the_run_failed_where_the_creator_sees_it(
    cast, monkeypatch, django_capture_on_commit_callbacks
):
    version = new_draft(cast)
    progress = services.start_ingest(actor=cast.creator, version=version)

    def broken(**kwargs):
        raise ValueError("a bug")

    monkeypatch.setattr(ingest, "_measure_files", lambda *args: broken())
    # As in a worker: the failure is not propagated to a caller, the task's handler runs.
    result = ingest_version_task.apply(
        kwargs={"version_id": version.pk, "run_token": progress.run_token}, throw=False
    )
    assert result.failed()
    progress.refresh_from_db()
    version.refresh_from_db()
    assert progress.state == IngestProgress.State.FAILED
    assert "Start it again" in progress.errors[-1]["message"]
    assert version.status == DatasetVersion.Status.DRAFT


def test_files_change_makes_the_root_void_until_processed_again(cast):
    version = services.ingest_version(version_id=new_draft(cast).pk)
    assert version.merkle_root
    services.add_file(
        actor=cast.creator, version=version, path="z.txt", content=ContentFile(b"more")
    )
    version.refresh_from_db()
    assert version.merkle_root == ""
    assert IngestProgress.objects.get(pk=version.pk).state == IngestProgress.State.IDLE
    with pytest.raises(Conflict, match="Process the files"):
        services.submit_version(actor=cast.creator, version=version)


def test_ledger_records_creation_files_ingest_and_declaration(cast):
    version = new_draft(cast, files={"a.txt": b"a"})
    services.update_declaration(
        actor=cast.creator, version=version, changes={"rights_holder": "Us"}
    )
    services.ingest_version(version_id=version.pk)
    actions = list(LedgerEntry.objects.order_by("seq").values_list("action", flat=True))
    assert actions == [
        "dataset.created",
        "version.file_added",
        "declaration.changed",
        "version.ingested",
    ]


class Zeros(io.RawIOBase):
    """A large file that exists only as a length: reads fill the caller's buffer."""

    def __init__(self, size: int):
        self.remaining = size

    def readable(self):
        return True

    def readinto(self, buffer):
        count = min(len(buffer), self.remaining)
        buffer[:count] = bytes(count) if count < len(buffer) else b"\0" * count
        self.remaining -= count
        return count


def test_memory_stays_flat_whatever_the_file_size():
    tracemalloc.start()
    facts = inspect_stream(Zeros(256 * 1024 * 1024))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert facts.size_bytes == 256 * 1024 * 1024
    assert peak < 8 * 1024 * 1024


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_clicks_at_once_queue_a_single_run(cast, on_postgres, monkeypatch):
    require(on_postgres, "row locks need PostgreSQL")
    version = new_draft(cast)
    queued = []
    monkeypatch.setattr(tasks.ingest_version_task, "delay", lambda **kwargs: queued.append(kwargs))
    barrier = threading.Barrier(2)
    tokens = []

    def click():
        barrier.wait()
        try:
            tokens.append(services.start_ingest(actor=cast.creator, version=version).run_token)
        finally:
            connection.close()

    clicks = [threading.Thread(target=click) for _ in range(2)]
    for thread in clicks:
        thread.start()
    for thread in clicks:
        thread.join()
    assert len(tokens) == 2 and len(set(tokens)) == 1
    assert len(queued) == 1
    assert LedgerEntry.objects.filter(action="version.ingest_started").count() == 1


def test_a_flood_of_errors_is_listed_up_to_a_hundred_and_counted(cast, settings):
    version = new_draft(cast, files={f"f{n:03d}.txt": b"x" for n in range(105)})
    for data_file in DataFile.objects.filter(version=version):
        Path(settings.MEDIA_ROOT, data_file.storage_name).unlink()
    services.ingest_version(version_id=version.pk)
    progress = IngestProgress.objects.get(pk=version.pk)
    assert len(progress.errors) == 101
    assert progress.errors[-1]["message"] == "… and 5 more problems like these."
    assert DataFile.objects.filter(version=version).exclude(error="").count() == 105
