"""The platform's Ed25519 signature over Wellspring's signed documents (manifests, certificates).

Envelope: {"payload": {...}, "kid": "...", "signature": "<base64url, unpadded>"}, signed over
`canonical_json(payload)`. The public key is published as a JWK at /.well-known/jwks.json.
"""

import base64
import hashlib
import json
from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from provenance.models import canonical_json


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@lru_cache(maxsize=4)
def _private_key(encoded_seed: str) -> Ed25519PrivateKey:
    try:
        seed = b64url_decode(encoded_seed)
    except ValueError as error:
        raise ImproperlyConfigured("PLATFORM_SIGNING_KEY is not base64url") from error
    if len(seed) != 32:
        raise ImproperlyConfigured("PLATFORM_SIGNING_KEY must encode a 32-byte Ed25519 seed")
    return Ed25519PrivateKey.from_private_bytes(seed)


def signing_key() -> Ed25519PrivateKey:
    return _private_key(settings.PLATFORM_SIGNING_KEY)


def public_jwk(public_key: Ed25519PublicKey | None = None) -> dict:
    public_key = public_key or signing_key().public_key()
    x = b64url_encode(public_key.public_bytes(Encoding.Raw, PublicFormat.Raw))
    # RFC 7638 thumbprint: SHA-256 over the required members, sorted, without whitespace.
    thumbprint = hashlib.sha256(
        json.dumps(
            {"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":"), sort_keys=True
        ).encode()
    )
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": x,
        "kid": b64url_encode(thumbprint.digest()),
        "alg": "EdDSA",
        "use": "sig",
    }


def jwks() -> dict:
    return {"keys": [public_jwk()]}


def sign_payload(payload: dict) -> dict:
    """Wrap `payload` in a signed envelope."""
    key = signing_key()
    signature = key.sign(canonical_json(payload))
    return {
        "payload": payload,
        "kid": public_jwk(key.public_key())["kid"],
        "signature": b64url_encode(signature),
    }


def verify_envelope(envelope: dict, keys: dict | None = None) -> bool:
    """True when the envelope's signature is valid under the key its `kid` names."""
    keys = keys or jwks()
    try:
        jwk = next(k for k in keys["keys"] if k["kid"] == envelope["kid"])
        public_key = Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"]))
        public_key.verify(b64url_decode(envelope["signature"]), canonical_json(envelope["payload"]))
    except (StopIteration, KeyError, TypeError, ValueError, InvalidSignature):
        return False
    return True
