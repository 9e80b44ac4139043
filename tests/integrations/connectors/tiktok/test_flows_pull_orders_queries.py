"""pull_orders at the minimum: one search call per page of new orders, and a page's SQL queries pinned whatever the
number of orders on it (the ingest is bulk per page: one lookup of the page's orders, inserts returning their pks,
one timeline event per new order)."""
import copy
import time

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext

from integrations import services
from integrations.connectors.tiktok import constants as c
from integrations.connectors.tiktok.flows_orders import PullOrders
from orders.models import Order, OrderEvent
from tests.integrations.connectors.tiktok.conftest import envelope, load_fixture
from tests.orders import factories as f

pytestmark = pytest.mark.django_db


def _orders(count: int) -> list[dict]:
    """Placed 5 minutes ago: all wait out TikTok's default 60-minute hold (ingestion only, no routing)."""
    template = load_fixture("orders_detail__standard.json")["data"]["orders"][0]
    now = int(time.time())
    out = []
    for n in range(count):
        order = copy.deepcopy(template)
        order["id"] = str(576800000000000000 + n)
        order["create_time"], order["update_time"] = now - 300, now - 200 + n
        for i, item in enumerate(order["line_items"]):
            item["id"] = f"{order['id']}{i}"
        out.append(order)
    return out


@pytest.mark.parametrize("count", [3, 40])
def test_page_of_new_orders_takes_one_call_and_a_fixed_number_of_queries(tiktok_integration, tiktok_api, monkeypatch, count):
    # given: products known, no hold rule or routing in play beyond the default; one search page of `count` orders
    for sku in ("TEE-BLK-L", "CAP-RED"):
        f.product(sku)
    services.integration_update_settings(integration=tiktok_integration, values={
        **tiktok_integration.settings, "orders_exclude_before": "2025-01-01T00:00:00+00:00"})
    tiktok_api.mock.add("POST", tiktok_api._url(c.PATH_ORDERS_SEARCH),
                        json=envelope({"orders": _orders(count), "next_page_token": ""}))
    counted = []
    real_apply = PullOrders.apply

    def apply(self, page, result):
        with CaptureQueriesContext(connection) as captured:
            real_apply(self, page, result)
        counted.append((len(page.items), len(captured.captured_queries)))

    monkeypatch.setattr(PullOrders, "apply", apply)
    ContentType.objects.clear_cache()  # the same count whichever test ran first (the bindings read it once per process)
    # when
    run = services.flow_run(flow_state=tiktok_integration.flow_states.get(flow="pull_orders"))
    # then
    assert (run.status, run.created, run.api_calls) == ("succeeded", count, 1), run.errors
    assert OrderEvent.objects.filter(kind="created").count() == count == Order.objects.count()
    assert OrderEvent.objects.count() == count  # one event per new order (held: nothing else happened)
    assert set(Order.objects.values_list("status", flat=True)) == {"onHold"}
    # refs, orders, products, hold rules, inserts (orders, lines, events: integrations/bulk_insert.py), bindings:
    # PostgreSQL: the same whatever the page size (the order pks reserved in one query, then one COPY per table);
    # SQLite splits the multi-row order insert by its variable limit (999 values: 27 orders of 36 columns) and writes
    # lines and events by executemany
    expected = {"postgresql": {3: 12, 40: 12}, "sqlite": {3: 11, 40: 12}}[connection.vendor][count]
    assert counted[0] == (count, expected), counted
