"""POST /api/v1/orders/{id}/test-payment/: in test mode a procurement system pays its card order
with a Stripe test card (against localstripe), as the checkout page's test card does; nothing
else can be paid this way, and other organizations' orders answer 404."""

import pytest
from rest_framework.test import APIClient

from licensing.models import License
from marketplace.models import Order

pytestmark = pytest.mark.usefixtures("stripe_settings")


@pytest.fixture
def option(make_listing):
    return make_listing().dataset.license_options.get()


@pytest.fixture
def buyer_api(api_client, cast, key_for):
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.buyer_org)}")
    return api_client


def place(client, option, **body) -> dict:
    response = client.post("/api/v1/orders/", {"option": option.pk, **body}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def pay_url(order: dict) -> str:
    return f"/api/v1/orders/{order['id']}/test-payment/"


def test_a_test_card_pays_the_card_order_and_the_license_follows(buyer_api, option, cast):
    order = place(buyer_api, option)
    assert order["card_payment"]["client_secret"].startswith("pi_")
    response = buyer_api.post(pay_url(order), {"card": "4242424242424242"}, format="json")
    assert response.status_code == 200, response.content
    paid = response.json()
    assert paid["id"] == order["id"] and paid["payment_state"] == "paid"
    assert paid["license"].startswith("lic_") and paid["paid_at"]
    license = License.objects.get(pk=paid["license"])
    assert license.organization == cast.buyer_org and license.status == "active"
    assert buyer_api.get(f"/api/v1/orders/{order['id']}/").json()["license"] == license.pk


def test_the_card_defaults_to_the_one_that_succeeds(buyer_api, option):
    order = place(buyer_api, option)
    response = buyer_api.post(pay_url(order), {}, format="json")
    assert response.status_code == 200 and response.json()["payment_state"] == "paid"


def test_a_declined_test_card_answers_400_and_leaves_the_order_awaiting_payment(buyer_api, option):
    order = place(buyer_api, option)
    response = buyer_api.post(pay_url(order), {"card": "pm_card_chargeCustomerFail"}, format="json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "card_declined"
    assert Order.objects.get(pk=order["id"]).status == "pending"
    assert not License.objects.exists()


def test_an_unknown_card_answers_400_problem_json(buyer_api, option):
    order = place(buyer_api, option)
    response = buyer_api.post(pay_url(order), {"card": "4000000000000002"}, format="json")
    assert response.status_code == 400 and "card" in response.json()["errors"]
    assert Order.objects.get(pk=order["id"]).status == "pending"


def test_a_paid_order_or_an_invoice_order_cannot_be_paid_by_test_card(buyer_api, option):
    order = place(buyer_api, option)
    assert buyer_api.post(pay_url(order), {}, format="json").status_code == 200
    again = buyer_api.post(pay_url(order), {}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "not_awaiting_card"
    invoice = place(
        buyer_api, option, payment_method="invoice", po_number="PO-1", billing_company="Buyers"
    )
    response = buyer_api.post(pay_url(invoice), {}, format="json")
    assert response.status_code == 409
    assert Order.objects.get(pk=invoice["id"]).status == "pending"
    assert License.objects.count() == 1


def test_outside_test_mode_test_cards_answer_409(buyer_api, option, settings):
    order = place(buyer_api, option)
    settings.STRIPE_TEST_MODE = False
    response = buyer_api.post(pay_url(order), {}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "not_test_mode"
    assert Order.objects.get(pk=order["id"]).status == "pending"


def test_a_retry_with_the_same_idempotency_key_replays_the_payment(buyer_api, option):
    order = place(buyer_api, option)
    first = buyer_api.post(pay_url(order), {}, format="json", HTTP_IDEMPOTENCY_KEY="pay-1")
    again = buyer_api.post(pay_url(order), {}, format="json", HTTP_IDEMPOTENCY_KEY="pay-1")
    assert first.status_code == again.status_code == 200
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert License.objects.count() == 1


def test_another_organization_gets_404_and_pays_nothing(buyer_api, option, cast, key_for):
    order = place(buyer_api, option)
    outsider = APIClient()
    outsider.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.outsider_org)}")
    response = outsider.post(pay_url(order), {}, format="json")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert Order.objects.get(pk=order["id"]).status == "pending"


def test_a_key_without_the_orders_scope_gets_403(buyer_api, option, cast, key_for):
    order = place(buyer_api, option)
    buyer_api.credentials(
        HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.buyer_org, ['licenses:read'])}"
    )
    response = buyer_api.post(pay_url(order), {}, format="json")
    assert response.status_code == 403
    assert Order.objects.get(pk=order["id"]).status == "pending"
