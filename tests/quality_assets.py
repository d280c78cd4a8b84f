"""Real files for the quality card's tests: text with planted duplicates and personal data,
images with real XMP, EXIF and PNG text chunks, and C2PA-signed images (signed here with a
certificate chain made on the spot: no network, no committed keys)."""

import datetime
import io
import json
import random

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"


def text_records(count: int, seed: int = 1, words: int = 30) -> list[str]:
    rng = random.Random(seed)
    vocabulary = [
        f"{rng.choice('bcdfglmnprst')}{rng.choice('aeiou')}{index}" for index in range(5000)
    ]
    return [" ".join(rng.choice(vocabulary) for _ in range(words)) for _ in range(count)]


def near_copy(record: str, changes: int = 1, seed: int = 0) -> str:
    """The record with `changes` words replaced: a near-duplicate (Jaccard about 0.8)."""
    rng = random.Random(seed)
    tokens = record.split()
    for _ in range(changes):
        tokens[rng.randrange(len(tokens))] = f"edited{rng.randrange(10**6)}"
    return " ".join(tokens)


def jsonl(texts: list[str]) -> bytes:
    return "".join(json.dumps({"text": text}) + "\n" for text in texts).encode()


def picture(seed: int, size: int = 256) -> Image.Image:
    """A smooth, structured picture (blurred noise): perceptual hashes behave as on photos."""
    rng = np.random.RandomState(seed)
    small = (rng.rand(6, 6, 3) * 255).astype(np.uint8)
    return Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC)


def encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def png_with_xmp_source_type(seed: int, source_type: str = "trainedAlgorithmicMedia") -> bytes:
    xmp = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" '
        'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
        f'Iptc4xmpExt:DigitalSourceType="{IPTC}{source_type}"/>'
        "</rdf:RDF></x:xmpmeta>"
    )
    info = PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp)
    return encode(picture(seed), "PNG", pnginfo=info)


def png_with_generator_chunk(seed: int) -> bytes:
    info = PngInfo()
    info.add_text("parameters", "a lighthouse at dusk\nSteps: 20, Sampler: Euler a, CFG scale: 7")
    return encode(picture(seed), "PNG", pnginfo=info)


def jpeg_with_exif_software(seed: int, software: str = "Midjourney v6") -> bytes:
    exif = Image.Exif()
    exif[0x0131] = software
    return encode(picture(seed), "JPEG", quality=90, exif=exif)


def _certificate_chain():
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(common_name):
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Wellspring tests"),
            ]
        )

    def usage(**flags):
        names = [
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        ]
        return x509.KeyUsage(**{flag: flags.get(flag, False) for flag in names})

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("Test Root CA"))
        .issuer_name(name("Test Root CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("Test Image Generator"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage(digital_signature=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    chain = cert.public_bytes(pem) + ca.public_bytes(pem)
    private = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return chain, private


def c2pa_signed_jpeg(seed: int, source_type: str = "trainedAlgorithmicMedia") -> bytes:
    """A JPEG with a C2PA manifest whose `c2pa.created` action names the source type."""
    import c2pa

    chain, private = _certificate_chain()
    manifest = {
        "claim_generator_info": [{"name": "Test Image Generator", "version": "1.0"}],
        "title": "generated.jpg",
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [{"action": "c2pa.created", "digitalSourceType": IPTC + source_type}]
                },
            }
        ],
    }
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(b"es256", chain, private, None))
    builder = c2pa.Builder(json.dumps(manifest))
    out = io.BytesIO()
    builder.sign(signer, "image/jpeg", io.BytesIO(encode(picture(seed), "JPEG")), out)
    return out.getvalue()
