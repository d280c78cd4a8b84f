import copy

from provenance.signing import b64url_decode, jwks, sign_payload, verify_envelope


def test_a_signed_envelope_verifies_with_the_published_key(client, db):
    envelope = sign_payload({"license": "lic_1", "merkle_root": "ab" * 32, "note": "Café"})
    published = client.get("/.well-known/jwks.json").json()
    (key,) = published["keys"]
    assert key["kty"] == "OKP" and key["crv"] == "Ed25519" and key["kid"] == envelope["kid"]
    assert len(b64url_decode(key["x"])) == 32
    assert verify_envelope(envelope, published)


def test_any_change_to_the_payload_or_signature_fails():
    envelope = sign_payload({"a": 1, "b": [1, 2]})
    changed = copy.deepcopy(envelope)
    changed["payload"]["a"] = 2
    assert not verify_envelope(changed)
    forged = copy.deepcopy(envelope)
    forged["signature"] = forged["signature"][:-4] + "AAAA"
    assert not verify_envelope(forged)
    assert not verify_envelope({**envelope, "kid": "unknown"})
    assert not verify_envelope({"payload": {}})


def test_the_documented_offline_check_works_with_only_cryptography():
    import json

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    envelope = sign_payload({"x": "y"})
    key = next(k for k in jwks()["keys"] if k["kid"] == envelope["kid"])
    public_key = Ed25519PublicKey.from_public_bytes(b64url_decode(key["x"]))
    body = json.dumps(
        envelope["payload"], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()
    public_key.verify(b64url_decode(envelope["signature"]), body)  # raises if invalid
