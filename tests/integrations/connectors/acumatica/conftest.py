"""Acumatica fixtures.

- `acu_integration`: an Acumatica integration on INSTANCE (Default/23.200.001), connected (tokens stored, valid).
- `acu_api`: the `responses` mock with helpers: `acu_api.fixture("PUT", "/SalesOrder", "salesorder_create__ok.json")`,
  `acu_api.none_found()` (the look-up every create is followed by finds no other order), `acu_api.calls_to("/SalesOrder", "PUT")`.
- `limiter`: the shared outbound limiter stubbed, recording every slot and pause.
- `emulator`: routes every call to INSTANCE through Django's test client into the Acumatica emulator (seeded tenant).
- `channel_order` / `make_sr` / `mapped`: a TikTok-like channel order and shipping requests routed to Acumatica.
"""
from __future__ import annotations

import json
import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from catalog.models import Product
from integrations import services
from integrations.connectors.acumatica import client as client_module
from integrations.connectors.acumatica import emulator as emu
from integrations.models import Integration, Mapping
from inventory.models import InventoryLevel, Location
from orders.models import Order, OrderLine, ShippingRequest, ShippingRequestLine, ShippingRequestStatus

FIXTURES = Path(__file__).parent / "fixtures"
INSTANCE = "https://acme.acumatica.example/AcumaticaERP"
BASE = INSTANCE + "/entity/Default/23.200.001"
CLIENT_ID, CLIENT_SECRET = "88358B02-A48D-A50E-F710-39C1636C30F6@Acme", "connected-app-secret-1"


def load_fixture(name: str):
    return json.loads((FIXTURES / name).read_text())


class AcuApi:
    def __init__(self, mock):
        self.mock = mock

    @staticmethod
    def url(path: str):
        return re.compile(re.escape(BASE + path) + r"(\?.*)?$")

    def ok(self, method: str, path: str, body, status: int = 200, **kwargs):
        return self.mock.add(method, self.url(path), json=body, status=status, **kwargs)

    def fixture(self, method: str, path: str, name: str, status: int = 200, **kwargs):
        return self.mock.add(method, self.url(path), json=load_fixture(name), status=status, **kwargs)

    def none_found(self):
        """The look-up after a create (GET SalesOrder by CustomerOrder) answers an empty list: no duplicate (the
        created order itself is counted by the flow even when the list does not show it yet)."""
        return self.ok("GET", "/SalesOrder", [])

    def calls_to(self, path: str, method: str | None = None) -> list:
        return [c for c in self.mock.calls
                if urlsplit(c.request.url).path == urlsplit(BASE + path).path and (method is None or c.request.method == method)]


@pytest.fixture
def acu_api(responses):
    return AcuApi(responses)


@pytest.fixture(autouse=True)
def limiter(monkeypatch):
    """The shared limiter stubbed: records (key) per slot and (key, seconds) per pause."""
    calls = {"slots": [], "pauses": []}
    monkeypatch.setattr(client_module, "outbound_slot_acquire",
                        lambda *, key, limit, per_seconds, max_wait=60.0: calls["slots"].append((key, limit, per_seconds)) or 0.0)
    monkeypatch.setattr(client_module, "outbound_pause", lambda *, key, seconds: calls["pauses"].append((key, seconds)))
    monkeypatch.setattr(client_module, "ACTION_POLL_INTERVAL", 0)
    return calls


def connect_tokens(integration: Integration, *, access: str = "acc-1", refresh: str = "ref-1", expires_in: int = 3600) -> None:
    creds = integration.get_credentials()
    creds.update(access_token=access, refresh_token=refresh)
    integration.set_credentials(creds)
    integration.auth_expires_at = timezone.now() + timedelta(seconds=expires_in)
    integration.status = Integration.Status.CONNECTED
    integration.save()


@pytest.fixture
def acu_integration(db):
    integration = services.integration_create(
        name="Acumatica", connector="acumatica",
        settings={"push_orders": True, "generic_customer_id": "TIKTOK", "push_canceled_orders": True},
        credentials={"api_url": INSTANCE, "api_endpoint": "", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})
    connect_tokens(integration)
    return integration


def settings_set(integration, **values):
    services.integration_update_settings(integration=integration, values={**integration.settings, **values})
    integration.refresh_from_db()


def run_flow(integration, code: str):
    state = integration.flow_states.get(flow=code)
    return services.flow_run(flow_state=state)


@pytest.fixture
def products(db):
    return [Product.objects.create(sku="SKU-1", name="Blue mug", price=Decimal("9.50")),
            Product.objects.create(sku="SKU-2", name="Red mug", price=Decimal("5.00"))]


@pytest.fixture
def acu_location(acu_integration):
    return Location.objects.create(integration=acu_integration, code="acu-main", name="Acumatica MAIN", external_id="MAIN")


@pytest.fixture
def channel_order(fake_integration, products):
    order = Order.objects.create(
        integration=fake_integration, external_id="5770001", status="readyForFulfillment", shipping_method="Standard",
        payment_method="Credit card",
        shipping_address={"name": "Ana Diaz", "address1": "100 Main St", "address2": "Apt 4", "city": "Austin", "state": "TX",
                          "zip": "78701", "country": "US", "phone": "+15125550100"})
    OrderLine.objects.create(order=order, sku="SKU-1", product=products[0], quantity=2, unit_price=Decimal("9.50"))
    OrderLine.objects.create(order=order, sku="SKU-2", product=products[1], quantity=1, unit_price=Decimal("5.00"))
    return order


@pytest.fixture
def make_sr(acu_integration, acu_location):
    counter = {"n": 0}

    def make(order, *, reference=None, method="Standard", status=ShippingRequestStatus.READY_FOR_FULFILLMENT, **kwargs):
        counter["n"] += 1
        sr = ShippingRequest.objects.create(order=order, integration=acu_integration, location=acu_location,
                                            reference=reference or f"SY-{order.external_id}-{counter['n']}", status=status,
                                            shipping_method=method, **kwargs)
        for line in order.lines.all():
            ShippingRequestLine.objects.create(shipping_request=sr, order_line=line, product=line.product, sku=line.sku,
                                               quantity=line.quantity)
            level, _ = InventoryLevel.objects.get_or_create(product=line.product, location=acu_location, defaults={"on_hand": 20})
            level.committed += line.quantity
            level.available = level.on_hand - level.committed
            level.save()
        return sr

    return make


@pytest.fixture
def mapped(acu_integration):
    return [Mapping.objects.create(integration=acu_integration, kind="shipping_method", source="Standard", target="UPSGROUND"),
            Mapping.objects.create(integration=acu_integration, kind="payment_method", source="*", target="TTS")]


@pytest.fixture
def emulator(responses, db):
    """Forward INSTANCE/* to the emulator views through Django's test client; seed tenant 'acme'."""
    client = Client()
    prefix = "/integrations/acumatica/sandbox"

    def forward(request):
        parts = urlsplit(request.url)
        path = prefix + parts.path[len(urlsplit(INSTANCE).path):]
        if parts.query:
            path += "?" + parts.query
        headers = {"HTTP_AUTHORIZATION": request.headers.get("Authorization", "")}
        for h in ("If-None-Match", "If-Match"):
            if request.headers.get(h):
                headers["HTTP_" + h.upper().replace("-", "_")] = request.headers[h]
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        content_type = request.headers.get("Content-Type", "application/json")
        response = client.generic(request.method, path, data=body, content_type=content_type, **headers)
        keep = {k: v for k, v in response.items() if k.lower() in ("retry-after", "location")}
        if "Location" in keep:
            keep["Location"] = keep["Location"].replace("http://testserver" + prefix, INSTANCE)
        return response.status_code, keep, response.content

    for method in ("GET", "POST", "PUT"):
        responses.add_callback(method, re.compile(re.escape(INSTANCE) + r"/.*"), callback=forward)
    return emu.emulator_seed(name="acme", client_id=CLIENT_ID, client_secret=CLIENT_SECRET, customers=("TIKTOK",),
                             ship_vias=("UPSGROUND",), payment_methods=("TTS",), warehouses=(("MAIN", "Main warehouse"),),
                             items=("SKU-1", "SKU-2"), quantity=30, ship_delay_seconds=3600, action_polls=2)
