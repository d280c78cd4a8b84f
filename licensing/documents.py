"""Readable PDF of a license certificate (the signed JSON envelope is what proves it)."""

import json

from fpdf import FPDF

from licensing.models import Certificate


def _latin1(text: str) -> str:
    # The PDF core fonts cover Latin-1; anything else is shown as "?" rather than failing.
    return str(text).encode("latin-1", "replace").decode("latin-1")


def certificate_pdf(certificate: Certificate) -> bytes:
    payload = certificate.envelope["payload"]
    terms = payload["terms"].get("terms", payload["terms"])  # agreements nest their terms
    pdf = FPDF()
    pdf.set_title(f"License certificate {payload['license_id']}")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(
        0, 12, _latin1(f"{payload['issuer']} license certificate"), new_x="LMARGIN", new_y="NEXT"
    )
    pdf.set_font("Helvetica", "", 11)
    rows = [
        ("License", payload["license_id"]),
        ("Licensee", f"{payload['licensee']['name']} ({payload['licensee']['organization']})"),
        ("Licensor", f"{payload['licensor']['name']} ({payload['licensor']['organization']})"),
        ("Dataset", f"{payload['dataset']['title']} ({payload['dataset']['slug']})"),
        ("Version", f"{payload['dataset_version']['number']} ({payload['dataset_version']['id']})"),
        ("Merkle root", payload["dataset_version"]["merkle_root"]),
        ("Terms SHA-256", payload["terms_sha256"]),
        ("Issued", payload["issued_at"]),
        ("Expires", payload["expires_at"] or "never (perpetual)"),
        ("Permitted uses", ", ".join(terms.get("permitted_uses", []))),
        ("Territories", ", ".join(terms.get("territories", []))),
    ]
    for label, value in rows:
        pdf.set_font("Helvetica", "B", 10)
        pdf.cell(40, 7, _latin1(label))
        pdf.set_font("Helvetica", "", 10)
        pdf.multi_cell(0, 7, _latin1(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(
        0,
        7,
        "Signed envelope (Ed25519; verify with /.well-known/jwks.json)",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.set_font("Courier", "", 6)
    pdf.multi_cell(0, 3, _latin1(json.dumps(certificate.envelope, sort_keys=True)))
    return bytes(pdf.output())
