"""Safe expansion of uploaded archives (zip, tar, tar.gz) into a version's files.

An archive is hostile until proven otherwise. Every member is checked before a byte of it is
written: its name must be a relative path that stays inside the version (no `..`, no absolute
path, no drive letter, no control character), it must be a regular file (no symbolic or hard
link, no device, FIFO or socket), and the archive as a whole must stay within the limits on
member count, expanded size and compression ratio (settings `ARCHIVE_MAX_MEMBERS`,
`ARCHIVE_MAX_EXPANDED_BYTES`, `ARCHIVE_MAX_RATIO`), which is what stops zip bombs. A member's
stream also stops at its declared size, so a header that lies cannot make it grow.

Every rejection is an `ArchiveRejected` naming the member and the reason. This module only
reads; writing the members, and removing them again on rejection, is `provenance.ingest`'s.

macOS metadata (`__MACOSX/` folders and `.DS_Store` files) is skipped: it is not data.
"""

import stat
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings

from accounts.errors import InvalidInput
from provenance.paths import normalize_member_path

ZIP, TAR, TAR_GZ = "zip", "tar", "tar.gz"
KINDS = (ZIP, TAR, TAR_GZ)
WHOLE_ARCHIVE = "(the archive itself)"


@dataclass(frozen=True)
class ArchiveLimits:
    max_members: int
    max_expanded_bytes: int
    max_ratio: int
    # Small members may compress very well (a file of spaces); the ratio counts past this size.
    ratio_floor_bytes: int

    @classmethod
    def from_settings(cls) -> "ArchiveLimits":
        return cls(
            max_members=settings.ARCHIVE_MAX_MEMBERS,
            max_expanded_bytes=settings.ARCHIVE_MAX_EXPANDED_BYTES,
            max_ratio=settings.ARCHIVE_MAX_RATIO,
            ratio_floor_bytes=settings.ARCHIVE_RATIO_FLOOR_BYTES,
        )


class ArchiveRejected(InvalidInput):
    code = "archive_rejected"
    title = "The archive was rejected"

    def __init__(self, *, archive: str, member: str, reason: str):
        self.archive, self.member, self.reason = archive, member, reason
        message = (
            f"{archive}: {reason}"
            if member == WHOLE_ARCHIVE
            else f"{archive}: member {member!r} {reason}"
        )
        super().__init__(message, errors={"file": [message]})


@dataclass
class Member:
    path: str  # normalized, safe
    size: int  # declared expanded size
    stream: object  # readable; yields at most `size` bytes


def detect_kind(head: bytes) -> str | None:
    """The archive kind from the first 512 bytes, or None for anything else."""
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return ZIP
    if head[:2] == b"\x1f\x8b":
        return TAR_GZ
    if head[257:262] == b"ustar":
        return TAR
    return None


def _is_junk(path: str) -> bool:
    parts = path.split("/")
    return parts[0] == "__MACOSX" or parts[-1] == ".DS_Store"


def _safe_path(raw: str) -> str:
    """The member's normalized path, or the reason it is refused (as ValueError)."""
    name = raw.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise ValueError("is an absolute path; only relative paths are allowed")
    if ".." in name.split("/"):
        raise ValueError("climbs out of the dataset with '..' (path traversal)")
    if any(ord(char) < 32 or ord(char) == 127 for char in name):
        raise ValueError("has control characters in its name")
    try:
        return normalize_member_path(name)
    except InvalidInput as error:
        raise ValueError(f"has an unusable name: {error.message}") from error


class _Guard:
    """Running totals for one archive, with the limits they must respect."""

    def __init__(self, *, archive: str, limits: ArchiveLimits, taken_paths):
        self.archive = archive
        self.limits = limits
        self.taken_paths = taken_paths
        self.seen: set[str] = set()
        self.count = 0
        self.expanded = 0
        self.produced = 0

    def reject(self, member: str, reason: str):
        return ArchiveRejected(archive=self.archive, member=member, reason=reason)

    def admit(self, raw_name: str, size: int, compressed: int | None) -> str:
        try:
            path = _safe_path(raw_name)
        except ValueError as error:
            raise self.reject(raw_name, str(error)) from error
        self.count += 1
        if self.count > self.limits.max_members:
            raise self.reject(
                raw_name,
                f"is file number {self.count:,}; an archive may hold at most "
                f"{self.limits.max_members:,} files",
            )
        if path in self.seen:
            raise self.reject(raw_name, "appears twice in the archive")
        if path in self.taken_paths:
            raise self.reject(raw_name, "would replace a file the version already has")
        self.seen.add(path)
        self.expanded += size
        if self.expanded > self.limits.max_expanded_bytes:
            raise self.reject(
                raw_name,
                f"takes the expanded size past the limit of {self.limits.max_expanded_bytes:,} "
                "bytes (a zip bomb?)",
            )
        if compressed is not None and size > self.limits.ratio_floor_bytes:
            ratio = size / max(compressed, 1)
            if ratio > self.limits.max_ratio:
                raise self.reject(
                    raw_name,
                    f"expands {ratio:,.0f} times, more than the {self.limits.max_ratio} allowed "
                    "(a zip bomb?)",
                )
        return path


def _mode_reason(mode: int) -> str | None:
    if stat.S_ISLNK(mode):
        return "is a symbolic link; only regular files are allowed"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device file; only regular files are allowed"
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        return "is a FIFO or socket; only regular files are allowed"
    return None


def members(
    source, *, kind: str, archive: str, taken_paths=frozenset(), limits: ArchiveLimits
) -> Iterator[Member]:
    """The regular-file members of an archive, each checked before it is yielded.

    `source` is a binary stream (seekable for zip). Read each member's stream to its end
    before asking for the next. Raises ArchiveRejected, naming the member and the reason.
    """
    guard = _Guard(archive=archive, limits=limits, taken_paths=taken_paths)
    if kind == ZIP:
        yield from _zip_members(source, guard)
    elif kind in (TAR, TAR_GZ):
        yield from _tar_members(source, guard, compressed=kind == TAR_GZ)
    else:
        raise guard.reject(WHOLE_ARCHIVE, "is not a zip, tar or tar.gz archive")


def _zip_members(source, guard: _Guard) -> Iterator[Member]:
    try:
        bundle = zipfile.ZipFile(source)
        infos = bundle.infolist()
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as error:
        raise guard.reject(WHOLE_ARCHIVE, f"is not a readable zip archive ({error})") from error
    # The central directory lists every member up front: check them all before writing any.
    admitted = []
    for info in infos:
        mode = info.external_attr >> 16
        reason = _mode_reason(mode) if mode else None
        if reason:
            raise guard.reject(info.filename, reason)
        if info.is_dir() or _is_junk(info.filename.replace("\\", "/").lstrip("/")):
            try:
                _safe_path(info.filename)
            except ValueError as error:
                raise guard.reject(info.filename, str(error)) from error
            continue
        if info.flag_bits & 0x1:
            raise guard.reject(info.filename, "is encrypted; upload it unencrypted")
        path = guard.admit(info.filename, info.file_size, info.compress_size)
        admitted.append((path, info))
    for path, info in admitted:
        try:
            stream = bundle.open(info)
        except NotImplementedError as error:
            raise guard.reject(
                info.filename, f"uses an unsupported compression ({error})"
            ) from error
        yield Member(path=path, size=info.file_size, stream=_Checked(stream, guard, info.filename))


def _tar_members(source, guard: _Guard, *, compressed: bool) -> Iterator[Member]:
    counter = _CountingReader(source)
    try:
        # Closed in the `finally` below, after the last member was read.
        bundle = tarfile.open(fileobj=counter, mode="r|gz" if compressed else "r|")  # noqa: SIM115
    except (tarfile.TarError, zlib.error, EOFError, OSError) as error:
        raise guard.reject(WHOLE_ARCHIVE, f"is not a readable tar archive ({error})") from error
    try:
        while True:
            try:
                info = bundle.next()
            except (tarfile.TarError, zlib.error, EOFError, OSError) as error:
                raise guard.reject(WHOLE_ARCHIVE, f"is corrupt or cut short ({error})") from error
            if info is None:
                return
            if info.issym():
                raise guard.reject(info.name, "is a symbolic link; only regular files are allowed")
            if info.islnk():
                raise guard.reject(info.name, "is a hard link; only regular files are allowed")
            if info.ischr() or info.isblk():
                raise guard.reject(info.name, "is a device file; only regular files are allowed")
            if info.isfifo():
                raise guard.reject(info.name, "is a FIFO; only regular files are allowed")
            if info.isdir() or _is_junk(info.name.lstrip("/")):
                try:
                    _safe_path(info.name)
                except ValueError as error:
                    raise guard.reject(info.name, str(error)) from error
                continue
            if not info.isfile() or info.issparse():
                raise guard.reject(info.name, "is not a regular file")
            path = guard.admit(info.name, info.size, None)
            stream = bundle.extractfile(info)
            yield Member(
                path=path,
                size=info.size,
                stream=_Checked(
                    stream, guard, info.name, compressed_count=counter if compressed else None
                ),
            )
    finally:
        bundle.close()


class _Checked:
    """A member's stream that turns corruption into a rejection naming the member.

    For tar.gz, whose headers say nothing of compression, it also watches the real ratio of
    bytes produced to gzip bytes consumed while the member streams.
    """

    def __init__(self, stream, guard: _Guard, name: str, compressed_count=None):
        self.stream, self.guard, self.name = stream, guard, name
        self.compressed_count = compressed_count

    def read(self, size: int = -1) -> bytes:
        try:
            data = self.stream.read(size)
        except (zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError, OSError) as error:
            raise self.guard.reject(self.name, f"is corrupt ({error})") from error
        if self.compressed_count is not None and data:
            self.guard.produced += len(data)
            limits = self.guard.limits
            if self.guard.produced > limits.ratio_floor_bytes:
                ratio = self.guard.produced / max(self.compressed_count.count, 1)
                if ratio > limits.max_ratio:
                    raise self.guard.reject(
                        self.name,
                        f"expands {ratio:,.0f} times, more than the {limits.max_ratio} allowed "
                        "(a zip bomb?)",
                    )
        return data

    def readable(self) -> bool:
        return True


class _CountingReader:
    """Counts the compressed bytes a decompressor has read, for the ratio check."""

    def __init__(self, source):
        self.source = source
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self.source.read(size)
        self.count += len(data)
        return data
