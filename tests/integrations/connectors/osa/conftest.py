"""OSA fixtures.

- `osa_integration`: an OSA UC3 integration on OSA Stage (BASE below), credentials key/secret/domain.
- `osa_api`: the `responses` mock with helpers: `osa_api.fixture("GET", "/orders", "orders__waiting.json")`,
  `osa_api.error("POST", "/orders", status=409, code="duplicate_reference")`, `osa_api.calls_to("/orders")`.
- `emulator`: routes every call to BASE through Django's test client into the OSA emulator (seeded
  account DOMAIN), so flows run against the emulator's real contract implementation.
- `channel_order` / `make_sr`: a channel order and shipping requests to OSA, built directly in the DB.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.test import Client

from catalog.models import ChannelOption, Product
from integrations import services
from integrations.connectors.osa import emulator as emu
from integrations.connectors.osa.settings import BASE_URLS, STAGE
from integrations.models import Mapping
from inventory.models import InventoryLevel, Location
from orders.models import Order, OrderLine, ShippingRequest, ShippingRequestLine, ShippingRequestStatus

FIXTURES = Path(__file__).parent / "fixtures"
BASE = BASE_URLS[STAGE]
KEY, SECRET, DOMAIN = "osa-key-1", "osa-secret-1", "acme-uc3"


def load_fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


class OsaApi:
    def __init__(self, mock):
        self.mock = mock

    @staticmethod
    def url(path: str):
        return re.compile(re.escape(BASE + path) + r"(\?.*)?$")

    def ok(self, method: str, path: str, body: dict, status: int = 200, **kwargs):
        return self.mock.add(method, self.url(path), json=body, status=status, **kwargs)

    def fixture(self, method: str, path: str, name: str, status: int = 200, **kwargs):
        return self.mock.add(method, self.url(path), json=load_fixture(name), status=status, **kwargs)

    def error(
        self, method: str, path: str, *, status: int, code: str, message: str = "error", headers: dict | None = None, **extra
    ):
        return self.mock.add(
            method,
            self.url(path),
            json={"error": {"code": code, "message": message, **extra}},
            status=status,
            headers=headers or {},
        )

    def calls_to(self, path: str, method: str | None = None) -> list:
        return [
            c
            for c in self.mock.calls
            if urlsplit(c.request.url).path == urlsplit(BASE + path).path and (method is None or c.request.method == method)
        ]


@pytest.fixture
def osa_api(responses):
    return OsaApi(responses)


@pytest.fixture
def osa_integration(db):
    integration = services.integration_create(
        name="OSA",
        connector="osa",
        environment=STAGE,
        settings={"osa_environment": STAGE},
        credentials={"api_key": KEY, "api_secret": SECRET, "osa_domain": DOMAIN},
    )
    integration.remote_state = {"store_id": "1042"}
    integration.save(update_fields=["remote_state"])
    return integration


def settings_set(integration, **values):
    services.integration_update_settings(integration=integration, values={**integration.settings, **values})
    integration.refresh_from_db()


def run_flow(integration, code: str):
    state = integration.flow_states.get(flow=code)
    return services.flow_run(flow_state=state)


@pytest.fixture
def emulator(responses, db):
    """Forward BASE/* to the emulator views through Django's test client."""
    client = Client()
    prefix = "/integrations/osa/sandbox/api/v1"

    def forward(request):
        parts = urlsplit(request.url)
        path = prefix + parts.path[len(urlsplit(BASE).path) :]
        if parts.query:
            path += "?" + parts.query
        headers = {
            "HTTP_AUTHORIZATION": request.headers.get("Authorization", ""),
            "HTTP_X_OSA_DOMAIN": request.headers.get("X-OSA-Domain", ""),
        }
        body = request.body or b""
        response = client.generic(request.method, path, data=body, content_type="application/json", **headers)
        return response.status_code, {k: v for k, v in response.items() if k.lower() in ("retry-after",)}, response.content

    for method in ("GET", "POST", "PUT"):
        responses.add_callback(method, re.compile(re.escape(BASE) + r"/.*"), callback=forward)
    account = emu.emulator_seed(
        domain=DOMAIN, api_key=KEY, api_secret=SECRET, skus=["SKU-1", "SKU-2"], accept_delay_seconds=0, ship_delay_seconds=0
    )
    return account


@pytest.fixture
def products(db):
    return [
        Product.objects.create(sku="SKU-1", name="Blue mug", weight=Decimal("1.200")),
        Product.objects.create(sku="SKU-2", name="Red mug", weight=Decimal("0.800")),
    ]


@pytest.fixture
def osa_location(osa_integration):
    return Location.objects.create(integration=osa_integration, code="osa-nj", name="OSA New Jersey", external_id="OSA-NJ")


@pytest.fixture
def channel_order(fake_integration, products):
    order = Order.objects.create(
        integration=fake_integration,
        external_id="5770001",
        status="readyForFulfillment",
        shipping_method="Standard",
        shipping_address={
            "name": "Ann",
            "address1": "1 Main St",
            "city": "Newark",
            "state": "NJ",
            "zip": "07101",
            "country": "US",
        },
    )
    OrderLine.objects.create(order=order, sku="SKU-1", product=products[0], quantity=2, unit_price=Decimal("9.50"))
    OrderLine.objects.create(order=order, sku="SKU-2", product=products[1], quantity=1, unit_price=Decimal("5.00"))
    return order


@pytest.fixture
def make_sr(osa_integration, osa_location):
    counter = {"n": 0}

    def make(order, *, reference=None, method="Standard", status=ShippingRequestStatus.READY_FOR_FULFILLMENT, **kwargs):
        counter["n"] += 1
        sr = ShippingRequest.objects.create(
            order=order,
            integration=osa_integration,
            location=osa_location,
            reference=reference or f"SY-{order.external_id}-{counter['n']}",
            status=status,
            shipping_method=method,
            **kwargs,
        )
        for line in order.lines.all():
            ShippingRequestLine.objects.create(
                shipping_request=sr, order_line=line, product=line.product, sku=line.sku, quantity=line.quantity
            )
            # routing commits stock at the location (what the orders core does)
            level, _ = InventoryLevel.objects.get_or_create(product=line.product, location=osa_location, defaults={"on_hand": 20})
            level.committed += line.quantity
            level.available = level.on_hand - level.committed
            level.save()
        return sr

    return make


@pytest.fixture
def mapped(osa_integration):
    return Mapping.objects.create(integration=osa_integration, kind="shipping_method", source="Standard", target="OSA_GROUND")


@pytest.fixture
def osa_channel_sku(osa_integration, products):
    return ChannelOption.objects.create(product=products[0], integration=osa_integration, channel_sku="OSA-SKU-1")
