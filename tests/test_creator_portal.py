"""The creator portal: the dataset wizard, uploads, progress, declaration and licensing pages."""

import io
import re
import zipfile

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from licensing.models import LicenseOption, LicenseTemplate
from provenance import services
from provenance.models import DataFile, Dataset, DatasetVersion, LedgerEntry, RightsClaim


@pytest.fixture
def creator_client(client, cast):
    client.force_login(cast.creator)
    return client


@pytest.fixture
def draft(cast):
    dataset = services.create_dataset(
        actor=cast.creator, organization=cast.creator_org, title="Harbour logs", modality="text"
    )
    version = dataset.versions.get()
    services.add_file(
        actor=cast.creator,
        version=version,
        path="logs/a.jsonl",
        content=ContentFile(b'{"a": 1}\n{"a": 2}\n'),
    )
    return version


def zip_bytes(members: dict) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
    return buffer.getvalue()


def test_a_creator_registers_a_dataset_and_lands_on_its_first_draft(creator_client, cast):
    response = creator_client.post(
        reverse("creator:dataset-new"),
        {
            "title": "Tide tables",
            "summary": "Hand-kept tide tables.",
            "description": "# Tides\n\nKept by hand.",
            "modality": "tabular",
            "languages": "en, cy",
            "tags": "tides, coast",
        },
    )
    dataset = Dataset.objects.get(title="Tide tables")
    assert dataset.languages == ["cy", "en"] and dataset.tags == ["coast", "tides"]
    assert response.status_code == 302
    assert response["Location"] == reverse("creator:version", args=[dataset.versions.get().pk])
    page = creator_client.get(response["Location"])
    assert page.status_code == 200
    assert b"Add files" in page.content


def test_bad_dataset_input_is_named_on_the_form(creator_client):
    response = creator_client.post(
        reverse("creator:dataset-new"), {"title": "X", "modality": "text", "languages": "english"}
    )
    assert response.status_code == 200
    assert "is not an ISO 639 language code" in response.content.decode()
    assert not Dataset.objects.exists()


def test_files_and_an_archive_upload_without_javascript_and_are_processed(
    creator_client, draft, django_capture_on_commit_callbacks
):
    url = reverse("creator:files-upload", args=[draft.pk])
    response = creator_client.post(
        url,
        {
            "files": [
                SimpleUploadedFile("b.csv", b"id,name\n1,a\n2,b\n"),
                SimpleUploadedFile("bundle.zip", zip_bytes({"zipped/c.txt": b"hello"})),
            ],
            "expand_archives": "on",
        },
    )
    assert response.status_code == 302
    assert draft.archives.get().name == "bundle.zip"
    with django_capture_on_commit_callbacks(execute=True):
        creator_client.post(reverse("creator:ingest-start", args=[draft.pk]))
    paths = sorted(DataFile.objects.filter(version=draft).values_list("path", flat=True))
    assert paths == ["b.csv", "logs/a.jsonl", "zipped/c.txt"]
    page = creator_client.get(reverse("creator:version", args=[draft.pk])).content.decode()
    assert "100%" in page and "Every file is measured" in page


def test_the_progress_partial_polls_while_processing_and_asks_for_a_reload_when_done(
    creator_client, draft
):
    services.start_ingest(actor=draft.dataset.created_by, version=draft)
    url = reverse("creator:version-progress", args=[draft.pk])
    response = creator_client.get(url, HTTP_HX_REQUEST="true")
    assert 'hx-trigger="every 1s"' in response.content.decode()
    assert "HX-Refresh" not in response
    services.ingest_version(version_id=draft.pk)
    response = creator_client.get(url + "?polling=1", HTTP_HX_REQUEST="true")
    assert response["HX-Refresh"] == "true"
    assert "hx-trigger" not in response.content.decode()
    assert creator_client.get(url).status_code == 302


def test_the_declaration_form_names_each_problem(creator_client, draft):
    url = reverse("creator:declaration", args=[draft.pk])
    response = creator_client.post(
        url,
        {
            "source_url": "not a url",
            "collection_started_on": "2024-05-01",
            "collection_ended_on": "2023-01-01",
            "authorship": "hybrid",
            "synthetic_share_percent": "100",
            "opt_out_status": "honoured",
        },
    )
    text = response.content.decode()
    assert response.status_code == 200
    assert "Enter a valid URL" in text
    assert "The collection must end after it starts." in text
    assert "above 0% and below 100%" in text


def test_a_complete_declaration_with_evidence_and_lineage_is_saved_and_recorded(
    creator_client, draft, make_listing
):
    parent = make_listing("Parent corpus").version
    url = reverse("creator:declaration", args=[draft.pk])
    response = creator_client.post(
        url,
        {
            "source_description": "Logbooks kept by harbour masters.",
            "collection_method": "Transcribed by volunteers.",
            "collection_started_on": "2020-01-01",
            "collection_ended_on": "2021-01-01",
            "consent_basis": "other",
            "rights_holder": "Harbour trust",
            "authorship": "hybrid",
            "synthetic_share_percent": "12.5",
            "opt_out_status": "honoured",
            "opt_out_notes": "Two logbooks excluded at their owners' request.",
            "parents": [parent.pk],
        },
    )
    assert response.status_code == 302
    declaration = draft.declaration
    declaration.refresh_from_db()
    assert declaration.synthetic_share_bps == 1250
    assert list(declaration.parents.all()) == [parent]
    page = creator_client.get(url).content.decode()
    assert "Attach the evidence that explains" in page
    creator_client.post(
        reverse("creator:evidence-add", args=[draft.pk]),
        {"title": "Trust agreement", "file": SimpleUploadedFile("agreement.pdf", b"%PDF-1.7 x")},
    )
    evidence = declaration.evidence.get()
    assert evidence.media_type == "application/pdf" and len(evidence.sha256) == 64
    actions = list(LedgerEntry.objects.filter(subject_id=draft.pk).values_list("action", flat=True))
    assert actions.count("declaration.changed") == 2


def test_a_version_is_submitted_from_the_portal_once_ready(creator_client, draft, cast):
    version_url = reverse("creator:version", args=[draft.pk])
    response = creator_client.post(reverse("creator:version-submit", args=[draft.pk]))
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.status == DatasetVersion.Status.DRAFT
    services.update_declaration(
        actor=cast.creator,
        version=draft,
        changes={
            "source_description": "Ours.",
            "collection_method": "Typed.",
            "consent_basis": "own_work",
            "rights_holder": "Us",
            "opt_out_status": "not_applicable",
        },
    )
    services.ingest_version(version_id=draft.pk)
    assert "Ready: files processed" in creator_client.get(version_url).content.decode()
    creator_client.post(reverse("creator:version-submit", args=[draft.pk]))
    draft.refresh_from_db()
    assert draft.status == DatasetVersion.Status.SUBMITTED


def test_a_creator_prices_a_dataset_from_a_template_and_adjusts_its_terms(creator_client, draft):
    dataset = draft.dataset
    template = LicenseTemplate.objects.get(key="research-training")
    url = reverse("creator:option-new", args=[dataset.pk])
    page = creator_client.get(url, {"template": template.pk}).content.decode()
    assert 'value="1500.00"' in page
    response = creator_client.post(
        url,
        {
            "template": template.pk,
            "name": "Research, two models",
            "permitted_uses": ["training", "evaluation"],
            "term_days": "365",
            "territories": "gb, ie",
            "model_cap": "2",
            "price_model": "flat",
            "price": "1,250.50",
            "currency": "EUR",
        },
    )
    assert response.status_code == 302
    option = LicenseOption.objects.get(dataset=dataset)
    assert (option.price_minor, option.currency, option.territories, option.template) == (
        125_050,
        "EUR",
        ["GB", "IE"],
        template,
    )
    creator_client.post(
        reverse("creator:option-edit", args=[option.pk]),
        {
            "name": "Research, two models",
            "permitted_uses": ["training"],
            "territories": "worldwide",
            "price_model": "flat",
            "price": "abc",
            "currency": "EUR",
        },
    )
    option.refresh_from_db()
    assert option.price_minor == 125_050  # the bad price was refused
    creator_client.post(reverse("creator:option-toggle", args=[option.pk]))
    option.refresh_from_db()
    assert not option.is_active


def test_a_new_version_starts_from_an_approved_one_with_its_files_by_reference(
    creator_client, make_listing
):
    listing = make_listing("Shared blobs")
    approved = listing.version
    response = creator_client.post(
        reverse("creator:version-new", args=[listing.dataset.pk]), {"based_on": approved.pk}
    )
    new = DatasetVersion.objects.get(dataset=listing.dataset, number=2)
    assert response["Location"] == reverse("creator:version", args=[new.pk])
    old_file = approved.files.get()
    new_file = new.files.get()
    assert new_file.storage_name == old_file.storage_name and new_file.sha256 == old_file.sha256
    creator_client.post(reverse("creator:file-delete", args=[new.pk, new_file.pk]))
    assert not new.files.exists()
    from django.core.files.storage import default_storage

    assert default_storage.exists(old_file.storage_name)


@pytest.fixture
def other_orgs_objects(cast, make_listing):
    listing = make_listing("Theirs", organization=cast.outsider_org, actor=cast.outsider)
    dataset = listing.dataset
    version = services.create_version(
        actor=cast.outsider, dataset=dataset, based_on=listing.version
    )
    data_file = version.files.get()
    option = LicenseOption.objects.filter(dataset=dataset).first()
    evidence = services.add_evidence(
        actor=cast.outsider, version=version, title="Deed", content=ContentFile(b"deed", "d.txt")
    )
    from provenance.uploads import add_archive, create_upload

    archive = add_archive(
        actor=cast.outsider,
        version=version,
        name="x.zip",
        content=SimpleUploadedFile("x.zip", zip_bytes({"a.txt": b"a"})),
    )
    upload = create_upload(actor=cast.outsider, version=version, path="big.bin", size_bytes=10)
    from licensing.services import grant_license, open_offer

    offer = open_offer(
        actor=cast.buyer,
        organization=cast.buyer_org,
        dataset=dataset,
        terms={"permitted_uses": ["training"], "price_minor": 100, "currency": "USD"},
    )
    from datetime import date

    from licensing.models import RoyaltyStatement
    from marketplace.models import Payout

    statement = RoyaltyStatement.objects.create(
        organization=cast.outsider_org,
        period_starts_on=date(2026, 10, 1),
        period_ends_on=date(2026, 11, 1),
        currency="USD",
        fee_bps=2000,
        gross_sales_minor=5_000,
        net_minor=5_000,
    )
    payout = Payout.objects.create(
        statement=statement,
        organization=cast.outsider_org,
        amount_minor=5_000,
        currency="USD",
        status=Payout.Status.FAILED,
    )
    from django.utils import timezone

    from marketplace.models import ReportJob
    from marketplace.reports import request_report_job
    from marketplace.royalties import previous_month

    job = request_report_job(
        actor=cast.outsider,
        organization=cast.outsider_org,
        kind=ReportJob.Kind.DATASET_USAGE,
        first_month=previous_month(timezone.now()),
        dataset_id=dataset.pk,
    )
    return {
        "job_id": job.pk,
        "statement_id": statement.pk,
        "payout_id": payout.pk,
        "offer_id": offer.pk,
        "dataset_id": dataset.pk,
        "version_id": version.pk,
        "file_id": data_file.pk,
        "option_id": option.pk,
        "evidence_id": evidence.pk,
        "archive_id": archive.pk,
        "upload_id": upload.pk,
        "license_id": grant_license(
            organization=cast.buyer_org,
            version=listing.version,
            terms={"permitted_uses": ["training"]},
            source="test:theirs",
        ).pk,
        "claim_id": RightsClaim.objects.create(
            dataset=dataset,
            claimant_name="Claimant",
            claimant_email="claimant@example.test",
            basis=RightsClaim.Basis.OTHER,
            statement="A claim on another organization's dataset.",
        ).pk,
    }


def creator_urls():
    from marketplace.urls.creator import urlpatterns

    return [pattern for pattern in urlpatterns if "<str:" in str(pattern.pattern)]


@pytest.mark.parametrize("pattern", creator_urls(), ids=lambda pattern: pattern.name)
def test_another_organization_gets_404_on_every_creator_page(
    creator_client, other_orgs_objects, pattern
):
    names = re.findall(r"<str:(\w+)>", str(pattern.pattern))
    url = reverse(
        f"creator:{pattern.name}", kwargs={name: other_orgs_objects[name] for name in names}
    )
    for method in ("get", "post"):
        response = getattr(creator_client, method)(url, HTTP_HX_REQUEST="true")
        assert response.status_code in (404, 405), (method, url, response.status_code)
    assert creator_client.get(url).status_code in (404, 405)


def test_buyer_organizations_do_not_have_a_creator_portal(client, cast):
    client.force_login(cast.buyer)
    assert client.get(reverse("creator:dataset-new")).status_code == 404


def test_a_draft_says_what_changed_in_it(creator_client, draft):
    creator_client.post(
        reverse("creator:version-notes", args=[draft.pk]), {"notes": "Added the 1902 logs."}
    )
    draft.refresh_from_db()
    assert draft.notes == "Added the 1902 logs."
    assert LedgerEntry.objects.filter(action="version.changed", subject_id=draft.pk).exists()
