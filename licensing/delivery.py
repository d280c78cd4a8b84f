"""Delivering licensed files: signed expiring links, ranged reads of fingerprinted bytes, and a
ZIP of a whole version streamed without building it in memory or on disk.

A link is `signing.dumps` of the delivery (or license, for a ZIP) and the licensee organization,
salted for downloads and timestamped; it expires after `DOWNLOAD_LINK_SECONDS`. The link alone
is not enough: every request re-checks that the license is active, so a revoked or suspended
license stops its links at once.
"""

import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.core import signing

from licensing import fingerprint
from licensing.models import Delivery, License
from provenance import storage

SALT = "wellspring.licensing.download"
CHUNK = 1024 * 1024


class LinkRefused(Exception):
    """The link is tampered, expired, or its license no longer active."""


def file_token(delivery: Delivery) -> str:
    return signing.dumps(
        {"k": "file", "d": delivery.pk, "o": delivery.license.organization_id}, salt=SALT
    )


def archive_token(license: License) -> str:
    return signing.dumps({"k": "zip", "l": license.pk, "o": license.organization_id}, salt=SALT)


@dataclass(frozen=True)
class Grant:
    license: License
    delivery: Delivery | None


def open_token(token: str, *, max_age: int | None = None) -> Grant:
    """The license (and delivery) a link grants, or LinkRefused."""
    max_age = settings.DOWNLOAD_LINK_SECONDS if max_age is None else max_age
    try:
        claims = signing.loads(token, salt=SALT, max_age=max_age)
    except signing.SignatureExpired as error:
        raise LinkRefused("This download link has expired.") from error
    except signing.BadSignature as error:
        raise LinkRefused("This download link is not valid.") from error
    delivery = None
    if claims.get("k") == "file":
        delivery = (
            Delivery.objects.select_related("license", "data_file")
            .filter(pk=claims.get("d"), license__organization_id=claims.get("o"))
            .first()
        )
        license = delivery.license if delivery else None
    else:
        license = License.objects.filter(
            pk=claims.get("l"), organization_id=claims.get("o")
        ).first()
    if license is None:
        raise LinkRefused("This download link is not valid.")
    if license.status != License.Status.ACTIVE:
        raise LinkRefused(
            f"The license is {license.status}: its files can no longer be downloaded."
        )
    return Grant(license=license, delivery=delivery)


def _raw_chunks(storage_name: str) -> Iterator[bytes]:
    with storage.open_stream(storage_name) as stream:
        while True:
            chunk = stream.read(CHUNK)
            if not chunk:
                return
            yield chunk


def delivered_bytes(delivery: Delivery, start: int = 0, end: int | None = None) -> Iterator[bytes]:
    """The delivered (fingerprinted) bytes of a file from `start` to `end` inclusive."""
    end = delivery.size_bytes - 1 if end is None else end
    if delivery.fingerprint_method == fingerprint.NONE and start:
        # Unmarked bytes: read the range straight from storage.
        position = start
        while position <= end:
            length = min(CHUNK, end - position + 1)
            data = storage.read_range(delivery.data_file.storage_name, position, length)
            if not data:
                return
            yield data
            position += len(data)
        return
    position = 0
    for piece in fingerprint.fingerprinted(
        delivery.fingerprint_method,
        delivery.license_id,
        _raw_chunks(delivery.data_file.storage_name),
    ):
        piece_end = position + len(piece)
        if piece_end > start:
            yield piece[max(0, start - position) : end + 1 - position]
        position = piece_end
        if position > end:
            return


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """`(start, end)` of a single `bytes=` range; None for no (or an ignorable) header.

    Raises ValueError for a range that cannot be satisfied.
    """
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, _, last = header[len("bytes=") :].strip().partition("-")
    try:
        if first == "":
            suffix = int(last)
            if suffix <= 0:
                raise ValueError("empty suffix range")
            return max(0, size - suffix), size - 1
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError as error:
        raise ValueError("unsatisfiable range") from error
    if start >= size or end < start:
        raise ValueError("unsatisfiable range")
    return start, min(end, size - 1)


class _Sink:
    """A write-only, unseekable file for zipfile; the generator drains what it wrote."""

    def __init__(self):
        self.parts: list[bytes] = []
        self.offset = 0

    def write(self, data) -> int:
        self.parts.append(bytes(data))
        self.offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self.offset

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        data = b"".join(self.parts)
        self.parts.clear()
        return data


def archive_stream(deliveries: list[Delivery]) -> Iterator[bytes]:
    """A ZIP (stored, ZIP64-ready) of the deliveries' bytes, produced chunk by chunk."""
    sink = _Sink()
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for delivery in deliveries:
            info = zipfile.ZipInfo(delivery.data_file.path, date_time=(2020, 1, 1, 0, 0, 0))
            info.file_size = delivery.size_bytes
            with zf.open(info, mode="w", force_zip64=delivery.size_bytes > 2**31) as member:
                for piece in delivered_bytes(delivery):
                    member.write(piece)
                    data = sink.drain()
                    if data:
                        yield data
            data = sink.drain()
            if data:
                yield data
    yield sink.drain()
