"""Katana fixtures.

- `katana_integration`: a Katana MRP integration on Production with an API key.
- `katana_api`: the `responses` mock with helpers (`ok`, `listing`, `error`, `calls_to`), fixtures built from the
  reference (downstream_apis.md §1) under fixtures/.
- `emulator`: routes every call to Katana's base URL through Django's test client into the Katana emulator.
- `uk_order` / `make_sr`: a channel order and shipping requests routed to a Katana location.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.test import Client

from catalog.models import Product
from integrations import services
from integrations.connectors.katana import emulator as emu
from integrations.connectors.katana.settings import API_BASE_URL, PRODUCTION
from integrations.models import ExternalRef
from inventory.models import InventoryLevel, Location
from orders.models import Order, OrderLine, ShippingRequest, ShippingRequestLine, ShippingRequestStatus

FIXTURES = Path(__file__).parent / "fixtures"
BASE = API_BASE_URL
API_KEY = "katana-key-1"


def load_fixture(name: str):
    return json.loads((FIXTURES / name).read_text())


class KatanaApi:
    def __init__(self, mock):
        self.mock = mock

    @staticmethod
    def url(path: str):
        return re.compile(re.escape(BASE + path) + r"(\?.*)?$")

    def ok(self, method: str, path: str, body, status: int = 200, headers: dict | None = None, **kwargs):
        return self.mock.add(method, self.url(path), json=body, status=status, headers=headers or {}, **kwargs)

    def listing(self, path: str, items: list, *, page: int = 1, total_pages: int = 1, **kwargs):
        header = json.dumps({"total_records": str(len(items)), "total_pages": str(total_pages), "page": str(page)})
        return self.mock.add("GET", self.url(path), json={"data": items}, headers={"X-Pagination": header}, **kwargs)

    def fixture(self, method: str, path: str, name: str, status: int = 200, **kwargs):
        return self.ok(method, path, load_fixture(name), status=status, **kwargs)

    def error(self, method: str, path: str, *, status: int, body: dict | None = None, headers: dict | None = None):
        return self.mock.add(method, self.url(path), json=body or {"statusCode": status, "message": "error"}, status=status,
                             headers=headers or {})

    def calls_to(self, path: str, method: str | None = None) -> list:
        return [c for c in self.mock.calls
                if urlsplit(c.request.url).path == urlsplit(BASE + path).path and (method is None or c.request.method == method)]


@pytest.fixture
def katana_api(responses):
    return KatanaApi(responses)


@pytest.fixture
def katana_integration(db):
    return services.integration_create(
        name="Katana", connector="katana", environment=PRODUCTION,
        settings={"push_orders": True, "pull_fulfillments": True, "pull_products": True, "pull_inventory": True,
                  "customer_id": "1234"},
        credentials={"api_key": API_KEY},
    )


def settings_set(integration, **values):
    services.integration_update_settings(integration=integration, values={**integration.settings, **values})
    integration.refresh_from_db()


def run_flow(integration, code: str, **kwargs):
    state = integration.flow_states.get(flow=code)
    return services.flow_run(flow_state=state, **kwargs)


@pytest.fixture
def emulator(responses, db):
    """Forward BASE/* to the emulator views through Django's test client (headers included)."""
    client = Client()
    prefix = "/integrations/katana/sandbox/v1"

    def forward(request):
        parts = urlsplit(request.url)
        path = prefix + parts.path[len(urlsplit(BASE).path):]
        if parts.query:
            path += "?" + parts.query
        response = client.generic(request.method, path, data=request.body or b"", content_type="application/json",
                                  HTTP_AUTHORIZATION=request.headers.get("Authorization", ""))
        headers = {k: v for k, v in response.items() if k.lower() in ("retry-after", "x-pagination")}
        return response.status_code, headers, response.content

    for method in ("GET", "POST", "PATCH", "DELETE"):
        responses.add_callback(method, re.compile(re.escape(BASE) + r"/.*"), callback=forward)
    account = emu.emulator_seed(name="acme", api_key=API_KEY, variants=[
        {"sku": "SKU-1", "name": "Blue mug", "price": "9.50"}, {"sku": "SKU-2", "name": "Red mug", "price": "5.00"}])
    from integrations.connectors.katana.models import EmuObject

    EmuObject.objects.create(account=account, kind="customer", key="1234", data={"id": 1234, "name": "TikTok"})
    return account


@pytest.fixture
def products(db):
    return [Product.objects.create(sku="SKU-1", name="Blue mug"), Product.objects.create(sku="SKU-2", name="Red mug")]


@pytest.fixture
def katana_location(katana_integration):
    return Location.objects.create(integration=katana_integration, code="katana-1", name="Katana main", external_id="1")


@pytest.fixture
def channel(db):
    return services.integration_create(name="TikTok UK", connector="fake")


@pytest.fixture
def uk_order(channel, products):
    order = Order.objects.create(
        integration=channel, external_id="5770001", status="readyForFulfillment", currency="GBP",
        shipping_total=Decimal("3.99"),
        shipping_address={"name": "Ann Lee", "address1": "1 High St", "city": "Leeds", "zip": "LS1 1AA",
                          "country_code": "GB", "phone": "+44100"},
    )
    OrderLine.objects.create(order=order, sku="SKU-1", product=products[0], quantity=2, unit_price=Decimal("9.50"))
    OrderLine.objects.create(order=order, sku="SKU-2", product=products[1], quantity=1, unit_price=Decimal("5.00"))
    return order


@pytest.fixture
def make_sr(katana_integration, katana_location):
    counter = {"n": 0}

    def make(order, *, reference=None, status=ShippingRequestStatus.READY_FOR_FULFILLMENT, **kwargs):
        counter["n"] += 1
        sr = ShippingRequest.objects.create(order=order, integration=katana_integration, location=katana_location,
                                            reference=reference or f"SY-{order.external_id}-{counter['n']}", status=status,
                                            **kwargs)
        for line in order.lines.all():
            ShippingRequestLine.objects.create(shipping_request=sr, order_line=line, product=line.product, sku=line.sku,
                                               quantity=line.quantity)
            level, _ = InventoryLevel.objects.get_or_create(product=line.product, location=katana_location,
                                                            defaults={"on_hand": 20})
            level.committed += line.quantity
            level.available = level.on_hand - level.committed
            level.save()
        return sr

    return make


def bind_variant(integration, product, variant_id: int):
    services.external_refs_bind(integration=integration, kind="variant", rows=[{"external_id": str(variant_id), "local": product}])
    return ExternalRef.objects.get(integration=integration, kind="variant", external_id=str(variant_id))
