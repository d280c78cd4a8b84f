"""The hash-chained ledger: appending entries and verifying the chain.

Every state change of a dataset, review, license or takedown appends one entry inside the
transaction of the change itself. This module sits below the other provenance use cases so that
each of them can record what it did.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts.bulk import insert_objects
from accounts.models import Organization, User
from provenance.models import GENESIS_HASH, LedgerEntry, LedgerHead


def _locked_head() -> LedgerHead:
    head = LedgerHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        LedgerHead.objects.get_or_create(pk=1)
        head = LedgerHead.objects.select_for_update().get(pk=1)
    return head


def _chained(
    *,
    seq: int,
    prev_hash: str,
    action: str,
    subject_type: str,
    subject_id: str,
    actor: User | None = None,
    organization: Organization | None = None,
    payload: dict | None = None,
    now: datetime | None = None,
) -> LedgerEntry:
    is_person = actor is not None and actor.is_authenticated
    entry = LedgerEntry(
        seq=seq,
        created_at=now or timezone.now(),
        action=action,
        subject_type=subject_type,
        subject_id=str(subject_id),
        organization=organization,
        actor=actor if is_person else None,
        actor_label=actor.email if is_person else "wellspring",
        payload=payload or {},
        prev_hash=prev_hash,
    )
    entry.entry_hash = entry.compute_hash()
    return entry


def record_event(
    *,
    action: str,
    subject_type: str,
    subject_id: str,
    actor: User | None = None,
    organization: Organization | None = None,
    payload: dict | None = None,
    now: datetime | None = None,
) -> LedgerEntry:
    """Append an entry to the ledger, chained to the one before it.

    Call it inside the transaction of the state change it records, so that both commit or
    neither does. It locks the ledger head: appends are serialized across the whole platform.
    """
    with transaction.atomic():
        head = _locked_head()
        entry = _chained(
            seq=head.seq + 1,
            prev_hash=head.entry_hash,
            action=action,
            subject_type=subject_type,
            subject_id=subject_id,
            actor=actor,
            organization=organization,
            payload=payload,
            now=now,
        )
        entry.save(force_insert=True)
        head.seq = entry.seq
        head.entry_hash = entry.entry_hash
        head.save(update_fields=["seq", "entry_hash"])
    return entry


def record_events(*, events: list[dict]) -> list[LedgerEntry]:
    """Append several entries at once, chained in the order given: each dict takes
    `record_event`'s keyword arguments, and the entries are exactly those that many
    `record_event` calls would write, under one lock of the head and one insert. For batch
    writers (a month's royalty statements for every creator); same transaction rule.
    """
    if not events:
        return []
    with transaction.atomic():
        head = _locked_head()
        entries, seq, prev_hash = [], head.seq, head.entry_hash
        for event in events:
            seq += 1
            entry = _chained(seq=seq, prev_hash=prev_hash, **event)
            entries.append(entry)
            prev_hash = entry.entry_hash
        insert_objects(entries)
        head.seq, head.entry_hash = seq, prev_hash
        head.save(update_fields=["seq", "entry_hash"])
    return entries


@dataclass(frozen=True)
class LedgerVerification:
    entries_checked: int
    first_broken_seq: int | None = None
    reason: str = ""

    @property
    def is_intact(self) -> bool:
        return self.first_broken_seq is None


def verify_ledger() -> LedgerVerification:
    """Recompute the whole chain; report the first entry whose hash or link does not hold.

    Reads only. An entry edited in place fails its own hash; a removed or reordered entry
    breaks the next entry's link; a removed last entry no longer matches the ledger head.
    """
    expected_prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    for entry in LedgerEntry.objects.order_by("seq").iterator(chunk_size=2000):
        checked += 1
        if entry.seq != expected_seq:
            return LedgerVerification(
                checked, entry.seq, f"expected entry #{expected_seq}, found #{entry.seq}"
            )
        if entry.prev_hash != expected_prev:
            return LedgerVerification(
                checked, entry.seq, "its link to the previous entry does not match"
            )
        if entry.compute_hash() != entry.entry_hash:
            return LedgerVerification(checked, entry.seq, "its content does not match its hash")
        expected_prev = entry.entry_hash
        expected_seq += 1
    head = LedgerHead.objects.filter(pk=1).first()
    if head is not None and (head.seq, head.entry_hash) != (expected_seq - 1, expected_prev):
        return LedgerVerification(
            checked, head.seq, "the ledger head names an entry that is missing or changed"
        )
    return LedgerVerification(checked)
