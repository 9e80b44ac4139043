"""API calls ÷ theoretical minimum, per flow of every connector (issue #14 item 1). Not part of the test suite.

    make benchmark-api
    .venv/bin/python -m tests.benchmarks.bench_api_calls [--orders 250]

Set-up as in bench_inventory_latency (imported, not copied): a test database, the sandbox demo seeded (demo_seed,
no traffic; every source read once, every TikTok listing pushed once), every HTTP call to SITE_URL answered by the
in-process emulators through the Django test client, tasks inline. Then a KNOWN workload is created in the emulators
(and, for pushes, in Switchyard through its own services: orders pulled, held, routed), every flow the registry lists
runs through the engine (integrations.services.flow_run), and its API calls are read from its SyncRun rows
(SyncRun.api_calls: what the flow's clients counted). Every run of the flow since the workload was made is summed:
one asked inline by the engine (the TikTok inventory push an inventory pull asks for) and the further runs of a push
that takes a bounded batch per run (Katana: 200 requests, 50 FBT orders) count for the same workload.

The theoretical minimum is computed from the API facts in /work/shared/reference/ (section cited per row) for the same
workload: ceil(rows / the API's maximum page size) for a list, one call per record where the API has no batch
endpoint, one call per batch where it has one. Every flow of the registry is either measured or listed with the
reason it is not (asserted). Results: artifacts/benchmarks/api_calls.json (README table: readme_table.py)."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone as dt_timezone
from pathlib import Path
from urllib.parse import urlsplit

import requests

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django  # noqa: E402

django.setup()

import responses  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import F, Max  # noqa: E402
from django.utils import timezone  # noqa: E402

from integrations import registry, services  # noqa: E402
from integrations.connectors.tiktok.images import ImageSource  # noqa: E402
from integrations.models import FlowState, Integration, Mapping, SyncRun  # noqa: E402
from tests.benchmarks.api_calls_metrics import (  # noqa: E402
    Term, coverage, endpoint, fixed, minimum, pages, per_record, ratio, table,
)
from tests.benchmarks.bench_inventory_latency import seeded_sandbox  # noqa: E402
from tests.benchmarks.bench_pull_orders import machine  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "artifacts/benchmarks/api_calls.json"
TIKTOK, OSA, KATANA, ACUMATICA = "tiktok", "osa", "katana", "acumatica"
# The demo's integrations (integrations/sandbox/demo.py) each flow is measured on.
US, UK, WHOLESALE = "TikTok US", "TikTok UK", "TikTok US Wholesale"
OSA_NAME, KATANA_NAME, ACUMATICA_NAME = "OSA (sandbox)", "Katana (sandbox)", "Acumatica (sandbox)"
REF_TIKTOK, REF_DOWN = "tiktok_api.md", "downstream_apis.md"
OSA_CONTRACT = "osa/README.md wire contract (assumed: downstream_apis.md §3.1, OSA publishes none)"


# --- measuring -------------------------------------------------------------------------------------------------------

@dataclass
class Row:
    connector: str
    flow: str
    integration: str
    workload: str
    calls: int
    runs: int
    minimum: dict
    ratio: float | None
    explanation: str = ""
    endpoints: dict = field(default_factory=dict)


# URL path prefix of each connector's emulator (for the per-endpoint breakdown).
PREFIX = {TIKTOK: "/integrations/sandbox/tiktok/", OSA: "/integrations/osa/", KATANA: "/integrations/katana/",
          ACUMATICA: "/integrations/acumatica/"}


class Bench:
    """The measured rows and the flows listed as not driven. `window()` marks where a workload starts: `record()` sums
    the api_calls of every run of the flow since then (its own run and any the engine chained inline)."""

    def __init__(self, mock: responses.RequestsMock, n: int) -> None:
        self.mock, self.n = mock, n
        self.rows: list[Row] = []
        self.not_measured: dict[tuple[str, str], str] = {}
        self.window()

    def window(self) -> None:
        self.mark = SyncRun.objects.aggregate(m=Max("pk"))["m"] or 0
        self.http_mark = len(self.mock.calls)

    def record(self, connector: str, flow: str, name: str, workload: str, terms: list[Term], explanation: str = "") -> Row:
        runs = list(SyncRun.objects.filter(pk__gt=self.mark, integration__name=name, flow=flow)
                    .values_list("api_calls", "status"))
        failed = sum(1 for _, status in runs if status == "failed")
        if failed:
            raise RuntimeError(f"{name} {flow}: {failed} failed run(s)")
        calls = sum(c for c, _ in runs)
        least = minimum(terms)
        value = ratio(calls, least["calls"])
        row = Row(connector, flow, name, workload, calls, len(runs), least, value,
                  "" if value == 1.0 else (explanation or "UNEXPLAINED"), self.endpoints(connector, name))
        self.rows.append(row)
        print(f"{connector:9} {flow:26} {calls:5} / {least['calls']:5} = {value}  [{workload}] {row.endpoints}", flush=True)
        return row

    def endpoints(self, connector: str, name: str) -> dict:
        """Calls since the mark by endpoint, to this connector's emulator (for TikTok: to the integration's shop)."""
        from integrations.sandbox.models import EmuShop

        prefix, shop = PREFIX[connector], ""
        if connector == TIKTOK:
            shop = f"shop_cipher={EmuShop.objects.get(shop_id=Integration.objects.get(name=name).remote_account_id).cipher}"
        counts = Counter(endpoint(c.request.method, c.request.url) for c in list(self.mock.calls)[self.http_mark:]
                         if urlsplit(c.request.url).path.startswith(prefix) and shop in c.request.url)
        return dict(sorted(counts.items()))

    def skip(self, connector: str, flow: str, reason: str) -> None:
        self.not_measured[(connector, flow)] = reason


def run(name: str, flow: str, **kwargs) -> SyncRun:
    flow_state = FlowState.objects.select_related("integration").get(integration__name=name, flow=flow)
    result = services.flow_run(flow_state=flow_state, trigger="schedule", **kwargs)
    if result.status not in ("succeeded", "partial"):
        raise RuntimeError(f"{name} {flow}: {result.status} {result.error_message} {result.errors[:3]}")
    return result


def settings_set(name: str, **values) -> None:
    integration = Integration.objects.get(name=name)
    Integration.objects.filter(pk=integration.pk).update(settings={**integration.settings, **values})


def limits_off() -> None:
    """The emulators' own rate limits out of the way (the benchmark counts calls; it does not time them), and their
    shipping clocks stopped."""
    from integrations.connectors.acumatica.models import EmuInstance
    from integrations.connectors.katana.models import EmuAccount as KatanaAccount
    from integrations.connectors.osa.models import EmuAccount as OsaAccount
    from integrations.sandbox.models import EmuShop

    EmuShop.objects.update(qps=100_000)
    # Nothing ships by itself while the orders are pushed and canceled: phase_fulfillments ships them.
    OsaAccount.objects.update(rate_limit_per_minute=1_000_000, accept_delay_seconds=10**6, ship_delay_seconds=10**6)
    KatanaAccount.objects.update(rate_limit=1_000_000, deliver_after_seconds=0)
    EmuInstance.objects.update(rate_limit_per_minute=1_000_000, ship_delay_seconds=10**6)


def main(argv: list[str] | None = None) -> int:
    for noisy in ("django-q", "django.request"):  # sync task warnings, emulators' expected 4xx answers
        logging.getLogger(noisy).setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=250, help="orders per shop, and rows per list, in the workload (250)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    with seeded_sandbox() as mock:
        limits_off()
        bench = Bench(mock, args.orders)
        for phase in PHASES:
            bench.window()
            phase(bench)
        report = build_report(bench)
    print()
    print(table(report))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten {OUT.relative_to(ROOT)}")
    return 0


def build_report(bench: Bench) -> dict:
    flows = [(c.code, f.code) for c in registry.CONNECTORS.values() for f in c.flows]
    missing = coverage(flows, [(r.connector, r.flow) for r in bench.rows], bench.not_measured)
    if missing:
        raise SystemExit(f"flows neither measured nor listed: {missing}")
    return {"benchmark": "api_calls", "database": connection.vendor, "orders": bench.n,
            "date": datetime.now(dt_timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
            "summary": {"registry_flows": len(flows), "measured": len(bench.rows),
                        "at_minimum": sum(1 for r in bench.rows if r.ratio == 1.0), "not_measured": len(bench.not_measured)},
            "flows": [asdict(r) for r in bench.rows],
            "not_measured": [{"connector": c, "flow": f, "reason": why} for (c, f), why in bench.not_measured.items()]}


# --- workloads -------------------------------------------------------------------------------------------------------

def synthetic_skus(n: int) -> list[str]:
    return [f"BENCH-{i:04d}" for i in range(1, n + 1)]


def phase_locations(b: Bench) -> None:
    """Locations: one unpaged list per source (the demo's warehouses); Acumatica's push creates the hub's new ones."""
    from integrations.sandbox.models import EmuShop, EmuWarehouse
    from inventory.models import Location

    shop = EmuShop.objects.get(name="Sandbox Shop US")
    run(US, "pull_locations")
    b.record(TIKTOK, "pull_locations", US, f"{EmuWarehouse.objects.filter(shop=shop).count()} warehouse(s)",
             [fixed(1, "Get Warehouse List (unpaged)", f"{REF_TIKTOK} §7")])
    run(OSA_NAME, "pull_locations")
    b.record(OSA, "pull_locations", OSA_NAME, "2 OSA locations", [fixed(1, "GET /locations (unpaged)", OSA_CONTRACT)])
    run(KATANA_NAME, "pull_locations")
    b.record(KATANA, "pull_locations", KATANA_NAME, "1 Katana location",
             [pages(1, 250, "GET /locations", f"{REF_DOWN} §1.2, §1.4 Locations")])
    run(ACUMATICA_NAME, "pull_locations")
    b.record(ACUMATICA, "pull_locations", ACUMATICA_NAME, "1 warehouse",
             [fixed(1, "GET /Warehouse (one list)", f"{REF_DOWN} §2.4, §2.7 Warehouse")])
    b.window()
    acu = Integration.objects.get(name=ACUMATICA_NAME)
    for i in range(3):
        Location.objects.create(integration=acu, code=f"bench-wh{i}", name=f"Bench warehouse {i}", external_id="")
    settings_set(ACUMATICA_NAME, locations_direction="push")
    run(ACUMATICA_NAME, "push_locations")
    settings_set(ACUMATICA_NAME, locations_direction="pull")
    b.record(ACUMATICA, "push_locations", ACUMATICA_NAME, "3 new hub locations",
             [per_record(3, "PUT /Warehouse per location (no batch)", f"{REF_DOWN} §2.4")])


def phase_inventory(b: Bench) -> None:
    """N extra stock rows at every source, plus one unit out of each demo SKU (so the chained TikTok push has work)."""
    from integrations.connectors.acumatica import emulator as acu_emulator
    from integrations.connectors.acumatica.models import EmuInstance, EmuRecord
    from integrations.connectors.katana import emulator as katana_emulator
    from integrations.connectors.katana.models import EmuAccount as KatanaAccount, EmuObject
    from integrations.connectors.osa import emulator as osa_emulator
    from integrations.connectors.osa.models import EmuAccount as OsaAccount, EmuStock
    from integrations.sandbox import demo

    n, extra = b.n, synthetic_skus(b.n)
    demo_skus = [sku for sku, *_ in demo.VARIANTS + demo.SIMPLE]
    osa = OsaAccount.objects.get(domain=demo.OSA_DOMAIN)
    osa_emulator.emulator_seed(domain=osa.domain, api_key=osa.api_key, api_secret=osa.api_secret, store_id=osa.store_id,
                               skus=extra, quantity=50, accept_delay_seconds=osa.accept_delay_seconds,
                               ship_delay_seconds=osa.ship_delay_seconds, rate_limit_per_minute=osa.rate_limit_per_minute)
    EmuStock.objects.filter(account=osa, sku__in=demo_skus).update(on_hand=F("on_hand") + 1000)
    katana = KatanaAccount.objects.get(name=demo.KATANA_ACCOUNT)
    katana_emulator.emulator_seed(name=katana.name, api_key=katana.api_key, quantity=50,
                                  deliver_after_seconds=katana.deliver_after_seconds, rate_limit=katana.rate_limit,
                                  locations=[{"name": "Katana UK warehouse"}],
                                  variants=[{"sku": sku, "name": sku, "price": "9.99"} for sku in extra])
    for sku in demo_skus:
        katana_emulator.emulator_set_stock(account=katana, sku=sku, location_id=1, in_stock=1000)
    acu = EmuInstance.objects.get(name="sandbox-demo")
    acu_emulator.emulator_seed(name=acu.name, client_id=acu.client_id, client_secret=acu.client_secret, customers=("TIKTOK",),
                               ship_vias=("UPSGROUND", "FEDEX2DAY"), payment_methods=("TTS",),
                               warehouses=(("MAIN", "Main warehouse"),), items=extra, quantity=50,
                               ship_delay_seconds=acu.ship_delay_seconds, action_polls=acu.action_polls)
    for record in EmuRecord.objects.filter(instance=acu, entity="Stock", key__in=[f"{s}|MAIN" for s in demo_skus]):
        record.data = {**record.data, "QtyOnHand": record.data.get("QtyOnHand", 0) + 1000}
        record.save(update_fields=["data"])

    rows = EmuStock.objects.filter(account=osa).count()
    run(OSA_NAME, "pull_inventory")
    b.record(OSA, "pull_inventory", OSA_NAME, f"{rows} stock rows ({n} new SKUs + the demo's, 2 locations)",
             [pages(rows, 100, "GET /inventory, per_page ≤ 100", OSA_CONTRACT)])
    # The stock of the 4 demo SKUs moved at OSA: the chained TikTok push (US shop, 3 products) ran inline above.
    run(US, "push_inventory")
    b.record(TIKTOK, "push_inventory", US, "new quantities for 5 SKUs of 3 products (tee ×3 variants, cap, bundle)",
             [per_record(3, "Update Inventory per product, all its SKUs in one call", f"{REF_TIKTOK} §6.3")])
    b.window()
    rows = EmuObject.objects.filter(account=katana, kind="inventory").count()
    FlowState.objects.filter(integration__name=KATANA_NAME, flow="pull_inventory").update(cursor={})
    run(KATANA_NAME, "pull_inventory")
    b.record(KATANA, "pull_inventory", KATANA_NAME, f"{rows} inventory rows ({n} new variants + the demo's, 1 location)",
             [pages(rows, 250, "GET /inventory, limit ≤ 250", f"{REF_DOWN} §1.2, §1.4 Inventory")])
    b.window()
    items = EmuRecord.objects.filter(instance=acu, entity="StockItem").count()
    run(ACUMATICA_NAME, "pull_inventory")
    b.record(ACUMATICA, "pull_inventory", ACUMATICA_NAME, f"{items} stock items, 1 warehouse",
             [pages(items, 100, "StockItem keys, $top 100 (no documented maximum)", f"{REF_DOWN} §2.4"),
              per_record(items, "InventorySummaryInquiry per item (its filter takes one InventoryID)", f"{REF_DOWN} §2.7")])
    b.window()
    from inventory.models import InventoryLevel, Location

    location = Location.objects.get(integration__name=ACUMATICA_NAME, external_id="MAIN")
    changed = 0
    for level in InventoryLevel.objects.filter(location=location).order_by("pk")[:10]:
        InventoryLevel.objects.filter(pk=level.pk).update(on_hand=F("on_hand") + 5)
        changed += 1
    settings_set(ACUMATICA_NAME, inventory_direction="push")
    run(ACUMATICA_NAME, "push_inventory")
    settings_set(ACUMATICA_NAME, inventory_direction="pull")
    b.record(ACUMATICA, "push_inventory", ACUMATICA_NAME, f"{changed} changed levels at 1 warehouse",
             [fixed(1, "pending adjustments check", f"{REF_DOWN} §2.4"),
              pages(changed, 100, "current on-hand of the changed items (StockItem $expand=WarehouseDetails list)",
                    f"{REF_DOWN} §2.7 StockItem"),
              fixed(2, "one InventoryAdjustment PUT + ReleaseAdjustment action for the warehouse", f"{REF_DOWN} §2.4")],
             "the current on-hand of each changed item is read with one InventorySummaryInquiry per item (the adjustment "
             "is a difference); one StockItem list with $expand=WarehouseDetails would read them all (§2.7), but the "
             "emulator does not serve that list yet: not changed")


# Katana's and Acumatica's pushes (no idempotency key, §1.4, §2.4) commit each attempt before the call and read the
# order back for a duplicate only then (services.flow_lease_unbroken): at 1.00 in the benchmark, where nothing breaks.
READ_BACK_WHEN_IN_DOUBT = ("a first attempt whose lease broke mid-call, or a retry of one in doubt, reads the order back to "
                           "catch a duplicate (no idempotency key, §1.4, §2.4)")
SHOPS = {US: "Sandbox Shop US", UK: "Sandbox Shop UK", WHOLESALE: "Sandbox Shop US Wholesale"}
CANCELS = 30  # orders per shop canceled in Switchyard after their push (cancellation pushes)


def place_orders(shop_name: str, n: int, *, ago: int = 900) -> None:
    """`n` paid orders, one unit of one demo SKU each, the first created `ago` seconds ago, one second apart (distinct
    update times), moved past payment and the remorse window."""
    from integrations.sandbox import demo, services as emu
    from integrations.sandbox.models import EmuShop, EmuSku

    shop = EmuShop.objects.get(name=shop_name)
    skus = list(EmuSku.objects.filter(product__shop=shop, seller_sku__in=[s for s, *_ in demo.VARIANTS + demo.SIMPLE])
                .select_related("product").order_by("pk"))
    if ago < n:
        raise ValueError("one second per order: ago must be at least n")
    start = emu.now_ts() - ago
    for i in range(n):
        emu.order_create(shop=shop, items=[(skus[i % len(skus)], 1)], at=start + i)
    emu.shop_advance(shop=shop)


def drain(name: str, flow: str) -> None:
    """Run a push until its queue is empty (pushes take a bounded batch per run; the engine runs them again)."""
    from orders.selectors import shipping_requests_to_send

    integration = Integration.objects.get(name=name)
    for _ in range(20):
        run(name, flow)
        if not shipping_requests_to_send(integration=integration).exists():
            return
    raise RuntimeError(f"{name} {flow}: still has requests to send after 20 runs")


def release_all() -> None:
    from orders.services.holds import orders_release_due

    while orders_release_due(now=timezone.now() + timedelta(days=1)):
        pass


def phase_orders(b: Bench) -> None:
    """N orders at each demo shop (US → OSA, UK → Katana, Wholesale → Acumatica): pulled, released from hold, routed,
    pushed to the source; CANCELS of each canceled in Switchyard; the rest shipped and the fulfillments pulled back and
    pushed to TikTok."""
    from orders.models import Order
    from orders.services.cancellations import order_cancel

    n, cancels = b.n, min(CANCELS, b.n // 2)
    acu = Integration.objects.get(name=ACUMATICA_NAME)
    Mapping.objects.get_or_create(integration=acu, kind=Mapping.Kind.SHIPPING_METHOD, source="Standard shipping",
                                  defaults={"target": "UPSGROUND"})
    for name in SHOPS:  # buyer messages/order cards: "once an Order is created" after the flow's first run
        settings_set(name, buyer_message_template="Thanks for your order!")
        run(name, "push_buyer_messages")
        run(name, "push_order_cards")
    b.window()
    for name, shop in SHOPS.items():
        place_orders(shop, n)
        run(name, "pull_orders")
    b.record(TIKTOK, "pull_orders", US, f"{n} new orders (full objects in the search answer)",
             [pages(n, 100, "Get Order List, page_size ≤ 100", f"{REF_TIKTOK} §4.1")])
    b.window()
    run(US, "push_buyer_messages")
    b.record(TIKTOK, "push_buyer_messages", US, f"{n} new orders, one buyer each",
             [per_record(2 * n, "Create Conversation + Send Message per order (no batch)", f"{REF_TIKTOK} §11")])
    b.window()
    run(US, "push_order_cards")
    b.record(TIKTOK, "push_order_cards", US, f"{n} new orders, one buyer each",
             [per_record(2 * n, "Create Conversation + Send Message (ORDER_CARD) per order (no batch)", f"{REF_TIKTOK} §11")])
    release_all()
    b.window()
    run(OSA_NAME, "push_shipping_requests")
    b.record(OSA, "push_shipping_requests", OSA_NAME, f"{n} shipping requests",
             [per_record(n, "POST /orders per request (no batch endpoint)", OSA_CONTRACT)])
    b.window()
    drain(KATANA_NAME, "push_orders")
    b.record(KATANA, "push_orders", KATANA_NAME, f"{n} shipping requests, one sales order each",
             [fixed(2, "customer look-up + create, once per channel", f"{REF_DOWN} §1.4 Customers"),
              per_record(4, "GET /variants?sku per SKU not bound yet (4 demo SKUs)", f"{REF_DOWN} §1.4 Products and variants"),
              per_record(n, "POST /sales_orders per order (no batch)", f"{REF_DOWN} §1.4 Sales orders"),
              per_record(n, "POST /sales_order_shipping_fee per order (not in the create body)",
                         f"{REF_DOWN} §1.4 Sales orders")],
             READ_BACK_WHEN_IN_DOUBT)
    b.window()
    run(ACUMATICA_NAME, "push_orders")
    b.record(ACUMATICA, "push_orders", ACUMATICA_NAME, f"{n} shipping requests",
             [per_record(n, "PUT /SalesOrder per order (no batch)", f"{REF_DOWN} §2.4, §2.7 SalesOrder")],
             READ_BACK_WHEN_IN_DOUBT)

    b.window()
    for name in SHOPS:
        for order in Order.objects.filter(integration__name=name).order_by("pk")[:cancels]:
            order_cancel(order=order, reason="Canceled in Switchyard (benchmark)")
    run(US, "push_cancellations")
    b.record(TIKTOK, "push_cancellations", US, f"{cancels} orders canceled in Switchyard",
             [per_record(cancels, "Cancel Order per order (no batch)", f"{REF_TIKTOK} §5.4")])
    run(OSA_NAME, "cancel_shipping_requests")
    b.record(OSA, "cancel_shipping_requests", OSA_NAME, f"{cancels} shipping requests to cancel",
             [per_record(cancels, "POST /orders/{id}/cancel per request (no batch)", OSA_CONTRACT)])
    run(KATANA_NAME, "cancel_orders")
    b.record(KATANA, "cancel_orders", KATANA_NAME, f"{cancels} sales orders to cancel",
             [per_record(cancels, "GET /sales_orders/{id} (status: no conditional delete)", f"{REF_DOWN} §1.4 Sales orders"),
              per_record(cancels, "DELETE /sales_orders/{id} (no cancel action)", f"{REF_DOWN} §1.4 Sales orders")])
    run(ACUMATICA_NAME, "cancel_orders")
    b.record(ACUMATICA, "cancel_orders", ACUMATICA_NAME, f"{cancels} sales orders to cancel",
             [per_record(cancels, "POST /SalesOrder/CancelSalesOrder per order", f"{REF_DOWN} §2.4, §2.7 SalesOrder"),
              per_record(cancels, "status poll of the action (the emulator answers 202 once, as a busy instance does)",
                         f"{REF_DOWN} §2.4"),
              per_record(cancels, "read the order back and check Status", f"{REF_DOWN} §2.7 SalesOrder (CancelSalesOrder)")],
             "the order is also read before the action (GET /SalesOrder/SO/{nbr}: skip one already canceled, report one "
             "already shipped), one call per order the reference's sequence does not need")
    for name in SHOPS:
        run(name, "push_cancellations")


def spread(queryset, field_name: str, end: datetime) -> None:
    """Distinct update times, one millisecond apart up to `end` (an emulator that ships a batch at once stamps it
    with one instant; a real warehouse does not)."""
    rows = list(queryset.order_by("pk").values_list("pk", flat=True))
    for i, pk in enumerate(rows):
        queryset.model.objects.filter(pk=pk).update(**{field_name: end - timedelta(milliseconds=len(rows) - i)})


def spread_data(queryset, key: str, end: datetime) -> None:
    """spread() for an emulated Acumatica record, whose modification time is inside its JSON."""
    for i, record in enumerate(list(queryset.order_by("pk"))):
        record.data = {**record.data, key: (end - timedelta(milliseconds=queryset.count() - i)).isoformat()}
        record.save(update_fields=["data"])


def phase_fulfillments(b: Bench) -> None:
    """Every order still open at its source is shipped there (OSA, Katana, Acumatica), the sources are read back and
    the fulfillments pushed to TikTok."""
    from integrations.connectors.acumatica import emulator as acu_emulator
    from integrations.connectors.acumatica.models import EmuInstance, EmuRecord
    from integrations.connectors.katana import emulator as katana_emulator
    from integrations.connectors.katana.models import EmuAccount as KatanaAccount, EmuObject
    from integrations.connectors.osa import emulator as osa_emulator
    from integrations.connectors.osa.models import EmuAccount as OsaAccount, EmuOrder as OsaOrder, EmuShipment
    from integrations.sandbox import demo

    osa = OsaAccount.objects.get(domain=demo.OSA_DOMAIN)
    OsaAccount.objects.filter(pk=osa.pk).update(accept_delay_seconds=0, ship_delay_seconds=0)
    osa.refresh_from_db()
    now = timezone.now() - timedelta(seconds=1)
    osa_emulator.emulator_advance(account=osa, now=now)
    spread(EmuShipment.objects.filter(account=osa), "updated_at", now)
    spread(OsaOrder.objects.filter(account=osa), "updated_at", now)
    orders, shipped = OsaOrder.objects.filter(account=osa).count(), EmuShipment.objects.filter(account=osa).count()
    b.window()
    run(OSA_NAME, "pull_order_statuses")
    b.record(OSA, "pull_order_statuses", OSA_NAME, f"{orders} orders changed at OSA (shipped or canceled), none waiting",
             [pages(orders, 100, "GET /orders?updated_since, per_page ≤ 100", OSA_CONTRACT),
              pages(0, 100, "GET /orders?status=waiting (orders stuck in Waiting need not have changed)", OSA_CONTRACT)])
    b.window()
    run(OSA_NAME, "pull_fulfillments")
    b.record(OSA, "pull_fulfillments", OSA_NAME, f"{shipped} shipments",
             [pages(shipped, 100, "GET /shipments?updated_since, per_page ≤ 100", OSA_CONTRACT)])

    katana = KatanaAccount.objects.get(name=demo.KATANA_ACCOUNT)
    live = [o for o in EmuObject.objects.filter(account=katana, kind="sales_order", deleted=False).order_by("pk")
            if o.data.get("status") == "NOT_SHIPPED"]
    base = timezone.now() - timedelta(seconds=len(live) + 5)
    for i, so in enumerate(live):
        katana_emulator.emulator_deliver(account=katana, sales_order_id=so.data["id"], now=base + timedelta(seconds=i))
    changed = EmuObject.objects.filter(account=katana, kind="sales_order").count()
    b.window()
    run(KATANA_NAME, "pull_fulfillments")
    b.record(KATANA, "pull_fulfillments", KATANA_NAME,
             f"{len(live)} sales orders delivered, one fulfillment each ({changed} sales orders in all)",
             [pages(len(live), 250, "GET /sales_order_fulfillments?updated_at_min, limit ≤ 250",
                    f"{REF_DOWN} §1.2 (common updated_at_min filter), §1.4 Sales order fulfillments")],
             "fulfillments updated since the cursor less the overlap are read again (the demo's earlier ones)")

    EmuInstance.objects.filter(name="sandbox-demo").update(ship_delay_seconds=0)
    acu = EmuInstance.objects.get(name="sandbox-demo")
    acu_emulator.emulator_advance(instance=acu)  # shipments created
    acu_emulator.emulator_advance(instance=acu)  # and confirmed

    shipments = EmuRecord.objects.filter(instance=acu, entity="Shipment").count()
    spread_data(EmuRecord.objects.filter(instance=acu, entity="Shipment"), "LastModifiedDateTime",
                timezone.now() - timedelta(seconds=30))
    for flow in ("pull_shipping_requests", "pull_fulfillments"):
        b.window()
        run(ACUMATICA_NAME, flow)
        b.record(ACUMATICA, flow, ACUMATICA_NAME, f"{shipments} shipments changed",
                 [pages(shipments, 100, "Shipment keys, $top 100 (no documented maximum)", f"{REF_DOWN} §2.4"),
                  per_record(shipments, "GET /Shipment/{nbr}?$expand=Details,Orders,Packages per shipment (details are "
                             "not expanded in lists)", f"{REF_DOWN} §2.4")])

    b.window()
    for name in SHOPS:
        run(name, "push_fulfillments")
    from orders.models import Fulfillment

    pushed = Fulfillment.objects.filter(order__integration__name=US).count()
    b.record(TIKTOK, "push_fulfillments", US, f"{pushed} fulfillments (one parcel per order, one delivery option)",
             [fixed(1, "Get Shipping Providers for the delivery option", f"{REF_TIKTOK} §5.3"),
              per_record(pushed, "Mark Package As Shipped per order (no batch for seller shipping)", f"{REF_TIKTOK} §5.2")])


RETURNS = 120  # returns at the US shop (returns search pages by 50)


def phase_returns(b: Bench) -> None:
    """RETURNS completed returns (one line each) of US orders at TikTok: pulled as returns and as refunds, the returns
    pushed to OSA as RMAs, and OSA's RMA records read back."""
    from integrations.connectors.osa.models import EmuAccount as OsaAccount, EmuReturn as OsaReturn
    from integrations.connectors.tiktok.settings_catalog import STATUS_COMPLETE
    from integrations.sandbox import demo, services as emu
    from integrations.sandbox.models import EmuOrder, EmuReturn

    shipped = list(EmuOrder.objects.filter(shop__name=SHOPS[US], status__in=["IN_TRANSIT", "AWAITING_COLLECTION", "DELIVERED"])
                   .order_by("pk")[:RETURNS])
    if len(shipped) < RETURNS:
        raise RuntimeError(f"only {len(shipped)} shipped US orders for {RETURNS} returns")
    start = emu.now_ts() - 600
    for i, order in enumerate(shipped):
        line = order.data["line_items"][0]
        EmuReturn.objects.create(order=order, return_id=emu.new_id(18), return_type="RETURN_AND_REFUND", status=STATUS_COMPLETE,
                                 line_item_ids=[line["id"]], refund_total=line["sale_price"], create_time=start + i,
                                 update_time=start + i)
    for flow in ("pull_returns", "pull_refunds"):
        b.window()
        run(US, flow)
        b.record(TIKTOK, flow, US, f"{RETURNS} completed returns (RETURN_AND_REFUND)",
                 [pages(RETURNS, 50, "Search Returns, page_size ≤ 50", f"{REF_TIKTOK} §8.1")])
    b.window()
    run(OSA_NAME, "push_returns")
    b.record(OSA, "push_returns", OSA_NAME, f"{RETURNS} returns of orders OSA shipped",
             [per_record(RETURNS, "POST /returns per RMA (no batch)", OSA_CONTRACT)])
    osa = OsaAccount.objects.get(domain=demo.OSA_DOMAIN)
    rmas = OsaReturn.objects.filter(account=osa)
    spread(rmas, "updated_at", timezone.now() - timedelta(seconds=10))
    b.window()
    run(OSA_NAME, "pull_returns")
    b.record(OSA, "pull_returns", OSA_NAME, f"{rmas.count()} RMAs changed",
             [pages(rmas.count(), 100, "GET /returns?updated_since, per_page ≤ 100", OSA_CONTRACT)])


def phase_finance(b: Bench) -> None:
    """Statements at the US shop: one of 150 settled orders (its transactions take two pages) and 109 of one order each."""
    from integrations.sandbox import services as emu
    from integrations.sandbox.models import EmuOrder, EmuShop, EmuStatement

    shop = EmuShop.objects.get(name=SHOPS[US])
    orders = list(EmuOrder.objects.filter(shop=shop).order_by("pk").values_list("pk", flat=True))
    day = emu.now_ts() - 1800  # after the integration was created (statements before it are not read)
    big = EmuStatement.objects.create(shop=shop, statement_id=emu.new_id(18), statement_time=day)
    EmuOrder.objects.filter(pk__in=orders[:150]).update(statement=big)
    small = orders[150:259]
    for i, pk in enumerate(small):
        statement = EmuStatement.objects.create(shop=shop, statement_id=emu.new_id(18), statement_time=day + i + 1)
        EmuOrder.objects.filter(pk=pk).update(statement=statement)
    statements = 1 + len(small)
    b.window()
    run(US, "pull_statements")
    b.record(TIKTOK, "pull_statements", US,
             f"{statements} statements: one of 150 orders, {len(small)} of one order",
             [pages(statements, 100, "Get Statements, page_size ≤ 100", f"{REF_TIKTOK} §9.2"),
              pages(150, 100, "Get Transactions by Statement (the big one), page_size ≤ 100", f"{REF_TIKTOK} §9.2"),
              per_record(len(small), "Get Transactions by Statement, one page each (no multi-statement read)",
                         f"{REF_TIKTOK} §9.2")])


def phase_products(b: Bench) -> None:
    """N new listings at the US shop; N new catalog products pushed to OSA; the Katana variants and Acumatica stock
    items added in phase_inventory pulled as products; the demo's two product-push products prepared and pushed."""
    from catalog.models import Product
    from integrations.connectors.acumatica.models import EmuRecord
    from integrations.connectors.katana.models import EmuObject
    from integrations.sandbox import demo, services as emu
    from integrations.sandbox.models import EmuProduct, EmuShop

    n = b.n
    shop = EmuShop.objects.get(name=SHOPS[US])
    for i in range(n):
        emu.product_create(shop=shop, title=f"Listing {i}", skus=[
            {"seller_sku": f"LIST-{i:04d}", "name": "", "price": "5.00", "quantity": 10, "weight": 1}])
    EmuProduct.objects.filter(shop=shop, title__startswith="Listing ").update(create_time=F("create_time") - 5,
                                                                               update_time=F("update_time") - 5)
    run(US, "pull_products")
    b.record(TIKTOK, "pull_products", US, f"{n} new listings",
             [pages(n, 100, "Search Products, page_size ≤ 100", f"{REF_TIKTOK} §6.1")])

    b.window()
    Product.objects.bulk_create([Product(sku=f"OSA-NEW-{i:04d}", name=f"New product {i}", kind=Product.Kind.SIMPLE)
                                 for i in range(n)])
    candidates = Product.objects.filter(status=Product.Status.ACTIVE,
                                        kind__in=[Product.Kind.SIMPLE, Product.Kind.VARIANT]).count()
    run(OSA_NAME, "push_products")
    b.record(OSA, "push_products", OSA_NAME, f"{candidates} catalog products never pushed ({n} new, the rest OSA has)",
             [per_record(candidates, "POST /products per product (no batch; a 409 says OSA has it)", OSA_CONTRACT)])

    b.window()
    variants = EmuObject.objects.filter(account__name=demo.KATANA_ACCOUNT, kind="variant").count()
    run(KATANA_NAME, "pull_products")
    b.record(KATANA, "pull_products", KATANA_NAME, f"{variants} variants (first read)",
             [pages(variants, 250, "GET /variants, limit ≤ 250", f"{REF_DOWN} §1.2, §1.4 Products and variants")])
    b.window()
    items = EmuRecord.objects.filter(instance__name="sandbox-demo", entity="StockItem").count()
    FlowState.objects.filter(integration__name=ACUMATICA_NAME, flow="pull_products").update(cursor={})
    run(ACUMATICA_NAME, "pull_products")
    b.record(ACUMATICA, "pull_products", ACUMATICA_NAME, f"{items} stock items (first read)",
             [pages(items, 100, "StockItem list, $top 100 (no documented maximum)", f"{REF_DOWN} §2.4, §2.7 StockItem")])

    b.window()
    us = Integration.objects.get(name=US)
    demo._product_push(us, [])
    # The product image is fetched from the sandbox (not an API call): safe_fetch's pinned connection would bypass the
    # in-process HTTP mock, so the bench reads it through the mock.
    ImageSource.fetch = lambda self, url: requests.get(url, timeout=5).content
    run(US, "prepare_products")
    b.record(TIKTOK, "prepare_products", US, "2 products in 2 categories",
             [per_record(2, "Get Attributes per category", f"{REF_TIKTOK} §6.1"),
              per_record(2, "Get Category Rules per category", f"{REF_TIKTOK} §6.1")])
    b.window()
    run(US, "push_products")
    b.record(TIKTOK, "push_products", US, "2 products in 2 categories, 1 complete (1 image), 1 incomplete",
             [per_record(2, "Get Attributes per category", f"{REF_TIKTOK} §6.1"),
              per_record(2, "Get Category Rules per category", f"{REF_TIKTOK} §6.1"),
              per_record(1, "Upload Product Image per image", f"{REF_TIKTOK} §6.1"),
              per_record(1, "Create Product per complete product", f"{REF_TIKTOK} §6.1")])


ARRIVALS = 120  # expected arrivals at OSA's warehouse (lists page by 100)
REFUNDS = 20  # hub-side refunds per channel
FBT_ORDERS = 60  # Fulfilled-by-TikTok orders at the UK shop (push_fbt_orders takes 50 per run)


def phase_arrivals(b: Bench) -> None:
    """ARRIVALS expected arrivals (one line each) at OSA's warehouse, pushed; OSA receives them all; receipts pulled."""
    from catalog.models import Product
    from integrations.connectors.osa import emulator as osa_emulator
    from integrations.connectors.osa.models import EmuReceipt
    from integrations.sandbox import demo
    from inventory.models import Arrival, ArrivalLine, Location

    osa = Integration.objects.get(name=OSA_NAME)
    location = Location.objects.get(integration=osa, external_id="OSA-NJ")
    product = Product.objects.get(sku="CAP-RED")
    for i in range(ARRIVALS):
        arrival = Arrival.objects.create(integration=osa, location=location, reference=f"ASN-{i:04d}",
                                         expected_at=timezone.now() + timedelta(days=3))
        ArrivalLine.objects.create(arrival=arrival, product=product, quantity_expected=10)
    run(OSA_NAME, "push_arrivals")
    b.record(OSA, "push_arrivals", OSA_NAME, f"{ARRIVALS} expected arrivals",
             [per_record(ARRIVALS, "POST /arrivals per arrival (no batch)", OSA_CONTRACT)])
    for i in range(ARRIVALS):
        osa_emulator.emulator_receive_arrival(domain=demo.OSA_DOMAIN, reference=f"ASN-{i:04d}")
    receipts = EmuReceipt.objects.filter(account__domain=demo.OSA_DOMAIN)
    spread(receipts, "updated_at", timezone.now() - timedelta(seconds=10))
    b.window()
    run(OSA_NAME, "pull_receipts")
    b.record(OSA, "pull_receipts", OSA_NAME, f"{receipts.count()} receipts",
             [pages(receipts.count(), 100, "GET /receipts?updated_since, per_page ≤ 100", OSA_CONTRACT)])


def refunds_create(name: str, count: int) -> int:
    """Up to `count` hub-side refunds of one unit each, on shipped orders of channel `name` (as a person enters them)."""
    from orders.models import Order, Refund, RefundLine

    orders = Order.objects.filter(integration__name=name, fulfillments__isnull=False).distinct().order_by("pk")
    for order in list(orders[:count]):
        line = order.lines.order_by("pk").first()
        refund = Refund.objects.create(order=order, integration=order.integration, status="completed", reason="damaged",
                                       currency=order.currency, amount=line.unit_price)
        RefundLine.objects.create(refund=refund, order_line=line, sku=line.sku, quantity=1, amount=line.unit_price)
    return Refund.objects.filter(integration__name=name, external_id="").count()


def phase_refunds(b: Bench) -> None:
    """REFUNDS refunds entered in Switchyard on shipped US orders (→ TikTok) and on Acumatica-shipped Wholesale orders
    (→ Acumatica return orders)."""
    count = refunds_create(US, REFUNDS)
    run(US, "push_refunds")
    b.record(TIKTOK, "push_refunds", US, f"{count} refunds of one unit on orders shipped by the hub",
             [per_record(count, "Cancel Order or Create Return (REFUND) per refund, by the order's TikTok status "
                                "(no batch)", f"{REF_TIKTOK} §5.4, §8.1")])
    b.window()
    count = refunds_create(WHOLESALE, REFUNDS)
    run(ACUMATICA_NAME, "push_refunds")
    b.record(ACUMATICA, "push_refunds", ACUMATICA_NAME, f"{count} refunds of orders Acumatica shipped",
             [per_record(count, "PUT /SalesOrder (return order) per refund (no batch)", f"{REF_DOWN} §2.4, §2.7 SalesOrder")],
             READ_BACK_WHEN_IN_DOUBT)


def phase_fbt(b: Bench) -> None:
    """FBT_ORDERS orders fulfilled by TikTok at the UK shop, pulled, then sent to Katana as Done sales orders."""
    from integrations.sandbox.models import EmuOrder
    from orders.models import Order

    before = set(EmuOrder.objects.filter(shop__name=SHOPS[UK]).values_list("pk", flat=True))
    settings_set(UK, orders_pull_platform_shipped=True)
    place_orders(SHOPS[UK], FBT_ORDERS, ago=120)  # after the UK pull's cursor
    for order in EmuOrder.objects.filter(shop__name=SHOPS[UK]).exclude(pk__in=before):
        order.data = {**order.data, "fulfillment_type": "FULFILLMENT_BY_TIKTOK"}
        order.save(update_fields=["data"])
    run(UK, "pull_orders")
    fbt = Order.objects.filter(integration__name=UK, fulfillment_type=Order.FulfillmentType.PLATFORM).count()
    b.window()
    for _ in range(5):
        if not run(KATANA_NAME, "push_fbt_orders").fetched:
            break
    b.record(KATANA, "push_fbt_orders", KATANA_NAME, f"{fbt} orders fulfilled by TikTok",
             [per_record(fbt, "POST /sales_orders per order (no batch)", f"{REF_DOWN} §1.4 Sales orders"),
              per_record(fbt, "PATCH /sales_orders/{id} status DELIVERED (a create is NOT_SHIPPED or PENDING only)",
                         f"{REF_DOWN} §1.4 Sales orders")])


PHASES = [phase_locations, phase_inventory, phase_orders, phase_fulfillments, phase_returns, phase_finance, phase_products,
          phase_arrivals, phase_refunds, phase_fbt]


if __name__ == "__main__":
    sys.exit(main())
