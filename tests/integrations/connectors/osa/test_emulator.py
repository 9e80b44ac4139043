"""The OSA emulator over Django's test client: auth, domains, rate limiting, the order lifecycle."""

import base64
import json

import pytest
from django.urls import reverse

from integrations.connectors.osa import emulator as emu
from integrations.connectors.osa.models import EmuAccount, EmuOrder

pytestmark = pytest.mark.django_db
API = "/integrations/osa/sandbox/api/v1"


def _auth(key="k", secret="s", domain="demo"):
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode(), "HTTP_X_OSA_DOMAIN": domain}


@pytest.fixture
def account():
    return emu.emulator_seed(
        domain="demo", api_key="k", api_secret="s", skus=["A", "B"], accept_delay_seconds=0, ship_delay_seconds=0
    )


def test_wrong_secret_is_401_unknown_domain_is_403(client, account):
    assert client.get(f"{API}/account", **_auth(secret="nope")).status_code == 401
    response = client.get(f"{API}/account", **_auth(domain="other"))
    assert response.status_code == 403 and response.json()["error"]["code"] == "unknown_domain"


def test_rate_limit_answers_429_with_retry_after(client, account):
    # given
    EmuAccount.objects.filter(pk=account.pk).update(rate_limit_per_minute=2)
    # when
    statuses = [client.get(f"{API}/locations", **_auth()).status_code for _ in range(3)]
    # then
    last = client.get(f"{API}/locations", **_auth())
    assert statuses == [200, 200, 429] and int(last["Retry-After"]) >= 1


def test_order_lifecycle_duplicate_reference_then_shipment(client, account):
    # given
    body = {
        "reference": "R1",
        "order_number": "1",
        "shipping_method": "standard",
        "warehouse_code": None,
        "managed_routing": True,
        "lines": [{"sku": "A", "quantity": 2, "product": {"sku": "A", "name": "A"}}],
    }
    # when
    created = client.post(f"{API}/orders", data=json.dumps(body), content_type="application/json", **_auth())
    duplicate = client.post(f"{API}/orders", data=json.dumps(body), content_type="application/json", **_auth())
    shipments = client.get(f"{API}/shipments", **_auth()).json()["shipments"]
    # then
    assert created.status_code == 201 and created.json()["order"]["number"] == "1042-R1"
    assert duplicate.status_code == 409 and duplicate.json()["error"] == {
        "code": "duplicate_reference",
        "message": "An order with reference R1 exists.",
        "order_id": created.json()["order"]["id"],
    }
    assert EmuOrder.objects.count() == 1 and shipments[0]["lines"] == [{"sku": "A", "quantity": 2}]
    inventory = {
        (r["sku"], r["location_code"]): r["fulfillable"] for r in client.get(f"{API}/inventory", **_auth()).json()["inventory"]
    }
    assert sum(v for (sku, _), v in inventory.items() if sku == "A") == 48


def test_cancel_after_shipping_is_already_shipped(client, account):
    body = {"reference": "R2", "shipping_method": "standard", "lines": [{"sku": "B", "quantity": 1}]}
    order_id = client.post(f"{API}/orders", data=json.dumps(body), content_type="application/json", **_auth()).json()["order"][
        "id"
    ]
    client.get(f"{API}/shipments", **_auth())
    response = client.post(f"{API}/orders/{order_id}/cancel", data="{}", content_type="application/json", **_auth())
    assert response.status_code == 409 and response.json()["error"]["code"] == "already_shipped"


def test_malformed_body_is_400_and_creates_nothing(client, account):
    response = client.post(f"{API}/orders", data="not json", content_type="application/json", **_auth())
    assert response.status_code == 400 and EmuOrder.objects.exists() is False


def test_emulator_routes_are_named_under_osa_namespace():
    assert reverse("integrations:osa:emu-orders") == f"{API}/orders"


def test_emulator_is_off_without_sandbox(client, account, settings):
    """No emulator route: the path falls to the admin's catch-all, as in production (the login page for anyone)."""
    settings.SANDBOX_ENABLED = False
    response = client.get(f"{API}/account", **_auth())
    assert (response.status_code, response.url) == (302, f"/login/?next={API}/account")
