"""The offline verification snippet in docs/certificates.md works on a real certificate."""

import re
from pathlib import Path

from licensing import services as licensing
from provenance.signing import jwks

DOC = Path(__file__).resolve().parent.parent / "docs" / "certificates.md"


def test_the_documented_snippet_verifies_a_certificate_and_refuses_a_forgery(cast, make_listing):
    license = licensing.grant_license(
        organization=cast.buyer_org,
        version=make_listing().version,
        terms={"permitted_uses": ["evaluation"]},
        source="order:doc",
    )
    certificate = licensing.issue_certificate(license=license).envelope
    snippet = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S).group(1)
    namespace: dict = {}
    exec(snippet, namespace)  # noqa: S102 - our own documentation
    keys = jwks()
    assert namespace["verify_certificate"](certificate, keys) is True
    forged = {**certificate, "payload": {**certificate["payload"], "license_id": "lic_other"}}
    assert namespace["verify_certificate"](forged, keys) is False
