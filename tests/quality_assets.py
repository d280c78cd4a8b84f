"""Real files for the quality card's tests: text with planted duplicates and personal data,
images with real XMP, EXIF and PNG text chunks, and C2PA-signed images (signed by
`marketplace.demo.c2pa_signed_jpeg` with a certificate chain made on the spot)."""

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


def c2pa_signed_jpeg(seed: int, source_type: str = "trainedAlgorithmicMedia") -> bytes:
    from marketplace.demo import c2pa_signed_jpeg as sign

    return sign(encode(picture(seed), "JPEG"), source_type=source_type)
