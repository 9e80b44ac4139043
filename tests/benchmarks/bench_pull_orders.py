"""Rerunnable benchmark of the order ingestion path: the real TikTok `pull_orders` flow (client,
signing, mapper, engine, orders core) against TikTok-shaped pages served by `responses`.

    make benchmark                      # 500 and 2,000 orders, SQLite test database (SIZES="..." to change)
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/switchyard make benchmark
    .venv/bin/python -m tests.benchmarks.bench_pull_orders --sizes 500 2000 --page-size 50

Reports per size: orders/s, SQL queries per page (first run and an all-unchanged re-run), API
calls, and peak Python memory (tracemalloc) — which should stay flat as the size grows, because a
flow holds one page at a time. Results also go to artifacts/benchmarks/pull_orders.json."""
from __future__ import annotations

import argparse
import copy
import json
import os
import re
import sys
import time
import tracemalloc
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
SEARCH_PAGE_SIZE = 50


class QueryCounter:
    """Counts SQL statements without keeping them (a query log would itself grow memory)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def _template() -> dict:
    return json.loads(FIXTURE.read_text())["data"]["orders"][0]


def _order(template: dict, n: int, base_time: int) -> dict:
    order = copy.deepcopy(template)
    order["id"] = str(580000000000000000 + n)
    order["update_time"] = base_time + n
    order["create_time"] = base_time + n - 60
    order["is_on_hold_order"] = False
    for i, item in enumerate(order.get("line_items") or []):
        item["id"] = f"{order['id']}{i:03d}"
    return order


def _envelope(data: dict) -> dict:
    return {"code": 0, "message": "Success", "request_id": "bench", "data": data}


def _serve(mock: responses.RequestsMock, orders: list[dict]) -> None:
    from integrations.connectors.tiktok import constants as c

    by_id = {o["id"]: o for o in orders}

    def forget_calls() -> None:
        # Keep the harness's own memory flat: responses records every call, globally and per registration.
        mock.calls.reset()
        for registered in mock.registered():
            registered.calls.reset()

    def search(request):
        forget_calls()
        token = parse_qs(urlsplit(request.url).query).get("page_token", [""])[0]
        start = int(token or 0)
        chunk = orders[start:start + SEARCH_PAGE_SIZE]
        nxt = str(start + SEARCH_PAGE_SIZE) if start + SEARCH_PAGE_SIZE < len(orders) else ""
        return 200, {}, json.dumps(_envelope({"orders": chunk,
                                              "next_page_token": nxt, "total_count": len(orders)}))

    def detail(request):
        forget_calls()
        ids = parse_qs(urlsplit(request.url).query).get("ids", [""])[0].split(",")
        return 200, {}, json.dumps(_envelope({"orders": [by_id[i] for i in ids if i in by_id]}))

    mock.add_callback("POST", re.compile(re.escape(c.API_BASE_URL + c.PATH_ORDERS_SEARCH) + r"(\?.*)?$"), callback=search)
    mock.add_callback("GET", re.compile(re.escape(c.API_BASE_URL + c.PATH_ORDERS_DETAIL) + r"(\?.*)?$"), callback=detail)


def _integration(name: str):
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


def _products(template: dict) -> None:
    from catalog.models import Product

    for item in template.get("line_items") or []:
        Product.objects.get_or_create(sku=item["seller_sku"], defaults={"name": item.get("product_name", item["seller_sku"])})


def run_size(size: int, *, backfill: bool = False) -> dict:
    from django.conf import settings

    from integrations import services
    from integrations.models import FlowState

    settings.TIKTOK_QPS = 100000.0  # the per-shop budget is not what is measured here
    template = _template()
    _products(template)
    # Live traffic: orders placed minutes ago wait out the 60-minute hold, so ingestion only upserts.
    # Backfill: orders from 2025 are past their hold and are routed during ingestion (per order).
    base_time = 1_750_000_000 if backfill else int(time.time()) - 600 - size
    orders = [_order(template, n, base_time) for n in range(size)]
    integration = _integration(f"Bench {size}")
    state = FlowState.objects.get(integration=integration, flow="pull_orders")
    results = {"orders": size}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        _serve(mock, orders)
        del orders
        for label in ("first", "rerun"):
            if label == "rerun":
                services.flow_state_reset_cursor(flow_state=state)
            state.refresh_from_db()
            tracemalloc.start()
            started = time.perf_counter()
            queries = QueryCounter()
            with connection.execute_wrapper(queries):
                run = services.flow_run(flow_state=state, trigger="command")
            elapsed = time.perf_counter() - started
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            if run.status != "succeeded" or (label == "first" and run.created != size):
                raise SystemExit(f"benchmark run did not ingest every order: {run.status} created={run.created} "
                                 f"{run.error_message} {run.errors[:3]}")
            results[label] = {
                "seconds": round(elapsed, 2), "orders_per_second": round(size / elapsed, 1),
                "pages": run.pages, "queries": queries.count, "queries_per_page": round(queries.count / max(run.pages, 1), 1),
                "api_calls": run.api_calls, "created": run.created, "updated": run.updated, "unchanged": run.unchanged,
                "peak_memory_mb": round(peak / 1_048_576, 1),
            }
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 2000])
    parser.add_argument("--backfill", action="store_true", help="old orders: routed while ingested")
    args = parser.parse_args(argv)
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        report = {"database": connection.vendor, "backfill": args.backfill,
                  "sizes": [run_size(size, backfill=args.backfill) for size in args.sizes]}
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    print(f"pull_orders benchmark on {report['database']} ({'backfill: routed at ingestion' if args.backfill else 'live: held'})")
    print(f"{'orders':>7} {'run':>6} {'s':>7} {'orders/s':>9} {'pages':>6} {'queries/page':>13} {'api calls':>10} "
          f"{'created':>8} {'unchanged':>9} {'peak MB':>8}")
    for row in report["sizes"]:
        for label in ("first", "rerun"):
            r = row[label]
            print(f"{row['orders']:>7} {label:>6} {r['seconds']:>7} {r['orders_per_second']:>9} {r['pages']:>6} "
                  f"{r['queries_per_page']:>13} {r['api_calls']:>10} {r['created']:>8} {r['unchanged']:>9} {r['peak_memory_mb']:>8}")
    out = ROOT / "artifacts/benchmarks"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"pull_orders{'_backfill' if args.backfill else ''}.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
