"""The reviewer desk: the queue, decisions with their checklist, freezing, and who may see it."""

import threading

import pytest
from django.core import mail
from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.urls import reverse

from accounts.errors import Conflict, InvalidInput, NotFound
from accounts.models import Notification
from marketplace.models import Listing
from provenance import services as provenance
from provenance.ledger import verify_ledger
from provenance.models import (
    DataFile,
    DatasetVersion,
    EvidenceDocument,
    FrozenVersionError,
    LedgerEntry,
    ProvenanceDeclaration,
    Review,
)
from provenance.reviews import CHECKLIST_FIELDS, decide_version
from tests.factories import PASSWORD

ALL_TICKED = dict.fromkeys(CHECKLIST_FIELDS, True)


@pytest.fixture
def submitted(make_listing):
    return make_listing("Harbour logs", publish=False)


def login(client, user):
    assert client.login(email=user.email, password=PASSWORD)
    return client


def decide(client, version, decision, reason="Checked.", ticks=ALL_TICKED):
    data = {"decision": decision, "reason": reason}
    data.update({name: "on" for name, ticked in ticks.items() if ticked})
    return client.post(reverse("review:version-decide", args=[version.pk]), data)


def test_queue_lists_submitted_versions_oldest_first_with_filters(client, cast, make_listing):
    first = make_listing("Alpha tales", publish=False)
    second = make_listing("Beta tables", modality="tabular", publish=False)
    make_listing("Already listed")
    login(client, cast.reviewer)
    page = client.get(reverse("review:queue")).content.decode()
    assert page.index("Alpha tales") < page.index("Beta tables")
    assert "Already listed" not in page
    filtered = client.get(reverse("review:queue"), {"modality": "tabular"}).content.decode()
    assert "Beta tables" in filtered and "Alpha tales" not in filtered
    assert reverse("review:version", args=[first.pk]) in page
    assert reverse("review:version", args=[second.pk]) in page


def test_review_page_shows_declaration_ingest_results_samples_and_ledger(client, cast, submitted):
    provenance_evidence = EvidenceDocument.objects.filter(declaration__version=submitted)
    assert not provenance_evidence.exists()
    login(client, cast.reviewer)
    response = client.get(reverse("review:version", args=[submitted.pk]))
    page = response.content.decode()
    assert response.status_code == 200
    assert "Written by our members." in page
    assert submitted.merkle_root in page
    assert "data/records.jsonl" in page
    assert "{&quot;text&quot;: &quot;one&quot;}" in page  # the first JSONL records
    assert "version.submitted" in page
    assert 'id="quality"' in page  # where the quality card goes


def test_evidence_is_viewable_inline_by_staff_only(client, cast):
    dataset = provenance.create_dataset(
        actor=cast.creator, organization=cast.creator_org, title="Evidence set", modality="text"
    )
    version = dataset.versions.get()
    evidence = provenance.add_evidence(
        actor=cast.creator,
        version=version,
        title="Consent form",
        content=ContentFile(b"%PDF-1.4\n% consent\n", name="consent.pdf"),
    )
    login(client, cast.reviewer)
    response = client.get(reverse("review:evidence", args=[evidence.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("inline")
    client.logout()
    login(client, cast.creator)
    assert client.get(reverse("review:evidence", args=[evidence.pk])).status_code == 404


def test_approving_freezes_publishes_notifies_and_records(
    client, cast, submitted, django_capture_on_commit_callbacks
):
    login(client, cast.reviewer)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = decide(client, submitted, "approved", "Evidence matches the rights holder.")
    assert response.status_code == 302
    submitted.refresh_from_db()
    assert submitted.status == DatasetVersion.Status.APPROVED
    listing = Listing.objects.get(dataset=submitted.dataset)
    assert listing.status == Listing.Status.PUBLISHED and listing.version_id == submitted.pk
    review = Review.objects.get(version=submitted)
    assert review.reviewer == cast.reviewer and all(ticked for _, _, ticked in review.checklist())
    entry = LedgerEntry.objects.get(action="version.approved", subject_id=submitted.pk)
    assert entry.actor == cast.reviewer
    assert entry.payload["checklist"] == ALL_TICKED
    assert LedgerEntry.objects.filter(action="listing.published").count() == 1
    notified = Notification.objects.filter(verb="version.approved")
    assert {n.recipient for n in notified} == {cast.creator, cast.creator_member}
    assert any(cast.creator.email in message.to for message in mail.outbox)
    assert client.get(reverse("catalog:detail", args=[submitted.dataset.slug])).status_code == 200
    assert verify_ledger().is_intact


def test_approval_without_every_checklist_item_is_refused_and_writes_nothing(
    client, cast, submitted
):
    login(client, cast.reviewer)
    ticks = {**ALL_TICKED, "no_personal_data_in_samples": False}
    response = decide(client, submitted, "approved", ticks=ticks)
    assert response.status_code == 400
    assert "Tick every item" in response.content.decode()
    submitted.refresh_from_db()
    assert submitted.status == DatasetVersion.Status.SUBMITTED
    assert not Review.objects.exists()
    assert not Listing.objects.filter(dataset=submitted.dataset).exists()


def test_a_decision_needs_a_reason(cast, submitted):
    with pytest.raises(InvalidInput, match="reason"):
        decide_version(actor=cast.reviewer, version=submitted, decision="rejected", reason="  ")


def test_requesting_changes_sends_the_version_back_and_it_can_be_resubmitted(
    client, cast, submitted
):
    login(client, cast.reviewer)
    decide(client, submitted, "changes_requested", "Attach the contributor agreement.", ticks={})
    submitted.refresh_from_db()
    assert submitted.status == DatasetVersion.Status.DRAFT
    note = Notification.objects.get(recipient=cast.creator, verb="version.changes_requested")
    assert "Attach the contributor agreement." in note.text
    provenance.update_declaration(
        actor=cast.creator, version=submitted, changes={"collection_method": "Typed, twice."}
    )
    provenance.submit_version(actor=cast.creator, version=submitted)
    review = decide_version(
        actor=cast.reviewer,
        version=submitted,
        decision="approved",
        reason="Fixed.",
        checklist=ALL_TICKED,
    )
    assert review.version.reviews.count() == 2
    assert Listing.objects.filter(dataset=submitted.dataset, status="published").exists()


def test_rejecting_keeps_the_version_out_of_the_catalog(cast, submitted):
    decide_version(actor=cast.reviewer, version=submitted, decision="rejected", reason="No rights.")
    submitted.refresh_from_db()
    assert submitted.status == DatasetVersion.Status.REJECTED
    assert not Listing.objects.filter(dataset=submitted.dataset).exists()
    assert LedgerEntry.objects.filter(action="version.rejected", actor=cast.reviewer).exists()


def test_a_version_decided_already_cannot_be_decided_again(cast, submitted):
    decide_version(actor=cast.reviewer, version=submitted, decision="rejected", reason="No.")
    with pytest.raises(Conflict, match="no longer waiting"):
        decide_version(
            actor=cast.reviewer,
            version=submitted,
            decision="approved",
            reason="Yes.",
            checklist=ALL_TICKED,
        )


def test_non_staff_get_404_or_login_on_every_reviewer_page(client, cast, submitted):
    pages = [
        reverse("review:queue"),
        reverse("review:version", args=[submitted.pk]),
        reverse("review:claims"),
        reverse("review:file", args=[submitted.files.get().pk]),
    ]
    for url in pages:
        assert client.get(url).status_code == 302  # the login page
    for user in (cast.creator, cast.buyer, cast.outsider):
        login(client, user)
        for url in pages:
            assert client.get(url).status_code == 404, url
        response = decide(client, submitted, "approved")
        assert response.status_code == 404
        client.logout()
    with pytest.raises(NotFound):
        decide_version(actor=cast.creator, version=submitted, decision="rejected", reason="x")
    submitted.refresh_from_db()
    assert submitted.status == DatasetVersion.Status.SUBMITTED


# --- Freezing -------------------------------------------------------------------------------


@pytest.fixture
def approved(make_listing):
    return make_listing("Frozen tales").version


def test_frozen_version_refuses_model_saves_of_its_facts(approved):
    approved.merkle_root = "0" * 64
    with pytest.raises(FrozenVersionError):
        approved.save()
    approved.refresh_from_db()
    approved.status = DatasetVersion.Status.DRAFT
    with pytest.raises(FrozenVersionError):
        approved.save()
    with pytest.raises(FrozenVersionError):
        DatasetVersion.objects.get(pk=approved.pk).delete()


def test_frozen_version_refuses_queryset_updates_and_deletes(approved):
    versions = DatasetVersion.objects.filter(pk=approved.pk)
    with pytest.raises(FrozenVersionError):
        versions.update(merkle_root="0" * 64)
    with pytest.raises(FrozenVersionError):
        versions.update(status=DatasetVersion.Status.DRAFT)
    with pytest.raises(FrozenVersionError):
        versions.delete()
    files = DataFile.objects.filter(version=approved)
    with pytest.raises(FrozenVersionError):
        files.update(sha256="0" * 64)
    with pytest.raises(FrozenVersionError), transaction.atomic():
        DataFile.objects.bulk_update([*files], ["sha256"])
    with pytest.raises(FrozenVersionError):
        files.delete()
    with pytest.raises(FrozenVersionError):
        ProvenanceDeclaration.objects.filter(version=approved).update(rights_holder="Someone")
    approved.refresh_from_db()
    assert approved.status == DatasetVersion.Status.APPROVED
    assert DataFile.objects.filter(version=approved).count() == 1


def test_frozen_declaration_files_evidence_and_lineage_refuse_changes(cast, approved, make_listing):
    data_file = approved.files.get()
    data_file.sha256 = "0" * 64
    with pytest.raises(FrozenVersionError):
        data_file.save()
    with pytest.raises(FrozenVersionError):
        DataFile(version=approved, path="new.txt", storage_name="x").save()
    declaration = approved.declaration
    declaration.rights_holder = "Someone else"
    with pytest.raises(FrozenVersionError):
        declaration.save()
    with pytest.raises(FrozenVersionError):
        EvidenceDocument(declaration=declaration, title="late", storage_name="x", sha256="0").save()
    other = make_listing("Parent tales").version
    with pytest.raises(FrozenVersionError), transaction.atomic():
        declaration.parents.add(other)
    assert ProvenanceDeclaration.objects.get(pk=declaration.pk).rights_holder == "Creators"


def test_frozen_version_refuses_changes_through_services_api_and_forms(
    client, api_client, cast, key_for, approved
):
    with pytest.raises(Conflict):
        provenance.update_declaration(
            actor=cast.creator, version=approved, changes={"rights_holder": "X"}
        )
    with pytest.raises(Conflict):
        provenance.add_file(
            actor=cast.creator, version=approved, path="late.txt", content=ContentFile(b"late")
        )
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.creator_org)}")
    response = api_client.patch(
        f"/api/v1/versions/{approved.pk}/declaration/", {"rights_holder": "X"}, format="json"
    )
    assert response.status_code == 409
    response = api_client.post(
        f"/api/v1/versions/{approved.pk}/files/",
        {"file": ContentFile(b"late", name="late.txt")},
        format="multipart",
    )
    assert response.status_code == 409
    login(client, cast.creator)
    client.post(
        reverse("creator:declaration", args=[approved.pk]),
        {"rights_holder": "X", "source_description": "y"},
    )
    approved.refresh_from_db()
    assert approved.declaration.rights_holder == "Creators"
    assert approved.files.count() == 1


# --- Two reviewers at once (PostgreSQL) ------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_reviewers_deciding_at_once_produce_one_decision(cast, make_listing, on_postgres):
    if not on_postgres:
        pytest.skip("select_for_update needs PostgreSQL")
    from tests.factories import UserFactory

    version = make_listing("Contested tales", publish=False)
    second_reviewer = UserFactory(email="second@example.test", is_staff=True)
    barrier = threading.Barrier(2)
    outcomes = []

    def act(reviewer, decision):
        try:
            barrier.wait()
            decide_version(
                actor=reviewer,
                version=version,
                decision=decision,
                reason="Decided.",
                checklist=ALL_TICKED,
            )
            outcomes.append(decision)
        except Conflict:
            outcomes.append("conflict")
        finally:
            connection.close()

    threads = [
        threading.Thread(target=act, args=(cast.reviewer, "approved")),
        threading.Thread(target=act, args=(second_reviewer, "rejected")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes).count("conflict") == 1
    assert Review.objects.filter(version=version).count() == 1
    decided = Review.objects.get(version=version).decision
    version.refresh_from_db()
    assert version.status == decided
    assert verify_ledger().is_intact


# --- Notifications ---------------------------------------------------------------------------


def test_notifications_list_counts_unread_and_marks_read(client, cast, submitted):
    decide_version(actor=cast.reviewer, version=submitted, decision="rejected", reason="No rights.")
    login(client, cast.creator)
    page = client.get(reverse("notifications")).content.decode()
    assert "was rejected: No rights." in page
    assert 'id="unread-count">1<' in client.get(reverse("home")).content.decode()
    note = Notification.objects.get(recipient=cast.creator)
    response = client.post(reverse("notifications-read"), {"id": note.pk, "next": note.link})
    assert response.status_code == 302 and response["Location"] == note.link
    note.refresh_from_db()
    assert note.is_read
    assert 'id="unread-count"' not in client.get(reverse("home")).content.decode()


def test_nobody_can_mark_someone_elses_notifications_read(client, cast, submitted):
    decide_version(actor=cast.reviewer, version=submitted, decision="rejected", reason="No.")
    note = Notification.objects.get(recipient=cast.creator)
    login(client, cast.outsider)
    client.post(reverse("notifications-read"), {"id": note.pk})
    client.post(reverse("notifications-read"))
    note.refresh_from_db()
    assert not note.is_read
    assert "No." not in client.get(reverse("notifications")).content.decode()
