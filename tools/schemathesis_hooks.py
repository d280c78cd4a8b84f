"""Schemathesis hooks for tools/run_schemathesis.py (loaded through SCHEMATHESIS_HOOKS).

An `Idempotency-Key` sent again with another body is refused with 422, by design
(docs/api.md). Schemathesis draws the same few keys ("0", ...) for many different bodies, so
nearly every creating request after the first would be answered by that refusal and never reach
the operation. Each valid key drawn is made unique here by a suffix; keys that are not valid
(blank, too long) are sent as drawn, so their 400 is still checked. Replays and reuse have their
own tests in tests/test_idempotency.py.
"""

import itertools
import uuid

import schemathesis

HEADER = "idempotency-key"
_SUFFIX_ROOM = 200  # the API takes keys up to 255 characters; the suffix needs about 25
_calls = itertools.count(1)
_RUN = uuid.uuid4().hex[:12]  # keys stay unique across runs against one database too


@schemathesis.hook
def before_call(context, case, kwargs):
    headers = case.headers or {}
    for name, value in list(headers.items()):
        if name.lower() != HEADER or not isinstance(value, str):
            continue
        key = value.strip()
        if key and len(key) <= _SUFFIX_ROOM:
            headers[name] = f"{key}.{_RUN}.{next(_calls)}"
