"""The soak runner's parts that need a database: the demo without traffic, one traffic round, the collectors on a
seeded sandbox, and the guards that refuse to run."""
import random
from types import SimpleNamespace

import pytest

from integrations.connectors.osa.models import EmuStock
from integrations.sandbox import soak, soak_checks
from integrations.sandbox.demo import demo_seed
from integrations.sandbox.models import EmuOrder


@pytest.fixture
def demo(db, settings):
    """The demo as the soak seeds it (soak.seed, without its migrate and bootstrap)."""
    settings.SANDBOX_ENABLED = True
    demo_seed(traffic=False, katana=False, acumatica=False, product_push=False)


def test_demo_without_traffic_places_no_order(demo):
    assert EmuOrder.objects.count() == 0


def test_traffic_tick_places_orders_and_changes_stock_at_the_source(demo):
    before = sum(EmuStock.objects.values_list("on_hand", flat=True))
    totals = soak.TrafficTotals()
    rng = random.Random(3)
    for _ in range(5):
        soak.traffic_tick(rng=rng, orders_per_shop=2, totals=totals)
    assert totals.orders == EmuOrder.objects.count() > 0
    after = sum(EmuStock.objects.values_list("on_hand", flat=True))
    assert totals.restocks + totals.shrinks == 5
    assert after - before == totals.restocked_units - totals.shrunk_units


def test_collectors_on_a_fresh_demo(demo):
    assert soak_checks.collect_orders().figures.startswith("emulator 0 ")
    stock = soak_checks.collect_stock()
    # Seeded: 200 of each SKU on both sides at the default warehouse (reported as Fulfillable, as the OSA flows
    # store it); the managed network is outside the OSA integration's processed location types: not compared.
    assert stock.ok, stock.render()
    assert stock.figures == "4 SKU×location rows, source fulfillable 800, hub available 800, unsent 0, mismatched 0"
    assert soak_checks.collect_ledger().ok
    assert soak_checks.collect_exceptions().ok
    assert soak_checks.in_flight()["hub orders open"] == 0


def test_collect_stock_names_a_hub_level_that_drifted_from_the_source(demo):
    from inventory.models import InventoryLevel

    level = InventoryLevel.objects.filter(location__integration__connector="osa", product__sku="CAP-RED").first()
    InventoryLevel.objects.filter(pk=level.pk).update(available=level.available - 4)
    result = soak_checks.collect_stock()
    assert result.problems == [f"CAP-RED @ {level.location.code}: source on hand 200, committed 0 (fulfillable 200); hub fulfillable 200, "
                       f"committed unseen 0, hub on hand 200, committed 0, available 196; hub unsent 0: available 196 ≠ source "
                       f"fulfillable 200 − hub unsent 0 = 200 (off by -4); available 196 ≠ hub fulfillable 200 − committed unseen 0"]


def test_refuses_sqlite_and_a_database_not_named_soak(monkeypatch):
    def configured(engine: str, name: str, redis_url: str = "redis://127.0.0.1:6379/15"):
        monkeypatch.setattr(soak, "settings", SimpleNamespace(DATABASES={"default": {"ENGINE": engine, "NAME": name}},
                                                              REDIS_URL=redis_url))

    configured("django.db.backends.sqlite3", "x_soak.sqlite3")
    with pytest.raises(soak.SoakError, match="runs on PostgreSQL"):
        soak.database_settings()
    configured("django.db.backends.postgresql", "switchyard")
    with pytest.raises(soak.SoakError, match="must contain 'soak'"):
        soak.database_settings()
    configured("django.db.backends.postgresql", "switchyard_soak", redis_url="")
    with pytest.raises(soak.SoakError, match="runs on the Redis broker"):
        soak.database_settings()
    configured("django.db.backends.postgresql", "switchyard_soak")
    assert soak.database_settings()["NAME"] == "switchyard_soak"


def test_refuses_when_postgresql_does_not_answer(settings):
    db = {"ENGINE": "django.db.backends.postgresql", "NAME": "x_soak", "HOST": "127.0.0.1", "PORT": 1, "USER": "postgres"}
    with pytest.raises(soak.SoakError, match="PostgreSQL at 127.0.0.1:1 is not reachable"):
        soak.services_check(db)


def test_exception_cause_follows_the_order_and_the_flows(demo):
    from django.utils import timezone

    from integrations import services
    from integrations.models import FlowState, Integration, OpsException
    from orders.models import Order

    us = Integration.objects.get(name="TikTok US")
    order = Order.objects.create(integration=us, external_id="o-1", status="readyForFulfillment")
    on_order = services.exception_raise(category=OpsException.Category.ROUTING, code="no_stock", message="no stock",
                                        dedup_key="t:1", integration=us, entity=order)
    on_flows = services.exception_raise(category=OpsException.Category.CONNECTOR, code="auth", message="auth failed",
                                        dedup_key="t:2", integration=us)
    assert soak_checks.exception_cause(on_order)[0] is False
    assert soak_checks.exception_cause(on_flows)[0] is False  # no flow has succeeded since
    assert soak_checks.collect_exceptions().ok

    Order.objects.filter(pk=order.pk).update(status="delivered")
    FlowState.objects.filter(integration=us).update(last_succeeded_at=timezone.now())
    on_order.refresh_from_db()
    on_flows.refresh_from_db()
    assert soak_checks.exception_cause(on_order) == (True, "order o-1 has settled (delivered)")
    assert soak_checks.exception_cause(on_flows) == (True, "every flow of its integration has succeeded since")
    result = soak_checks.collect_exceptions()
    assert len(result.problems) == 2 and result.figures.startswith("2 open, cause gone 2")
