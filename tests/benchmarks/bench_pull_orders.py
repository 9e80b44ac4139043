"""Rerunnable benchmark of the order ingestion path: the real TikTok `pull_orders` flow (client, signing,
mapper, engine, orders core) against TikTok-shaped pages served by `responses`. Not part of the test suite.

    make benchmark                      # live workload, 500 and 2,000 orders, 3 runs each, SQLite test database
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/switchyard make benchmark
    .venv/bin/python -m tests.benchmarks.bench_pull_orders --workload backfill --sizes 500 --runs 3

Honest by construction:
- One fixed workload per label. `live`: every order was placed minutes ago, so every order waits out the
  60-minute hold and ingestion only upserts. `backfill`: every order is from 2025, past its hold, and is routed
  while ingested. No run mixes the two.
- Timed runs have no tracemalloc (it slows Python 4-5x); peak memory is measured in its own pass (`--memory-sizes`).
- Each size runs `--runs` times on a fresh integration: min / median / max orders/s are reported.
- The raw baseline (the same rows written straight through `bulk_create(update_conflicts=True)`: orders, lines,
  one event per order, external refs, cursor, page by page) is measured in the same process, same sizes, and the
  ratio ingest ÷ raw is printed.
- API calls are counted per flow and divided by the theoretical minimum for the workload (1.00 = at the minimum).

Results go to artifacts/benchmarks/pull_orders_<database>_<workload>.json; `python -m tests.benchmarks.readme_table`
rewrites README's performance table from those files."""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import re
import statistics
import sys
import time
import tracemalloc
from datetime import datetime, timezone as dt_timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django  # noqa: E402

django.setup()

import responses  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests/integrations/connectors/tiktok/fixtures/orders_detail__standard.json"
SEARCH_MAX_PAGE = 100  # TikTok Get Order List: page_size 1-100 (reference §4.1)
DETAIL_MAX_IDS = 50


class QueryCounter:
    """Counts SQL statements without keeping them (a query log would itself grow memory)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


class ApiCounter:
    def __init__(self) -> None:
        self.by_endpoint: dict[str, int] = {}

    def add(self, name: str) -> None:
        self.by_endpoint[name] = self.by_endpoint.get(name, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.by_endpoint.values())


def machine() -> dict:
    info = {"host": platform.node(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(terse=True), "django": django.get_version()}
    try:
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SHOW server_version")
            info["database_version"] = f"PostgreSQL {cursor.fetchone()[0]}"
        elif connection.vendor == "sqlite":
            cursor.execute("select sqlite_version()")
            info["database_version"] = f"SQLite {cursor.fetchone()[0]}"
    return info


def _template() -> dict:
    return json.loads(FIXTURE.read_text())["data"]["orders"][0]


def workload(template: dict, size: int, kind: str, now: int) -> list[dict]:
    """The fixed workload of a label. Update times are distinct seconds inside the pull window."""
    orders = []
    for n in range(size):
        order = copy.deepcopy(template)
        order["id"] = str(580000000000000000 + n)
        if kind == "live":  # placed 5 minutes ago: held for 60 minutes by the default TikTok hold rule
            order["create_time"] = now - 300
            order["update_time"] = now - 10 - size + n
        else:  # backfill: placed in 2025, long past the hold, routed at ingestion
            order["create_time"] = 1_750_000_000 + n - 60
            order["update_time"] = 1_750_000_000 + n
        order["is_on_hold_order"] = False
        for i, item in enumerate(order.get("line_items") or []):
            item["id"] = f"{order['id']}{i:03d}"
        orders.append(order)
    return orders


def _envelope(data: dict) -> dict:
    return {"code": 0, "message": "Success", "request_id": "bench", "data": data}


def serve(mock: responses.RequestsMock, orders: list[dict], api: ApiCounter) -> None:
    """TikTok's search (sorted by update_time ASC, filtered by update_time_ge/lt from the JSON body, page tokens
    as offsets inside the filtered answer) and Get Order Detail."""
    from integrations.connectors.tiktok import constants as c

    by_id = {o["id"]: o for o in orders}
    ordered = sorted(orders, key=lambda o: (o["update_time"], o["id"]))
    times = [o["update_time"] for o in ordered]

    def forget_calls() -> None:
        # Keep the harness's own memory flat: responses records every call, globally and per registration.
        mock.calls.reset()
        for registered in mock.registered():
            registered.calls.reset()

    def search(request):
        import bisect

        forget_calls()
        api.add("orders_search")
        query = parse_qs(urlsplit(request.url).query)
        page_size = min(int(query.get("page_size", ["20"])[0]), SEARCH_MAX_PAGE)
        body = json.loads(request.body or b"{}")
        lo = bisect.bisect_left(times, int(body.get("update_time_ge", 0)))
        hi = bisect.bisect_left(times, int(body.get("update_time_lt", 2**40)))
        start = lo + int(query.get("page_token", ["0"])[0] or 0)
        chunk = ordered[start:min(start + page_size, hi)]
        nxt = str(start - lo + page_size) if start + page_size < hi else ""
        return 200, {}, json.dumps(_envelope({"orders": chunk, "next_page_token": nxt, "total_count": hi - lo}))

    def detail(request):
        forget_calls()
        api.add("orders_detail")
        ids = parse_qs(urlsplit(request.url).query).get("ids", [""])[0].split(",")
        return 200, {}, json.dumps(_envelope({"orders": [by_id[i] for i in ids if i in by_id]}))

    mock.add_callback("POST", re.compile(re.escape(c.API_BASE_URL + c.PATH_ORDERS_SEARCH) + r"(\?.*)?$"), callback=search)
    mock.add_callback("GET", re.compile(re.escape(c.API_BASE_URL + c.PATH_ORDERS_DETAIL) + r"(\?.*)?$"), callback=detail)


def integration_create(name: str):
    from datetime import timedelta

    from django.utils import timezone

    from integrations import services

    integration = services.integration_create(
        name=name, connector="tiktok", environment="production",
        settings={"orders_exclude_before": "2020-01-01T00:00:00+00:00"},
        credentials={"app_key": "bench", "app_secret": "bench-secret", "service_id": "svc",
                     "access_token": "TTP_bench", "refresh_token": "TTP_bench_refresh"},
    )
    expires = timezone.now() + timedelta(days=7)
    integration.remote_state = {"shop_id": f"shop-{name}", "shop_cipher": "ROW_bench", "shop_region": "US",
                                "access_token_expires_at": expires.isoformat(),
                                "refresh_token_expires_at": (expires + timedelta(days=300)).isoformat()}
    integration.auth_expires_at = expires
    integration.status = integration.Status.CONNECTED
    integration.save()
    return integration


def products_create(template: dict) -> None:
    from catalog.models import Product

    for item in template.get("line_items") or []:
        Product.objects.get_or_create(sku=item["seller_sku"], defaults={"name": item.get("product_name", item["seller_sku"])})


_serial = [0]


def _fresh_name(label: str) -> str:
    _serial[0] += 1
    return f"Bench {label} {_serial[0]}"


def run_flow(orders: list[dict], *, label: str, trace_memory: bool = False) -> dict:
    """One ingest of `orders` into a fresh integration, then an all-unchanged re-run of the same window."""
    from django.conf import settings

    from integrations import services
    from integrations.models import FlowState

    settings.TIKTOK_QPS = 100000.0  # the per-shop rate limit is not what is measured here
    integration = integration_create(_fresh_name(label))
    state = FlowState.objects.get(integration=integration, flow="pull_orders")
    out = {}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        api = ApiCounter()
        serve(mock, orders, api)
        for phase in ("first", "rerun"):
            if phase == "rerun":
                services.flow_state_reset_cursor(flow_state=state)
            state.refresh_from_db()
            api.by_endpoint.clear()
            if trace_memory:
                tracemalloc.start()
            queries = QueryCounter()
            started = time.perf_counter()
            with connection.execute_wrapper(queries):
                run = services.flow_run(flow_state=state, trigger="command")
            elapsed = time.perf_counter() - started
            peak = tracemalloc.get_traced_memory()[1] if trace_memory else None
            if trace_memory:
                tracemalloc.stop()
            if run.status != "succeeded" or (phase == "first" and run.created != len(orders)):
                raise SystemExit(f"benchmark run did not ingest every order: {run.status} created={run.created} "
                                 f"{run.error_message} {run.errors[:3]}")
            minimum = math.ceil(len(orders) / SEARCH_MAX_PAGE) or 1
            out[phase] = {"seconds": elapsed, "pages": run.pages, "queries": queries.count,
                          "api_calls": dict(api.by_endpoint), "api_calls_total": api.total, "api_minimum": minimum,
                          "created": run.created, "updated": run.updated, "unchanged": run.unchanged,
                          "peak_memory_mb": round(peak / 1_048_576, 2) if peak is not None else None}
    return out


def raw_rows(orders: list[dict]) -> list[list]:
    """The mapped rows the ingest writes, prepared outside the timed section (mapping is ingest work, not raw)."""
    from integrations.connectors.tiktok.mappers_orders import order_to_order_in

    from orders.services.ingestion import _merge_lines

    pages = []
    for start in range(0, len(orders), SEARCH_MAX_PAGE):
        mapped = [order_to_order_in(o) for o in orders[start:start + SEARCH_MAX_PAGE]]
        pages.append([(o, list(_merge_lines(o).items())) for o in mapped])
    return pages


def run_raw(pages: list[list], *, label: str) -> dict:
    """The same rows straight through bulk_create(update_conflicts=True), one transaction per page: orders
    (pks returned), lines, one event per order, external refs, and the cursor."""
    from django.contrib.contenttypes.models import ContentType
    from django.db import transaction
    from django.utils import timezone

    from integrations.models import ExternalRef, FlowState
    from orders.models import Order, OrderEvent, OrderLine
    from orders.services.ingestion import ORDER_FIELDS

    integration = integration_create(_fresh_name(f"raw {label}"))
    state = FlowState.objects.get(integration=integration, flow="pull_orders")
    order_ct = ContentType.objects.get_for_model(Order)
    queries = QueryCounter()
    started = time.perf_counter()
    with connection.execute_wrapper(queries):
        for n, page in enumerate(pages):
            with transaction.atomic():
                now = timezone.now()
                orders = [Order(integration=integration, external_id=o.external_id, status="onHold", created_at=now,
                                payload_hash=o.payload_hash, tags=list(o.tags), **{f: getattr(o, f) for f in ORDER_FIELDS})
                          for o, _ in page]
                Order.objects.bulk_create(orders, update_conflicts=True, unique_fields=["integration", "external_id"],
                                          update_fields=[*ORDER_FIELDS, "payload_hash"])
                OrderLine.objects.bulk_create([  # the merged lines the ingest stores (one per SKU, not per unit)
                    OrderLine(order=order, sku=sku, **row) for order, (_, merged) in zip(orders, page) for (_, sku), row in merged])
                OrderEvent.objects.bulk_create([OrderEvent(order=order, at=now, kind="created", to_status="onHold",
                                                           message="received") for order in orders])
                ExternalRef.objects.bulk_create([
                    ExternalRef(integration=integration, kind="order", external_id=o.external_id, content_type=order_ct,
                                object_id=order.pk, remote_updated_at=o.remote_updated_at, payload_hash=o.payload_hash,
                                synced_at=now) for order, (o, _) in zip(orders, page)],
                    update_conflicts=True, unique_fields=["integration", "kind", "external_id"],
                    update_fields=["content_type", "object_id", "remote_updated_at", "payload_hash", "synced_at"])
                FlowState.objects.filter(pk=state.pk).update(cursor={"updated_since": n})
    return {"seconds": time.perf_counter() - started, "queries": queries.count, "pages": len(pages)}


def _stats(values: list[float]) -> dict:
    return {"min": round(min(values), 1), "median": round(statistics.median(values), 1), "max": round(max(values), 1)}


def bench_size(template: dict, size: int, *, kind: str, runs: int) -> dict:
    orders = workload(template, size, kind, int(time.time()))
    pages = raw_rows(orders)
    firsts, reruns, raws = [], [], []
    for _ in range(runs):
        result = run_flow(orders, label=f"{kind} {size}")
        firsts.append(result["first"])
        reruns.append(result["rerun"])
        raws.append(run_raw(pages, label=f"{size}"))
    ingest = [size / r["seconds"] for r in firsts]
    raw = [size / r["seconds"] for r in raws]
    first, rerun = firsts[0], reruns[0]
    return {
        "orders": size, "runs": runs,
        "first": {"orders_per_second": _stats(ingest), "pages": first["pages"],
                  "queries_per_page": round(first["queries"] / max(first["pages"], 1), 1),
                  "api_calls": first["api_calls"], "api_calls_total": first["api_calls_total"],
                  "api_minimum": first["api_minimum"],
                  "api_ratio": round(first["api_calls_total"] / first["api_minimum"], 2)},
        "rerun": {"orders_per_second": _stats([size / r["seconds"] for r in reruns]), "pages": rerun["pages"],
                  "queries_per_page": round(rerun["queries"] / max(rerun["pages"], 1), 1),
                  "api_calls_total": rerun["api_calls_total"], "unchanged": rerun["unchanged"]},
        "raw": {"orders_per_second": _stats(raw), "queries_per_page": round(raws[0]["queries"] / raws[0]["pages"], 1)},
        "ratio_to_raw": {"median": round(statistics.median(ingest) / statistics.median(raw), 2),
                         "best": round(max(ingest) / max(raw), 2)},
    }


def bench_memory(template: dict, size: int, *, kind: str) -> dict:
    orders = workload(template, size, kind, int(time.time()))
    result = run_flow(orders, label=f"mem {kind} {size}", trace_memory=True)
    return {"orders": size, "first_peak_mb": result["first"]["peak_memory_mb"], "rerun_peak_mb": result["rerun"]["peak_memory_mb"]}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--admin" in argv:  # `make benchmark BENCH_ARGS=--admin`: the admin benchmark on DATABASE_URL's seeded data
        from tests.benchmarks import bench_admin

        return bench_admin.main([a for a in argv if a not in ("--admin",) and not a.startswith("--sizes")])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 2000, 10000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workload", choices=("live", "backfill"), default="live")
    parser.add_argument("--memory-sizes", type=int, nargs="*", default=[1000, 10000, 100000],
                        help="peak memory pass (tracemalloc on), not timed; empty to skip")
    args = parser.parse_args(argv)
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        template = _template()
        products_create(template)
        report = {"benchmark": "pull_orders", "database": connection.vendor, "workload": args.workload,
                  "date": datetime.now(dt_timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
                  "sizes": [bench_size(template, size, kind=args.workload, runs=args.runs) for size in args.sizes],
                  "memory": [bench_memory(template, size, kind=args.workload) for size in args.memory_sizes]}
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    print_report(report)
    out = ROOT / "artifacts/benchmarks"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"pull_orders_{report['database']}_{args.workload}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten {path.relative_to(ROOT)}")
    return 0


def print_report(report: dict) -> None:
    m = report["machine"]
    print(f"pull_orders on {m.get('database_version', report['database'])}, workload {report['workload']}, "
          f"{report['date']}, {m['cpus']} CPUs, load {m.get('load_average')}")
    print(f"{'orders':>7} {'run':>6} {'orders/s min/med/max':>24} {'raw orders/s med':>17} {'ratio':>6} {'pages':>6} "
          f"{'queries/page':>13} {'api calls':>10} {'÷ minimum':>10}")
    for row in report["sizes"]:
        f, r, raw = row["first"], row["rerun"], row["raw"]
        ops = f["orders_per_second"]
        print(f"{row['orders']:>7} {'first':>6} {ops['min']:>8}/{ops['median']:>7}/{ops['max']:>7} {raw['orders_per_second']['median']:>17} "
              f"{row['ratio_to_raw']['median']:>6} {f['pages']:>6} {f['queries_per_page']:>13} {f['api_calls_total']:>10} "
              f"{f['api_ratio']:>10}")
        ops = r["orders_per_second"]
        print(f"{row['orders']:>7} {'rerun':>6} {ops['min']:>8}/{ops['median']:>7}/{ops['max']:>7} {'':>17} {'':>6} "
              f"{r['pages']:>6} {r['queries_per_page']:>13} {r['api_calls_total']:>10} {'':>10}")
    if report["memory"]:
        print("peak Python memory (separate pass, tracemalloc): " + ", ".join(
            f"{m['orders']:,} orders {m['first_peak_mb']} MB" for m in report["memory"]))


if __name__ == "__main__":
    sys.exit(main())
