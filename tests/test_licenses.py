"""Licenses: granting once, status changes in the ledger, signed certificates, fingerprinted
deliveries that trace a leak back to its license."""

import io
from datetime import timedelta

import pytest
from django.db import IntegrityError
from django.utils import timezone
from PIL import Image

from accounts.errors import Conflict
from accounts.models import Event, Notification
from licensing import fingerprint
from licensing import services as licensing
from licensing.models import Certificate, Delivery, License
from licensing.money import split_fee
from provenance.models import LedgerEntry
from provenance.signing import verify_envelope

TERMS = {"permitted_uses": ["evaluation"], "term_days": 30, "price_minor": 10_000}


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), (200, 10, 10)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def version(make_listing):
    lines = b"".join(b'{"n": %d}\n' % n for n in range(600))
    return make_listing(
        files={"data/records.jsonl": lines, "img/a.png": png_bytes(), "blob.bin": b"\0\1\2" * 99}
    ).version


def grant(cast, version, source="order:ord_test", **kwargs):
    return licensing.grant_license(
        organization=cast.buyer_org, version=version, terms=TERMS, source=source, **kwargs
    )


def test_granting_twice_for_one_source_gives_one_license(cast, version):
    first = grant(cast, version)
    again = grant(cast, version)
    assert first.pk == again.pk
    assert License.objects.count() == 1
    assert first.pk.startswith("lic_")
    assert first.ends_at - first.starts_at == timedelta(days=30)
    assert LedgerEntry.objects.filter(action="license.granted", subject_id=first.pk).count() == 1
    assert Event.objects.filter(type="license.granted", organization=cast.buyer_org).count() == 1


def test_the_database_refuses_a_second_license_for_one_source(cast, version):
    first = grant(cast, version)
    with pytest.raises(IntegrityError):
        License.objects.create(
            organization=cast.buyer_org,
            version=version,
            terms={},
            terms_sha256="0" * 64,
            source=first.source,
            starts_at=timezone.now(),
        )


def test_status_changes_follow_the_table_and_reach_the_ledger(cast, version):
    license = grant(cast, version)
    license = licensing.change_license_status(
        license=license, status=License.Status.SUSPENDED, reason="Dispute opened."
    )
    assert license.status == "suspended"
    # The same trigger again is harmless.
    licensing.change_license_status(license=license, status="suspended", reason="again")
    license = licensing.change_license_status(license=license, status="active", reason="Won.")
    license = licensing.change_license_status(license=license, status="revoked", reason="Refund.")
    with pytest.raises(Conflict):
        licensing.change_license_status(license=license, status="active", reason="no")
    actions = list(
        LedgerEntry.objects.filter(subject_id=license.pk)
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert actions == [
        "license.granted",
        "license.suspended",
        "license.reinstated",
        "license.revoked",
    ]
    assert Event.objects.filter(type="license.revoked").count() == 1


def test_licenses_past_their_term_expire(cast, version):
    license = grant(cast, version)
    assert licensing.expire_licenses(now=timezone.now() + timedelta(days=29)) == 0
    assert licensing.expire_licenses(now=timezone.now() + timedelta(days=31)) == 1
    license.refresh_from_db()
    assert license.status == "expired"


def test_a_license_ending_within_30_days_is_announced_once_as_expiring(cast, version):
    now = timezone.now()
    soon = grant(cast, version, source="order:ord_soon", now=now - timedelta(days=5))
    later = licensing.grant_license(
        organization=cast.buyer_org,
        version=version,
        terms={**TERMS, "term_days": 365},
        source="order:ord_later",
        now=now,
    )
    perpetual = licensing.grant_license(
        organization=cast.buyer_org,
        version=version,
        terms={**TERMS, "term_days": None},
        source="order:ord_forever",
        now=now,
    )
    assert licensing.warn_expiring_licenses(now=now) == 1
    assert licensing.warn_expiring_licenses(now=now + timedelta(hours=1)) == 0
    event = Event.objects.get(type="license.expiring")
    assert event.organization == cast.buyer_org
    assert event.data == {
        "license": soon.pk,
        "ends_at": soon.ends_at.isoformat(),
        "days_left": 25,
    }
    told = Notification.objects.filter(verb="license.expiring")
    assert {note.recipient.email for note in told} == {"buyer@example.test"}
    assert soon.pk in told.get().text
    assert licensing.warn_expiring_licenses(now=later.ends_at - timedelta(days=29)) == 1
    assert not Event.objects.filter(data__license=perpetual.pk, type="license.expiring").exists()


def test_a_suspended_or_ended_license_is_not_announced_as_expiring(cast, version):
    now = timezone.now()
    suspended = grant(cast, version, source="order:ord_held", now=now - timedelta(days=5))
    licensing.change_license_status(license=suspended, status="suspended", reason="Disputed.")
    grant(cast, version, source="order:ord_over", now=now - timedelta(days=40))
    assert licensing.warn_expiring_licenses(now=now) == 0
    assert not Event.objects.filter(type="license.expiring").exists()


def test_a_certificate_is_signed_issued_once_and_verifies(cast, version):
    license = grant(cast, version)
    certificate = licensing.issue_certificate(license=license)
    assert licensing.issue_certificate(license=license).pk == certificate.pk
    assert Certificate.objects.count() == 1
    envelope = certificate.envelope
    assert set(envelope) == {"payload", "kid", "signature"}
    payload = envelope["payload"]
    assert payload["license_id"] == license.pk
    assert payload["dataset_version"]["merkle_root"] == version.merkle_root
    assert payload["terms_sha256"] == license.terms_sha256
    assert payload["licensee"]["organization"] == cast.buyer_org.slug
    assert verify_envelope(envelope)
    check = licensing.verify_certificate(envelope=envelope)
    assert (check.signature_valid, check.is_active, check.message) == (
        True,
        True,
        "Valid and active.",
    )
    licensing.change_license_status(license=license, status="revoked", reason="Refunded.")
    check = licensing.verify_certificate(license_id=license.pk)
    assert (check.signature_valid, check.is_active, check.license_status) == (
        True,
        False,
        "revoked",
    )


def test_a_tampered_certificate_is_not_genuine(cast, version):
    envelope = licensing.issue_certificate(license=grant(cast, version)).envelope
    forged = {**envelope, "payload": {**envelope["payload"], "licensee": {"organization": "x"}}}
    check = licensing.verify_certificate(envelope=forged)
    assert not check.signature_valid and not check.is_active
    assert not licensing.verify_certificate(envelope={"nope": 1}).signature_valid
    assert not licensing.verify_certificate(license_id="lic_missing").signature_valid


def test_deliveries_are_fingerprinted_per_license_and_trace_a_leak(cast, version):
    first = grant(cast, version, source="order:one")
    second = grant(cast, version, source="order:two")
    one = {d.data_file.path: d for d in licensing.build_deliveries(license=first)}
    two = {d.data_file.path: d for d in licensing.build_deliveries(license=second)}
    assert set(one) == {"data/records.jsonl", "img/a.png", "blob.bin"}
    assert one["data/records.jsonl"].fingerprint_method == "text-eol"
    assert one["img/a.png"].fingerprint_method == "png-text"
    assert one["blob.bin"].fingerprint_method == "none"
    # Different bytes for different licensees, except where nothing is marked.
    assert one["data/records.jsonl"].sha256 != two["data/records.jsonl"].sha256
    assert one["img/a.png"].sha256 != two["img/a.png"].sha256
    assert (
        one["blob.bin"].sha256
        == two["blob.bin"].sha256
        == version.files.get(path="blob.bin").sha256
    )
    # A leaked text names its license.
    original = version.files.get(path="data/records.jsonl")
    with open(_path(original), "rb") as stream:
        leaked = b"".join(fingerprint.fingerprinted("text-eol", first.pk, [stream.read()]))
    assert fingerprint.text_matches(first.pk, leaked) == 1.0
    assert fingerprint.text_matches(second.pk, leaked) < 0.7
    # Marked images still decode.
    with open(_path(version.files.get(path="img/a.png")), "rb") as stream:
        marked = b"".join(fingerprint.fingerprinted("png-text", first.pk, [stream.read()]))
    image = Image.open(io.BytesIO(marked))
    image.load()
    assert image.size == (4, 3)
    assert fingerprint.png_tag(first.pk).decode() in image.info["wellspring-fingerprint"]


def _path(data_file):
    from django.core.files.storage import default_storage

    return default_storage.path(data_file.storage_name)


def test_text_fingerprint_is_the_same_whatever_the_chunking(cast):
    data = b"a,b\r\n" + b"".join(b"%d,x\n" % n for n in range(300)) + b"tail"
    whole = b"".join(fingerprint.fingerprinted("text-eol", "lic_x", [data]))
    pieces = [data[i : i + 7] for i in range(0, len(data), 7)]
    assert b"".join(fingerprint.fingerprinted("text-eol", "lic_x", pieces)) == whole
    assert whole.replace(b"\r\n", b"\n") == data.replace(b"\r\n", b"\n")


def test_a_rerun_after_a_crash_leaves_no_duplicate_delivery(cast, version, monkeypatch):
    license = grant(cast, version)
    real_digest = fingerprint.digest
    calls = {"n": 0}

    def crash_on_second_file(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise SystemExit("worker killed")
        return real_digest(*args, **kwargs)

    monkeypatch.setattr(fingerprint, "digest", crash_on_second_file)
    with pytest.raises(SystemExit):
        licensing.build_deliveries(license=license)
    assert Delivery.objects.filter(license=license).count() == 1
    monkeypatch.setattr(fingerprint, "digest", real_digest)
    licensing.build_deliveries(license=license)
    licensing.build_deliveries(license=license)
    assert Delivery.objects.filter(license=license).count() == 3


@pytest.mark.parametrize(
    ("amount", "bps", "fee"),
    [(10_000, 2000, 2000), (999, 2000, 199), (1, 2000, 0), (12_345, 1500, 1851), (0, 2000, 0)],
)
def test_fee_and_share_sum_to_the_amount(amount, bps, fee):
    assert split_fee(amount, bps) == (fee, amount - fee)
    assert sum(split_fee(amount, bps)) == amount
