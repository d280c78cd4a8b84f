"""Opaque, prefixed, time-ordered identifiers for objects that appear in URLs.

`ds_01jf3k...`: a type prefix a human can read, then 26 Crockford base32 characters (48 bits of
milliseconds, 80 random bits). They sort by creation time, which keeps indexes compact and
pagination deterministic, and they reveal nothing about how many objects exist.
"""

import secrets
import time

from django.db import models

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def _base32(number: int, length: int) -> str:
    chars = []
    for _ in range(length):
        number, remainder = divmod(number, 32)
        chars.append(_ALPHABET[remainder])
    return "".join(reversed(chars))


def random_base32(length: int) -> str:
    """`length` random Crockford base32 characters (5 bits each)."""
    return _base32(secrets.randbits(5 * length), length)


def new_public_id(prefix: str) -> str:
    milliseconds = time.time_ns() // 1_000_000
    return f"{prefix}_{_base32(milliseconds, 10)}{_base32(secrets.randbits(80), 16)}"


class PublicIdField(models.CharField):
    """A primary key holding `new_public_id(prefix)`."""

    def __init__(self, *args, prefix: str = "", **kwargs):
        self.prefix = prefix
        kwargs.setdefault("max_length", 40)
        kwargs.setdefault("primary_key", True)
        kwargs.setdefault("editable", False)
        kwargs["default"] = self._generate
        super().__init__(*args, **kwargs)

    def _generate(self) -> str:
        return new_public_id(self.prefix)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("default", None)
        kwargs.pop("max_length", None)
        kwargs.pop("editable", None)
        kwargs["prefix"] = self.prefix
        return name, path, args, kwargs
