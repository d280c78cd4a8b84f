"""Money is an integer in minor units with an ISO 4217 currency beside it. Never floats."""

import re

# Digits after the decimal point, per currency.
CURRENCY_EXPONENTS = {"USD": 2, "EUR": 2, "GBP": 2, "CHF": 2, "CAD": 2, "AUD": 2, "JPY": 0}
SUPPORTED_CURRENCIES = tuple(CURRENCY_EXPONENTS)
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


def exponent(currency: str) -> int:
    try:
        return CURRENCY_EXPONENTS[currency.upper()]
    except KeyError as error:
        raise ValueError(f"Unsupported currency {currency!r}") from error


def format_minor(amount_minor: int, currency: str) -> str:
    """`123456, "USD"` -> `$1,234.56`; `5000, "JPY"` -> `¥5,000`."""
    places = exponent(currency)
    sign = "-" if amount_minor < 0 else ""
    major, minor = divmod(abs(amount_minor), 10**places) if places else (abs(amount_minor), 0)
    text = f"{major:,}" + (f".{minor:0{places}d}" if places else "")
    symbol = CURRENCY_SYMBOLS.get(currency.upper())
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{text} {currency.upper()}"


def parse_major(text: str, currency: str) -> int:
    """A decimal amount a person typed ("1,234.50") in minor units, exactly. Raises ValueError."""
    places = exponent(currency)
    cleaned = text.strip().replace(",", "").replace("_", "")
    if not cleaned or cleaned.startswith("-"):
        raise ValueError("Enter a positive amount.")
    whole, _, fraction = cleaned.partition(".")
    if (
        (whole and not whole.isdigit())
        or (fraction and not fraction.isdigit())
        or not (whole or fraction)
    ):
        raise ValueError(f"{text!r} is not an amount.")
    if len(fraction) > places:
        raise ValueError(f"{currency} amounts have at most {places} decimal places.")
    return int(whole or "0") * 10**places + int(fraction.ljust(places, "0") or "0")


# An amount typed for a filter: digits (commas or underscores may group them), an optional
# fraction. The catalog's `price_max` documents this pattern.
FILTER_AMOUNT_PATTERN = r"^([0-9][0-9,_]*(\.[0-9]*)?|\.[0-9]+)$"
# The most a filter amount can usefully be: every stored price (a bigint) is below it.
_FILTER_CEILING_MINOR = 2**63 - 1


def filter_amount_minor(text: str, currency: str) -> int:
    """An "at most" bound in major units (`FILTER_AMOUNT_PATTERN`) as whole minor units.

    Digits past the currency's places are dropped, which keeps exactly the same prices (they are
    whole minor units), and the bound is capped at the largest storable price. Raises
    ValueError for text that does not match the pattern.
    """
    if not re.fullmatch(FILTER_AMOUNT_PATTERN, text):
        raise ValueError(f"{text!r} is not an amount.")
    whole, _, fraction = text.replace(",", "").replace("_", "").partition(".")
    whole = whole.lstrip("0")
    if len(whole) > len(str(_FILTER_CEILING_MINOR)):
        return _FILTER_CEILING_MINOR
    places = exponent(currency)
    amount = int(whole or "0") * 10**places + int(fraction[:places].ljust(places, "0") or "0")
    return min(amount, _FILTER_CEILING_MINOR)


def split_fee(amount_minor: int, fee_bps: int) -> tuple[int, int]:
    """`(platform_fee, creator_share)` of an amount; the fee rounds down, the creator gets the
    remainder, so the parts always sum to the amount exactly."""
    if amount_minor < 0 or not 0 <= fee_bps <= 10_000:
        raise ValueError("amount must be >= 0 and the fee between 0 and 10,000 basis points")
    fee = amount_minor * fee_bps // 10_000
    return fee, amount_minor - fee
