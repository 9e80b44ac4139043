"""Inventory latency per connector: from a stock change at the emulated fulfillment source (OSA, Katana, Acumatica) to
the new quantity at the emulated TikTok shop it feeds. Not part of the test suite.

    make benchmark-latency [RUNS=5]
    .venv/bin/python -m tests.benchmarks.bench_inventory_latency --runs 5

Two parts, said plainly:
1. *Measured* (real code, real emulators): the demo is seeded (demo_seed, no traffic), a unit of CAP-RED is taken
   out of stock at the source emulator, the source's `pull_inventory` runs through the engine (services.flow_run),
   and the TikTok `push_inventory` it asks for (integrations/inventory_chain.py; tasks run inline here) sends the
   new quantity to the emulated shop over the sandbox API. The benchmark checks the emulated SKU really changed and
   records the wall time of the chain and of each run, and the API calls each run made. `--runs` times each.
2. *Simulated schedule* (a model of the engine's rules; tests/integrations/test_services.py drives the engine on a
   fake clock and checks the model agrees): the dispatcher ticks every 30 s (integrations/schedules.py);
   flows_dispatch_due claims a flow due by the next half tick and sets next_run_at = tick + interval; a run that
   succeeds sets next_run_at = its finish + interval (services._finish_run), so a flow runs at the tick nearest
   that; Katana's pull reads only when its last read is at least "Inventory buffer" old (less half a tick). A stock change
   at a uniformly random instant (10,000 samples over an hour of ticks) waits for the first pull that reads after
   it, then takes the measured median run times. `chain` is this branch (push asked at once); `poll` is the push
   waiting for its own scheduled run (before). Typical = median, worst = maximum over the samples.

Results: artifacts/benchmarks/inventory_latency.json."""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone as dt_timezone
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django  # noqa: E402

django.setup()

import responses  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from integrations import services  # noqa: E402
from tests.benchmarks.bench_pull_orders import machine  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SKU = "CAP-RED"
TICK = services.DISPATCH_TICK.total_seconds()  # the dispatcher's tick: two schedules, at :00 and :30
SAMPLES = 10_000
# Source integration → the demo shop it feeds (integrations/sandbox/demo.py).
CONNECTORS = {"osa": ("OSA (sandbox)", "Sandbox Shop US"), "katana": ("Katana (sandbox)", "Sandbox Shop UK"),
              "acumatica": ("Acumatica (sandbox)", "Sandbox Shop US Wholesale")}
# Documented remote budgets (shared/reference/downstream_apis.md §1.3, §2.6; TikTok: the emulator's per-shop QPS).
BUDGETS = {"katana": "60 requests / 60 s per account", "acumatica": "license-bound, ~100-150 requests / min (unconfirmed)",
           "osa": "not published (reference §3.1)", "tiktok": "per-shop QPS (emulator: 50/s)"}


def sandbox_http(mock: responses.RequestsMock) -> None:
    """Every call to SITE_URL goes into the sandbox views through the Django test client (no server, no network)."""
    host = settings.SITE_URL.rstrip("/")

    def forward(request):
        parts = urlsplit(request.url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in request.headers.items()
                   if k.lower() not in ("content-type", "content-length")}
        body = request.body or b""
        # The remote's host, so the absolute URLs an emulator builds (a 202's Location to poll) point back here.
        answer = Client(HTTP_HOST=urlsplit(host).netloc).generic(
            request.method, path, data=body.encode() if isinstance(body, str) else body,
            content_type=request.headers.get("Content-Type", "application/json"), **headers)
        return answer.status_code, {k: v for k, v in answer.items() if k.lower() in ("retry-after", "content-type",
                                                                                     "x-pagination", "location")}, answer.content

    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        mock.add_callback(method, re.compile(re.escape(host) + r"/.*"), callback=forward)


@contextmanager
def seeded_sandbox() -> Iterator[responses.RequestsMock]:
    """A fresh test database with the demo seeded (seed()) and every call to SITE_URL answered by the sandbox (the
    mock is yielded); the database is destroyed on the way out."""
    setup_test_environment()
    settings.SANDBOX_ENABLED = True
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            sandbox_http(mock)
            seed()
            yield mock
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def seed() -> None:
    from django.db.models import F

    from integrations.models import FlowState, Integration
    from integrations.sandbox.demo import demo_seed
    from integrations.sandbox.models import EmuProduct, EmuShop

    demo_seed(traffic=False, product_push=False)
    Integration.objects.update(created_at=F("created_at") - timedelta(hours=1))
    EmuProduct.objects.update(create_time=F("create_time") - 3600, update_time=F("update_time") - 3600)
    EmuShop.objects.update(webhooks_enabled=False)
    # The shops' listings become Channel Options through the TikTok products pull (the demo's worker runs it first).
    for state in FlowState.objects.filter(flow__in=("pull_locations", "pull_products"), enabled=True,
                                          integration__connector="tiktok").order_by("flow"):
        run_flow(state)
    # Only the inventory chain runs here (the other flows run in other workers in production, they do not delay it).
    FlowState.objects.exclude(flow__in=("pull_inventory", "push_inventory")).update(enabled=False)
    # Every source has been read once and every TikTok listing has had its first push, so a measured run carries
    # only the measured change.
    for state in FlowState.objects.filter(flow__in=("pull_inventory", "push_inventory"), enabled=True).order_by("flow"):
        run_flow(state)


def run_flow(state):
    from integrations import services

    run = services.flow_run(flow_state=state, trigger="schedule")
    if run.status not in ("succeeded", "partial"):
        raise RuntimeError(f"{state}: {run.status} {run.error_message} {run.errors}")
    return run


def source_take_one(connector: str, location) -> None:
    """One unit of SKU leaves the source's stock (a decrease: TikTok's increase window never holds it back)."""
    if connector == "osa":
        from integrations.connectors.osa.models import EmuStock

        stock = EmuStock.objects.get(account__domain="sandbox-demo", sku=SKU, location_code=location.external_id)
        stock.on_hand -= 1
        stock.save(update_fields=["on_hand"])
    elif connector == "katana":
        from integrations.connectors.katana import emulator
        from integrations.connectors.katana.models import EmuAccount, EmuObject

        account = EmuAccount.objects.get(name="sandbox-demo")
        variant = next(o for o in account.emu_objects.filter(kind="variant") if o.data.get("sku") == SKU)
        row = EmuObject.objects.get(account=account, kind="inventory", key=f"{location.external_id}|{variant.data['id']}")
        emulator.emulator_set_stock(account=account, sku=SKU, location_id=int(location.external_id),
                                    in_stock=row.data["in_stock"] - 1)
    else:
        from integrations.connectors.acumatica.models import EmuRecord

        record = EmuRecord.objects.get(entity="Stock", key=f"{SKU}|{location.external_id}")
        record.data = {**record.data, "QtyOnHand": record.data.get("QtyOnHand", 0) - 1}
        record.save(update_fields=["data"])


def tiktok_quantity(shop_name: str, warehouse_id: str) -> int:
    """The emulated shop's quantity of SKU at the TikTok warehouse the source location is linked to."""
    from integrations.sandbox.models import EmuSku

    sku = EmuSku.objects.get(product__shop__name=shop_name, seller_sku=SKU)
    return int((sku.inventory or {})[warehouse_id])


def measure(connector: str, runs: int) -> dict:
    from integrations.models import FlowState, SyncRun
    source_name, shop_name = CONNECTORS[connector]
    link = _link(source_name, shop_name)
    pull = FlowState.objects.get(integration__name=source_name, flow="pull_inventory")
    chain, pulls, pushes, pull_calls, push_calls = [], [], [], [], []
    for _ in range(runs):
        FlowState.objects.filter(pk=pull.pk).update(cursor={})  # Katana's buffer is part of the schedule model
        before = tiktok_quantity(shop_name, link.target.external_id)
        source_take_one(connector, link.source)
        started = time.perf_counter()
        pull_run = run_flow(FlowState.objects.get(pk=pull.pk))
        elapsed = time.perf_counter() - started
        after = tiktok_quantity(shop_name, link.target.external_id)
        if after != before - 1:
            raise RuntimeError(f"{connector}: TikTok {SKU} went {before} → {after}, expected {before - 1}")
        push_run = SyncRun.objects.filter(flow="push_inventory", integration=link.target.integration).latest("started_at")
        chain.append(elapsed)
        pulls.append((pull_run.finished_at - pull_run.started_at).total_seconds())
        pushes.append((push_run.finished_at - push_run.started_at).total_seconds())
        pull_calls.append(pull_run.api_calls)
        push_calls.append(push_run.api_calls)
    return {"chain_s": _stats(chain), "pull_run_s": _stats(pulls), "push_run_s": _stats(pushes),
            "pull_api_calls": max(pull_calls), "push_api_calls": max(push_calls),
            "pull_interval_s": pull.interval.total_seconds(), "skus_at_source": _skus(pull)}


def measure_katana_webhook(runs: int) -> dict:
    """The stock change at the Katana emulator is announced by its webhook (current_inventory.product_updated), which
    queues a targeted read of the variant (no buffer, no schedule), whose figure asks the TikTok push: all inline."""
    from integrations import services
    from integrations.connectors.katana.models import EmuAccount
    from integrations.models import FlowState, Integration, SyncRun

    source_name, shop_name = CONNECTORS["katana"]
    link = _link(source_name, shop_name)
    katana = Integration.objects.get(name=source_name)
    services.integration_update_settings(integration=katana, values={**katana.settings, "webhooks_enabled": True})
    katana.set_credentials({**katana.get_credentials(), "webhook_token": "bench-token"})
    katana.save()
    EmuAccount.objects.filter(name="sandbox-demo").update(
        webhook_url=f"{settings.SITE_URL.rstrip('/')}/integrations/katana/webhook/{katana.pk}/", webhook_token="bench-token")
    latencies, calls = [], []
    try:
        for _ in range(runs):
            FlowState.objects.filter(integration=katana, flow="pull_inventory").update(
                cursor={"taken_at": datetime.now(dt_timezone.utc).isoformat()})  # the buffer holds the poll back
            before = tiktok_quantity(shop_name, link.target.external_id)
            started = time.perf_counter()
            source_take_one("katana", link.source)
            latencies.append(time.perf_counter() - started)
            after = tiktok_quantity(shop_name, link.target.external_id)
            if after != before - 1:
                raise RuntimeError(f"katana webhook: TikTok {SKU} went {before} → {after}, expected {before - 1}")
            calls.append(SyncRun.objects.filter(integration=katana, flow="pull_inventory").latest("started_at").api_calls)
    finally:
        EmuAccount.objects.filter(name="sandbox-demo").update(webhook_url="")
    return {"change_to_tiktok_s": _stats(latencies), "pull_api_calls": max(calls)}


def _link(source_name: str, shop_name: str):
    from integrations.sandbox.models import EmuShop
    from inventory.models import LocationLink

    shop = EmuShop.objects.get(name=shop_name)
    for link in LocationLink.objects.select_related("source__integration", "target__integration").filter(
            source__integration__name=source_name):
        if str(link.target.integration.remote_account_id) == str(shop.shop_id):
            return link
    raise RuntimeError(f"no link from {source_name} to {shop_name}")


def _skus(pull) -> int:
    from inventory.models import InventoryLevel

    return InventoryLevel.objects.filter(location__integration=pull.integration).values("product").distinct().count()


def _stats(values: list[float]) -> dict:
    return {"min": round(min(values), 4), "median": round(statistics.median(values), 4), "max": round(max(values), 4)}


# --- the schedule model ----------------------------------------------------------------------------------------------

def pull_reads(*, interval: float, duration: float, buffer: float, horizon: float) -> list[float]:
    """Instants (s) at which the pull reads the source, per the engine's rules (see the module docstring). Katana's
    buffer compares the run's start with the previous read's `taken_at` (stamped before its last page request: the
    start of a one-page read), less half a tick (flows/inventory.py): a 1-minute buffer reads every other 30-s tick."""
    reads, next_run, taken = [], 0.0, None
    tick = 0.0
    while tick < horizon:
        if next_run <= tick + TICK / 2:  # flows_dispatch_due: the tick nearest the due time
            if taken is None or tick - taken >= buffer - TICK / 2:
                taken = tick
                reads.append(tick)
            next_run = tick + duration + interval  # _finish_run after a success
        tick += TICK
    return reads


def simulate(*, pull_interval: float, push_interval: float, buffer: float, pull_s: float, push_s: float,
             seed: int = 1) -> dict:
    period = max(pull_interval, push_interval, buffer, TICK)
    horizon = max(3600.0 * 3, period * 8)
    reads = pull_reads(interval=pull_interval, duration=pull_s, buffer=buffer, horizon=horizon)
    pushes = pull_reads(interval=push_interval, duration=push_s, buffer=0.0, horizon=horizon)
    rng = random.Random(seed)
    span = (reads[1], reads[-3])  # whole periods, away from the start and the end of the timeline
    chain, poll = [], []
    for _ in range(SAMPLES):
        change = rng.uniform(*span)
        read = next(r for r in reads if r > change)  # a read at the very instant of the change may miss it
        landed = read + pull_s
        chain.append(landed + push_s - change)
        push = next(p for p in pushes if p >= landed)  # a push started before the pull committed reads the old level
        poll.append(push + push_s - change)
    return {"chain": _summary(chain), "poll": _summary(poll)}


def _summary(values: list[float]) -> dict:
    values = sorted(values)
    return {"typical_s": round(statistics.median(values), 1), "p95_s": round(values[int(len(values) * 0.95)], 1),
            "worst_s": round(values[-1], 1)}


def scenarios(connector: str, measured: dict) -> dict:
    from integrations import registry
    from integrations.connectors.katana import settings as katana_settings
    from integrations.models import Integration

    # The chained push runs inline inside the measured pull run here (tasks are synchronous): the pull alone is the
    # chain minus the push.
    push_s = measured["push_run_s"]["median"]
    pull_s = max(0.0, measured["chain_s"]["median"] - push_s)
    source = Integration.objects.get(name=CONNECTORS[connector][0])
    demo_buffer = 60.0 * int(source.setting("inventory_buffer_minutes") or 0) if connector == "katana" else 0.0
    default_pull = registry.get_connector(connector).flow("pull_inventory").default_interval.total_seconds()
    default_push = registry.get_connector("tiktok").flow("push_inventory").default_interval.total_seconds()
    default_buffer = 60.0 * katana_settings.DEFAULT_INVENTORY_BUFFER_MINUTES if connector == "katana" else 0.0
    return {
        "demo": {"pull_interval_s": measured["pull_interval_s"], "push_interval_s": 30.0, "buffer_s": demo_buffer,
                 **simulate(pull_interval=measured["pull_interval_s"], push_interval=30.0, buffer=demo_buffer,
                            pull_s=pull_s, push_s=push_s)},
        "defaults": {"pull_interval_s": default_pull, "push_interval_s": default_push, "buffer_s": default_buffer,
                     **simulate(pull_interval=default_pull, push_interval=default_push, buffer=default_buffer,
                                pull_s=pull_s, push_s=push_s)},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    with seeded_sandbox():
        results = {}
        for connector in CONNECTORS:
            measured = measure(connector, args.runs)
            results[connector] = {"measured": measured, "schedule": scenarios(connector, measured),
                                  "budget": BUDGETS[connector]}
        results["katana"]["webhook"] = measure_katana_webhook(args.runs)
        report = {"benchmark": "inventory_latency", "database": connection.vendor, "runs": args.runs,
                  "date": datetime.now(dt_timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
                  "connectors": results}
    print_report(report)
    out = ROOT / "artifacts/benchmarks"
    out.mkdir(parents=True, exist_ok=True)
    path = out / "inventory_latency.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten {path.relative_to(ROOT)}")
    return 0


def print_report(report: dict) -> None:
    print(f"inventory latency, {report['database']}, {report['runs']} runs, {report['date']}")
    for name, r in report["connectors"].items():
        m = r["measured"]
        print(f"\n{name}: chain (pull + push) {m['chain_s']['median']} s median (pull {m['pull_run_s']['median']} s, "
              f"{m['pull_api_calls']} calls; push {m['push_run_s']['median']} s, {m['push_api_calls']} calls)")
        if "webhook" in r:
            w = r["webhook"]
            print(f"  webhook  change → TikTok {w['change_to_tiktok_s']['median']} s median, "
                  f"worst {w['change_to_tiktok_s']['max']} s ({w['pull_api_calls']} call per targeted read)")
        for label, s in r["schedule"].items():
            print(f"  {label:8} pull every {s['pull_interval_s']:.0f} s, buffer {s['buffer_s']:.0f} s: "
                  f"chain typical {s['chain']['typical_s']} s worst {s['chain']['worst_s']} s | "
                  f"poll typical {s['poll']['typical_s']} s worst {s['poll']['worst_s']} s")


if __name__ == "__main__":
    sys.exit(main())
