import pytest
from django.core.management import call_command

from accounts.errors import Conflict
from provenance.models import GENESIS_HASH, LedgerEntry, LedgerHead
from provenance.services import record_event, verify_ledger


def append(count: int, organization=None):
    return [
        record_event(
            action="test.event",
            subject_type="test",
            subject_id=str(n),
            organization=organization,
            payload={"n": n},
        )
        for n in range(count)
    ]


def test_entries_chain_each_to_the_one_before(db):
    first, second, third = append(3)
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.entry_hash
    assert third.prev_hash == second.entry_hash
    assert [e.seq for e in (first, second, third)] == [1, 2, 3]
    assert LedgerHead.objects.get().entry_hash == third.entry_hash
    assert verify_ledger().is_intact


def test_an_entry_edited_behind_the_ledgers_back_is_caught_and_named(db, capsys):
    entries = append(5)
    LedgerEntry.objects.filter(seq=3).update(payload={"n": 999})
    result = verify_ledger()
    assert result.first_broken_seq == 3
    assert "content does not match" in result.reason
    with pytest.raises(SystemExit) as exit_info:
        call_command("verify_ledger")
    assert exit_info.value.code == 1
    assert "#3" in capsys.readouterr().err
    assert entries  # the untouched entries are still there


def test_a_deleted_entry_breaks_the_next_link(db):
    append(4)
    LedgerEntry.objects.filter(seq=2).delete()  # a queryset delete bypasses the model's refusal
    result = verify_ledger()
    assert result.first_broken_seq == 3


def test_a_deleted_last_entry_no_longer_matches_the_head(db):
    append(3)
    LedgerEntry.objects.filter(seq=3).delete()
    result = verify_ledger()
    assert not result.is_intact
    assert result.first_broken_seq == 3


def test_a_rewritten_hash_breaks_the_following_link(db):
    append(3)
    forged = LedgerEntry.objects.get(seq=2)
    forged.payload = {"n": 42}
    LedgerEntry.objects.filter(seq=2).update(
        payload=forged.payload, entry_hash=forged.compute_hash()
    )
    assert verify_ledger().first_broken_seq == 3


def test_verify_ledger_command_exits_zero_on_an_intact_chain(db, capsys):
    append(2)
    call_command("verify_ledger")
    assert "Ledger intact: 2 entries" in capsys.readouterr().out


def test_entries_cannot_be_changed_or_deleted_through_the_model(db):
    (entry,) = append(1)
    entry.payload = {"n": 1}
    with pytest.raises(Conflict):
        entry.save()
    with pytest.raises(Conflict):
        entry.delete()


def test_a_failed_state_change_leaves_no_ledger_entry(db):
    from django.db import transaction

    append(1)
    with pytest.raises(RuntimeError), transaction.atomic():
        record_event(action="test.event", subject_type="test", subject_id="x")
        raise RuntimeError("the use case failed after writing its entry")
    assert LedgerEntry.objects.count() == 1
    assert verify_ledger().is_intact
