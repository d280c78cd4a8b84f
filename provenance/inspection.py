"""Facts about a file, measured in one streaming pass: size, SHA-256, media type and records.

The media type comes from the content (magic numbers, then the shape of the text), never the
extension. Memory stays flat: only the current chunk and one partial line are held.
"""

import hashlib
import json
import re
from dataclasses import dataclass

from provenance import parquet

CHUNK_SIZE = 1024 * 1024
SNIFF_SIZE = 64 * 1024
# The end of a Parquet file kept while streaming, so its footer needs no second read.
PARQUET_TAIL_SIZE = 1024 * 1024

_BLANK_LINE = re.compile(rb"(?m)^[ \t\r]*\n")

_MAGIC = [
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"fLaC", "audio/flac"),
    (0, b"OggS", "audio/ogg"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"%PDF-", "application/pdf"),
    (0, b"PK\x03\x04", "application/zip"),
    (0, b"PK\x05\x06", "application/zip"),
    (0, b"\x1f\x8b", "application/gzip"),
    (0, b"PAR1", "application/vnd.apache.parquet"),
    (0, b"\x28\xb5\x2f\xfd", "application/zstd"),
    (0, b"BZh", "application/x-bzip2"),
    (0, b"\xfd7zXZ\x00", "application/x-xz"),
    (257, b"ustar", "application/x-tar"),
]

PARQUET = "application/vnd.apache.parquet"

TEXT_TYPES = {
    "application/jsonl",
    "application/json",
    "text/csv",
    "text/tab-separated-values",
    "text/plain",
}


@dataclass(frozen=True)
class FileFacts:
    size_bytes: int
    sha256: str
    media_type: str
    record_count: int | None
    problem: str = ""  # what is wrong with the content, for the creator to fix


def sniff_media_type(head: bytes) -> str:
    """The media type of a file from its first bytes."""
    for offset, magic, media_type in _MAGIC:
        if head.startswith(magic, offset):
            return media_type
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp":
        return "audio/mp4" if head[8:11] == b"M4A" else "video/mp4"
    if head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "audio/mpeg"
    return _sniff_text(head)


def _sniff_text(head: bytes) -> str:
    if not head:
        return "application/octet-stream"
    if b"\x00" in head:
        return "application/octet-stream"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as error:
        # A multi-byte character cut off at the end of the sample is still text.
        if error.start < len(head) - 4:
            return "application/octet-stream"
        text = head[: error.start].decode("utf-8")
    text = text.lstrip("\ufeff")
    lines = [line for line in text.splitlines() if line.strip()]
    complete = lines[:-1] if len(head) >= SNIFF_SIZE and len(lines) > 1 else lines
    if complete and all(_is_json_object(line) for line in complete[:50]):
        return "application/jsonl"
    stripped = text.strip()
    if stripped[:1] in ("{", "[") and _is_json(stripped, truncated=len(head) >= SNIFF_SIZE):
        return "application/json"
    for delimiter, media_type in (
        ("\t", "text/tab-separated-values"),
        (",", "text/csv"),
        (";", "text/csv"),
    ):
        if _looks_delimited(complete[:50], delimiter):
            return media_type
    return "text/plain"


def _is_json_object(line: str) -> bool:
    line = line.strip()
    if not (line.startswith("{") and line.endswith("}")):
        return False
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def _is_json(text: str, *, truncated: bool) -> bool:
    if truncated:
        return True
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _looks_delimited(lines: list[str], delimiter: str) -> bool:
    if len(lines) < 2:
        return False
    counts = {line.count(delimiter) for line in lines if '"' not in line}
    return len(counts) == 1 and counts.pop() > 0


class FileInspector:
    """Feed a file's bytes in order with `update`, then read the facts from `finish`."""

    def __init__(self):
        self._hash = hashlib.sha256()
        self._size = 0
        self._head = b""
        self._media_type: str | None = None
        self._pending: list[bytes] = []
        self._carry = b""
        self._lines = 0
        self._in_quotes = False
        self._tail = b""

    def update(self, chunk) -> None:
        """Feed the next bytes (bytes, bytearray or memoryview; not kept after the call)."""
        if not chunk:
            return
        self._hash.update(chunk)
        self._size += len(chunk)
        if self._media_type is None:
            # Hold the first bytes until there are enough to tell the type.
            chunk = bytes(chunk)
            self._head += chunk
            self._pending.append(chunk)
            if len(self._head) < SNIFF_SIZE:
                return
            self._decide_type()
            return
        self._count(chunk)

    def _decide_type(self) -> None:
        self._media_type = sniff_media_type(self._head[:SNIFF_SIZE])
        pending, self._pending, self._head = self._pending, [], b""
        for chunk in pending:
            self._count(chunk)

    def _count(self, chunk) -> None:
        # Binary content is only hashed: no copy of the chunk is made for it.
        if self._media_type in ("application/jsonl",):
            self._count_lines(bytes(chunk))
        elif self._media_type in ("text/csv", "text/tab-separated-values"):
            self._count_csv_rows(bytes(chunk))
        elif self._media_type == PARQUET:
            self._tail = (self._tail + bytes(chunk))[-PARQUET_TAIL_SIZE:]

    def _count_lines(self, chunk: bytes) -> None:
        data = self._carry + chunk
        end = data.rfind(b"\n")
        if end < 0:
            self._carry = data
            return
        body, self._carry = data[: end + 1], data[end + 1 :]
        self._lines += body.count(b"\n") - len(_BLANK_LINE.findall(body))

    def _count_csv_rows(self, chunk: bytes) -> None:
        # A newline inside a quoted field does not end a row: track the parity of quotes.
        if not self._in_quotes and b'"' not in chunk and b'"' not in self._carry:
            self._count_lines(chunk)
            return
        data = self._carry + chunk
        segments = data.split(b"\n")
        self._carry = segments.pop()
        for segment in segments:
            if segment.count(b'"') % 2:
                self._in_quotes = not self._in_quotes
            if self._in_quotes:
                continue
            if segment.strip():
                self._lines += 1

    def finish(self, read_range=None) -> FileFacts:
        """The facts, once every byte was fed. `read_range(start, length)` fetches a Parquet
        footer too large for the kept tail; without it such a file's records stay unknown."""
        if self._media_type is None:
            self._decide_type()
        if self._carry.strip():
            self._lines += 1
        records, problem = None, ""
        if self._media_type == "application/jsonl":
            records = self._lines
        elif self._media_type in ("text/csv", "text/tab-separated-values"):
            records = max(self._lines - 1, 0)  # the header row is not a record
        elif self._media_type == PARQUET:
            records, problem = self._parquet_rows(read_range)
        return FileFacts(
            size_bytes=self._size,
            sha256=self._hash.hexdigest(),
            media_type=self._media_type,
            record_count=records,
            problem=problem,
        )

    def _parquet_rows(self, read_range) -> tuple[int | None, str]:
        tail = self._tail
        try:
            length = parquet.footer_length(tail[-parquet.TRAILER_SIZE :])
            if length + parquet.TRAILER_SIZE > self._size - len(parquet.MAGIC):
                raise parquet.ParquetFooterError("the footer is longer than the file")
            if length + parquet.TRAILER_SIZE <= len(tail):
                metadata = tail[-(length + parquet.TRAILER_SIZE) : -parquet.TRAILER_SIZE]
            elif read_range is not None:
                metadata = read_range(self._size - parquet.TRAILER_SIZE - length, length)
            else:
                return None, ""
            return parquet.num_rows(metadata), ""
        except parquet.ParquetFooterError as error:
            return None, f"It starts like a Parquet file but its footer is unreadable: {error}."


def inspect_stream(
    stream, chunk_size: int = CHUNK_SIZE, *, on_bytes=None, read_range=None, buffer=None
) -> FileFacts:
    """Read a binary file object to its end, once, and return its facts.

    `on_bytes(n)` is called after each chunk (progress); `read_range` is passed to `finish`.
    One buffer is reused for every chunk (pass `buffer` to reuse it across files too), so
    memory stays flat whatever the file's size.
    """
    inspector = FileInspector()
    buffer = buffer if buffer is not None else bytearray(chunk_size)
    chunk_size = len(buffer)
    view = memoryview(buffer)
    readinto = getattr(stream, "readinto", None)
    while True:
        if readinto is not None:
            read = readinto(buffer)
            if not read:
                break
            inspector.update(view[:read])
        else:
            chunk = stream.read(chunk_size)
            if not chunk:
                break
            read = len(chunk)
            inspector.update(chunk)
        if on_bytes is not None:
            on_bytes(read)
    return inspector.finish(read_range=read_range)
