"""Resumable uploads: chunks through the app on local disk, presigned multipart parts on S3."""

import hashlib
import io
import os
import urllib.request
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from accounts.errors import InvalidInput
from provenance import services, uploads
from provenance.models import DataFile, IngestProgress, UploadedArchive, UploadSession
from tests.test_archives import make_zip


@pytest.fixture
def draft(cast):
    dataset = services.create_dataset(
        actor=cast.creator, organization=cast.creator_org, title="Big files", modality="tabular"
    )
    return dataset.versions.get()


@pytest.fixture
def api(api_client, cast):
    api_client.force_login(cast.creator)  # a portal session, as the browser's uploader has
    return api_client


def put_chunk(api, session_id, data: bytes, start: int, total: int):
    return api.generic(
        "PUT",
        f"/api/v1/uploads/{session_id}/",
        data,
        content_type="application/octet-stream",
        HTTP_CONTENT_RANGE=f"bytes {start}-{start + len(data) - 1}/{total}",
    )


class CutOff(io.RawIOBase):
    """A request body whose connection drops after `limit` bytes."""

    def __init__(self, data: bytes, limit: int):
        self.stream = io.BytesIO(data[:limit])

    def read(self, size=-1):
        return self.stream.read(size)


def test_an_upload_resumes_from_the_last_confirmed_chunk_after_the_connection_drops(
    api, draft, settings
):
    data = os.urandom(3 * 1024 * 1024 + 123)
    chunk = 1024 * 1024
    response = api.post(
        f"/api/v1/versions/{draft.pk}/uploads/",
        {"path": "tables/big.bin", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()},
        format="json",
    )
    assert response.status_code == 201
    session = response.json()
    assert (session["backend"], session["received_bytes"]) == ("chunked", 0)
    assert (
        put_chunk(api, session["id"], data[:chunk], 0, len(data)).json()["received_bytes"] == chunk
    )

    # The second chunk's connection drops two thirds of the way: nothing of it is kept.
    with pytest.raises(InvalidInput, match="cut off"):
        uploads.receive_chunk(
            session=UploadSession.objects.get(pk=session["id"]),
            start=chunk,
            length=chunk,
            stream=CutOff(data[chunk : 2 * chunk], 700_000),
        )
    state = api.get(f"/api/v1/uploads/{session['id']}/").json()
    assert state["received_bytes"] == chunk

    # The client resumes where the server says, not from the start.
    offset = state["received_bytes"]
    while offset < len(data):
        response = put_chunk(api, session["id"], data[offset : offset + chunk], offset, len(data))
        assert response.status_code == 200, response.json()
        offset = response.json()["received_bytes"]
    completed = api.post(f"/api/v1/uploads/{session['id']}/complete/")
    assert completed.status_code == 201
    data_file = DataFile.objects.get(pk=completed.json()["file"]["id"])
    assert Path(settings.MEDIA_ROOT, data_file.storage_name).read_bytes() == data
    version = services.ingest_version(version_id=draft.pk)
    assert DataFile.objects.get(pk=data_file.pk).sha256 == hashlib.sha256(data).hexdigest()
    assert version.merkle_root


def test_a_resent_chunk_is_trimmed_and_a_gap_is_refused_with_the_offset(api, draft):
    data = b"0123456789" * 10
    session = api.post(
        f"/api/v1/versions/{draft.pk}/uploads/", {"path": "d.txt", "size": 100}, format="json"
    ).json()
    put_chunk(api, session["id"], data[:40], 0, 100)
    # Sent again, overlapping what arrived: only the new bytes count.
    assert put_chunk(api, session["id"], data[20:60], 20, 100).json()["received_bytes"] == 60
    gap = put_chunk(api, session["id"], data[80:], 80, 100)
    assert gap.status_code == 409
    assert gap["Content-Type"] == "application/problem+json"
    assert gap.json()["errors"]["received_bytes"] == ["60"]
    early = api.post(f"/api/v1/uploads/{session['id']}/complete/")
    assert early.status_code == 409 and "60 of 100 bytes" in early.json()["detail"]
    put_chunk(api, session["id"], data[60:], 60, 100)
    api.post(f"/api/v1/uploads/{session['id']}/complete/")
    data_file = DataFile.objects.get(version=draft, path="d.txt")
    assert default_storage.open(data_file.storage_name).read() == data


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "Content-Range"),
        ({"HTTP_CONTENT_RANGE": "bytes 0-9/999"}, "not 999"),
        ({"HTTP_CONTENT_RANGE": "bytes 5-2/10"}, "ends before it starts"),
        ({"HTTP_CONTENT_RANGE": "items 0-9/10"}, "Content-Range"),
    ],
)
def test_malformed_chunks_get_a_clear_400(api, draft, headers, message):
    session = api.post(
        f"/api/v1/versions/{draft.pk}/uploads/", {"path": "e.txt", "size": 10}, format="json"
    ).json()
    response = api.generic(
        "PUT",
        f"/api/v1/uploads/{session['id']}/",
        b"x" * 10,
        content_type="application/octet-stream",
        **headers,
    )
    assert response.status_code == 400
    assert message in str(response.json())
    assert UploadSession.objects.get(pk=session["id"]).received_bytes == 0


def test_starting_the_same_upload_again_returns_the_open_session(api, draft):
    body = {"path": "same.bin", "size": 10}
    first = api.post(f"/api/v1/versions/{draft.pk}/uploads/", body, format="json")
    put_chunk(api, first.json()["id"], b"abcde", 0, 10)
    again = api.post(f"/api/v1/versions/{draft.pk}/uploads/", body, format="json")
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and again.json()["received_bytes"] == 5
    other = api.post(
        f"/api/v1/versions/{draft.pk}/uploads/", {"path": "same.bin", "size": 11}, format="json"
    )
    assert other.status_code == 409 and "already under way" in other.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"path": "../up.txt", "size": 1}, "climbs out"),
        ({"path": "/abs.txt", "size": 1}, "absolute path"),
        ({"path": "ok.txt", "size": -1}, "size"),
        ({"path": "ok.txt", "size": 1, "sha256": "nothex"}, "64 hexadecimal"),
        ({"size": 1}, "path"),
    ],
)
def test_bad_upload_requests_are_refused_and_leave_nothing(api, draft, settings, body, field):
    response = api.post(f"/api/v1/versions/{draft.pk}/uploads/", body, format="json")
    assert response.status_code == 400
    assert field in str(response.json())
    assert not UploadSession.objects.exists()
    assert not list(Path(settings.MEDIA_ROOT).rglob("*.txt"))


def test_an_upload_larger_than_the_limit_is_refused(api, draft, settings):
    settings.UPLOAD_MAX_FILE_BYTES = 1000
    response = api.post(
        f"/api/v1/versions/{draft.pk}/uploads/", {"path": "a.bin", "size": 1001}, format="json"
    )
    assert response.status_code == 400 and "larger than" in response.json()["detail"]


def test_a_path_already_in_the_version_is_a_conflict(api, draft, cast):
    services.add_file(actor=cast.creator, version=draft, path="a.txt", content=ContentFile(b"a"))
    response = api.post(
        f"/api/v1/versions/{draft.pk}/uploads/", {"path": "a.txt", "size": 1}, format="json"
    )
    assert response.status_code == 409


def test_cancelling_deletes_what_arrived_and_expired_uploads_are_swept(
    api, draft, settings, django_capture_on_commit_callbacks
):
    session = api.post(
        f"/api/v1/versions/{draft.pk}/uploads/", {"path": "c.bin", "size": 10}, format="json"
    ).json()
    put_chunk(api, session["id"], b"12345", 0, 10)
    blob = Path(settings.MEDIA_ROOT, UploadSession.objects.get(pk=session["id"]).storage_name)
    assert blob.exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(f"/api/v1/uploads/{session['id']}/").status_code == 204
    assert not blob.exists()
    assert put_chunk(api, session["id"], b"67890", 5, 10).status_code == 409

    stale = api.post(
        f"/api/v1/versions/{draft.pk}/uploads/", {"path": "s.bin", "size": 10}, format="json"
    ).json()
    with django_capture_on_commit_callbacks(execute=True):
        swept = uploads.expire_uploads(now=timezone.now() + timezone.timedelta(days=30))
    assert swept == 1
    assert UploadSession.objects.get(pk=stale["id"]).state == UploadSession.State.ABORTED


def test_an_archive_upload_is_checked_at_completion(
    api, draft, settings, django_capture_on_commit_callbacks
):
    zipped = make_zip([("inside/a.txt", b"a"), ("inside/b.txt", b"b")])
    session = api.post(
        f"/api/v1/versions/{draft.pk}/uploads/",
        {"path": "bundle.zip", "size": len(zipped), "expand_archive": True},
        format="json",
    ).json()
    put_chunk(api, session["id"], zipped, 0, len(zipped))
    completed = api.post(f"/api/v1/uploads/{session['id']}/complete/").json()
    assert completed["file"] is None and completed["archive"]["state"] == "pending"
    with django_capture_on_commit_callbacks(execute=True):
        api.post(f"/api/v1/versions/{draft.pk}/ingest/")
    assert sorted(DataFile.objects.values_list("path", flat=True)) == [
        "inside/a.txt",
        "inside/b.txt",
    ]

    text = b"not an archive at all"
    session = api.post(
        f"/api/v1/versions/{draft.pk}/uploads/",
        {"path": "fake.zip", "size": len(text), "expand_archive": True},
        format="json",
    ).json()
    put_chunk(api, session["id"], text, 0, len(text))
    with django_capture_on_commit_callbacks(execute=True):
        refused = api.post(f"/api/v1/uploads/{session['id']}/complete/")
    assert refused.status_code == 400 and "not a zip" in refused.json()["detail"]
    assert UploadSession.objects.get(pk=session["id"]).state == UploadSession.State.ABORTED
    assert UploadedArchive.objects.count() == 1
    assert not list(Path(settings.MEDIA_ROOT).rglob("fake.zip"))


# --- S3: presigned multipart uploads against a local moto server -------------------------


@pytest.fixture
def s3_storage(settings):
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": "wellspring-test",
                "endpoint_url": f"http://{host}:{port}",
                "access_key": "testing",
                "secret_key": "testing",
                "region_name": "us-east-1",
                "addressing_style": "path",
                "signature_version": "s3v4",
                "file_overwrite": False,
            },
        },
    }
    default_storage.connection.meta.client.create_bucket(Bucket="wellspring-test")
    settings.UPLOAD_S3_PART_BYTES = 5 * 1024 * 1024
    yield default_storage
    server.stop()


def put_part(url: str, data: bytes) -> None:
    request = urllib.request.Request(
        url, data=data, method="PUT", headers={"Content-Type": "application/octet-stream"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200


def test_browsers_upload_straight_to_s3_in_presigned_parts_and_resume(
    api, draft, s3_storage, django_capture_on_commit_callbacks
):
    part = 5 * 1024 * 1024
    data = os.urandom(2 * part + 1000)
    session = api.post(
        f"/api/v1/versions/{draft.pk}/uploads/",
        {"path": "s3/big.bin", "size": len(data)},
        format="json",
    ).json()
    assert session["backend"] == "s3_multipart"
    assert (session["part_size_bytes"], session["part_count"]) == (part, 3)
    urls = api.post(
        f"/api/v1/uploads/{session['id']}/parts/", {"part_numbers": [1, 2, 3]}, format="json"
    ).json()
    assert [(u["part_number"], u["size"]) for u in urls] == [(1, part), (2, part), (3, 1000)]
    put_part(urls[0]["url"], data[:part])
    put_part(urls[2]["url"], data[2 * part :])

    # The tab closes; on return the browser asks what S3 holds and sends only the rest.
    state = api.get(f"/api/v1/uploads/{session['id']}/").json()
    assert [p["part_number"] for p in state["parts"]] == [1, 3]
    assert state["received_bytes"] == part + 1000
    early = api.post(f"/api/v1/uploads/{session['id']}/complete/")
    assert early.status_code == 409 and "part 2" in early.json()["detail"]
    put_part(urls[1]["url"], data[part : 2 * part])
    completed = api.post(f"/api/v1/uploads/{session['id']}/complete/")
    assert completed.status_code == 201

    services.add_file(
        actor=draft.dataset.created_by,
        version=draft,
        path="small.csv",
        content=ContentFile(b"a,b\n1,2\n", name="small.csv"),
    )
    services.start_ingest(actor=draft.dataset.created_by, version=draft)
    version = services.ingest_version(
        version_id=draft.pk, run_token=IngestProgress.objects.get(pk=draft.pk).run_token
    )
    facts = dict(DataFile.objects.values_list("path", "sha256"))
    assert facts["s3/big.bin"] == hashlib.sha256(data).hexdigest()
    assert len(version.merkle_root) == 64


def test_archives_in_s3_expand_through_a_spooled_copy(
    api, cast, draft, s3_storage, settings, django_capture_on_commit_callbacks
):
    # Progress on every read: boto3 reads the members in threads of its own, and those must
    # never write to the database (SQLite would lock against the ingest's own transaction).
    settings.INGEST_PROGRESS_SECONDS = 0
    zipped = make_zip([("z/1.txt", b"one"), ("z/2.txt", b"two")])
    from django.core.files.uploadedfile import SimpleUploadedFile

    uploads.add_archive(
        actor=cast.creator,
        version=draft,
        name="z.zip",
        content=SimpleUploadedFile("z.zip", zipped),
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.ingest_version(version_id=draft.pk)
    assert sorted(DataFile.objects.values_list("path", flat=True)) == ["z/1.txt", "z/2.txt"]
    assert UploadedArchive.objects.get().state == "expanded"
    client = s3_storage.connection.meta.client
    keys = [item["Key"] for item in client.list_objects_v2(Bucket="wellspring-test")["Contents"]]
    assert not [key for key in keys if key.startswith("archives/")]
