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


def _plain_amount(amount_minor: int, currency: str) -> str:
    # Core PDF fonts lack some symbols (EUR, JPY): print the bare amount and the ISO code.
    text = format_minor(amount_minor, currency)
    text = text.replace(CURRENCY_SYMBOLS.get(currency, currency), "").replace(currency, "")
    return f"{text.strip()} {currency}"


def statement_pdf(statement) -> bytes:
    """A royalty statement as PDF: the totals, then every line with its source."""
    pdf = FPDF()
    period = f"{statement.period_starts_on:%B %Y}"
    pdf.set_title(f"Royalty statement {period}")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, _latin1(f"Royalty statement, {period}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    for text in (
        f"{statement.organization.name} - statement {statement.pk}",
        f"Issued {statement.issued_at:%Y-%m-%d %H:%M} UTC by {settings.SELLER_LEGAL_NAME}",
        f"Period {statement.period_starts_on:%Y-%m-%d} to {statement.period_ends_on:%Y-%m-%d}"
        " (exclusive)",
    ):
        pdf.cell(0, 5, _latin1(text), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    currency = statement.currency
    for label, amount in (
        ("Gross sales", statement.gross_sales_minor),
        ("Refunds", -statement.refunds_minor),
        ("Platform fee", -statement.platform_fee_minor),
        ("Metered usage", statement.metered_minor),
        ("Net owed", statement.net_minor),
    ):
        pdf.set_font("Helvetica", "B" if label == "Net owed" else "", 11)
        pdf.cell(60, 6, _latin1(label))
        pdf.cell(50, 6, _latin1(_plain_amount(amount, currency)), align="R", new_x="LMARGIN",
                 new_y="NEXT")  # fmt: skip
    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 9)
    for width, title in ((24, "Date"), (30, "Kind"), (100, "Description"), (36, "Amount")):
        pdf.cell(width, 6, title, border="B")
    pdf.ln()
    pdf.set_font("Helvetica", "", 8)
    for line in statement.lines.all():
        pdf.cell(24, 5, f"{line.occurred_at:%Y-%m-%d}")
        pdf.cell(30, 5, _latin1(line.get_kind_display()[:20]))
        mark = " (adjustment)" if line.is_adjustment else ""
        pdf.cell(100, 5, _latin1((line.description + mark)[:68]))
        pdf.cell(36, 5, _latin1(_plain_amount(line.amount_minor, currency)), align="R")
        pdf.ln()
    return bytes(pdf.output())
