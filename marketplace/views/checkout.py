"""Checkout and what follows it: the buyer's orders and licenses, the creator's sales, the staff
order desk and the public certificate check."""

import json
import secrets
from functools import partial

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.decorators import organization_required, staff_required
from accounts.errors import DomainError
from licensing import delivery as delivering
from licensing import selectors as licensing_selectors
from licensing import usage
from licensing.documents import certificate_pdf
from licensing.models import LicenseOption
from licensing.money import parse_major
from licensing.services import verify_certificate
from marketplace import selectors, services
from marketplace.documents import invoice_pdf
from marketplace.forms import CheckoutForm, RefundForm, UsageReportForm, VerifyForm
from marketplace.models import Order


def _option_on_sale(option_id: str) -> LicenseOption:
    option = (
        LicenseOption.objects.select_related("dataset__listing__version", "dataset__organization")
        .filter(pk=option_id, is_active=True, dataset__listing__status="published")
        .first()
    )
    if option is None:
        raise Http404("No such license option on sale.")
    return option


def _checkout_submitted(request, form, place_order):
    """Place the order with `place_order(**billing)` and pay a test card in test mode; the
    redirect to the order, or None with the refusal on the form."""
    if not form.is_valid():
        return None
    data = form.cleaned_data
    try:
        order = place_order(
            actor=request.user,
            organization=request.organization,
            payment_method=data["payment_method"],
            po_number=data["po_number"],
            billing_company=data["billing_company"],
            billing_address=data["billing_address"],
            billing_vat_id=data["billing_vat_id"],
            # A double submit of the same form places one order.
            idempotency_key=f"checkout-{data['checkout_token']}",
        )
        if order.payment_method == Order.PaymentMethod.CARD and settings.STRIPE_TEST_MODE:
            services.pay_with_test_card(order=order, card=data["test_card"] or "4242424242424242")
            messages.success(request, "Payment received. Your license is being issued.")
        elif order.payment_method == Order.PaymentMethod.INVOICE:
            messages.success(
                request, "Order placed. Your invoice is ready; the license follows payment."
            )
    except DomainError as error:
        form.add_error(None, error.message)
        return None
    return redirect("library:order", order_id=order.pk)


def _new_checkout_form() -> CheckoutForm:
    return CheckoutForm(initial={"checkout_token": secrets.token_urlsafe(16)})


@organization_required(side="buyer")
def checkout(request, option_id: str):
    option = _option_on_sale(option_id)
    form = _new_checkout_form()
    if request.method == "POST":
        form = CheckoutForm(request.POST)
        done = _checkout_submitted(request, form, partial(services.create_order, option=option))
        if done is not None:
            return done
    return render(
        request,
        "marketplace/checkout/checkout.html",
        {"option": option, "form": form, "test_mode": settings.STRIPE_TEST_MODE},
    )


@organization_required(side="buyer")
def agreement_checkout(request, agreement_id: str):
    """Check out an accepted agreement at the agreed price, by card or invoice."""
    agreement = selectors.agreement_to_order(
        organization=request.organization, agreement_id=agreement_id
    )
    if agreement is None:
        raise Http404("No such agreement.")
    live = selectors.live_order_of_agreement(agreement=agreement, now=timezone.now())
    if live is not None:
        messages.info(request, f"This agreement already has order {live.pk}.")
        return redirect("library:order", order_id=live.pk)
    form = _new_checkout_form()
    if request.method == "POST":
        form = CheckoutForm(request.POST)
        place = partial(services.create_order_from_agreement, agreement=agreement)
        done = _checkout_submitted(request, form, place)
        if done is not None:
            return done
    # Someone else's exclusive license may have begun since the agreement: say so up front
    # (placing the order would be refused for the same reason).
    unavailable = services.agreement_checkout_conflict(agreement=agreement, now=timezone.now())
    return render(
        request,
        "marketplace/checkout/checkout.html",
        {
            "agreement": agreement,
            "form": form,
            "unavailable": unavailable,
            "test_mode": settings.STRIPE_TEST_MODE,
        },
    )


@organization_required(side="buyer")
def orders(request):
    return render(
        request,
        "marketplace/checkout/orders.html",
        {"orders": selectors.orders_of(organization=request.organization)[:200]},
    )


def _own_order(request, order_id: str) -> Order:
    order = selectors.order_of(organization=request.organization, order_id=order_id)
    if order is None:
        raise Http404("No such order.")
    return order


@organization_required(side="buyer")
def order_detail(request, order_id: str):
    order = _own_order(request, order_id)
    client_secret = ""
    if (
        order.status == Order.Status.PENDING
        and order.payment_method == Order.PaymentMethod.CARD
        and not settings.STRIPE_TEST_MODE
    ):
        client_secret = services.start_card_payment(order=order)
    return render(
        request,
        "marketplace/checkout/order.html",
        {
            "order": order,
            "client_secret": client_secret,
            "publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
            "test_mode": settings.STRIPE_TEST_MODE,
        },
    )


@organization_required(side="buyer")
def order_invoice(request, order_id: str):
    order = _own_order(request, order_id)
    invoice = getattr(order, "invoice", None)
    if invoice is None:
        raise Http404("This order has no invoice.")
    response = HttpResponse(invoice_pdf(invoice), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{invoice.number}.pdf"'
    return response


@organization_required(side="buyer")
def licenses(request):
    return render(
        request,
        "marketplace/checkout/licenses.html",
        {"licenses": licensing_selectors.licenses_of(organization=request.organization)[:200]},
    )


def _own_license(request, license_id: str):
    license = licensing_selectors.license_of(
        organization=request.organization, license_id=license_id
    )
    if license is None:
        raise Http404("No such license.")
    return license


@organization_required(side="buyer")
def license_detail(request, license_id: str):
    return license_page(request, _own_license(request, license_id))


def license_page(request, license, *, usage_form=None, status: int = 200):
    """The buyer's license page; the usage report view renders it again with its form's errors."""
    files = []
    archive_url = ""
    if license.is_active:
        for item in licensing_selectors.deliveries_of(license=license).order_by("data_file__path"):
            files.append((item, reverse("licensing:download", args=[delivering.file_token(item)])))
        archive_url = reverse("licensing:download", args=[delivering.archive_token(license)])
    return render(
        request,
        "marketplace/checkout/license.html",
        {
            "license": license,
            "certificate": getattr(license, "certificate", None),
            "files": files,
            "archive_url": archive_url,
            "downloads": licensing_selectors.downloads_of(license=license)[:50],
            "link_seconds": settings.DOWNLOAD_LINK_SECONDS,
            "usage_reports": usage.usage_reports_of(
                organization=request.organization, license=license
            ),
            "usage_form": usage_form or UsageReportForm(),
            "must_report": usage.has_reporting_obligation(license.agreed_terms),
        },
        status=status,
    )


@organization_required(side="buyer")
def license_certificate(request, license_id: str, fmt: str):
    license = _own_license(request, license_id)
    certificate = getattr(license, "certificate", None)
    if certificate is None:
        raise Http404("The certificate is being issued.")
    if fmt == "pdf":
        response = HttpResponse(certificate_pdf(certificate), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="{license.pk}-certificate.pdf"'
        return response
    response = HttpResponse(
        json.dumps(certificate.envelope, indent=2, sort_keys=True),
        content_type="application/json",
    )
    response["Content-Disposition"] = f'attachment; filename="{license.pk}-certificate.json"'
    return response


@organization_required(side="creator")
def sales(request):
    return render(
        request,
        "marketplace/checkout/sales.html",
        {
            "sales": selectors.sales_of(organization=request.organization)[:200],
            "downloads": licensing_selectors.downloads_of_creator(
                organization=request.organization
            )[:100],
        },
    )


@staff_required
def staff_orders(request):
    status = request.GET.get("status", "")
    return render(
        request,
        "marketplace/checkout/staff_orders.html",
        {
            "orders": selectors.orders_for_staff(status=status)[:200],
            "statuses": Order.Status.choices,
            "status": status,
            "refund_form": RefundForm(),
        },
    )


@staff_required
@require_POST
def staff_refund(request, order_id: str):
    order = Order.objects.filter(pk=order_id).first()
    if order is None:
        raise Http404("No such order.")
    form = RefundForm(request.POST)
    try:
        amount = None
        if form.is_valid() and form.cleaned_data["amount"].strip():
            amount = parse_major(form.cleaned_data["amount"], order.currency)
        services.refund_order(
            actor=request.user,
            order=order,
            amount_minor=amount,
            reason=form.cleaned_data.get("reason", "") if form.is_valid() else "",
        )
        messages.success(request, f"Order {order.pk} refunded.")
    except (DomainError, ValueError) as error:
        messages.error(request, getattr(error, "message", str(error)))
    return redirect("review:orders")


@staff_required
@require_POST
def staff_mark_invoice_paid(request, order_id: str):
    order = Order.objects.filter(pk=order_id).first()
    if order is None:
        raise Http404("No such order.")
    try:
        services.mark_invoice_paid(actor=request.user, order=order)
        messages.success(request, f"Invoice of order {order.pk} marked paid; license granted.")
    except DomainError as error:
        messages.error(request, error.message)
    return redirect("review:orders")


def verify(request):
    """Public: is a certificate genuine, and is its license still active?"""
    result = None
    form = VerifyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        envelope = None
        text = form.cleaned_data["certificate"].strip()
        if text:
            try:
                envelope = json.loads(text)
            except ValueError:
                form.add_error("certificate", "That is not JSON.")
        if form.is_valid():
            result = verify_certificate(
                envelope=envelope, license_id=form.cleaned_data["license_id"].strip() or None
            )
    elif request.GET.get("license"):
        result = verify_certificate(license_id=request.GET["license"])
    return render(request, "marketplace/checkout/verify.html", {"form": form, "result": result})
