"""Rights review: a staff reviewer approves, rejects or sends back a submitted version.

Approving freezes the version (the models refuse any change to its files, hashes and
declaration) and sends `signals.version_approved`, on which the marketplace publishes it.
"""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.errors import Conflict, InvalidInput, NotFound
from accounts.models import Event, User
from accounts.services import emit_event, notify_organization
from provenance import signals
from provenance.ledger import record_event
from provenance.models import DatasetVersion, Review

CHECKLIST_FIELDS = tuple(name for name, _ in Review.CHECKLIST)

_NEXT_STATUS = {
    Review.Decision.APPROVED: DatasetVersion.Status.APPROVED,
    Review.Decision.REJECTED: DatasetVersion.Status.REJECTED,
    # Sent back: the creator edits the draft and submits it again.
    Review.Decision.CHANGES_REQUESTED: DatasetVersion.Status.DRAFT,
}
_EVENTS = {
    Review.Decision.APPROVED: Event.Type.VERSION_APPROVED,
    Review.Decision.REJECTED: Event.Type.VERSION_REJECTED,
}
_TELL_CREATOR = {
    Review.Decision.APPROVED: "{version} was approved and is now listed in the catalog.",
    Review.Decision.REJECTED: "{version} was rejected: {reason}",
    Review.Decision.CHANGES_REQUESTED: "A reviewer asked for changes to {version}: {reason}",
}


def decide_version(
    *,
    actor: User,
    version: DatasetVersion,
    decision: str,
    reason: str,
    checklist: dict | None = None,
    now: datetime | None = None,
) -> Review:
    """Record a reviewer's decision on a submitted version. Staff only.

    `checklist` maps `Review.CHECKLIST` names to what the reviewer ticked; approving needs every
    item. The version is locked and its state re-read, so of two reviewers deciding at once
    exactly one wins; the other gets Conflict. Raises NotFound for non-staff, InvalidInput for
    an unknown decision, a missing reason or an unticked checklist on approval.
    Writes `version.<decision>` to the ledger, emits `version.approved`/`version.rejected` to
    the creator organization, notifies its members, and on approval sends
    `signals.version_approved` (the marketplace publishes the listing).
    """
    now = now or timezone.now()
    if not actor.is_staff:
        raise NotFound("No such version.")
    if decision not in Review.Decision.values:
        raise InvalidInput(
            f"Unknown decision {decision!r}.",
            errors={"decision": [f"Choose one of {', '.join(Review.Decision.values)}."]},
        )
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(
            "Give a reason the creator can read.", errors={"reason": ["This field is required."]}
        )
    ticks = {name: bool((checklist or {}).get(name)) for name in CHECKLIST_FIELDS}
    if decision == Review.Decision.APPROVED and not all(ticks.values()):
        missing = [label for name, label in Review.CHECKLIST if not ticks[name]]
        raise InvalidInput(
            "Tick every item of the checklist before approving: " + "; ".join(missing) + ".",
            errors={
                name: ["Confirm this before approving."] for name, tick in ticks.items() if not tick
            },
        )
    with transaction.atomic():
        version = (
            DatasetVersion.objects.select_for_update(of=("self",))
            .select_related("dataset__organization")
            .get(pk=version.pk)
        )
        if version.status != DatasetVersion.Status.SUBMITTED:
            raise Conflict(
                "This version is no longer waiting for review "
                f"(it is {version.get_status_display().lower()}): someone decided it first."
            )
        review = Review(
            version=version,
            reviewer=actor,
            decision=decision,
            reason=reason,
            merkle_root=version.merkle_root,
            decided_at=now,
            **ticks,
        )
        try:
            review.full_clean()
        except ValidationError as error:
            raise InvalidInput(
                next(iter(error.messages), "Invalid decision."), errors=error.message_dict
            ) from error
        review.save(force_insert=True)
        version.status = _NEXT_STATUS[decision]
        fields = ["status"]
        if decision == Review.Decision.APPROVED:
            version.approved_at = now
            fields.append("approved_at")
        version.save(update_fields=fields)
        organization = version.dataset.organization
        record_event(
            action=f"version.{decision}",
            subject_type="dataset_version",
            subject_id=version.pk,
            actor=actor,
            organization=organization,
            payload={
                "review": review.pk,
                "reason": reason,
                "checklist": ticks,
                "merkle_root": version.merkle_root,
            },
            now=now,
        )
        if decision in _EVENTS:
            emit_event(
                organization=organization,
                type=_EVENTS[decision],
                data={"version": version.pk, "dataset": version.dataset_id, "review": review.pk},
                now=now,
            )
        notify_organization(
            organization=organization,
            verb=f"version.{decision}",
            text=_TELL_CREATOR[decision].format(
                version=f"{version.dataset.title} v{version.number}", reason=reason
            ),
            link=reverse("creator:version", args=[version.pk]),
            now=now,
        )
        if decision == Review.Decision.APPROVED:
            signals.version_approved.send(
                sender=DatasetVersion, version=version, actor=actor, now=now
            )
    return review


def approve_version(
    *,
    actor: User,
    version: DatasetVersion,
    reason: str,
    checklist: dict | None = None,
    now: datetime | None = None,
) -> DatasetVersion:
    """Approve a submitted version (see `decide_version`) and return it, frozen.

    Without `checklist` the caller affirms the whole checklist: for seeding and scripts that
    have no form. The reviewer desk and the API always pass what the reviewer ticked.
    """
    if checklist is None:
        checklist = dict.fromkeys(CHECKLIST_FIELDS, True)
    review = decide_version(
        actor=actor,
        version=version,
        decision=Review.Decision.APPROVED,
        reason=reason,
        checklist=checklist,
        now=now,
    )
    return DatasetVersion.objects.select_related("dataset__organization").get(pk=review.version_id)
