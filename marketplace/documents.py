"""The invoice PDF of an order paid by purchase order."""

from django.conf import settings
from fpdf import FPDF

from licensing.documents import _latin1
from licensing.money import CURRENCY_SYMBOLS, format_minor
from marketplace.models import Invoice


def invoice_pdf(invoice: Invoice) -> bytes:
    order = invoice.order
    dataset = order.version.dataset
    pdf = FPDF()
    pdf.set_title(f"Invoice {invoice.number}")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 12, _latin1(f"Invoice {invoice.number}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)

    def block(title: str, lines: list[str]) -> None:
        pdf.set_font("Helvetica", "B", 10)
        pdf.cell(0, 6, _latin1(title), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 10)
        for line in lines:
            if line:
                pdf.multi_cell(0, 5, _latin1(line), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)

    block(
        "Seller",
        [settings.SELLER_LEGAL_NAME, settings.SELLER_ADDRESS, f"VAT ID {settings.SELLER_VAT_ID}"],
    )
    block(
        "Bill to",
        [
            order.billing_company or order.organization.name,
            order.billing_address,
            f"VAT ID {order.billing_vat_id}" if order.billing_vat_id else "",
        ],
    )
    block(
        "Details",
        [
            f"Issued {invoice.issued_at:%Y-%m-%d}, due {invoice.due_at:%Y-%m-%d}",
            f"Purchase order {order.po_number}",
            f"Order {order.pk}",
        ],
    )
    block(
        "Item",
        [
            f"License to {dataset.title}, version {order.version.number}",
            f"Terms SHA-256 {order.terms_sha256}",
        ],
    )
    pdf.set_font("Helvetica", "B", 12)
    currency = order.currency
    # Core PDF fonts lack some symbols (EUR, JPY): print the bare amount and the ISO code.
    amount = (
        format_minor(order.amount_minor, currency)
        .replace(CURRENCY_SYMBOLS.get(currency, currency), "")
        .replace(currency, "")
        .strip()
    )
    pdf.cell(
        0,
        8,
        _latin1(f"Amount due: {amount.strip()} {currency}"),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.set_font("Helvetica", "", 9)
    pdf.multi_cell(
        0,
        5,
        _latin1(
            "The license is granted when this invoice is paid. Quote the invoice number "
            "with your payment."
        ),
    )
    return bytes(pdf.output())
