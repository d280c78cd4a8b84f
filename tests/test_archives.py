"""Archives expand into a version's files safely; every attack is refused by member and reason."""

import io
import os
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.errors import InvalidInput
from provenance import services, uploads
from provenance.models import DataFile, IngestProgress, LedgerEntry, UploadedArchive


@pytest.fixture
def draft(cast):
    dataset = services.create_dataset(
        actor=cast.creator, organization=cast.creator_org, title="Archives", modality="text"
    )
    version = dataset.versions.get()
    services.add_file(
        actor=cast.creator, version=version, path="kept.txt", content=ContentFile(b"kept\n")
    )
    return version


def make_zip(entries) -> bytes:
    """`entries`: (name, data) or (ZipInfo, data) pairs, written as given (no sanitizing)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, data in entries:
            bundle.writestr(name, data)
    return buffer.getvalue()


def zip_entry(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = mode << 16
    info.create_system = 3
    return info


def make_tar(entries, *, gz: bool = False) -> bytes:
    """`entries`: TarInfo objects with data (None for links and devices)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if gz else "w") as bundle:
        for info, data in entries:
            if data is not None:
                info.size = len(data)
            bundle.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def tar_entry(name: str, kind=tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


def stored_files(settings) -> list[str]:
    root = Path(settings.MEDIA_ROOT)
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


def expand(cast, draft, data: bytes, name: str, capture):
    archive = uploads.add_archive(
        actor=cast.creator, version=draft, name=name, content=SimpleUploadedFile(name, data)
    )
    with capture(execute=True):
        services.ingest_version(version_id=draft.pk)
    archive.refresh_from_db()
    return archive, IngestProgress.objects.get(pk=draft.pk)


def assert_rejected(cast, draft, settings, capture, data, name, member, reason):
    before = stored_files(settings)
    archive, progress = expand(cast, draft, data, name, capture)
    assert archive.state == UploadedArchive.State.REJECTED
    assert archive.rejected_member == member
    assert reason in archive.error and repr(member) in archive.error
    assert progress.state == IngestProgress.State.FAILED
    assert any(error.get("member") == member for error in progress.errors)
    # Nothing partial is left behind: no rows, no member blobs, not even the archive.
    assert list(DataFile.objects.filter(version=draft).values_list("path", flat=True)) == [
        "kept.txt"
    ]
    assert stored_files(settings) == [path for path in before if not path.startswith("archives/")]
    draft.refresh_from_db()
    assert draft.status == "draft" and draft.merkle_root == ""


ZIP_ATTACKS = {
    "path traversal": (
        [("ok.txt", b"fine"), ("../escape.txt", b"out")],
        "../escape.txt",
        "climbs out of the dataset",
    ),
    "nested traversal": (
        [("a/../../escape.txt", b"out")],
        "a/../../escape.txt",
        "climbs out of the dataset",
    ),
    "absolute path": ([("/etc/cron.d/evil", b"x")], "/etc/cron.d/evil", "absolute path"),
    "windows drive": ([("C:/Windows/evil.dll", b"x")], "C:/Windows/evil.dll", "absolute path"),
    "backslash traversal": (
        [("..\\escape.txt", b"x")],
        "..\\escape.txt",
        "climbs out of the dataset",
    ),
    "symbolic link": (
        [(zip_entry("link", stat.S_IFLNK | 0o777), b"/etc/passwd")],
        "link",
        "symbolic link",
    ),
    "device file": (
        [(zip_entry("dev/sda", stat.S_IFBLK | 0o600), b"")],
        "dev/sda",
        "device file",
    ),
    "fifo": ([(zip_entry("pipe", stat.S_IFIFO | 0o600), b"")], "pipe", "FIFO or socket"),
    "duplicate member": (
        [("twice.txt", b"one"), ("twice.txt", b"two")],
        "twice.txt",
        "appears twice",
    ),
    "clobbering an existing file": (
        [("kept.txt", b"replaced")],
        "kept.txt",
        "would replace a file the version already has",
    ),
}


@pytest.mark.filterwarnings("ignore:Duplicate name")
@pytest.mark.parametrize("attack", ZIP_ATTACKS, ids=list(ZIP_ATTACKS))
def test_zip_attacks_are_rejected_by_member_and_leave_nothing_behind(
    cast, draft, settings, django_capture_on_commit_callbacks, attack
):
    entries, member, reason = ZIP_ATTACKS[attack]
    data = make_zip(entries)
    assert_rejected(
        cast, draft, settings, django_capture_on_commit_callbacks, data, "x.zip", member, reason
    )


TAR_ATTACKS = {
    "path traversal": ([(tar_entry("../../etc/passwd"), b"root")], "../../etc/passwd", "climbs"),
    "absolute path": ([(tar_entry("/etc/passwd"), b"root")], "/etc/passwd", "absolute path"),
    "symbolic link": (
        [(tar_entry("link", tarfile.SYMTYPE, "/etc/passwd"), None)],
        "link",
        "symbolic link",
    ),
    "hard link": (
        [(tar_entry("a.txt"), b"a"), (tar_entry("hard", tarfile.LNKTYPE, "a.txt"), None)],
        "hard",
        "hard link",
    ),
    "character device": ([(tar_entry("tty", tarfile.CHRTYPE), None)], "tty", "device file"),
    "block device": ([(tar_entry("sda", tarfile.BLKTYPE), None)], "sda", "device file"),
    "fifo": ([(tar_entry("pipe", tarfile.FIFOTYPE), None)], "pipe", "FIFO"),
}


@pytest.mark.parametrize("compressed", [False, True], ids=["tar", "tar.gz"])
@pytest.mark.parametrize("attack", TAR_ATTACKS, ids=list(TAR_ATTACKS))
def test_tar_attacks_are_rejected_by_member_and_leave_nothing_behind(
    cast, draft, settings, django_capture_on_commit_callbacks, attack, compressed
):
    entries, member, reason = TAR_ATTACKS[attack]
    data = make_tar(entries, gz=compressed)
    name = "x.tar.gz" if compressed else "x.tar"
    assert_rejected(
        cast, draft, settings, django_capture_on_commit_callbacks, data, name, member, reason
    )


def test_a_zip_bomb_is_stopped_by_its_compression_ratio(
    cast, draft, settings, django_capture_on_commit_callbacks
):
    data = make_zip([("small.txt", b"fine"), ("bomb.bin", b"\0" * (8 * 1024 * 1024))])
    assert len(data) < 100_000
    assert_rejected(
        cast,
        draft,
        settings,
        django_capture_on_commit_callbacks,
        data,
        "bomb.zip",
        "bomb.bin",
        "zip bomb",
    )


def test_a_gzip_bomb_in_a_tarball_is_stopped_while_it_streams(
    cast, draft, settings, django_capture_on_commit_callbacks
):
    data = make_tar([(tar_entry("zeros.bin"), b"\0" * (16 * 1024 * 1024))], gz=True)
    assert len(data) < 100_000
    assert_rejected(
        cast,
        draft,
        settings,
        django_capture_on_commit_callbacks,
        data,
        "bomb.tar.gz",
        "zeros.bin",
        "more than the 100 allowed",
    )


def test_the_expanded_size_limit_stops_an_archive_that_grows_too_large(
    cast, draft, settings, django_capture_on_commit_callbacks
):
    settings.ARCHIVE_MAX_EXPANDED_BYTES = 1000
    data = make_zip([("a.bin", os.urandom(600)), ("b.bin", os.urandom(600))])
    assert_rejected(
        cast,
        draft,
        settings,
        django_capture_on_commit_callbacks,
        data,
        "big.zip",
        "b.bin",
        "expanded size past the limit of 1,000 bytes",
    )


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_the_member_count_limit_names_the_first_member_too_many(
    cast, draft, settings, django_capture_on_commit_callbacks, kind
):
    settings.ARCHIVE_MAX_MEMBERS = 3
    names = [f"f{n}.txt" for n in range(5)]
    if kind == "zip":
        data = make_zip([(name, b"x") for name in names])
    else:
        data = make_tar([(tar_entry(name), b"x") for name in names], gz=True)
    assert_rejected(
        cast,
        draft,
        settings,
        django_capture_on_commit_callbacks,
        data,
        f"many.{kind}",
        "f3.txt",
        "at most 3 files",
    )


def test_a_truncated_archive_is_rejected_as_a_whole(
    cast, draft, settings, django_capture_on_commit_callbacks
):
    data = make_tar([(tar_entry("a.bin"), os.urandom(50_000))], gz=True)[:20_000]
    archive, progress = expand(cast, draft, data, "cut.tar.gz", django_capture_on_commit_callbacks)
    assert archive.state == UploadedArchive.State.REJECTED
    assert "corrupt" in archive.error
    assert list(DataFile.objects.filter(version=draft).values_list("path", flat=True)) == [
        "kept.txt"
    ]


def test_a_file_that_is_not_an_archive_is_refused_at_upload(cast, draft, settings):
    before = stored_files(settings)
    with pytest.raises(InvalidInput, match="not a zip, tar or tar.gz archive"):
        uploads.add_archive(
            actor=cast.creator,
            version=draft,
            name="notes.zip",
            content=SimpleUploadedFile("notes.zip", b"just text, not a zip"),
        )
    assert not UploadedArchive.objects.exists()
    assert stored_files(settings) == before


def test_zip_tar_and_tar_gz_expand_into_measured_files_in_one_read(
    cast, draft, settings, django_capture_on_commit_callbacks
):
    zipped = make_zip(
        [
            ("photos/readme.txt", b"Hand-taken photos.\n"),
            ("photos/", b""),
            ("__MACOSX/photos/._readme.txt", b"junk"),
            ("photos/.DS_Store", b"junk"),
            ("photos/list.csv", b"id,name\n1,a\n2,b\n3,c\n"),
        ]
    )
    tarred = make_tar([(tar_entry("logs/day1.jsonl"), b'{"a":1}\n{"a":2}\n')])
    gzipped = make_tar([(tar_entry("deep/er/x.bin"), b"\x89PNG\r\n\x1a\n" + b"\0" * 64)], gz=True)
    for name, data in (("a.zip", zipped), ("b.tar", tarred), ("c.tar.gz", gzipped)):
        uploads.add_archive(
            actor=cast.creator, version=draft, name=name, content=SimpleUploadedFile(name, data)
        )
    with django_capture_on_commit_callbacks(execute=True):
        version = services.ingest_version(version_id=draft.pk)
    files = {f.path: f for f in DataFile.objects.filter(version=draft)}
    assert sorted(files) == [
        "deep/er/x.bin",
        "kept.txt",
        "logs/day1.jsonl",
        "photos/list.csv",
        "photos/readme.txt",
    ]
    assert files["photos/list.csv"].record_count == 3
    assert files["logs/day1.jsonl"].record_count == 2
    assert files["deep/er/x.bin"].media_type == "image/png"
    assert all(f.ingested_at and len(f.sha256) == 64 for f in files.values())
    assert len(version.merkle_root) == 64
    assert set(UploadedArchive.objects.values_list("state", flat=True)) == {"expanded"}
    # The archives' own bytes are gone once expanded.
    assert not [path for path in stored_files(settings) if path.startswith("archives/")]
    entries = LedgerEntry.objects.filter(action="version.files_added", subject_id=draft.pk)
    assert sorted(entry.payload["files"] for entry in entries) == [1, 1, 2]


def test_a_rejected_archive_blocks_submission_until_removed(
    cast, draft, settings, django_capture_on_commit_callbacks
):
    archive, _ = expand(
        cast, draft, make_zip([("../x", b"x")]), "bad.zip", django_capture_on_commit_callbacks
    )
    services.remove_archive(actor=cast.creator, archive=archive)
    version = services.ingest_version(version_id=draft.pk)
    assert IngestProgress.objects.get(pk=draft.pk).state == IngestProgress.State.DONE
    assert version.merkle_root
