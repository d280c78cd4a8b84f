"""The batch writers' inserts (COPY on PostgreSQL, bulk_create elsewhere) store what the ORM
would, and fail as it would."""

from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, transaction

from accounts.bulk import insert_objects, insert_rows
from accounts.models import Event, Notification
from licensing.models import RoyaltyLine
from provenance.ledger import record_events, verify_ledger
from provenance.models import LedgerEntry

AT = datetime(2026, 11, 3, 9, 30, 15, 123456, tzinfo=UTC)


def test_objects_come_back_as_saved_with_json_text_and_times_intact(cast):
    data = {"statement": "rst_1", "nested": {"ünïcode": "naïve ✓", "list": [1, None, 2.5]}}
    events = insert_objects(
        [
            Event(organization=cast.creator_org, type=Event.Type.STATEMENT_ISSUED, data=data),
            Event(organization=cast.buyer_org, type=Event.Type.ORDER_PAID, created_at=AT),
        ]
    )
    assert all(not event._state.adding for event in events)
    first, second = (Event.objects.get(pk=event.pk) for event in events)
    assert (first.organization, first.type, first.data) == (
        cast.creator_org,
        "statement.issued",
        data,
    )
    assert (second.data, second.created_at) == ({}, AT)  # the model's defaults, as saved


def test_rows_are_stored_column_by_column(cast):
    insert_rows(
        Notification,
        ["id", "recipient_id", "organization_id", "verb", "text", "link", "created_at"],
        [
            (
                "ntf_a",
                cast.creator.pk,
                cast.creator_org.pk,
                "statement.issued",
                "Tab\tand\nline",
                "",
                AT,
            ),
            ("ntf_b", cast.buyer.pk, None, "order.paid", "\\N is not null", "/x/", AT),
        ],
    )
    stored = {n.pk: n for n in Notification.objects.filter(pk__in=["ntf_a", "ntf_b"])}
    assert stored["ntf_a"].text == "Tab\tand\nline"
    assert stored["ntf_a"].organization == cast.creator_org
    assert (stored["ntf_b"].text, stored["ntf_b"].organization, stored["ntf_b"].read_at) == (
        "\\N is not null",
        None,
        None,
    )


def test_a_batch_of_ledger_entries_chains_and_verifies(cast):
    record_events(
        events=[
            {
                "action": "test.batch",
                "subject_type": "test",
                "subject_id": str(n),
                "organization": cast.creator_org,
                "payload": {"n": n, "text": "naïve"},
                "now": AT,
            }
            for n in range(5)
        ]
    )
    assert list(LedgerEntry.objects.order_by("seq").values_list("subject_id", flat=True)) == [
        "0",
        "1",
        "2",
        "3",
        "4",
    ]
    assert verify_ledger().is_intact


def test_a_duplicate_key_raises_and_the_batch_leaves_nothing(cast):
    Event.objects.create(organization=cast.creator_org, type=Event.Type.ORDER_PAID, id="evt_taken")
    batch = [
        Event(organization=cast.creator_org, type=Event.Type.ORDER_PAID, id="evt_new"),
        Event(organization=cast.creator_org, type=Event.Type.ORDER_PAID, id="evt_taken"),
    ]
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_objects(batch)
    assert not Event.objects.filter(pk="evt_new").exists()


def test_objects_without_a_primary_key_are_refused_before_any_write(cast):
    line = RoyaltyLine(kind="sale", source="ord_x", description="", occurred_at=AT, amount_minor=1)
    with pytest.raises(ValueError, match="primary keys set"):
        insert_objects([line])
    assert insert_objects([]) == []
