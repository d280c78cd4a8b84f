"""Use cases of licensing: terms, list-price license options, offers and agreements, licenses
and their deliveries."""

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from accounts.models import Event, Membership, Organization, User
from accounts.selectors import membership_in
from accounts.services import emit_event, notify_organization, notify_organizations
from licensing import fingerprint
from licensing.models import (
    Agreement,
    Certificate,
    Delivery,
    Download,
    License,
    LicenseOption,
    LicenseTemplate,
    Offer,
    PriceModel,
    Proposal,
    Side,
    Use,
)
from licensing.money import SUPPORTED_CURRENCIES
from licensing.selectors import exclusive_agreement_on
from licensing.signals import license_options_changed, negotiation_hold_check
from provenance import storage
from provenance.models import DataFile, Dataset, DatasetVersion, canonical_json
from provenance.services import record_event
from provenance.signing import sign_payload, verify_envelope

logger = logging.getLogger(__name__)

_ISO_COUNTRY_LENGTH = 2
# Upper bounds of the structured terms: a term ends before dates run out (a century), and caps
# and prices stay far inside the database's integer columns.
MAX_TERM_DAYS = 36_525
MAX_CAP = 10**6
MAX_PRICE_MINOR = 10**15


def clean_terms(terms: dict) -> dict:
    """Check and normalize structured terms; raises InvalidInput naming every bad field."""
    errors: dict[str, list[str]] = {}
    cleaned = dict(terms)
    uses = cleaned.get("permitted_uses") or []
    unknown = [use for use in uses if use not in Use.values]
    if not uses:
        errors["permitted_uses"] = ["Choose at least one permitted use."]
    elif unknown:
        errors["permitted_uses"] = [
            f"Unknown use {use!r}; choose from {', '.join(Use.values)}." for use in unknown
        ]
    cleaned["permitted_uses"] = sorted(set(uses))
    territories = [str(t).strip() for t in cleaned.get("territories") or ["worldwide"]]
    territories = ["worldwide" if t.lower() == "worldwide" else t.upper() for t in territories if t]
    bad = [
        t
        for t in territories
        if t != "worldwide" and (len(t) != _ISO_COUNTRY_LENGTH or not t.isalpha())
    ]
    if bad:
        errors["territories"] = [f"{t!r} is not an ISO 3166-1 alpha-2 country code." for t in bad]
    cleaned["territories"] = (
        ["worldwide"] if "worldwide" in territories or not territories else sorted(set(territories))
    )
    for name, most in (("term_days", MAX_TERM_DAYS), ("model_cap", MAX_CAP), ("seat_cap", MAX_CAP)):
        value = cleaned.get(name)
        if value in ("", None):
            cleaned[name] = None
        elif not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= most:
            errors[name] = [f"Must be a whole number from 1 to {most}, or empty for none."]
    price = cleaned.get("price_minor")
    if not isinstance(price, int) or isinstance(price, bool) or not 0 <= price <= MAX_PRICE_MINOR:
        errors["price_minor"] = [
            f"The price must be a whole number of minor units (cents), from 0 to {MAX_PRICE_MINOR}."
        ]
    if cleaned.get("currency") not in SUPPORTED_CURRENCIES:
        errors["currency"] = [f"Choose one of {', '.join(SUPPORTED_CURRENCIES)}."]
    if cleaned.get("price_model", PriceModel.FLAT) not in PriceModel.values:
        errors["price_model"] = [f"Choose one of {', '.join(PriceModel.values)}."]
    cleaned.setdefault("price_model", PriceModel.FLAT)
    for flag in ("commercial_use", "is_exclusive", "attribution_required"):
        cleaned[flag] = bool(cleaned.get(flag, False))
    if errors:
        first_field, first_messages = next(iter(errors.items()))
        raise InvalidInput(f"{first_field.replace('_', ' ')}: {first_messages[0]}", errors=errors)
    return {name: cleaned[name] for name in LicenseOption.TERM_FIELDS}


def templates_for(*, organization: Organization | None) -> list[LicenseTemplate]:
    return list(
        LicenseTemplate.objects.filter(organization__isnull=True)
        | LicenseTemplate.objects.filter(organization=organization)
    )


def add_license_option(
    *,
    actor: User,
    organization: Organization,
    dataset: Dataset,
    name: str,
    terms: dict,
    template: LicenseTemplate | None = None,
    now: datetime | None = None,
) -> LicenseOption:
    """Offer the dataset under `terms` at list price. The dataset's own organization only.

    Raises NotFound for another organization's dataset, InvalidInput for bad terms.
    Writes `license_option.added`.
    """
    now = now or timezone.now()
    if dataset.organization_id != organization.pk:
        raise NotFound("No such dataset.")
    name = name.strip() or (template.name if template else "")
    if not name:
        raise InvalidInput("Name the license option.", errors={"name": ["This field is required."]})
    cleaned = clean_terms(terms)
    with transaction.atomic():
        option = LicenseOption.objects.create(
            dataset=dataset, template=template, name=name, created_at=now, **cleaned
        )
        record_event(
            action="license_option.added",
            subject_type="dataset",
            subject_id=dataset.pk,
            actor=actor,
            organization=organization,
            payload={"option": option.pk, "name": name, "terms_hash": option.terms_hash()},
            now=now,
        )
    return option


# --- Creators' license options: change and withdraw -------------------------------------


def options_of_dataset(*, dataset: Dataset) -> list[LicenseOption]:
    """Every option of a dataset, active ones first, cheapest first."""
    return list(
        LicenseOption.objects.filter(dataset=dataset)
        .select_related("template")
        .order_by("-is_active", "price_minor", "id")
    )


def update_license_option(
    *,
    actor: User,
    organization: Organization,
    option: LicenseOption,
    name: str,
    terms: dict,
    now: datetime | None = None,
) -> LicenseOption:
    """Change an option's name, terms and price. Licenses already sold keep their frozen terms.

    Raises NotFound for another organization's option, InvalidInput for bad terms.
    Writes `license_option.changed` with the new terms hash.
    """
    now = now or timezone.now()
    name = name.strip()
    if not name:
        raise InvalidInput("Name the license option.", errors={"name": ["This field is required."]})
    cleaned = clean_terms(terms)
    with transaction.atomic():
        option = (
            LicenseOption.objects.select_for_update()
            .select_related("dataset")
            .filter(pk=option.pk, dataset__organization=organization)
            .first()
        )
        if option is None:
            raise NotFound("No such license option.")
        before = (option.terms_hash(), option.name)
        for field, value in cleaned.items():
            setattr(option, field, value)
        option.save(update_fields=list(cleaned))
        option.name = name
        option.save(update_fields=["name"])
        if (option.terms_hash(), option.name) != before:
            record_event(
                action="license_option.changed",
                subject_type="dataset",
                subject_id=option.dataset_id,
                actor=actor,
                organization=organization,
                payload={"option": option.pk, "name": name, "terms_hash": option.terms_hash()},
                now=now,
            )
    return option


def set_license_option_active(
    *,
    actor: User,
    organization: Organization,
    option: LicenseOption,
    is_active: bool,
    now: datetime | None = None,
) -> LicenseOption:
    """Withdraw an option from sale, or offer it again. Raises NotFound for another's option.

    Writes `license_option.withdrawn` or `license_option.restored`.
    """
    now = now or timezone.now()
    with transaction.atomic():
        updated = LicenseOption.objects.filter(
            pk=option.pk, dataset__organization=organization
        ).exclude(is_active=is_active)
        if not LicenseOption.objects.filter(
            pk=option.pk, dataset__organization=organization
        ).exists():
            raise NotFound("No such license option.")
        if updated.update(is_active=is_active):
            license_options_changed.send(
                sender=LicenseOption, dataset_ids=[option.dataset_id], now=now
            )
            record_event(
                action="license_option.restored" if is_active else "license_option.withdrawn",
                subject_type="dataset",
                subject_id=option.dataset_id,
                actor=actor,
                organization=organization,
                payload={"option": option.pk},
                now=now,
            )
    return LicenseOption.objects.get(pk=option.pk)


# --- Licenses: grant, status changes, certificates, deliveries ---------------------------


def _license_event(license: License, *, action: str, actor, now, payload=None) -> None:
    record_event(
        action=action,
        subject_type="license",
        subject_id=license.pk,
        actor=actor,
        organization=license.organization,
        payload={"status": license.status, **(payload or {})},
        now=now,
    )


def grant_license(
    *,
    organization: Organization,
    version: DatasetVersion,
    terms: dict,
    source: str,
    actor: User | None = None,
    now: datetime | None = None,
) -> License:
    """Grant `organization` a license to `version` under frozen `terms`.

    `source` names what grants it (`order:ord_...`); granting twice for one source returns the
    first license (a unique constraint is the last line of defence). Writes `license.granted`
    to the ledger and emits the `license.granted` event.
    """
    now = now or timezone.now()
    with transaction.atomic():
        existing = License.objects.filter(source=source).first()
        if existing is not None:
            return existing
        # An agreement's frozen document nests the terms under "terms"; list options don't.
        term_days = terms.get("term_days", (terms.get("terms") or {}).get("term_days"))
        license = License(
            organization=organization,
            version=version,
            terms=terms,
            terms_sha256=hashlib.sha256(canonical_json(terms)).hexdigest(),
            source=source,
            starts_at=now,
            ends_at=now + timedelta(days=term_days) if term_days else None,
            created_at=now,
            status_changed_at=now,
        )
        license.full_clean()
        license.save(force_insert=True)
        _license_event(
            license,
            action="license.granted",
            actor=actor,
            now=now,
            payload={
                "version": version.pk,
                "terms_sha256": license.terms_sha256,
                "source": source,
            },
        )
        emit_event(
            organization=organization,
            type=Event.Type.LICENSE_GRANTED,
            data={"license": license.pk, "version": version.pk, "status": license.status},
            now=now,
        )
    return license


# Which statuses each status may move to.
LICENSE_TRANSITIONS = {
    License.Status.ACTIVE: {
        License.Status.SUSPENDED,
        License.Status.REVOKED,
        License.Status.EXPIRED,
    },
    License.Status.SUSPENDED: {
        License.Status.ACTIVE,
        License.Status.REVOKED,
        License.Status.EXPIRED,
    },
    License.Status.EXPIRED: {License.Status.REVOKED},
    License.Status.REVOKED: set(),
}
_STATUS_EVENTS = {
    License.Status.SUSPENDED: Event.Type.LICENSE_SUSPENDED,
    License.Status.REVOKED: Event.Type.LICENSE_REVOKED,
}


def change_license_status(
    *,
    license: License,
    status: str,
    reason: str,
    actor: User | None = None,
    now: datetime | None = None,
) -> License:
    """Move a license to `status` (suspend, reinstate, revoke, expire), with a reason.

    A license already in `status` is returned unchanged, so repeated triggers are harmless.
    Raises Conflict for a move the table forbids (a revoked license never comes back).
    Writes `license.<status>` to the ledger and emits suspended/revoked events.
    """
    now = now or timezone.now()
    with transaction.atomic():
        license = License.objects.select_for_update().get(pk=license.pk)
        if license.status == status:
            return license
        if status not in LICENSE_TRANSITIONS[License.Status(license.status)]:
            raise Conflict(f"A {license.status} license cannot become {status}.")
        before = license.status
        license.status = status
        license.status_reason = reason[:300]
        license.status_changed_at = now
        license.save(update_fields=["status", "status_reason", "status_changed_at"])
        action = "license.reinstated" if status == License.Status.ACTIVE else f"license.{status}"
        _license_event(
            license, action=action, actor=actor, now=now, payload={"from": before, "reason": reason}
        )
        if status in _STATUS_EVENTS:
            emit_event(
                organization=license.organization,
                type=_STATUS_EVENTS[status],
                data={"license": license.pk, "status": status, "reason": reason},
                now=now,
            )
    return license


def flag_licenses_of_dataset(
    *,
    dataset: Dataset,
    claim_id: str,
    reason: str,
    actor: User | None = None,
    now: datetime | None = None,
) -> list[License]:
    """Flag every license on any version of the dataset: an upheld rights claim disputes it.

    The license keeps its status (the buyer's terms stand while the dispute is settled); the
    flag tells the buyer to hold off. Writes `license.flagged` per license, emits
    `claim.upheld` to each buyer organization and notifies its members.
    """
    now = now or timezone.now()
    flagged = []
    with transaction.atomic():
        licenses = list(
            License.objects.select_for_update()
            .filter(version__dataset=dataset, flagged_at__isnull=True)
            .exclude(status=License.Status.REVOKED)
            .select_related("organization")
            .order_by("pk")
        )
        text = (
            f"A rights claim on {dataset.title} was upheld: your license is flagged. "
            f"Hold off using the data until it is resolved. {reason}"
        )
        for license in licenses:
            license.flagged_at = now
            license.flag_reason = text[:500]
            license.save(update_fields=["flagged_at", "flag_reason"])
            _license_event(
                license,
                action="license.flagged",
                actor=actor,
                now=now,
                payload={"claim": claim_id, "reason": reason},
            )
            emit_event(
                organization=license.organization,
                type=Event.Type.CLAIM_UPHELD,
                data={"license": license.pk, "dataset": dataset.pk, "claim": claim_id},
                now=now,
            )
            notify_organization(
                organization=license.organization,
                verb="license.flagged",
                text=text,
                link=reverse("library:home"),
                now=now,
            )
            flagged.append(license)
    return flagged


def clear_license_flags(
    *,
    dataset: Dataset,
    claim_id: str,
    reason: str,
    actor: User | None = None,
    now: datetime | None = None,
) -> list[License]:
    """Clear the flags on the dataset's licenses (it was reinstated). Writes `license.unflagged`
    per license and notifies each buyer organization."""
    now = now or timezone.now()
    cleared = []
    with transaction.atomic():
        licenses = list(
            License.objects.select_for_update()
            .filter(version__dataset=dataset, flagged_at__isnull=False)
            .select_related("organization")
            .order_by("pk")
        )
        for license in licenses:
            license.flagged_at = None
            license.flag_reason = ""
            license.save(update_fields=["flagged_at", "flag_reason"])
            _license_event(
                license,
                action="license.unflagged",
                actor=actor,
                now=now,
                payload={"claim": claim_id, "reason": reason},
            )
            notify_organization(
                organization=license.organization,
                verb="license.unflagged",
                text=f"{dataset.title} was reinstated: the flag on your license is lifted.",
                link=reverse("library:home"),
                now=now,
            )
            cleared.append(license)
    return cleared


def expire_licenses(*, now: datetime | None = None) -> int:
    """Expire every active or suspended license whose term has ended. Returns how many."""
    now = now or timezone.now()
    due = License.objects.filter(
        status__in=[License.Status.ACTIVE, License.Status.SUSPENDED], ends_at__lte=now
    ).values_list("pk", flat=True)
    count = 0
    for license_id in list(due):
        license = License.objects.get(pk=license_id)
        if license.is_expired(now) and license.status != License.Status.EXPIRED:
            change_license_status(
                license=license, status=License.Status.EXPIRED, reason="The term ended.", now=now
            )
            count += 1
    return count


EXPIRY_NOTICE_DAYS = 30


def warn_expiring_licenses(*, now: datetime | None = None) -> int:
    """Tell each licensee, once, that an active license ends within EXPIRY_NOTICE_DAYS.

    Emits `license.expiring` (`license`, `ends_at`, `days_left`) and notifies the licensee's
    members. Each license is claimed by a conditional update, so overlapping or repeated runs
    tell it once. Returns how many licenses were told.
    """
    now = now or timezone.now()
    due = License.objects.filter(
        status=License.Status.ACTIVE,
        expiry_notified_at__isnull=True,
        ends_at__gt=now,
        ends_at__lte=now + timedelta(days=EXPIRY_NOTICE_DAYS),
    ).values_list("pk", flat=True)
    told = 0
    for license_id in list(due):
        with transaction.atomic():
            claimed = License.objects.filter(
                pk=license_id, status=License.Status.ACTIVE, expiry_notified_at__isnull=True
            ).update(expiry_notified_at=now)
            if not claimed:
                continue
            license = License.objects.select_related("organization", "version__dataset").get(
                pk=license_id
            )
            days_left = (license.ends_at - now).days
            emit_event(
                organization=license.organization,
                type=Event.Type.LICENSE_EXPIRING,
                data={
                    "license": license.pk,
                    "ends_at": license.ends_at.isoformat(),
                    "days_left": days_left,
                },
                now=now,
            )
            notify_organization(
                organization=license.organization,
                verb="license.expiring",
                text=f"Your license {license.pk} to {license.version.dataset.title} ends on "
                f"{license.ends_at.date().isoformat()}, in {days_left} days.",
                link=f"/library/licenses/{license.pk}/",
                now=now,
            )
        told += 1
    return told


def certificate_payload(license: License) -> dict:
    version = license.version
    dataset = version.dataset
    return {
        "type": "wellspring.license-certificate",
        "format_version": 1,
        "license_id": license.pk,
        "issuer": settings.PLATFORM_NAME,
        "licensee": {"organization": license.organization.slug, "name": license.organization.name},
        "licensor": {"organization": dataset.organization.slug, "name": dataset.organization.name},
        "dataset": {"slug": dataset.slug, "title": dataset.title},
        "dataset_version": {
            "id": version.pk,
            "number": version.number,
            "merkle_root": version.merkle_root,
        },
        "terms": license.terms,
        "terms_sha256": license.terms_sha256,
        "issued_at": license.starts_at.isoformat(),
        "starts_at": license.starts_at.isoformat(),
        "expires_at": license.ends_at.isoformat() if license.ends_at else None,
    }


def issue_certificate(*, license: License, now: datetime | None = None) -> Certificate:
    """Sign the license's certificate; a license has one, so issuing twice returns it.

    Writes `license.certificate_issued` to the ledger.
    """
    now = now or timezone.now()
    with transaction.atomic():
        license = (
            License.objects.select_for_update()
            .select_related("organization", "version__dataset__organization")
            .get(pk=license.pk)
        )
        existing = Certificate.objects.filter(license=license).first()
        if existing is not None:
            return existing
        certificate = Certificate.objects.create(
            license=license, envelope=sign_payload(certificate_payload(license)), issued_at=now
        )
        _license_event(
            license,
            action="license.certificate_issued",
            actor=None,
            now=now,
            payload={"certificate": certificate.pk},
        )
    return certificate


@dataclass(frozen=True)
class CertificateCheck:
    """What a verifier learns: is the signature genuine, and is the license still active."""

    signature_valid: bool
    license_id: str | None
    license_status: str | None
    is_active: bool
    message: str


def verify_certificate(
    *, envelope: dict | None = None, license_id: str | None = None, now: datetime | None = None
) -> CertificateCheck:
    """Check a certificate envelope (or the certificate of a license id) against the platform key
    and the license's current status. Reads only; never raises for bad input.
    """
    now = now or timezone.now()
    if envelope is None and license_id:
        certificate = Certificate.objects.filter(license_id=license_id).first()
        envelope = certificate.envelope if certificate else None
        if envelope is None:
            return CertificateCheck(False, None, None, False, "No certificate for that license.")
    if not isinstance(envelope, dict) or not isinstance(envelope.get("payload"), dict):
        return CertificateCheck(False, None, None, False, "That is not a certificate envelope.")
    if not verify_envelope(envelope):
        return CertificateCheck(
            False, None, None, False, "The signature is not valid: this certificate is not genuine."
        )
    license_id = str(envelope["payload"].get("license_id") or "")
    license = License.objects.filter(pk=license_id).first()
    if license is None:
        return CertificateCheck(True, license_id, None, False, "Genuine, but no such license.")
    if license.status == License.Status.ACTIVE and license.is_expired(now):
        status = License.Status.EXPIRED.value
    else:
        status = license.status
    is_active = status == License.Status.ACTIVE
    message = (
        "Valid and active."
        if is_active
        else f"The signature is valid, but the license is {status}."
    )
    return CertificateCheck(True, license_id, status, is_active, message)


def build_deliveries(*, license: License, now: datetime | None = None) -> list[Delivery]:
    """Fingerprint every file of the licensed version for this license and record each
    delivered file's SHA-256 and size. Files already delivered are skipped, so a rerun after a
    crash finishes the job without duplicates.
    """
    now = now or timezone.now()
    done = set(Delivery.objects.filter(license=license).values_list("data_file_id", flat=True))
    opener = storage.stream_opener()
    for data_file in DataFile.objects.filter(version_id=license.version_id).order_by("path", "pk"):
        if data_file.pk in done:
            continue
        method = fingerprint.method_for(path=data_file.path, media_type=data_file.media_type)
        with opener(data_file.storage_name) as stream:
            sha256, size = fingerprint.digest(method, license.pk, _chunks(stream))
        try:
            with transaction.atomic():
                Delivery.objects.create(
                    license=license,
                    data_file=data_file,
                    fingerprint_method=method,
                    sha256=sha256,
                    size_bytes=size,
                    created_at=now,
                )
        except IntegrityError:
            pass  # a concurrent run delivered it first
    deliveries = list(Delivery.objects.filter(license=license).select_related("data_file"))
    # Every file delivered: sign the manifest of the bytes as delivered (licensing.manifests).
    from licensing.tasks import build_license_manifest_task

    transaction.on_commit(partial(build_license_manifest_task.delay, license_id=license.pk))
    return deliveries


def _chunks(stream, size: int = 1024 * 1024):
    while True:
        chunk = stream.read(size)
        if not chunk:
            return
        yield chunk


def record_download(
    *,
    license: License,
    delivery: Delivery | None,
    user: User | None,
    path: str,
    bytes_sent: int,
    byte_range: str = "",
    now: datetime | None = None,
) -> Download:
    """Log one download (file or archive) for the buyer's and the creator's audit views."""
    return Download.objects.create(
        license=license,
        delivery=delivery,
        kind=Download.Kind.FILE if delivery else Download.Kind.ARCHIVE,
        user=user if user is not None and user.is_authenticated else None,
        path=path[:1024],
        bytes_sent=bytes_sent,
        byte_range=byte_range[:64],
        created_at=now or timezone.now(),
    )


# --- Negotiation: offers, counters, acceptance ------------------------------------------

OFFER_LIFETIME = timedelta(days=14)
_ACTING_ROLES = (Membership.Role.OWNER, Membership.Role.MEMBER)
EXCLUSIVELY_LICENSED = "The dataset was licensed exclusively to another organization."


def _require_negotiator(*, actor: User, organization: Organization) -> None:
    membership = membership_in(organization=organization, user=actor)
    if membership is None or membership.role not in _ACTING_ROLES:
        raise PermissionDenied("Only owners and members of the organization can negotiate.")


def _refuse_if_exclusively_licensed(
    *, dataset: Dataset, now: datetime, is_exclusive: bool = False
) -> None:
    """Refuse terms on a dataset that someone holds exclusively (an agreement here, an order or
    a list-price license in the marketplace), and exclusive terms while anyone else holds or
    is buying a license. The caller holds the dataset's row lock, as checkout does."""
    if exclusive_agreement_on(dataset=dataset, now=now) is not None:
        raise Conflict(
            "This dataset is licensed exclusively; it takes no offers while that runs.",
            code="exclusively_licensed",
        )
    for _receiver, refusal in negotiation_hold_check.send(
        sender=Offer, dataset=dataset, is_exclusive=is_exclusive, now=now
    ):
        if refusal is not None:
            raise refusal


def _locked_offer(*, offer: Offer, organization: Organization) -> tuple[Offer, str]:
    """The offer row locked, and the side `organization` is on. NotFound for third parties."""
    locked = Offer.objects.select_for_update().filter(pk=offer.pk).first()
    side = locked.side_of(organization) if locked else None
    if side is None:
        raise NotFound("No such offer.")
    return locked, side


def _refuse_unless_open(offer: Offer, now: datetime) -> None:
    if offer.status != Offer.Status.OPEN:
        raise Conflict(f"This offer is {offer.get_status_display().lower()}.", code="offer_closed")
    if offer.expires_at <= now:
        raise Conflict("This offer has expired.", code="offer_expired")


def open_offer(
    *,
    actor: User,
    organization: Organization,
    dataset: Dataset,
    terms: dict,
    message: str = "",
    now: datetime | None = None,
) -> Offer:
    """A buyer organization proposes terms for a listed dataset; the creator answers next.

    Raises PermissionDenied for non-buyers, InvalidInput for bad terms or one's own dataset,
    NotFound for an unlisted dataset, Conflict while the dataset is licensed exclusively.
    """
    now = now or timezone.now()
    _require_negotiator(actor=actor, organization=organization)
    if not organization.is_buyer:
        raise PermissionDenied("Only buyer organizations can make offers.")
    if dataset.organization_id == organization.pk:
        raise InvalidInput("You cannot make an offer on your own dataset.")
    cleaned = clean_terms(terms)
    with transaction.atomic():
        locked = Dataset.objects.select_for_update().filter(pk=dataset.pk).first()
        if (
            locked is None
            or not locked.versions.filter(status=DatasetVersion.Status.APPROVED).exists()
        ):
            raise NotFound("No such dataset in the catalog.")
        _refuse_if_exclusively_licensed(
            dataset=locked, now=now, is_exclusive=cleaned["is_exclusive"]
        )
        offer = Offer.objects.create(
            dataset=locked,
            buyer_org=organization,
            creator_org_id=locked.organization_id,
            expires_at=now + OFFER_LIFETIME,
            created_by=actor,
            created_at=now,
            updated_at=now,
        )
        Proposal.objects.create(
            offer=offer,
            number=1,
            side=Side.BUYER,
            message=message.strip(),
            created_by=actor,
            created_at=now,
            **cleaned,
        )
        emit_event(
            organization=offer.creator_org,
            type="offer.created",
            data={"offer": offer.pk, "dataset": locked.slug},
            now=now,
        )
    logger.info("offer %s opened on %s by %s", offer.pk, dataset.pk, organization.pk)
    return offer


def counter_offer(
    *,
    actor: User,
    organization: Organization,
    offer: Offer,
    terms: dict,
    message: str = "",
    now: datetime | None = None,
) -> Proposal:
    """The side whose turn it is answers with changed terms; the offer's clock starts again.

    Raises NotFound for third parties, Conflict when the offer is closed, expired or waiting on
    the other side, InvalidInput for bad or unchanged terms.
    """
    now = now or timezone.now()
    _require_negotiator(actor=actor, organization=organization)
    cleaned = clean_terms(terms)
    with transaction.atomic():
        Dataset.objects.select_for_update().filter(pk=offer.dataset_id).first()
        offer, side = _locked_offer(offer=offer, organization=organization)
        _refuse_unless_open(offer, now)
        latest = offer.proposals.order_by("-number").first()
        if latest.side == side:
            raise Conflict("Wait for the other side to answer your proposal.", code="not_your_turn")
        if {name: cleaned[name] for name in Proposal.TERM_FIELDS} == latest.terms_dict():
            raise InvalidInput("Change at least one term to counter, or accept the proposal.")
        _refuse_if_exclusively_licensed(
            dataset=offer.dataset, now=now, is_exclusive=cleaned["is_exclusive"]
        )
        proposal = Proposal.objects.create(
            offer=offer,
            number=latest.number + 1,
            side=side,
            message=message.strip(),
            created_by=actor,
            created_at=now,
            **cleaned,
        )
        offer.expires_at = now + OFFER_LIFETIME
        offer.updated_at = now
        offer.save(update_fields=["expires_at", "updated_at"])
        other = offer.buyer_org if side == Side.CREATOR else offer.creator_org
        emit_event(
            organization=other,
            type="offer.countered",
            data={"offer": offer.pk, "proposal": proposal.pk},
            now=now,
        )
    return proposal


def agreement_terms(*, offer: Offer, proposal: Proposal, acceptance: dict) -> dict:
    """The canonical content an agreement freezes and hashes."""
    return {
        "offer": offer.pk,
        "proposal": proposal.pk,
        "dataset": {"id": offer.dataset_id, "slug": offer.dataset.slug},
        "licensor": {"id": offer.creator_org_id, "name": offer.creator_org.name},
        "licensee": {"id": offer.buyer_org_id, "name": offer.buyer_org.name},
        "terms": proposal.terms_dict(),
        "accepted": acceptance,
    }


def accept_offer(
    *, actor: User, organization: Organization, offer: Offer, now: datetime | None = None
) -> Agreement:
    """Accept the other side's latest proposal: the terms are frozen into an Agreement.

    The dataset row is locked first, so of concurrent acceptances of exclusive terms exactly
    one wins. An exclusive agreement withdraws the dataset's other open offers and its list
    options. Raises NotFound for third parties, Conflict when the offer is closed, expired,
    one's own proposal, or the dataset is licensed exclusively. Writes `agreement.made`.
    """
    now = now or timezone.now()
    _require_negotiator(actor=actor, organization=organization)
    with transaction.atomic():
        dataset = Dataset.objects.select_for_update().get(pk=offer.dataset_id)
        offer, side = _locked_offer(offer=offer, organization=organization)
        _refuse_unless_open(offer, now)
        proposal = offer.proposals.select_related("created_by").order_by("-number").first()
        if proposal.side == side:
            raise Conflict(
                "You made the latest proposal; the other side accepts it.", code="not_your_turn"
            )
        _refuse_if_exclusively_licensed(
            dataset=dataset, now=now, is_exclusive=proposal.is_exclusive
        )
        mine = {"user": actor.email, "at": now.isoformat()}
        theirs = {"user": proposal.created_by.email, "at": proposal.created_at.isoformat()}
        acceptance = {side: mine, proposal.side: theirs}
        terms = agreement_terms(offer=offer, proposal=proposal, acceptance=acceptance)
        by_side = {side: (actor, now), proposal.side: (proposal.created_by, proposal.created_at)}
        exclusive_until = (
            now + timedelta(days=proposal.term_days)
            if proposal.is_exclusive and proposal.term_days
            else None
        )
        agreement = Agreement(
            offer=offer,
            proposal=proposal,
            dataset=dataset,
            buyer_org_id=offer.buyer_org_id,
            creator_org_id=offer.creator_org_id,
            terms=terms,
            price_minor=proposal.price_minor,
            currency=proposal.currency,
            is_exclusive=proposal.is_exclusive,
            exclusive_until=exclusive_until,
            buyer_accepted_by=by_side[Side.BUYER][0],
            buyer_accepted_at=by_side[Side.BUYER][1],
            creator_accepted_by=by_side[Side.CREATOR][0],
            creator_accepted_at=by_side[Side.CREATOR][1],
            created_at=now,
        )
        agreement.save(force_insert=True)
        Offer.objects.filter(pk=offer.pk).update(
            status=Offer.Status.ACCEPTED, closed_at=now, updated_at=now
        )
        withdrawn_offers, withdrawn_options = [], []
        if agreement.is_exclusive:
            withdrawn_offers, withdrawn_options = take_off_market(
                dataset=dataset, except_offer=offer, now=now
            )
        entry = record_event(
            action="agreement.made",
            subject_type="agreement",
            subject_id=agreement.pk,
            actor=actor,
            organization=organization,
            payload={
                "offer": offer.pk,
                "dataset": dataset.pk,
                "terms_sha256": agreement.terms_sha256,
                "exclusive": agreement.is_exclusive,
                "withdrawn_offers": withdrawn_offers,
                "withdrawn_options": withdrawn_options,
            },
            now=now,
        )
        Agreement.objects.filter(pk=agreement.pk).update(ledger_entry=entry)
        agreement.ledger_entry = entry
        for party in (offer.buyer_org, offer.creator_org):
            emit_event(
                organization=party,
                type="offer.accepted",
                data={"offer": offer.pk, "agreement": agreement.pk},
                now=now,
            )
    offer.status = Offer.Status.ACCEPTED
    logger.info("offer %s accepted: agreement %s", offer.pk, agreement.pk)
    return agreement


def take_off_market(
    *, dataset: Dataset, now: datetime, except_offer: Offer | None = None
) -> tuple[list[str], list[str]]:
    """Close the dataset's open offers (but `except_offer`) and withdraw its list options: an
    exclusive license was agreed or sold. The buyers of those offers, and of agreements that
    were never checked out, are told. The caller holds the dataset's row lock and writes the
    ledger entry; returns the ids of the offers and options withdrawn."""
    open_offers = Offer.objects.filter(dataset=dataset, status=Offer.Status.OPEN)
    if except_offer is not None:
        open_offers = open_offers.exclude(pk=except_offer.pk)
    withdrawn = list(open_offers.select_related("buyer_org"))
    offers = [offer.pk for offer in withdrawn]
    Offer.objects.filter(pk__in=offers).update(
        status=Offer.Status.WITHDRAWN,
        closed_at=now,
        updated_at=now,
        closed_reason=EXCLUSIVELY_LICENSED,
    )
    # Agreements nobody checked out can no longer be: exclusivity is only agreed or sold while
    # no other order is live, so an agreement without a license under its terms has no order.
    agreements = Agreement.objects.filter(dataset=dataset).select_related("buyer_org")
    if except_offer is not None:
        agreements = agreements.exclude(offer=except_offer)
    licensed = set(
        License.objects.filter(version__dataset=dataset).values_list(
            "organization_id", "terms_sha256"
        )
    )
    stranded = [
        agreement
        for agreement in agreements
        if (agreement.buyer_org_id, agreement.terms_sha256) not in licensed
    ]
    notify_organizations(
        notices=[
            {
                "organization": offer.buyer_org,
                "verb": "offer.withdrawn",
                "text": f"Your offer on {dataset.title} was closed: {EXCLUSIVELY_LICENSED}",
                "link": f"/library/offers/{offer.pk}/",
            }
            for offer in withdrawn
        ]
        + [
            {
                "organization": agreement.buyer_org,
                "verb": "agreement.unavailable",
                "text": (
                    f"Your agreement {agreement.pk} on {dataset.title} can no longer be checked "
                    f"out: {EXCLUSIVELY_LICENSED}"
                ),
                "link": f"/library/offers/{agreement.offer_id}/",
            }
            for agreement in stranded
        ],
        now=now,
    )
    options = list(
        LicenseOption.objects.filter(dataset=dataset, is_active=True).values_list("pk", flat=True)
    )
    LicenseOption.objects.filter(pk__in=options).update(is_active=False)
    if options:
        license_options_changed.send(sender=LicenseOption, dataset_ids=[dataset.pk], now=now)
    return offers, options


def reject_offer(
    *,
    actor: User,
    organization: Organization,
    offer: Offer,
    reason: str = "",
    now: datetime | None = None,
) -> Offer:
    """The side whose turn it is declines the latest proposal; the thread closes."""
    now = now or timezone.now()
    _require_negotiator(actor=actor, organization=organization)
    with transaction.atomic():
        offer, side = _locked_offer(offer=offer, organization=organization)
        _refuse_unless_open(offer, now)
        latest = offer.proposals.order_by("-number").first()
        if latest.side == side:
            raise Conflict(
                "You made the latest proposal; withdraw the offer instead.", code="not_your_turn"
            )
        offer.status = Offer.Status.REJECTED
        offer.closed_at = offer.updated_at = now
        offer.closed_reason = reason.strip()[:300]
        offer.save(update_fields=["status", "closed_at", "updated_at", "closed_reason"])
        other = offer.buyer_org if side == Side.CREATOR else offer.creator_org
        emit_event(organization=other, type="offer.rejected", data={"offer": offer.pk}, now=now)
    return offer


def withdraw_offer(
    *, actor: User, organization: Organization, offer: Offer, now: datetime | None = None
) -> Offer:
    """The buyer takes its offer back while it is open."""
    now = now or timezone.now()
    _require_negotiator(actor=actor, organization=organization)
    with transaction.atomic():
        offer, side = _locked_offer(offer=offer, organization=organization)
        if side != Side.BUYER:
            raise PermissionDenied("Only the buyer can withdraw an offer; reject it instead.")
        _refuse_unless_open(offer, now)
        offer.status = Offer.Status.WITHDRAWN
        offer.closed_at = offer.updated_at = now
        offer.closed_reason = "Withdrawn by the buyer."
        offer.save(update_fields=["status", "closed_at", "updated_at", "closed_reason"])
    return offer


def expire_offers(*, now: datetime | None = None) -> int:
    """Close every open offer past its expiry. Returns how many closed (periodic task)."""
    now = now or timezone.now()
    count = Offer.objects.filter(status=Offer.Status.OPEN, expires_at__lte=now).update(
        status=Offer.Status.EXPIRED,
        closed_at=now,
        updated_at=now,
        closed_reason="No answer before the offer expired.",
    )
    if count:
        logger.info("expired %d offers", count)
    return count
