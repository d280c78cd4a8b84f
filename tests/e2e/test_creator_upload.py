"""A creator's first dataset, in real Chromium: sign up, describe, upload, process, declare, submit.

Ingest runs in a real Celery worker process, so the page's progress panel polls a live run.
"""

import io
import re
import zipfile

import pytest
from playwright.sync_api import expect

from provenance.models import DataFile, DatasetVersion, LedgerEntry
from tests.factories import PASSWORD
from tests.test_worker import worker  # noqa: F401 - the fixture that starts a real worker

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("worker"),
]


def zip_of(members: dict) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
    return buffer.getvalue()


FILES = [
    {
        "name": "letters.jsonl",
        "mimeType": "application/jsonl",
        "buffer": b"".join(b'{"id": %d, "text": "Dear friend"}\n' % n for n in range(40)),
    },
    {
        "name": "tides.csv",
        "mimeType": "text/csv",
        "buffer": b"day,high,low\n" + b"".join(b"%d,4.1,0.3\n" % n for n in range(30)),
    },
    {"name": "README.txt", "mimeType": "text/plain", "buffer": b"Letters and tide tables.\n"},
    {
        "name": "photos.zip",
        "mimeType": "application/zip",
        "buffer": zip_of(
            {
                "photos/captions.csv": b"file,caption\na.png,Harbour\nb.png,Boats\n",
                "photos/a.png": b"\x89PNG\r\n\x1a\n" + bytes(200),
            }
        ),
    },
]


def sign_up(page, base_url: str) -> None:
    page.goto(f"{base_url}/accounts/signup/")
    page.get_by_label("Your name").fill("Mara Quay")
    page.get_by_label("Email").fill("mara@harbour.test")
    page.get_by_label("Password").fill("a-long-harbour-password")
    page.get_by_label("Organization").fill("Harbour Letters Trust")
    page.get_by_label("Creator: we license our data").check()
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Creator portal")).to_be_visible()


def test_a_new_creator_uploads_processes_declares_and_submits_a_dataset(
    live_server, page, artifacts
):
    sign_up(page, live_server.url)

    page.get_by_role("link", name="New dataset").click()
    page.get_by_label("Title").fill("Harbour Letters and Tides")
    page.get_by_label("Summary").fill("Letters and tide tables kept by a harbour community.")
    page.get_by_label("Description").fill("## Contents\n\n- letters\n- tide tables\n- photos")
    page.get_by_label("Modality").select_option("multimodal")
    page.get_by_label("Languages").fill("en, cy")
    page.get_by_label("Tags").fill("letters, tides")
    page.get_by_role("button", name="Create dataset").click()
    expect(page.get_by_role("heading", name="Add files")).to_be_visible()

    # The uploader sends each file as a resumable upload and reloads when all are in.
    page.get_by_label("Files", exact=True).set_input_files(FILES)
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("table.files").get_by_text("letters.jsonl")).to_be_visible(timeout=30_000)
    expect(page.get_by_role("cell", name="photos.zip")).to_be_visible()
    expect(page.get_by_text("Waiting to be expanded")).to_be_visible()

    page.get_by_role("button", name="Process files").click()
    expect(page.get_by_test_id("ingest-percent")).to_have_text("100%", timeout=60_000)
    expect(page.get_by_test_id("ingest-state")).to_have_text("Processed")
    expect(page.get_by_text("photos/captions.csv")).to_be_visible()

    page.get_by_role("link", name="Fill in the declaration").click()
    page.get_by_label("Source description").fill(
        "Letters donated by families; tide tables kept by the harbour master."
    )
    page.get_by_label("Collection method").fill("Scanned and transcribed by volunteers.")
    page.get_by_label("Collection started").fill("2019-03-01")
    page.get_by_label("Collection ended").fill("2023-09-30")
    page.get_by_label("Consent basis").select_option("explicit_consent")
    page.get_by_label("Rights holder").fill("Harbour Letters Trust")
    page.get_by_label("Human-made").check()
    page.get_by_label("Opt-out and TDM reservations").select_option("not_applicable")
    page.get_by_role("button", name="Save declaration").click()
    expect(page.get_by_text("Declaration saved.")).to_be_visible()
    expect(page.get_by_text("Ready: files processed")).to_be_visible()

    page.get_by_role("button", name="Submit for review").click()
    expect(page.get_by_text("Submitted. A rights reviewer")).to_be_visible()
    expect(page.get_by_test_id("version-status")).to_have_text("Submitted for review")
    page.screenshot(path=str(artifacts / "creator-version-submitted.png"), full_page=True)

    version = DatasetVersion.objects.get(dataset__title="Harbour Letters and Tides")
    assert version.status == DatasetVersion.Status.SUBMITTED
    assert re.fullmatch(r"[0-9a-f]{64}", version.merkle_root)
    assert sorted(DataFile.objects.filter(version=version).values_list("path", flat=True)) == [
        "README.txt",
        "letters.jsonl",
        "photos/a.png",
        "photos/captions.csv",
        "tides.csv",
    ]
    assert version.total_records == 40 + 30 + 2
    assert LedgerEntry.objects.filter(action="version.submitted", subject_id=version.pk).exists()


def test_an_upload_whose_connection_drops_resumes_in_the_browser(
    live_server, page, cast, settings, login
):
    settings.UPLOAD_CHUNK_BYTES = 64 * 1024
    from provenance.services import create_dataset

    version = create_dataset(
        actor=cast.creator, organization=cast.creator_org, title="Resumed", modality="text"
    ).versions.get()
    data = bytes(range(256)) * 1200  # 300 KiB: five chunks
    dropped, sent = [], []

    def drop_the_second_chunk_once(route):
        content_range = route.request.headers.get("content-range", "")
        sent.append(content_range)
        if content_range.startswith("bytes 65536-") and not dropped:
            dropped.append(content_range)
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route(re.compile(r"/api/v1/uploads/upl_[0-9a-z]+/$"), drop_the_second_chunk_once)
    login(page, "creator@example.test", PASSWORD)
    page.goto(f"{live_server.url}/creator/versions/{version.pk}/")
    page.get_by_label("Files", exact=True).set_input_files(
        [{"name": "stream.bin", "mimeType": "application/octet-stream", "buffer": data}]
    )
    page.get_by_role("button", name="Upload").click()
    # The page reloads once every upload is complete and lists the file.
    expect(page.locator("table.files").get_by_text("stream.bin")).to_be_visible(timeout=30_000)

    assert dropped == ["bytes 65536-131071/307200"]
    puts = [header for header in sent if header]
    # The first chunk went once; after the drop only the rest was sent, not the whole file.
    assert puts.count("bytes 0-65535/307200") == 1
    assert puts[-1] == "bytes 262144-307199/307200"
    stored = DataFile.objects.get(version=version, path="stream.bin")
    from django.core.files.storage import default_storage

    with default_storage.open(stored.storage_name) as handle:
        assert handle.read() == data


def test_with_s3_the_browser_sends_parts_straight_to_the_bucket(
    live_server, page, cast, settings, login
):
    from django.core.files.storage import default_storage
    from moto.server import ThreadedMotoServer

    from provenance.services import create_dataset

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        settings.STORAGES = {
            **settings.STORAGES,
            "default": {
                "BACKEND": "storages.backends.s3.S3Storage",
                "OPTIONS": {
                    "bucket_name": "wellspring-e2e",
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
        settings.UPLOAD_S3_PART_BYTES = 5 * 1024 * 1024
        client = default_storage.connection.meta.client
        client.create_bucket(Bucket="wellspring-e2e")
        client.put_bucket_cors(
            Bucket="wellspring-e2e",
            CORSConfiguration={
                "CORSRules": [
                    {
                        "AllowedOrigins": [live_server.url],
                        "AllowedMethods": ["PUT"],
                        "AllowedHeaders": ["*"],
                        "ExposeHeaders": ["ETag"],
                    }
                ]
            },
        )
        version = create_dataset(
            actor=cast.creator, organization=cast.creator_org, title="Straight", modality="text"
        ).versions.get()
        data = bytes(range(256)) * (24 * 1024 + 100)  # 6 MiB and a little: two parts
        parts = []
        page.on(
            "request",
            lambda request: (
                parts.append(request.url)
                if request.method == "PUT" and f":{port}/" in request.url
                else None
            ),
        )
        login(page, "creator@example.test", PASSWORD)
        page.goto(f"{live_server.url}/creator/versions/{version.pk}/")
        page.get_by_label("Files", exact=True).set_input_files(
            [{"name": "direct.bin", "mimeType": "application/octet-stream", "buffer": data}]
        )
        page.get_by_role("button", name="Upload").click()
        expect(page.locator("table.files").get_by_text("direct.bin")).to_be_visible(timeout=30_000)
        assert len(parts) == 2 and all("partNumber=" in url for url in parts)
        stored = DataFile.objects.get(version=version, path="direct.bin")
        body = client.get_object(Bucket="wellspring-e2e", Key=stored.storage_name)["Body"]
        assert body.read() == data
    finally:
        server.stop()


def test_a_whole_folder_uploads_with_its_paths(live_server, page, cast, login, tmp_path):
    from provenance.services import create_dataset

    version = create_dataset(
        actor=cast.creator, organization=cast.creator_org, title="Folders", modality="text"
    ).versions.get()
    root = tmp_path / "survey"
    (root / "2023").mkdir(parents=True)
    (root / "2024").mkdir()
    (root / "2023" / "a.csv").write_text("x,y\n1,2\n")
    (root / "2024" / "b.csv").write_text("x,y\n3,4\n")
    login(page, "creator@example.test", PASSWORD)
    page.goto(f"{live_server.url}/creator/versions/{version.pk}/")
    page.get_by_label("Or a whole folder").set_input_files(root)
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("table.files").get_by_text("survey/2024/b.csv")).to_be_visible(
        timeout=30_000
    )
    assert sorted(DataFile.objects.filter(version=version).values_list("path", flat=True)) == [
        "survey/2023/a.csv",
        "survey/2024/b.csv",
    ]
