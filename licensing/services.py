"""Use cases of licensing: terms and list-price license options."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts.errors import InvalidInput, NotFound
from accounts.models import Organization, User
from licensing.models import LicenseOption, LicenseTemplate, PriceModel, Use
from licensing.money import SUPPORTED_CURRENCIES
from provenance.models import Dataset
from provenance.services import record_event

_ISO_COUNTRY_LENGTH = 2


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
    for name in ("term_days", "model_cap", "seat_cap"):
        value = cleaned.get(name)
        if value in ("", None):
            cleaned[name] = None
        elif not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            errors[name] = ["Must be a positive whole number, or empty for none."]
    price = cleaned.get("price_minor")
    if not isinstance(price, int) or isinstance(price, bool) or price < 0:
        errors["price_minor"] = [
            "The price must be a whole number of minor units (cents), zero or more."
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
