import csv
import hashlib
import io
import json

import pytest

from provenance.inspection import FileInspector, inspect_stream, sniff_media_type


def facts(data: bytes, chunk_size: int = 1024 * 1024):
    return inspect_stream(io.BytesIO(data), chunk_size=chunk_size)


def test_hash_and_size_match_hashlib():
    data = bytes(range(256)) * 5000
    result = facts(data, chunk_size=4096)
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.size_bytes == len(data)


@pytest.mark.parametrize(
    ("head", "media_type"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, "image/png"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 20, "image/jpeg"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "audio/wav"),
        (b"PK\x03\x04" + b"\x00" * 20, "application/zip"),
        (b"PAR1" + b"\x00" * 20, "application/vnd.apache.parquet"),
        (b"%PDF-1.7\n", "application/pdf"),
        (b'{"a": 1}\n{"a": 2}\n', "application/jsonl"),
        (b'[{"a": 1}, {"a": 2}]', "application/json"),
        (b"id,name\n1,alpha\n2,beta\n", "text/csv"),
        (b"id\tname\n1\talpha\n", "text/tab-separated-values"),
        (b"Just some words.\nAnd more.", "text/plain"),
        (b"\x00\x01\x02binary", "application/octet-stream"),
        (b"", "application/octet-stream"),
    ],
)
def test_media_type_comes_from_the_content(head, media_type):
    assert sniff_media_type(head) == media_type


def test_extension_is_ignored_a_png_named_csv_is_a_png():
    data = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
    assert facts(data).media_type == "image/png"


def test_jsonl_records_skip_blank_lines_and_count_a_last_line_without_newline():
    data = b'{"a": 1}\n\n{"a": 2}\n   \n{"a": 3}'
    assert facts(data).record_count == 3


def test_jsonl_count_is_right_across_chunk_boundaries():
    lines = [json.dumps({"n": n, "text": "x" * (n % 37)}) for n in range(5000)]
    data = ("\n".join(lines) + "\n").encode()
    for chunk in (7, 64, 1000, 65536):
        assert facts(data, chunk_size=chunk).record_count == 5000


def test_csv_rows_with_quoted_newlines_count_once():
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["id", "note"])
    for n in range(300):
        writer.writerow([n, f'line one\nline "two" of {n}' if n % 3 == 0 else f"plain {n}"])
    data = buffer.getvalue().encode()
    for chunk in (5, 100, 4096, 1 << 20):
        assert facts(data, chunk_size=chunk).record_count == 300


def test_binary_files_have_no_record_count():
    assert facts(b"\x89PNG\r\n\x1a\n" + b"\x00" * 1000).record_count is None


def test_inspector_holds_only_a_chunk_at_a_time():
    inspector = FileInspector()
    line = b'{"k": "' + b"v" * 100 + b'"}\n'
    for _ in range(2000):
        inspector.update(line * 50)
        assert len(inspector._carry) < len(line)
    assert inspector.finish().record_count == 100_000
