"""The hash-chained ledger: appending entries and verifying the chain.

Every state change of a dataset, review, license or takedown appends one entry inside the
transaction of the change itself. This module sits below the other provenance use cases so that
each of them can record what it did.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts.models import Organization, User
from provenance.models import GENESIS_HASH, LedgerEntry, LedgerHead


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
        head = LedgerHead.objects.select_for_update().filter(pk=1).first()
        if head is None:
            LedgerHead.objects.get_or_create(pk=1)
            head = LedgerHead.objects.select_for_update().get(pk=1)
        entry = LedgerEntry(
            seq=head.seq + 1,
            created_at=now or timezone.now(),
            action=action,
            subject_type=subject_type,
            subject_id=str(subject_id),
            organization=organization,
            actor=actor if actor is not None and actor.is_authenticated else None,
            actor_label=actor.email
            if actor is not None and actor.is_authenticated
            else "wellspring",
            payload=payload or {},
            prev_hash=head.entry_hash,
        )
        entry.entry_hash = entry.compute_hash()
        entry.save(force_insert=True)
        head.seq = entry.seq
        head.entry_hash = entry.entry_hash
        head.save(update_fields=["seq", "entry_hash"])
    return entry


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
