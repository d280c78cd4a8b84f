"""Per-license fingerprints: the bytes a buyer downloads differ invisibly from every other buyer's.

A leaked copy can then be traced back to the license it was delivered under.

- Text (CSV, JSON Lines, plain text, Markdown...): each line break is `\\n` or `\\r\\n`, chosen by
  a keyed bit stream derived from the license id (HMAC-SHA256 with the platform secret). Parsers
  of these formats treat both line breaks alike. Lines that already end in `\\r\\n` are left alone.
- PNG: a `tEXt` chunk after the header carries a keyed tag; image decoders skip it.
- Anything else is delivered as stored (method `none`).

Every transform is a pure function of (license id, original bytes) that streams in bounded
memory, so a download can be regenerated at any time with the same SHA-256 and size.
"""

import hashlib
import hmac
import struct
import zlib
from collections.abc import Iterable, Iterator

from django.conf import settings

TEXT = "text-eol"
PNG = "png-text"
NONE = "none"

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_KEYWORD = b"wellspring-fingerprint"
_TEXT_TYPES = (
    "text/",
    "application/json",
    "application/jsonl",
    "application/x-ndjson",
    "application/ld+json",
)
_TEXT_SUFFIXES = (".txt", ".csv", ".tsv", ".jsonl", ".ndjson", ".json", ".md")


def method_for(*, path: str, media_type: str) -> str:
    media_type = (media_type or "").lower()
    if media_type == "image/png" or path.lower().endswith(".png"):
        return PNG
    if media_type.startswith(_TEXT_TYPES) or path.lower().endswith(_TEXT_SUFFIXES):
        return TEXT
    return NONE


def _key(license_id: str) -> bytes:
    return hmac.new(
        settings.SECRET_KEY.encode(), f"wellspring.fingerprint:{license_id}".encode(), "sha256"
    ).digest()


class _Bits:
    """An endless keyed bit stream: bit i of HMAC(key, block number) blocks, 256 bits each."""

    def __init__(self, key: bytes):
        self.key = key

    def _block(self, number: int) -> str:
        digest = hmac.new(self.key, struct.pack(">Q", number), "sha256").digest()
        # Bit i of the block is bit (i % 8) of byte i // 8: little-endian, reversed to index.
        return format(int.from_bytes(digest, "little"), "0256b")[::-1]

    def bit(self, index: int) -> int:
        block_number, offset = divmod(index, 256)
        return int(self._block(block_number)[offset])

    def string(self, start: int, count: int) -> str:
        """Bits `start` to `start + count - 1` as a string of "0" and "1"."""
        if count <= 0:
            return ""
        first, last = start // 256, (start + count - 1) // 256
        bits = "".join(self._block(number) for number in range(first, last + 1))
        offset = start - first * 256
        return bits[offset : offset + count]


_SEPARATORS = {"0": b"\n", "1": b"\r\n"}


def _text_stream(license_id: str, chunks: Iterable[bytes]) -> Iterator[bytes]:
    bits = _Bits(_key(license_id))
    line = 0
    previous_ends_cr = False
    for chunk in chunks:
        if not chunk:
            continue
        parts = chunk.split(b"\n")
        breaks = len(parts) - 1
        separators = [_SEPARATORS[bit] for bit in bits.string(line, breaks)]
        if previous_ends_cr or b"\r" in chunk:
            # A line that already ends in \r\n keeps it (the \r may end the previous chunk).
            for index in range(breaks):
                text = parts[index]
                if text.endswith(b"\r") or (index == 0 and not text and previous_ends_cr):
                    separators[index] = b"\n"
        separators.append(b"")
        yield b"".join([piece for pair in zip(parts, separators, strict=True) for piece in pair])
        line += breaks
        previous_ends_cr = chunk.endswith(b"\r")


def png_tag(license_id: str) -> bytes:
    return hmac.new(_key(license_id), b"png", "sha256").hexdigest()[:32].encode()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_stream(license_id: str, chunks: Iterable[bytes]) -> Iterator[bytes]:
    # The tEXt chunk goes right after IHDR (8-byte signature + 25-byte IHDR chunk).
    head = b""
    iterator = iter(chunks)
    for chunk in iterator:
        head += chunk
        if len(head) >= 33:
            break
    if not head.startswith(PNG_SIGNATURE) or head[12:16] != b"IHDR":
        yield head  # not a PNG after all: deliver unchanged
        yield from iterator
        return
    text = _png_chunk(b"tEXt", PNG_KEYWORD + b"\0" + png_tag(license_id))
    yield head[:33] + text + head[33:]
    yield from iterator


def fingerprinted(method: str, license_id: str, chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The delivered bytes of a file: `chunks` of the original, transformed for the license."""
    if method == TEXT:
        return _text_stream(license_id, chunks)
    if method == PNG:
        return _png_stream(license_id, chunks)
    return iter(chunks)


def digest(method: str, license_id: str, chunks: Iterable[bytes]) -> tuple[str, int]:
    """SHA-256 and size of the delivered bytes."""
    hasher = hashlib.sha256()
    size = 0
    for piece in fingerprinted(method, license_id, chunks):
        hasher.update(piece)
        size += len(piece)
    return hasher.hexdigest(), size


def text_matches(license_id: str, data: bytes) -> float:
    """The share of line breaks in a (leaked) text that follow this license's pattern."""
    bits = _Bits(_key(license_id))
    lines = data.split(b"\n")[:-1]
    if not lines:
        return 0.0
    hits = sum(1 for i, text in enumerate(lines) if int(text.endswith(b"\r")) == bits.bit(i))
    return hits / len(lines)
