"""Admin pages at scale: time and SQL queries of every orders changelist view (filters, searches), the order page,
the exception queue, sync runs and the dashboard, on a database seeded by `manage.py seed_scale`. Not a test.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/sy_perf_scale .venv/bin/python manage.py migrate
    DATABASE_URL=... .venv/bin/python manage.py seed_scale --orders 1000000
    DATABASE_URL=... make benchmark BENCH_ARGS=--admin      # or: python -m tests.benchmarks.bench_admin --runs 5

Runs against DATABASE_URL itself (not a test database). Results: artifacts/benchmarks/admin_<database>.json."""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import datetime, timezone as dt_timezone
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402

from tests.benchmarks.bench_pull_orders import machine  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def pages() -> list[tuple[str, str, str]]:
    from integrations.models import Integration, OpsException, SyncRun
    from orders.models import Order

    last = Order.objects.order_by("-pk").only("pk", "external_id", "buyer_email").first()
    middle = Order.objects.filter(pk__lte=last.pk // 2).order_by("-pk").only("external_id", "buyer_email").first()
    shop = Integration.objects.filter(name__startswith="Scale shop ").order_by("pk").first()
    exc = OpsException.objects.order_by("-pk").only("pk").first()
    run = SyncRun.objects.order_by("-pk").only("pk").first()
    fragment = middle.buyer_email.split("@")[0][:-1]  # "buyer12345" of buyer123456@…: matches a handful of rows
    out = [
        ("orders: list (unfiltered)", "/orders/order/", "< 150 ms"),
        ("orders: status = on hold", "/orders/order/?status__exact=onHold", "< 150 ms"),
        ("orders: status = delivered", "/orders/order/?status__exact=delivered", "< 150 ms"),
        ("orders: integration", f"/orders/order/?integration__id__exact={shop.pk}", "< 150 ms"),
        ("orders: held by rule", "/orders/order/?held=rule", "< 150 ms"),
        ("orders: routing failed", "/orders/order/?routing_state__exact=failed", "< 150 ms"),
        ("orders: created past 7 days", "/orders/order/?" + _past_week(), "< 150 ms"),
        ("orders: search exact order id", f"/orders/order/?q={middle.external_id}", "< 100 ms"),
        ("orders: search SKU", "/orders/order/?q=SCALE-0042", "< 100 ms"),
        ("orders: search whole e-mail", f"/orders/order/?q={middle.buyer_email}", "< 100 ms"),
        ("orders: search e-mail fragment", f"/orders/order/?q={fragment}", "bounded: last 30 days (documented)"),
        ("order page", f"/orders/order/{last.pk}/change/", ""),
        ("exception queue", "/integrations/opsexception/?status__exact=open", ""),
        ("sync runs", "/integrations/syncrun/", ""),
        ("dashboard", "/", "constant in table size"),
    ]
    if exc is not None:
        out.append(("exception page", f"/integrations/opsexception/{exc.pk}/change/", ""))
    if run is not None:
        out.append(("sync run page", f"/integrations/syncrun/{run.pk}/change/", ""))
    return out


def _past_week() -> str:
    from datetime import timedelta
    from urllib.parse import urlencode

    from django.utils import timezone

    # What DateFieldListFilter's "Past 7 days" link sends for a DateTimeField: aware midnights, offset included.
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    return urlencode({"created_at__gte": str(today - timedelta(days=7)), "created_at__lt": str(today + timedelta(days=1))})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    setup_test_environment()
    from django.contrib.auth import get_user_model

    from orders.models import Order

    user, _ = get_user_model().objects.get_or_create(username="bench-admin", defaults={"is_staff": True, "is_superuser": True})
    client = Client()
    client.force_login(user)
    orders = Order.objects.count()
    results = []
    for label, url, target in pages():
        client.get(url)  # warm: caches, prepared plans
        times, cpu_times, sql_times, queries, status, slowest = [], [], [], 0, 0, ""
        for _ in range(args.runs):
            with CaptureQueriesContext(connection) as captured:
                started, cpu_started = time.perf_counter(), time.process_time()
                response = client.get(url)
                times.append((time.perf_counter() - started) * 1000)
                cpu_times.append((time.process_time() - cpu_started) * 1000)
            queries, status = len(captured.captured_queries), response.status_code
            sql_times.append(sum(float(q["time"]) for q in captured.captured_queries) * 1000)
            top = max(captured.captured_queries, key=lambda q: float(q["time"]))
            slowest = f"{float(top['time']) * 1000:.0f} ms: {top['sql'][:300]}"
        results.append({"label": label, "url": url, "status": status, "queries": queries, "target": target,
                        "ms": {"min": round(min(times)), "median": round(statistics.median(times)), "max": round(max(times))},
                        "sql_ms": {"median": round(statistics.median(sql_times)), "max": round(max(sql_times))},
                        # CPU time of this process (Django: view, rendering, the driver), not of PostgreSQL: what the
                        # request costs on a machine where nobody else competes for the cores
                        "cpu_ms": {"median": round(statistics.median(cpu_times)), "min": round(min(cpu_times))},
                        "slowest_query": slowest})
        print(f"{label:<34} {round(statistics.median(times)):>6} ms (max {round(max(times))}), SQL {round(statistics.median(sql_times)):>5} ms, "
              f"CPU {round(statistics.median(cpu_times)):>4} ms, "
              f"{queries:>3} queries  HTTP {status}")
    report = {"benchmark": "admin", "database": connection.vendor, "orders": orders, "runs": args.runs,
              "date": datetime.now(dt_timezone.utc).isoformat(timespec="seconds"), "machine": machine(), "pages": results}
    out = ROOT / "artifacts/benchmarks"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"admin_{connection.vendor}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{orders:,} orders; written {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
