"""Demo content for `seed_demo`: small, real, deterministic files of every modality.

Every generator takes a seeded `random.Random`, so the same demo always has the same bytes,
hashes and Merkle roots.
"""

import csv
import datetime
import io
import json
import math
import random
import struct
import wave
from datetime import date, timedelta

from PIL import Image, ImageDraw

# --- Text --------------------------------------------------------------------------------

_PLACES = [
    "Aberdaron",
    "Porthgain",
    "Solva",
    "Nefyn",
    "Cemaes",
    "Borth",
    "Llangrannog",
    "Abereiddi",
]
_CHARACTERS = [
    "a ferryman",
    "the miller's daughter",
    "an old net-mender",
    "two sisters",
    "a lighthouse keeper",
    "a drover",
    "the harbour cat",
    "a travelling harpist",
]
_EVENTS = [
    "lost a silver button to the tide",
    "heard singing under the cliffs",
    "found a seal-skin on the rocks",
    "bargained with the fog",
    "followed a lantern across the bay",
    "counted the stars wrong",
    "mended a net that would not stay mended",
    "waited three nights for the mackerel",
]
_ENDINGS = [
    "and the village still leaves a light in the window.",
    "and nobody fishes that cove on a Sunday.",
    "and the button turns up every spring, polished.",
    "and the song is sung at every wedding since.",
    "and the fog has kept its side of the bargain.",
    "and the bay has been quieter ever after.",
]


def folk_tale(rng: random.Random) -> str:
    place, who, what, end = (
        rng.choice(_PLACES),
        rng.choice(_CHARACTERS),
        rng.choice(_EVENTS),
        rng.choice(_ENDINGS),
    )
    middle = rng.choice(
        [
            "Nobody believed it at first.",
            "The tide was higher than anyone remembered.",
            "It was the winter the chapel roof came down.",
            "The whole parish came out to watch.",
        ]
    )
    return f"In {place}, {who} {what}. {middle} It took a year and a day to set right, {end}"


_OBJECTS = [
    "M31",
    "the Double Cluster",
    "Jupiter",
    "Saturn",
    "the Orion Nebula",
    "M13",
    "Albireo",
    "the Moon's terminator",
]
_SKIES = [
    "transparent, slight haze low in the east",
    "seeing poor, stars twinkling hard",
    "excellent, Milky Way to the horizon",
    "thin cirrus coming and going",
    "steady seeing, dew on the finder",
]


def observing_log(rng: random.Random, night: int) -> dict:
    day = date(2023, 1, 1) + timedelta(days=night * 3)
    target = rng.choice(_OBJECTS)
    return {
        "date": day.isoformat(),
        "observer": rng.choice(["GH", "RT", "AM", "PK"]),
        "instrument": rng.choice(["8-inch Dobsonian", "80 mm refractor", "10x50 binoculars"]),
        "target": target,
        "sky": rng.choice(_SKIES),
        "note": f"{target} at {rng.randint(60, 250)}x. {rng.choice(['Clear detail in the core.', 'Faint, averted vision helps.', 'Colour obvious.', 'Two moons visible.'])}",
    }


_DISHES = [
    ("lentil soup", "sopa de lentejas"),
    ("bread rolls", "panecillos"),
    ("apple cake", "bizcocho de manzana"),
    ("tomato sauce", "salsa de tomate"),
    ("rice pudding", "arroz con leche"),
    ("onion tart", "tarta de cebolla"),
]
_STEPS_EN = [
    "Chop the onions finely.",
    "Warm the oil over a low heat.",
    "Stir until the mixture thickens.",
    "Leave to rest for ten minutes.",
    "Bake until golden on top.",
    "Season to taste with salt.",
]
_STEPS_ES = [
    "Pica la cebolla muy fina.",
    "Calienta el aceite a fuego lento.",
    "Remueve hasta que la mezcla espese.",
    "Deja reposar diez minutos.",
    "Hornea hasta que se dore por encima.",
    "Sazona con sal al gusto.",
]


def recipe_pair(rng: random.Random, index: int) -> dict:
    dish_en, dish_es = _DISHES[index % len(_DISHES)]
    steps = rng.sample(range(len(_STEPS_EN)), 3)
    return {
        "id": f"r{index:04d}",
        "dish_en": dish_en,
        "dish_es": dish_es,
        "en": " ".join(_STEPS_EN[i] for i in steps),
        "es": " ".join(_STEPS_ES[i] for i in steps),
    }


_REVIEW_COMMENTS = [
    "This loop re-reads the file for every row; can we hoist the open() out?",
    "Nit: the name `tmp2` doesn't tell me what it holds.",
    "I think this misses the case where the list is empty — add a test?",
    "Nice, much clearer than the old version.",
    "We lock the order here but the payment row is read before the lock.",
    "Could this be a constant? It appears in three places.",
    "The error message should say which field is wrong.",
    "Let's not swallow the exception; log it at least.",
]


def review_comment(rng: random.Random, index: int) -> dict:
    return {
        "id": index,
        "language": rng.choice(["python", "go", "typescript", "rust"]),
        "comment": rng.choice(_REVIEW_COMMENTS),
        "resolved": rng.random() < 0.7,
    }


_IMAGES = [
    "the harbour wall at low tide",
    "rain on the allotment shed",
    "a blackbird on the fence",
    "the last bus home",
    "frost on the greenhouse glass",
    "a kettle that will not boil",
]


def poem_draft(rng: random.Random, index: int) -> dict:
    subject = rng.choice(_IMAGES)
    lines = [
        f"I keep coming back to {subject},",
        rng.choice(["how it waits,", "how it refuses,", "how it holds the light,"]),
        rng.choice(
            ["as if it knew my name.", "the way my mother did.", "like a promise kept badly."]
        ),
    ]
    revised = list(lines)
    revised[1] = rng.choice(["the patience of it,", "its small refusals,", "the light it keeps,"])
    return {
        "id": index,
        "workshop": f"spring-{2022 + index % 3}",
        "draft": "\n".join(lines),
        "revision": "\n".join(revised),
    }


def weather_diary(rng: random.Random, day: int) -> dict:
    when = date(2021, 3, 1) + timedelta(days=day)
    return {
        "date": when.isoformat(),
        "farm": rng.choice(["Cwm Uchaf", "Tyddyn Bach"]),
        "entry": rng.choice(
            [
                "Wind backed westerly by noon, ewes sheltering by the wall.",
                "Hard frost, troughs iced over, broke them at seven.",
                "Soft rain all day, the top field too wet to walk.",
                "Bright and cold, lapwings back on the rushy ground.",
            ]
        ),
        "rain_mm": round(rng.uniform(0, 18), 1),
    }


def jsonl(records) -> bytes:
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records).encode()


# --- Tables ------------------------------------------------------------------------------


def csv_bytes(header: list[str], rows) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode()


def bike_counts(rng: random.Random, counter: str, days: int) -> bytes:
    rows = []
    for day in range(days):
        when = date(2019, 1, 1) + timedelta(days=day)
        season = 1 + 0.5 * math.sin((when.timetuple().tm_yday - 80) / 365 * 2 * math.pi)
        weekday = 1.25 if when.weekday() < 5 else 0.8
        rows.append(
            [
                when.isoformat(),
                counter,
                int(rng.gauss(900, 90) * season * weekday),
                rng.choice(["dry", "wet", "dry", "dry"]),
            ]
        )
    return csv_bytes(["date", "counter", "bicycles", "weather"], rows)


def harvest_yields(rng: random.Random, plots: int) -> bytes:
    crops = ["potatoes", "runner beans", "onions", "courgettes", "raspberries", "leeks"]
    rows = [
        [
            f"plot-{plot:03d}",
            year,
            crop,
            round(rng.uniform(2, 40), 2),
            rng.choice(["clay", "loam", "sandy"]),
        ]
        for plot in range(plots)
        for year in (2022, 2023)
        for crop in rng.sample(crops, 3)
    ]
    return csv_bytes(["plot", "year", "crop", "yield_kg", "soil"], rows)


def bookshop_sales(rng: random.Random, weeks: int) -> bytes:
    genres = ["fiction", "poetry", "local history", "children", "cookery", "nature"]
    rows = [
        [
            (date(2022, 1, 3) + timedelta(weeks=week)).isoformat(),
            genre,
            rng.randint(0, 60),
            rng.randint(0, 9000),
        ]
        for week in range(weeks)
        for genre in genres
    ]
    return csv_bytes(["week_starting", "genre", "copies", "revenue_pence"], rows)


def tide_gauge(rng: random.Random, hours: int) -> bytes:
    rows = [
        [
            f"2024-05-{1 + hour // 24:02d}T{hour % 24:02d}:00Z",
            round(3.1 * math.sin(hour / 12.42 * 2 * math.pi) + rng.gauss(0, 0.05), 3),
        ]
        for hour in range(hours)
    ]
    return csv_bytes(["time", "height_m"], rows)


# --- Images ------------------------------------------------------------------------------


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def botanical_sketch(rng: random.Random, size: int = 256) -> bytes:
    image = Image.new("RGB", (size, size), (250, 247, 238))
    draw = ImageDraw.Draw(image)
    cx, base = size // 2 + rng.randint(-20, 20), size - 20
    top = rng.randint(40, 90)
    draw.line([(cx, base), (cx + rng.randint(-15, 15), top)], fill=(60, 90, 50), width=3)
    for _ in range(rng.randint(3, 7)):
        y = rng.randint(top + 20, base - 20)
        side = rng.choice([-1, 1])
        length = rng.randint(25, 60)
        draw.ellipse(
            [cx + side * 5, y - 10, cx + side * length, y + 10]
            if side > 0
            else [cx - length, y - 10, cx - 5, y + 10],
            outline=(50, 80, 40),
            width=2,
        )
    petals = rng.randint(5, 9)
    radius = rng.randint(12, 24)
    colour = rng.choice([(190, 60, 80), (230, 180, 40), (120, 80, 170), (240, 240, 240)])
    for petal in range(petals):
        angle = petal / petals * 2 * math.pi
        px, py = cx + math.cos(angle) * radius, top + math.sin(angle) * radius
        draw.ellipse([px - 10, py - 10, px + 10, py + 10], fill=colour, outline=(80, 60, 60))
    draw.ellipse([cx - 7, top - 7, cx + 7, top + 7], fill=(200, 150, 40))
    return _png(image)


def handwritten_digit(rng: random.Random, digit: int, size: int = 64) -> bytes:
    image = Image.new("L", (size, size), 255)
    draw = ImageDraw.Draw(image)
    jitter = lambda: rng.randint(-3, 3)  # noqa: E731
    strokes = {
        0: [(20, 12), (44, 12), (50, 32), (44, 52), (20, 52), (14, 32), (20, 12)],
        1: [(26, 18), (34, 10), (34, 54)],
        2: [(16, 18), (32, 10), (48, 20), (16, 54), (50, 54)],
        3: [(16, 12), (46, 14), (30, 30), (48, 42), (16, 54)],
        4: [(40, 54), (40, 10), (14, 38), (50, 38)],
        5: [(48, 10), (18, 10), (16, 30), (44, 32), (42, 52), (14, 52)],
        6: [(44, 10), (18, 32), (20, 52), (44, 50), (42, 32), (18, 34)],
        7: [(14, 12), (50, 12), (28, 54)],
        8: [
            (32, 30),
            (16, 18),
            (32, 8),
            (48, 18),
            (32, 30),
            (14, 44),
            (32, 56),
            (50, 44),
            (32, 30),
        ],
        9: [(46, 30), (20, 28), (22, 10), (46, 12), (46, 30), (40, 54)],
    }[digit]
    draw.line(
        [(x + jitter(), y + jitter()) for x, y in strokes],
        fill=rng.randint(0, 60),
        width=rng.randint(3, 5),
        joint="curve",
    )
    return _png(image)


def textile_swatch(rng: random.Random, size: int = 192) -> bytes:
    palette = [tuple(rng.randint(30, 230) for _ in range(3)) for _ in range(3)]
    image = Image.new("RGB", (size, size), palette[0])
    draw = ImageDraw.Draw(image)
    step = rng.choice([12, 16, 24])
    for offset in range(0, size, step):
        draw.line([(offset, 0), (offset, size)], fill=palette[1], width=step // 3)
        draw.line(
            [(0, offset + step // 2), (size, offset + step // 2)], fill=palette[2], width=step // 4
        )
    return _png(image)


# --- Audio -------------------------------------------------------------------------------


def _wav(samples: list[float], rate: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(
            b"".join(struct.pack("<h", max(-32767, min(32767, int(s * 32767)))) for s in samples)
        )
    return buffer.getvalue()


def street_ambience(rng: random.Random, seconds: float = 2.0, rate: int = 8000) -> bytes:
    samples, low = [], 0.0
    for n in range(int(seconds * rate)):
        low = 0.97 * low + 0.03 * rng.uniform(-1, 1)
        chatter = (
            0.15 * math.sin(2 * math.pi * (180 + 40 * math.sin(n / 900)) * n / rate)
            if (n // 1200) % 3 == 0
            else 0.0
        )
        samples.append(0.5 * low + chatter + 0.02 * rng.uniform(-1, 1))
    return _wav(samples, rate)


def spoken_digits(rng: random.Random, seconds: float = 1.5, rate: int = 8000) -> bytes:
    pitch = rng.uniform(95, 220)
    samples = []
    for n in range(int(seconds * rate)):
        syllable = (n // int(rate * 0.3)) % 2 == 0
        envelope = math.sin(math.pi * (n % int(rate * 0.3)) / (rate * 0.3)) if syllable else 0.0
        voice = sum(math.sin(2 * math.pi * pitch * k * n / rate) / k for k in (1, 2, 3))
        samples.append(0.3 * envelope * voice + 0.01 * rng.uniform(-1, 1))
    return _wav(samples, rate)


def birdsong(rng: random.Random, seconds: float = 2.0, rate: int = 16000) -> bytes:
    samples = []
    base = rng.uniform(2500, 4200)
    for n in range(int(seconds * rate)):
        t = n / rate
        phrase = (int(t * 6) % 4) != 3
        chirp = (
            math.sin(2 * math.pi * (base + 900 * math.sin(2 * math.pi * 9 * t)) * t)
            if phrase
            else 0.0
        )
        samples.append(
            0.35 * chirp * abs(math.sin(2 * math.pi * 3 * t)) + 0.03 * rng.uniform(-1, 1)
        )
    return _wav(samples, rate)


# --- Quality card demos: planted duplicates and a content credential ------------------------

_FORUM_OPENERS = ["Tried this tonight:", "Family favourite:", "Quick tip:", "Weekend bake:"]
_FORUM_WORDS = [
    "butter",
    "flour",
    "sugar",
    "oven",
    "tray",
    "lemon",
    "thyme",
    "garlic",
    "onion",
    "stock",
    "simmer",
    "whisk",
    "fold",
    "rest",
    "knead",
    "proof",
    "bake",
    "roast",
    "crisp",
    "golden",
    "tender",
    "salt",
    "pepper",
    "cream",
    "honey",
    "oats",
    "apple",
    "pear",
    "plum",
    "ginger",
    "cinnamon",
    "yeast",
    "dough",
    "crust",
    "filling",
    "sauce",
    "glaze",
    "pan",
    "lid",
    "minutes",
    "hour",
    "gently",
    "slowly",
]


def forum_posts(rng: random.Random, count: int = 300) -> list[dict]:
    """Recipe forum posts, some reposted verbatim and some reposted with a small edit: the
    planted duplicates the quality card finds (15 exact, 30 near)."""
    posts = [
        {
            "id": f"p{index:04d}",
            "text": f"{rng.choice(_FORUM_OPENERS)} "
            + " ".join(rng.choice(_FORUM_WORDS) for _ in range(rng.randint(30, 50))),
        }
        for index in range(count)
    ]
    reposts = []
    for number, post in enumerate(rng.sample(posts, 45)):
        text = post["text"]
        if number >= 15:
            words = text.split()
            words[rng.randrange(2, len(words))] = rng.choice(_FORUM_WORDS)
            text = " ".join(words) + " (reposted)"
        reposts.append({"id": f"p{count + number:04d}", "text": text})
    return posts + reposts


def concept_study(rng: random.Random, size: int = 256) -> bytes:
    """A JPEG colour study (the demo's stand-in for a generated image)."""
    image = Image.new("RGB", (size, size), (rng.randint(0, 60), rng.randint(0, 60), 90))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y = rng.randint(0, size), rng.randint(0, size)
        radius = rng.randint(10, 60)
        colour = (rng.randint(100, 255), rng.randint(60, 200), rng.randint(0, 120))
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=88)
    return buffer.getvalue()


# --- Content credentials (C2PA) -------------------------------------------------------------

IPTC_SOURCE_TYPES = "http://cv.iptc.org/newscodes/digitalsourcetype/"


def _certificate_chain():
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(common_name):
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Wellspring demo"),
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


def c2pa_signed_jpeg(jpeg: bytes, source_type: str = "trainedAlgorithmicMedia") -> bytes:
    """The JPEG with a C2PA manifest whose `c2pa.created` action names the IPTC source type.

    Signed with a throwaway ES256 chain (a root and a signer) made on the spot: no network
    and no committed key. The manifest validates; its signer is, rightly, not trusted.
    """
    import c2pa

    chain, private = _certificate_chain()
    manifest = {
        "claim_generator_info": [{"name": "Test Image Generator", "version": "1.0"}],
        "title": "generated.jpg",
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": IPTC_SOURCE_TYPES + source_type,
                        }
                    ]
                },
            }
        ],
    }
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(b"es256", chain, private, None))
    builder = c2pa.Builder(json.dumps(manifest))
    out = io.BytesIO()
    builder.sign(signer, "image/jpeg", io.BytesIO(jpeg), out)
    return out.getvalue()
