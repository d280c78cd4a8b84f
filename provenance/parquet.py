"""The row count of a Parquet file, read from its footer with no Parquet library.

A Parquet file ends with its metadata (a Thrift `FileMetaData` struct in the compact
protocol), then the metadata's length as 4 little-endian bytes, then the magic `PAR1`.
`FileMetaData` field 3 is `num_rows` (i64): the file's record count. This reader walks the
struct's fields and skips every other one, so it needs only the footer bytes, never the data.
"""

import struct

MAGIC = b"PAR1"
TRAILER_SIZE = 8  # 4-byte footer length + magic

_STOP, _TRUE, _FALSE, _I8, _I16, _I32, _I64, _DOUBLE, _BINARY, _LIST, _SET, _MAP, _STRUCT = range(
    13
)
_NUM_ROWS_FIELD = 3
_MAX_DEPTH = 64


class ParquetFooterError(ValueError):
    pass


def footer_length(trailer: bytes) -> int:
    """The metadata length from a file's last 8 bytes; ParquetFooterError if they are not Parquet's."""
    if len(trailer) != TRAILER_SIZE or trailer[4:] != MAGIC:
        raise ParquetFooterError("the file does not end with Parquet's magic bytes")
    return struct.unpack("<I", trailer[:4])[0]


def num_rows(metadata: bytes) -> int:
    """`FileMetaData.num_rows` from the footer's metadata bytes."""
    reader = _CompactReader(metadata)
    try:
        return reader.find_i64_field(_NUM_ROWS_FIELD)
    except IndexError as error:
        raise ParquetFooterError("the footer ends too early") from error


class _CompactReader:
    def __init__(self, data: bytes):
        self.data = memoryview(data)
        self.pos = 0

    def byte(self) -> int:
        value = self.data[self.pos]
        self.pos += 1
        return value

    def varint(self) -> int:
        shift = result = 0
        while True:
            byte = self.byte()
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7
            if shift > 70:
                raise ParquetFooterError("a varint is too long")

    def zigzag(self) -> int:
        value = self.varint()
        return (value >> 1) ^ -(value & 1)

    def find_i64_field(self, wanted: int) -> int:
        field_id = 0
        while True:
            header = self.byte()
            kind = header & 0x0F
            if kind == _STOP:
                raise ParquetFooterError("the footer has no row count")
            delta = header >> 4
            field_id = field_id + delta if delta else self.zigzag()
            if field_id == wanted and kind == _I64:
                rows = self.zigzag()
                if rows < 0:
                    raise ParquetFooterError("the footer's row count is negative")
                return rows
            self.skip(kind, 0)

    def skip(self, kind: int, depth: int) -> None:
        if depth > _MAX_DEPTH:
            raise ParquetFooterError("the footer nests too deeply")
        if kind in (_TRUE, _FALSE):
            return
        if kind == _I8:
            self.pos += 1
        elif kind in (_I16, _I32, _I64):
            self.varint()
        elif kind == _DOUBLE:
            self.pos += 8
        elif kind == _BINARY:
            self.pos += self.varint()
        elif kind in (_LIST, _SET):
            header = self.byte()
            size = header >> 4
            if size == 15:
                size = self.varint()
            element = header & 0x0F
            for _ in range(size):
                self._skip_element(element, depth + 1)
        elif kind == _MAP:
            size = self.varint()
            if size:
                types = self.byte()
                for _ in range(size):
                    self._skip_element(types >> 4, depth + 1)
                    self._skip_element(types & 0x0F, depth + 1)
        elif kind == _STRUCT:
            while True:
                header = self.byte()
                inner = header & 0x0F
                if inner == _STOP:
                    return
                if not header >> 4:
                    self.zigzag()
                self.skip(inner, depth + 1)
        else:
            raise ParquetFooterError(f"unknown Thrift type {kind}")
        if self.pos > len(self.data):
            raise ParquetFooterError("the footer ends too early")

    def _skip_element(self, kind: int, depth: int) -> None:
        # Inside collections a boolean takes one byte of its own.
        if kind in (_TRUE, _FALSE):
            self.pos += 1
        else:
            self.skip(kind, depth)
