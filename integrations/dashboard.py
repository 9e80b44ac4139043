"""Selectors for the operations dashboard (admin index). Every function runs a fixed number of queries,
whatever the number of orders, runs or integrations."""
from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from django.db import connection
from django.db.models import Count, Max, Min, Q
from django.db.models.functions import TruncHour
from django.utils import timezone

from integrations.models import FlowState, Integration, OpsException, OutboundPush, SyncRun

HOURS = 24


def _hours(now):
    start = (now - timedelta(hours=HOURS - 1)).replace(minute=0, second=0, microsecond=0)
    return start, [start + timedelta(hours=i) for i in range(HOURS)]


def integrations_status(*, now=None) -> list[dict]:
    """Per integration: status, token expiry, and per flow its last success, failures and backlog (4 queries)."""
    now = now or timezone.now()
    integrations = list(Integration.objects.order_by("name"))
    flows = defaultdict(list)
    for fs in FlowState.objects.order_by("flow"):
        flows[fs.integration_id].append(fs)
    since = now - timedelta(hours=24)
    failed = {(r["integration_id"], r["flow"]): r["n"] for r in SyncRun.objects.filter(started_at__gte=since, status="failed")
              .values("integration_id", "flow").annotate(n=Count("id"))}
    backlog = {r["integration_id"]: r["n"] for r in OutboundPush.objects.filter(status__in=("pending", "failed"))
               .values("integration_id").annotate(n=Count("id"))}
    out = []
    for integ in integrations:
        expires = integ.auth_expires_at
        out.append({
            "integration": integ, "status": integ.get_status_display(), "status_code": integ.status,
            "token_expires_at": expires, "token_expiring": bool(expires and expires - now < timedelta(days=2)),
            "backlog": backlog.get(integ.id, 0),
            "flows": [{
                "state": fs, "name": fs.flow, "enabled": fs.enabled, "last_succeeded_at": fs.last_succeeded_at,
                "consecutive_failures": fs.consecutive_failures, "failed_24h": failed.get((integ.id, fs.flow), 0),
                "last_error": fs.last_error[:200], "running": fs.is_running, "next_run_at": fs.next_run_at,
            } for fs in flows.get(integ.id, [])],
        })
    return out


# Statuses operations work on: counted exactly (through the status index, so the cost follows the open orders,
# not the order history). The finished ones grow without bound: on PostgreSQL their counts are the planner's
# statistics (pg_stats share of each status × pg_class row estimate, refreshed by autovacuum's ANALYZE), constant
# time whatever the table size, and marked `estimated`.
OPEN_STATUSES = ("draft", "new", "onHold", "toBeValidated", "reviewRequired", "readyForFulfillment", "sentToFulfillment",
                 "partialFulfillment")


def orders_summary(*, now=None) -> dict:
    """Orders by status, held orders due for release, next release (2 queries; 4 on PostgreSQL)."""
    from orders.models import Order, OrderStatus

    now = now or timezone.now()
    labels = dict(OrderStatus.choices)
    estimates = _status_estimates(Order._meta.db_table) if connection.vendor == "postgresql" else None
    counts = Order.objects.all() if estimates is None else Order.objects.filter(status__in=OPEN_STATUSES)
    exact = {r["status"]: r["n"] for r in counts.values("status").annotate(n=Count("id")).order_by()}
    rows = [{"status": s, "label": labels.get(s, s), "count": n, "estimated": False} for s, n in exact.items()]
    rows += [{"status": s, "label": labels.get(s, s), "count": n, "estimated": True}
             for s, n in (estimates or {}).items() if s not in OPEN_STATUSES and n > 0]
    by_status = sorted(rows, key=lambda r: -r["count"])
    held = Order.objects.filter(status=OrderStatus.ON_HOLD).aggregate(
        total=Count("id"), due=Count("id", filter=Q(hold_until__lte=now)), next_due=Min("hold_until", filter=Q(hold_until__gt=now)))
    return {"by_status": by_status, "total": sum(r["count"] for r in by_status), "held": held,
            "estimated": any(r["estimated"] for r in by_status)}


def _status_estimates(table: str) -> dict[str, int] | None:
    """{status: estimated rows} from PostgreSQL's statistics; None when the table was never analyzed (then the
    caller counts exactly: a small or new table)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [table])
        total = (cursor.fetchone() or [-1])[0]
        cursor.execute("SELECT most_common_vals::text::text[], most_common_freqs FROM pg_stats "
                       "WHERE schemaname = current_schema() AND tablename = %s AND attname = 'status'", [table])
        row = cursor.fetchone()
    if total is None or total < 0 or row is None or row[0] is None:
        return None
    return {value: round(freq * total) for value, freq in zip(row[0], row[1])}


def exceptions_summary() -> list[dict]:
    labels = dict(OpsException.Category.choices)
    return [{"category": r["category"], "label": labels.get(r["category"], r["category"]), "count": r["n"], "last_seen": r["last"]}
            for r in OpsException.objects.filter(status=OpsException.Status.OPEN).values("category")
            .annotate(n=Count("id"), last=Max("last_seen_at")).order_by("-n")]


def charts(*, now=None) -> dict:
    """Orders created and sync runs (ok / failed) per hour over the last 24 hours (2 queries)."""
    from orders.models import Order

    now = now or timezone.now()
    start, hours = _hours(now)
    orders = {r["h"]: r["n"] for r in Order.objects.filter(created_at__gte=start).annotate(h=TruncHour("created_at"))
              .values("h").annotate(n=Count("id"))}
    runs = defaultdict(lambda: [0, 0])
    for r in (SyncRun.objects.filter(started_at__gte=start).annotate(h=TruncHour("started_at")).values("h")
              .annotate(ok=Count("id", filter=~Q(status="failed")), bad=Count("id", filter=Q(status="failed")))):
        runs[r["h"]] = [r["ok"], r["bad"]]
    return {
        "labels": [h.strftime("%H:00") for h in hours],
        "orders": [orders.get(h, 0) for h in hours],
        "runs_ok": [runs[h][0] if h in runs else 0 for h in hours],
        "runs_failed": [runs[h][1] if h in runs else 0 for h in hours],
    }


def running_runs(*, limit: int = 20) -> list[SyncRun]:
    """Flow runs in progress with their page count (the progress of long operations started from the admin)."""
    return list(SyncRun.objects.filter(status=SyncRun.Status.RUNNING).select_related("integration").order_by("-started_at")[:limit])


def dashboard_context(*, now=None) -> dict:
    now = now or timezone.now()
    return {"integrations_status": integrations_status(now=now), "orders_summary": orders_summary(now=now),
            "exceptions_summary": exceptions_summary(), "chart": charts(now=now), "running_runs": running_runs(), "now": now}
