"""Rights claims: anyone may claim rights over a listed dataset; reviewers triage the claims.

Upholding a claim suspends the dataset's approved versions and sends
`signals.dataset_suspended`: the marketplace hides the listing, licensing flags every license
on the dataset and tells its buyers. The creator may answer with a counter-statement; a
reviewer may then reinstate the dataset (`signals.dataset_reinstated`).
"""

import logging
import os
import re
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from accounts.errors import Conflict, DomainError, InvalidInput, NotFound
from accounts.models import Organization, User
from accounts.services import notify_organization, notify_reviewers
from provenance import signals, storage
from provenance.inspection import FileInspector
from provenance.ledger import record_event
from provenance.models import Dataset, DatasetVersion, RightsClaim

logger = logging.getLogger(__name__)


class TooManyClaims(DomainError):
    code = "rate_limited"
    status = 429
    title = "Too many claims"


def check_claim_rate(*, client_key: str, now: datetime | None = None) -> None:
    """Count one claim from `client_key` (an IP address) and refuse above the hourly limit.

    The count lives in the cache for an hour from the first claim. Raises TooManyClaims.
    """
    limit = settings.CLAIMS_PER_HOUR
    key = f"claims:rate:{client_key}"
    cache.add(key, 0, timeout=3600)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=3600)
        count = 1
    if count > limit:
        raise TooManyClaims(
            f"At most {limit} claims an hour can be filed from one address; "
            "try again later or write to us."
        )


def _claim_link(claim: RightsClaim) -> str:
    return reverse("review:claim", args=[claim.pk])


def _creator_link(claim: RightsClaim) -> str:
    return reverse("creator:claim", args=[claim.pk])


def file_claim(
    *,
    dataset: Dataset,
    claimant_name: str,
    claimant_email: str,
    basis: str,
    statement: str,
    claimant_organization: str = "",
    evidence=None,
    now: datetime | None = None,
) -> RightsClaim:
    """File a rights claim on a listed dataset. Anyone may; callers throttle it first.

    `evidence` is an optional uploaded file, stored hashed. Raises InvalidInput naming each bad
    field. Writes `claim.filed` (without the claimant's personal data: the ledger is forever)
    and notifies the reviewers and the creator organization.
    """
    now = now or timezone.now()
    errors: dict[str, list[str]] = {}
    claimant_name = (claimant_name or "").strip()
    claimant_email = (claimant_email or "").strip()
    statement = (statement or "").strip()
    if not claimant_name:
        errors["claimant_name"] = ["Tell us who you are."]
    try:
        validate_email(claimant_email)
    except ValidationError:
        errors["claimant_email"] = ["Give an email address we can reach you at."]
    if basis not in RightsClaim.Basis.values:
        errors["basis"] = [f"Choose one of {', '.join(RightsClaim.Basis.values)}."]
    if len(statement) < 20:
        errors["statement"] = ["Say what you hold rights in and why (at least 20 characters)."]
    size = getattr(evidence, "size", None)
    if size is not None and size > settings.EVIDENCE_MAX_BYTES:
        errors["evidence"] = [
            f"Evidence is at most {settings.EVIDENCE_MAX_BYTES // (1024 * 1024)} MB."
        ]
    if errors:
        raise InvalidInput(next(iter(errors.values()))[0], errors=errors)
    version = (
        dataset.versions.filter(status=DatasetVersion.Status.APPROVED).order_by("-number").first()
    )
    if version is None:
        raise NotFound("No listed dataset has this address.")
    stored = {}
    if evidence is not None:
        inspector = FileInspector()
        name = getattr(evidence, "name", "") or "evidence"
        extension = re.sub(r"[^a-z0-9.]", "", os.path.splitext(name)[1].lower())[:10]
        blob = f"{slugify(os.path.splitext(name)[0])[:60] or 'evidence'}{extension}"
        storage_name = default_storage.save(
            f"claims/{dataset.pk}/{blob}",
            File(storage.TeeReader(evidence, inspector.update), name=blob),
        )
        facts = inspector.finish()
        if not facts.size_bytes:
            storage.delete_blob(storage_name)
            raise InvalidInput(
                "The evidence file is empty.", errors={"evidence": ["The file is empty."]}
            )
        stored = {
            "evidence_name": name[:200],
            "evidence_storage_name": storage_name,
            "evidence_size_bytes": facts.size_bytes,
            "evidence_sha256": facts.sha256,
            "evidence_media_type": facts.media_type,
        }
    try:
        with transaction.atomic():
            claim = RightsClaim(
                dataset=dataset,
                version=version,
                claimant_name=claimant_name[:200],
                claimant_email=claimant_email,
                claimant_organization=(claimant_organization or "").strip()[:200],
                basis=basis,
                statement=statement,
                created_at=now,
                **stored,
            )
            claim.full_clean()
            claim.save(force_insert=True)
            record_event(
                action="claim.filed",
                subject_type="rights_claim",
                subject_id=claim.pk,
                organization=dataset.organization,
                payload={
                    "dataset": dataset.pk,
                    "version": version.pk,
                    "basis": basis,
                    "evidence_sha256": claim.evidence_sha256,
                },
                now=now,
            )
            text = f"A rights claim ({claim.get_basis_display().lower()}) was filed on {dataset.title}."
            notify_reviewers(verb="claim.filed", text=text, link=_claim_link(claim), now=now)
            notify_organization(
                organization=dataset.organization,
                verb="claim.filed",
                text=text + " You can answer it with a counter-statement.",
                link=_creator_link(claim),
                now=now,
            )
    except Exception:
        if stored:
            storage.delete_blob(stored["evidence_storage_name"])
        raise
    return claim


def _lock_claim(claim: RightsClaim) -> RightsClaim:
    return (
        RightsClaim.objects.select_for_update(of=("self",))
        .select_related("dataset__organization")
        .get(pk=claim.pk)
    )


def _require_staff(actor: User) -> None:
    if not actor.is_staff:
        raise NotFound("No such claim.")


def _clean_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("Give a reason.", errors={"reason": ["This field is required."]})
    return reason


def _resolve_open_claim(
    claim: RightsClaim, *, status: str, action: str, actor: User, reason: str, now: datetime
) -> RightsClaim:
    """Lock an open claim, record how it was resolved and write the ledger entry `action`.

    Runs inside the caller's transaction. Raises Conflict when the claim is no longer open.
    """
    claim = _lock_claim(claim)
    if not claim.is_open:
        raise Conflict(f"This claim is {claim.get_status_display().lower()} already.")
    claim.status = status
    claim.resolution_reason = reason
    claim.resolved_by = actor
    claim.resolved_at = now
    claim.save(update_fields=["status", "resolution_reason", "resolved_by", "resolved_at"])
    record_event(
        action=action,
        subject_type="rights_claim",
        subject_id=claim.pk,
        actor=actor,
        organization=claim.dataset.organization,
        payload={"dataset": claim.dataset_id, "reason": reason},
        now=now,
    )
    return claim


def dismiss_claim(
    *, actor: User, claim: RightsClaim, reason: str, now: datetime | None = None
) -> RightsClaim:
    """Dismiss an open claim, with a reason. Staff only.

    Raises Conflict when the claim is no longer open. Writes `claim.dismissed`; notifies the
    creator organization.
    """
    now = now or timezone.now()
    _require_staff(actor)
    reason = _clean_reason(reason)
    with transaction.atomic():
        claim = _resolve_open_claim(
            claim,
            status=RightsClaim.Status.DISMISSED,
            action="claim.dismissed",
            actor=actor,
            reason=reason,
            now=now,
        )
        notify_organization(
            organization=claim.dataset.organization,
            verb="claim.dismissed",
            text=f"The rights claim on {claim.dataset.title} was dismissed: {reason}",
            link=_creator_link(claim),
            now=now,
        )
    return claim


def withdraw_claim(
    *, actor: User, claim: RightsClaim, reason: str, now: datetime | None = None
) -> RightsClaim:
    """Record that the claimant withdrew an open claim (they asked us by email). Staff only.

    Raises Conflict when the claim is no longer open. Writes `claim.withdrawn`.
    """
    now = now or timezone.now()
    _require_staff(actor)
    reason = _clean_reason(reason)
    with transaction.atomic():
        claim = _resolve_open_claim(
            claim,
            status=RightsClaim.Status.WITHDRAWN,
            action="claim.withdrawn",
            actor=actor,
            reason=reason,
            now=now,
        )
        notify_organization(
            organization=claim.dataset.organization,
            verb="claim.withdrawn",
            text=f"The rights claim on {claim.dataset.title} was withdrawn.",
            link=_creator_link(claim),
            now=now,
        )
    return claim


def uphold_claim(
    *, actor: User, claim: RightsClaim, reason: str, now: datetime | None = None
) -> RightsClaim:
    """Uphold an open claim: the dataset's approved versions are suspended. Staff only.

    Raises Conflict when the claim is no longer open. Writes `claim.upheld` and
    `dataset.suspended`, notifies the creator organization and sends
    `signals.dataset_suspended` (listing hidden, licenses flagged, buyers notified).
    """
    now = now or timezone.now()
    _require_staff(actor)
    reason = _clean_reason(reason)
    with transaction.atomic():
        claim = _resolve_open_claim(
            claim,
            status=RightsClaim.Status.UPHELD,
            action="claim.upheld",
            actor=actor,
            reason=reason,
            now=now,
        )
        dataset = claim.dataset
        suspended = list(
            DatasetVersion.objects.select_for_update()
            .filter(dataset=dataset, status=DatasetVersion.Status.APPROVED)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        DatasetVersion.objects.filter(pk__in=suspended).update(
            status=DatasetVersion.Status.SUSPENDED
        )
        record_event(
            action="dataset.suspended",
            subject_type="dataset",
            subject_id=dataset.pk,
            actor=actor,
            organization=dataset.organization,
            payload={"claim": claim.pk, "versions": suspended, "reason": reason},
            now=now,
        )
        notify_organization(
            organization=dataset.organization,
            verb="claim.upheld",
            text=f"A rights claim on {dataset.title} was upheld and the dataset is suspended: "
            f"{reason}",
            link=_creator_link(claim),
            now=now,
        )
        signals.dataset_suspended.send(
            sender=Dataset, dataset=dataset, claim=claim, actor=actor, reason=reason, now=now
        )
    return claim


def submit_counter_statement(
    *,
    actor: User,
    organization: Organization,
    claim: RightsClaim,
    statement: str,
    now: datetime | None = None,
) -> RightsClaim:
    """The creator's answer to an open or upheld claim on one of its datasets.

    Raises NotFound for another organization's claim, Conflict for a closed or reinstated one
    or a second counter-statement, InvalidInput for a short statement. Writes
    `claim.counter_statement` and notifies the reviewers.
    """
    now = now or timezone.now()
    statement = (statement or "").strip()
    if len(statement) < 20:
        raise InvalidInput(
            "Explain why the claim is mistaken (at least 20 characters).",
            errors={"statement": ["At least 20 characters."]},
        )
    with transaction.atomic():
        claim = _lock_claim(claim)
        if claim.dataset.organization_id != organization.pk:
            raise NotFound("No such claim.")
        if not (claim.is_open or claim.is_in_force):
            raise Conflict("This claim is closed: there is nothing to answer.")
        if claim.counter_statement:
            raise Conflict("A counter-statement was filed already.")
        claim.counter_statement = statement
        claim.counter_statement_by = actor
        claim.counter_statement_at = now
        claim.save(
            update_fields=["counter_statement", "counter_statement_by", "counter_statement_at"]
        )
        record_event(
            action="claim.counter_statement",
            subject_type="rights_claim",
            subject_id=claim.pk,
            actor=actor,
            organization=organization,
            payload={"dataset": claim.dataset_id, "statement": statement},
            now=now,
        )
        notify_reviewers(
            verb="claim.counter_statement",
            text=f"{organization.name} answered the rights claim on {claim.dataset.title}.",
            link=_claim_link(claim),
            now=now,
        )
    return claim


def reinstate_dataset(
    *, actor: User, claim: RightsClaim, reason: str, now: datetime | None = None
) -> RightsClaim:
    """Lift an upheld claim and, when no other claim holds, restore the dataset. Staff only.

    Raises Conflict unless the claim is upheld and not yet reinstated. Writes
    `claim.reinstated` and, when the dataset comes back, `dataset.reinstated` and sends
    `signals.dataset_reinstated` (listing shown, license flags cleared, buyers told).
    """
    now = now or timezone.now()
    _require_staff(actor)
    reason = _clean_reason(reason)
    with transaction.atomic():
        claim = _lock_claim(claim)
        if not claim.is_in_force:
            raise Conflict("Only an upheld claim that still holds can be lifted.")
        dataset = claim.dataset
        claim.reinstated_at = now
        claim.reinstated_by = actor
        claim.reinstatement_reason = reason
        claim.save(update_fields=["reinstated_at", "reinstated_by", "reinstatement_reason"])
        record_event(
            action="claim.reinstated",
            subject_type="rights_claim",
            subject_id=claim.pk,
            actor=actor,
            organization=dataset.organization,
            payload={"dataset": dataset.pk, "reason": reason},
            now=now,
        )
        still_held = (
            RightsClaim.objects.filter(
                dataset=dataset, status=RightsClaim.Status.UPHELD, reinstated_at__isnull=True
            )
            .exclude(pk=claim.pk)
            .exists()
        )
        if still_held:
            return claim
        restored = list(
            DatasetVersion.objects.select_for_update()
            .filter(dataset=dataset, status=DatasetVersion.Status.SUSPENDED)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        DatasetVersion.objects.filter(pk__in=restored).update(status=DatasetVersion.Status.APPROVED)
        record_event(
            action="dataset.reinstated",
            subject_type="dataset",
            subject_id=dataset.pk,
            actor=actor,
            organization=dataset.organization,
            payload={"claim": claim.pk, "versions": restored, "reason": reason},
            now=now,
        )
        notify_organization(
            organization=dataset.organization,
            verb="dataset.reinstated",
            text=f"{dataset.title} is reinstated and listed again: {reason}",
            link=_creator_link(claim),
            now=now,
        )
        signals.dataset_reinstated.send(
            sender=Dataset, dataset=dataset, claim=claim, actor=actor, reason=reason, now=now
        )
    return claim
