"""The measured quality card: duplicates, novelty, synthetic signals, personal data."""

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from provenance import services as provenance
from provenance.models import IngestProgress, QualityBand, QualityReport
from provenance.quality import service as quality
from provenance.tasks import measure_quality_task
from tests import quality_assets as assets

pytestmark = pytest.mark.django_db


def make_version(cast, files: dict, *, organization=None, actor=None, title="Measured data"):
    organization = organization or cast.creator_org
    actor = actor or cast.creator
    dataset = provenance.create_dataset(
        actor=actor, organization=organization, title=title, modality="text", summary="s"
    )
    version = dataset.versions.get()
    for path, content in files.items():
        provenance.add_file(actor=actor, version=version, path=path, content=ContentFile(content))
    return provenance.ingest_version(version_id=version.pk)


def measured(cast, files: dict, **options) -> QualityReport:
    version = make_version(cast, files, **options)
    return quality.measure_quality(version_id=version.pk)


def locations(examples) -> set[tuple[str, str]]:
    return {(pair["first"], pair["duplicate"]) for pair in examples}


def test_planted_exact_and_near_duplicates_are_found_with_no_false_positives(cast):
    originals = assets.text_records(1000, seed=4)
    near = [assets.near_copy(originals[index], seed=index) for index in range(50)]
    exact = originals[100:120]
    report = measured(cast, {"data/records.jsonl": assets.jsonl(originals + near + exact)})

    assert report.state == QualityReport.State.DONE
    figures = report.figures
    assert figures["exact_duplicates"]["records"]["count"] == 20
    records = figures["near_duplicates"]["records"]
    # Recall: all 50 planted near copies and 20 exact copies found (70 of 70). False
    # positives: none of the 1,000 distinct records is paired with another (exactly 70).
    assert records["count"] == 70
    assert records["of"] == 1070
    assert report.near_duplicate_bps == records["rate_bps"] == 654
    for pair in records["examples"]:
        first = int(pair["first"].rsplit("#", 1)[1])
        duplicate = int(pair["duplicate"].rsplit("#", 1)[1])
        assert duplicate == first + 1000  # each near copy is paired with its own original
        assert pair["similarity"] >= 0.6
    assert figures["near_duplicates"]["records"]["parameters"]["num_perm"] == 64
    assert {"code": "duplicates"} not in [{"code": flag["code"]} for flag in report.flags]


def test_identical_files_are_exact_duplicates_across_files(cast):
    body = assets.jsonl(assets.text_records(10))
    report = measured(cast, {"a.jsonl": body, "b.jsonl": body, "c.jsonl": b'{"text": "x"}\n'})
    files = report.figures["exact_duplicates"]["files"]
    assert files["count"] == 1
    assert locations(files["examples"]) == {("a.jsonl", "b.jsonl")}


def test_csv_text_columns_and_text_files_are_records(cast):
    rows = assets.text_records(30, seed=9)
    csv_body = "id,score,body\n" + "".join(
        f'{index},{index * 3},"{text}"\n' for index, text in enumerate(rows)
    )
    csv_body += f'99,1,"{rows[0]}"\n'
    report = measured(
        cast,
        {"table.csv": csv_body.encode(), "notes/one.txt": rows[1].encode()},
    )
    figures = report.figures
    assert figures["sample"]["records_measured"] == 32
    # The CSV copy differs only in its id and score columns, the text file is row 2's text:
    # both are exact duplicates of the text (and so near-duplicates too).
    assert figures["exact_duplicates"]["records"]["count"] == 2
    pairs = locations(figures["near_duplicates"]["records"]["examples"])
    assert figures["near_duplicates"]["records"]["count"] == 2
    assert pairs == {("notes/one.txt#1", "table.csv#2"), ("table.csv#1", "table.csv#31")}


def test_resized_and_jpeg_reencoded_images_match_their_original(cast):
    original = assets.picture(11)
    files = {
        "images/original.png": assets.encode(original),
        "images/q75.jpg": assets.encode(original.convert("RGB"), "JPEG", quality=75),
        "images/small.png": assets.encode(original.resize((128, 128))),
    }
    files.update(
        {f"images/other-{seed}.png": assets.encode(assets.picture(seed)) for seed in range(20, 30)}
    )
    report = measured(cast, files)
    images = report.figures["near_duplicates"]["images"]
    pairs = {frozenset((pair["first"], pair["duplicate"])) for pair in images["examples"]}
    assert frozenset(("images/original.png", "images/q75.jpg")) in pairs
    assert frozenset(("images/original.png", "images/small.png")) in pairs
    # The 10 other pictures match nothing: exactly the two copies are near-duplicates.
    assert images["count"] == 2
    assert images["of"] == 13
    shape = report.figures["shape"]["images"]
    assert {row["format"]: row["count"] for row in shape["formats"]} == {"JPEG": 1, "PNG": 12}
    assert sum(row["count"] for row in shape["resolution"]) == 13


def test_c2pa_signed_ai_image_is_evidence_and_flags_a_mismatch(cast):
    report = measured(
        cast,
        {
            "images/generated.jpg": assets.c2pa_signed_jpeg(3),
            "images/photo.png": assets.encode(assets.picture(4)),
        },
    )
    evidence = report.figures["synthetic"]["evidence"]
    assert evidence["count"] == 1
    assert evidence["examples"][0]["location"] == "images/generated.jpg"
    assert evidence["examples"][0]["signal"] == "c2pa"
    manifest = evidence["c2pa_manifests"][0]
    assert manifest["digital_source_types"] == ["trainedAlgorithmicMedia"]
    assert manifest["signer"] == "Test Image Generator"
    assert manifest["claim_generator"].startswith("Test Image Generator")
    assert report.has_synthetic_signals
    assert report.synthetic_evidence_bps == 5000
    # Declared human-made (the default): the reviewer sees the mismatch.
    assert "synthetic_mismatch" in [flag["code"] for flag in report.flags]


def test_iptc_xmp_exif_software_and_png_chunks_are_evidence(cast):
    report = measured(
        cast,
        {
            "a.png": assets.png_with_xmp_source_type(1),
            "b.jpg": assets.jpeg_with_exif_software(2),
            "c.png": assets.png_with_generator_chunk(3),
            "d.png": assets.png_with_xmp_source_type(4, source_type="digitalCapture"),
        },
    )
    examples = report.figures["synthetic"]["evidence"]["examples"]
    assert {(item["location"], item["signal"]) for item in examples} == {
        ("a.png", "iptc"),
        ("b.jpg", "generator"),
        ("c.png", "generator"),
    }
    assert "trainedAlgorithmicMedia" in examples[0]["detail"]


def test_a_clean_set_has_no_signals_and_no_flags(cast):
    files = {f"images/{seed}.png": assets.encode(assets.picture(seed)) for seed in range(5)}
    files["text.jsonl"] = assets.jsonl(assets.text_records(200, seed=2))
    report = measured(cast, files)
    assert not report.has_synthetic_signals
    assert report.synthetic_evidence_bps == 0
    assert report.personal_data_hits == 0
    assert report.flags == []
    assert report.near_duplicate_bps == 0


def test_assistant_phrases_are_a_heuristic_kept_apart_from_evidence(cast):
    texts = assets.text_records(10) + [
        "As an AI language model, I cannot browse the web.",
        "Certainly! Here is a poem about the sea.",
    ]
    report = measured(cast, {"chat.jsonl": assets.jsonl(texts)})
    synthetic = report.figures["synthetic"]
    assert synthetic["evidence"]["count"] == 0
    assert synthetic["heuristic"]["count"] == 2
    assert synthetic["heuristic"]["kind"] == "heuristic"
    assert report.synthetic_heuristic_bps == 1667
    assert "synthetic_heuristic" not in [flag["code"] for flag in report.flags]  # under 20%


def test_personal_data_is_found_redacted_and_luhn_invalid_numbers_skipped(cast):
    texts = [
        "Write to jane.doe@example.com about the order.",
        "Call +44 20 7946 0958 after six.",
        "Card 4111 1111 1111 1111 on file.",
        "Not a card: 4111 1111 1111 1112, nor 1234 5678 9012 3456.",
        "Pay to GB82 WEST 1234 5698 7654 32 please.",
        "Wrong IBAN GB00 WEST 1234 5698 7654 32 here.",
        "The year 2024 had 365 days.",
    ]
    report = measured(cast, {"people.jsonl": assets.jsonl(texts)})
    personal = report.figures["personal_data"]
    counts = {kind: entry["count"] for kind, entry in personal["kinds"].items()}
    assert counts == {"email": 1, "phone": 1, "payment_card": 1, "iban": 1}
    assert personal["records_with_hits"] == 4
    card = personal["kinds"]["payment_card"]["examples"][0]
    assert card["location"] == "people.jsonl#3"
    assert "1111 1111" not in card["redacted"] and card["redacted"].endswith("11")
    assert personal["kinds"]["email"]["examples"][0]["redacted"] == "j***@example.com"
    assert "jane.doe" not in str(report.figures)
    assert "personal_data" in [flag["code"] for flag in report.flags]


def test_rerun_gives_an_identical_report(cast):
    files = {
        "t.jsonl": assets.jsonl(assets.text_records(300) + assets.text_records(5)),
        "i.png": assets.png_with_xmp_source_type(1),
    }
    version = make_version(cast, files)
    first = quality.measure_quality(version_id=version.pk)
    bands = sorted(QualityBand.objects.filter(version=version).values_list("record", "key"))
    second = quality.measure_quality(version_id=version.pk)
    assert second.figures_sha256 == first.figures_sha256
    assert second.figures == first.figures
    assert sorted(QualityBand.objects.filter(version=version).values_list("record", "key")) == bands
    assert second.attempts == 2


def test_large_versions_are_measured_on_a_stated_seeded_sample(cast, settings):
    settings.QUALITY_SAMPLE_RECORDS = 100
    version = make_version(cast, {"big.jsonl": assets.jsonl(assets.text_records(1000))})
    report = quality.measure_quality(version_id=version.pk)
    sample = report.figures["sample"]
    assert sample["records_total"] == 1000
    assert sample["record_probability"] == 0.1
    assert 60 <= sample["records_measured"] <= 140
    assert sample["seed"] == int(version.merkle_root[:16], 16)
    again = quality.measure_quality(version_id=version.pk)
    assert again.figures["sample"] == sample


def test_the_same_data_listed_by_two_creators_is_flagged_as_overlap(cast, make_listing):
    body = assets.jsonl(assets.text_records(200, seed=21))
    listing = make_listing("Harbour voices", files={"voices.jsonl": body})
    quality.measure_quality(version_id=listing.version.pk)
    copy = measured(
        cast,
        {"copy.jsonl": body + assets.jsonl(assets.text_records(50, seed=22))},
        organization=cast.outsider_org,
        actor=cast.outsider,
        title="Totally original voices",
    )
    overlaps = copy.figures["novelty"]["overlaps"]
    assert overlaps[0]["dataset_slug"] == listing.dataset.slug
    assert overlaps[0]["records"] == 200
    assert copy.catalog_overlap_bps == 8000
    flag = next(flag for flag in copy.flags if flag["code"] == "catalog_overlap")
    assert "80.0% of these records already appear in “Harbour voices”" in flag["message"]


def test_unapproved_versions_and_own_earlier_versions_are_not_overlap(cast):
    body = assets.jsonl(assets.text_records(50, seed=5))
    first = measured(cast, {"a.jsonl": body}, title="Draft one")
    second = measured(cast, {"a.jsonl": body}, organization=cast.outsider_org, actor=cast.outsider)
    assert first.figures["novelty"]["overlaps"] == []
    assert second.figures["novelty"]["overlaps"] == []  # the first is only a draft


def test_bad_input_is_reported_and_the_rest_measured(cast):
    report = measured(
        cast,
        {
            "broken.png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 200,
            "mixed.jsonl": b'{"text": "fine words here"}\n{"text": "more fine words"}\n',
            "sound.wav": b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 64,
        },
    )
    assert report.state == QualityReport.State.DONE
    problems = report.figures["files"]["problems"]
    assert [problem["path"] for problem in problems] == ["broken.png"]
    assert "not a readable image" in problems[0]["message"]
    assert report.figures["files"]["not_analysed"] == [{"media_type": "audio/wav", "count": 1}]
    assert report.figures["sample"]["records_measured"] == 2


def test_quality_is_queued_when_ingest_finishes(cast, django_capture_on_commit_callbacks):
    dataset = provenance.create_dataset(
        actor=cast.creator, organization=cast.creator_org, title="Chained", modality="text"
    )
    version = dataset.versions.get()
    provenance.add_file(
        actor=cast.creator, version=version, path="a.jsonl", content=ContentFile(b'{"t": "a b"}\n')
    )
    with django_capture_on_commit_callbacks(execute=True):
        provenance.start_ingest(actor=cast.creator, version=version)
    assert IngestProgress.objects.get(version=version).state == IngestProgress.State.DONE
    report = QualityReport.objects.get(version=version)
    assert report.state == QualityReport.State.DONE
    assert report.figures["sample"]["records_measured"] == 1


def test_quality_task_routes_to_its_own_queue(settings):
    from config.celery import app

    route = app.amqp.router.route({}, measure_quality_task.name)
    assert route["queue"].name == "quality"


def test_a_superseded_run_leaves_the_report_alone(cast):
    version = make_version(cast, {"a.jsonl": assets.jsonl(assets.text_records(5))})
    report = QualityReport.objects.get(version=version)  # queued by ingest, never run
    assert report.state == QualityReport.State.QUEUED
    stale = quality.measure_quality(version_id=version.pk, run_token="not-the-current-run")
    assert stale.state == QualityReport.State.QUEUED
    done = quality.measure_quality(version_id=version.pk, run_token=report.run_token)
    assert done.state == QualityReport.State.DONE


# --- API and pages -----------------------------------------------------------------------


def test_api_returns_the_report_to_its_creator(cast, api_client, key_for):
    report = measured(cast, {"a.jsonl": assets.jsonl(assets.text_records(20))})
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.creator_org)}")
    response = api_client.get(f"/api/v1/versions/{report.version_id}/quality/")
    assert response.status_code == 200
    body = response.json()
    assert body["state"] == "done"
    assert body["figures_sha256"] == report.figures_sha256
    assert body["figures"]["near_duplicates"]["records"]["method"] == "MinHash + LSH"


def test_api_answers_404_for_another_organizations_version(cast, api_client, key_for):
    report = measured(cast, {"a.jsonl": assets.jsonl(assets.text_records(5))})
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.outsider_org)}")
    for method in ("get", "post"):
        response = getattr(api_client, method)(f"/api/v1/versions/{report.version_id}/quality/")
        assert response.status_code == 404
        assert response["Content-Type"].startswith("application/problem+json")


def test_api_refuses_to_measure_unprocessed_files(cast, api_client, key_for):
    dataset = provenance.create_dataset(
        actor=cast.creator, organization=cast.creator_org, title="Raw", modality="text"
    )
    version = dataset.versions.get()
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.creator_org)}")
    assert api_client.get(f"/api/v1/versions/{version.pk}/quality/").status_code == 404
    response = api_client.post(f"/api/v1/versions/{version.pk}/quality/")
    assert response.status_code == 409
    assert "Process the files first" in response.json()["detail"]
    assert not QualityReport.objects.filter(version=version).exists()


def test_api_queues_a_new_measurement(cast, api_client, key_for):
    report = measured(cast, {"a.jsonl": assets.jsonl(assets.text_records(5))})
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.creator_org)}")
    response = api_client.post(f"/api/v1/versions/{report.version_id}/quality/")
    assert response.status_code == 202
    assert response.json()["state"] == "queued"


def test_dataset_page_shows_the_card_with_charts(cast, client, make_listing):
    listing = make_listing(
        "Card shown",
        files={
            "t.jsonl": assets.jsonl(assets.text_records(40) + ["Mail me: a.b@example.org"]),
            "i.png": assets.png_with_xmp_source_type(2),
        },
    )
    quality.measure_quality(version_id=listing.version.pk)
    page = client.get(reverse("catalog:detail", args=[listing.dataset.slug])).content.decode()
    assert "Quality card" in page
    assert '<svg class="chart"' in page
    assert "IPTC DigitalSourceType trainedAlgorithmicMedia" in page
    assert "Evidence</strong> is metadata embedded" in page
    # Reviewer-only details stay off the public page.
    assert "For the reviewer" not in page
    assert "a***@example.org" not in page


def test_creator_portal_shows_flags_and_redacted_personal_data(cast, client):
    report = measured(cast, {"t.jsonl": assets.jsonl(["Mail me: a.b@example.org"])})
    client.force_login(cast.creator)
    page = client.get(reverse("creator:version", args=[report.version_id])).content.decode()
    assert "For the reviewer" in page
    assert "a***@example.org" in page
    assert "a.b@example.org" not in page


def test_reviewer_sees_the_overlap_and_personal_data_of_a_relisted_copy(cast, client, make_listing):
    body = assets.jsonl(assets.text_records(100, seed=31) + ["Reach me at sam@example.net"])
    original = make_listing("Original notes", files={"notes.jsonl": body})
    quality.measure_quality(version_id=original.version.pk)
    copy = make_listing(
        "Copied notes",
        files={"notes.jsonl": body},
        organization=cast.outsider_org,
        actor=cast.outsider,
        publish=False,
    )
    quality.measure_quality(version_id=copy.pk)
    client.force_login(cast.reviewer)
    page = client.get(reverse("review:version", args=[copy.pk])).content.decode()
    assert "For the reviewer" in page
    assert "100.0% of these records already appear in “Original notes”" in page
    assert "s***@example.net" in page and "sam@example.net" not in page
