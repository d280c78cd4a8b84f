"""Text records, read in one streaming pass, and what is measured in each one.

Records: a JSONL line (its text values, nested ones too: strings with a space or longer than
20 characters, so ids and codes stay out), a CSV/TSV row (its text columns,
chosen from the first rows: mostly non-numeric values with spaces or longer than 20
characters), a plain-text file (one record, its first `TEXT_FILE_CHARS` characters). The
record hash for exact duplicates covers the record's text (ids and numbers aside, so a repost
under a new id is a duplicate); a record without text is hashed whole (canonical JSON, row).

Personal data: e-mail addresses, phone numbers (7 to 15 digits in international or grouped
form), payment card numbers (13 to 19 digits passing the Luhn check) and IBANs (passing the
ISO 7064 mod-97 check). Found values are never stored whole: examples are redacted.

Synthetic text (heuristic, never proof): stock phrases of chat assistants. Language: the share
of each language's most frequent function words (a small stop-word profile, stated as such).
"""

import codecs
import csv
import hashlib
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

TEXT_FILE_CHARS = 1024 * 1024
CSV_SNIFF_ROWS = 200
# A field larger than this is cut: csv's own limit would otherwise raise on it.
CSV_FIELD_LIMIT = 16 * 1024 * 1024


@dataclass(frozen=True)
class Record:
    number: int  # 1-based, in its file
    text: str
    digest: bytes  # 8 bytes of BLAKE2b over the whole record


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=8).digest()


def _strings(value, out: list[str]) -> None:
    """The prose in a JSON value: its strings that look like text (ids and codes left out)."""
    if isinstance(value, str):
        if _is_text_value(value):
            out.append(value)
    elif isinstance(value, dict):
        for item in value.values():
            _strings(item, out)
    elif isinstance(value, list):
        for item in value:
            _strings(item, out)


def _lines(stream) -> Iterator[bytes]:
    """Lines of a binary stream, read in 1 MiB chunks (one line at a time in memory)."""
    carry = b""
    while chunk := stream.read(1024 * 1024):
        data = carry + chunk
        lines = data.split(b"\n")
        carry = lines.pop()
        yield from lines
    if carry:
        yield carry


def jsonl_records(stream, problems: list[str], keep=lambda: True) -> Iterator[Record]:
    """The records of a JSONL stream; lines `keep()` turns down are not even parsed."""
    number = 0
    for line in _lines(stream):
        if not line.strip():
            continue
        number += 1
        if not keep():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            if len(problems) < 5:
                problems.append(f"line {number} is not JSON")
            continue
        parts: list[str] = []
        _strings(value, parts)
        text = "\n".join(parts)
        if not text.strip():
            text_or_whole = json.dumps(value, sort_keys=True, separators=(",", ":"))
        else:
            text_or_whole = text
        yield Record(number, text, _digest(text_or_whole.encode()))


def _is_text_value(value: str) -> bool:
    value = value.strip()
    if not value:
        return False
    try:
        float(value.replace(",", ""))
        return False
    except ValueError:
        return " " in value or len(value) > 20


def csv_records(stream, delimiter: str, problems: list[str]) -> Iterator[Record]:
    csv.field_size_limit(CSV_FIELD_LIMIT)
    reader = csv.reader(
        io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline=""),
        delimiter=delimiter,
    )
    header = next(reader, None)
    if header is None:
        return
    head = []
    for row in reader:
        head.append(row)
        if len(head) >= CSV_SNIFF_ROWS:
            break
    votes = [0] * len(header)
    for row in head:
        for index, value in enumerate(row[: len(header)]):
            votes[index] += _is_text_value(value)
    columns = [index for index, count in enumerate(votes) if count * 2 > max(len(head), 1)]
    number = 0

    def record(row):
        text = "\n".join(row[index] for index in columns if index < len(row))
        return Record(number, text, _digest((text if text.strip() else "\x1f".join(row)).encode()))

    for row in head:
        number += 1
        yield record(row)
    for row in reader:
        number += 1
        yield record(row)


def text_file_record(stream) -> Record:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    kept: list[str] = []
    size = 0
    while chunk := stream.read(1024 * 1024):
        if size < TEXT_FILE_CHARS:
            text = decoder.decode(chunk)
            kept.append(text[: TEXT_FILE_CHARS - size])
            size += len(kept[-1])
    text = "".join(kept)
    return Record(1, text, _digest(text.encode()))


# --- Personal data ------------------------------------------------------------------------

_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}\b")
_PHONE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]\d{2,4}){1,4}(?![\w])"
)
_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")
# Every phone, card and IBAN has seven digits with at most separators between: most text
# has none, and skips the slower patterns.
_NUMBERISH = re.compile(r"\d(?:[ ().-]?\d){6}")
PERSONAL_DATA_KINDS = {
    "email": "E-mail addresses",
    "phone": "Phone numbers",
    "payment_card": "Payment card numbers (Luhn-valid)",
    "iban": "IBANs (mod-97 valid)",
}
PERSONAL_DATA_PARAMETERS = {
    "email": "RFC 5322-like local@domain.tld",
    "phone": "7-15 digits, optional +country code, in 2-4 digit groups",
    "payment_card": "13-19 digits (spaces or dashes allowed) passing the Luhn check",
    "iban": "country code, check digits and 11-30 characters passing ISO 7064 mod 97-10",
}


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def iban_valid(value: str) -> bool:
    compact = value.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    moved = compact[4:] + compact[:4]
    number = "".join(str(int(char, 36)) for char in moved)
    return int(number) % 97 == 1


def redact(kind: str, value: str) -> str:
    if kind == "email":
        local, _, domain = value.partition("@")
        return f"{local[:1]}***@{domain}"
    compact = re.sub(r"[^0-9A-Za-z]", "", value)
    return f"{compact[:2]}{'•' * max(len(compact) - 4, 3)}{compact[-2:]}"


def personal_data(text: str) -> list[tuple[str, str]]:
    """(kind, value) for every personal value found in the text."""
    found: list[tuple[str, str]] = []
    if "@" in text:
        found += [("email", match) for match in _EMAIL.findall(text)]
    # Spans of IBAN- and card-shaped numbers, valid or not: their digits are never phones.
    if not _NUMBERISH.search(text):
        return found
    taken: list[tuple[int, int]] = []
    for match in _IBAN.finditer(text):
        taken.append(match.span())
        if iban_valid(match.group()):
            found.append(("iban", match.group()))
    for match in _CARD.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        taken.append(match.span())
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            found.append(("payment_card", match.group()))
    for match in _PHONE.finditer(text):
        start, end = match.span()
        if any(start < other_end and other_start < end for other_start, other_end in taken):
            continue
        digits = re.sub(r"\D", "", match.group())
        # Years, dates and plain counts are not phone numbers: a phone has a + or 9+ digits.
        if 7 <= len(digits) <= 15 and (match.group().startswith("+") or len(digits) >= 9):
            found.append(("phone", match.group()))
    return found


# --- Synthetic text (heuristic) -----------------------------------------------------------

ASSISTANT_PHRASES = (
    "as an ai language model",
    "as a large language model",
    "i'm sorry, but i can't",
    "i cannot fulfill",
    "i hope this helps",
    "it's important to note that",
    "it is important to note that",
    "certainly! here",
    "sure! here's",
    "delve into",
    "in today's fast-paced world",
    "a testament to",
    "tapestry of",
    "regenerate response",
)
HEURISTIC_PARAMETERS = {
    "method": "share of records containing a stock phrase of chat assistants",
    "phrases": list(ASSISTANT_PHRASES),
}


def assistant_phrase(text: str) -> str:
    lowered = text.lower()
    for phrase in ASSISTANT_PHRASES:
        if phrase in lowered:
            return phrase
    return ""


# --- Language (stop-word profile) ---------------------------------------------------------

STOP_WORDS = {
    "en": "the and of to in is that it was for on with as are this be at by not have from",
    "de": "der die und das ist nicht ein zu den mit sich von auf für im dem des eine auch",
    "fr": "le la les et des est que une pour dans pas qui sur du au avec il ce en",
    "es": "el la de que y los las en por con para una es del se no lo como más",
    "it": "il di che la è per un non una sono gli della del con le si nel anche",
    "pt": "o de que e do da em um para com não uma os no se na por mais as",
    "nl": "de het een en van is dat op te in zijn niet met voor die er aan ook",
    "cy": "y yr a ac yn o i ar ei mae am ddim wedi fel gan ond hefyd roedd",
    "sv": "och att det som en på är av för med den till inte har de om ett",
    "pl": "i w nie na się że z do to jest jak o co ale po tak od za",
}
_STOP_LANGUAGES: dict[str, tuple[str, ...]] = {}
for _code, _words in STOP_WORDS.items():
    for _word in set(_words.split()):
        _STOP_LANGUAGES[_word] = (*_STOP_LANGUAGES.get(_word, ()), _code)
LANGUAGE_PARAMETERS = {
    "method": "stop-word profile: the language whose 20 most frequent function words cover "
    "most tokens of the record, if they cover at least 10%; otherwise 'und'",
    "languages": sorted(STOP_WORDS),
}


def language_of(tokens: list[str]) -> str:
    if not tokens:
        return "und"
    window = tokens[:400]
    hits: dict[str, int] = {}
    for token in window:
        for code in _STOP_LANGUAGES.get(token, ()):
            hits[code] = hits.get(code, 0) + 1
    if not hits:
        return "und"
    best = min(hits, key=lambda code: (-hits[code], code))
    return best if hits[best] * 10 >= len(window) else "und"
