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
    """An endless keyed bit stream: bit i of HMAC(key, block number) blocks."""

    def __init__(self, key: bytes):
        self.key = key
        self.block_number = -1
        self.block = b""

    def bit(self, index: int) -> int:
        block_number, offset = divmod(index, 256)
        if block_number != self.block_number:
            self.block = hmac.new(self.key, struct.pack(">Q", block_number), "sha256").digest()
            self.block_number = block_number
        return (self.block[offset // 8] >> (offset % 8)) & 1


def _text_stream(license_id: str, chunks: Iterable[bytes]) -> Iterator[bytes]:
    bits = _Bits(_key(license_id))
    line = 0
    previous_ends_cr = False
    for chunk in chunks:
        if not chunk:
            continue
        out = []
        start = 0
        while True:
            newline = chunk.find(b"\n", start)
            if newline < 0:
                out.append(chunk[start:])
                break
            preceded_by_cr = chunk[newline - 1 : newline] == b"\r" if newline else previous_ends_cr
            out.append(chunk[start:newline])
            if not preceded_by_cr and bits.bit(line):
                out.append(b"\r\n")
            else:
                out.append(b"\n")
            line += 1
            start = newline + 1
        previous_ends_cr = chunk.endswith(b"\r")
        yield b"".join(out)


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
