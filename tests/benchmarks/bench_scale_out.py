"""Scale-out benchmark (issue #14 item 6): the production path on PostgreSQL + Redis with 1, 2 and 4 django-q2 workers
and 20 emulated TikTok shops under steady traffic; orders/s end to end (ingest → hold → route → push to OSA), latency
per order, the longest wait of any due flow, fairness across shops, and remote calls and 429s per remote. Not part
of the test suite (pytest collects test_*.py only; the pure figures are tested in test_scale_out_metrics.py).

    make benchmark-scale                                    # SCALE_WORKERS="1 2 4" SCALE_SHOPS=20 SCALE_SECONDS=90
    SCALE_WORKERS=1 SCALE_SHOPS=2 SCALE_SECONDS=30 make benchmark-scale                  # a smoke run
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/switchyard_scale REDIS_URL=redis://127.0.0.1:6379/14 \\
        .venv/bin/python -m tests.benchmarks.bench_scale_out --workers 1 2 4

For each worker count, with the soak's machinery (integrations/sandbox/soak.py):
1. Refuses unless PostgreSQL and Redis answer and the database's name contains "scale"; recreates that database and
   empties its cluster's queue (Redis db 14 by default: not the soak's 15, not the suites' 0–3).
2. Migrates, bootstraps and seeds the sandbox demo as the soak does (OSA only: `demo_seed(traffic=False,
   katana=False, acumatica=False, product_push=False)`), then adds emulated shops until there are `--shops`, each its
   own TikTok integration (`demo.demo_shops_add`: an import of the US integration's configuration, OSA's routing
   warehouse linked to the shop's warehouse, the demo's flows every 30 s). The demo's hold rule (1 minute, order time),
   routing rule and OSA shipping-method mapping cover every shop. OSA's routing warehouse gets ample stock (emulator
   and hub alike, as OSA's inventory pull would report it) so no order waits for stock.
3. One web server (it serves the emulators and TikTok's webhooks) and N `qcluster` processes with `Q_WORKERS`
   = `--cluster-workers` (1) each: N worker processes in all, as N single-worker machines would run them.
4. A warm-up (bounded) until every enabled flow has run once, then `--seconds` of traffic at `--orders-per-second`
   spread evenly over the shops (round robin; the sandbox's order generator, no cancellations, edits or returns, so
   every order should reach OSA), then a bounded drain until every placed order has its shipping request sent to OSA.
5. Figures (the run log, the orders and shipping requests, the emulators' orders, the workers' `http.response` log
   lines, samples of the queue length, PostgreSQL connections and dispatcher ticks taken every few seconds), written
   after each worker count to artifacts/benchmarks/scale_out.json; `python -m tests.benchmarks.readme_table` puts
   the table in README ("Performance" → "Scale-out").

Every child runs in its own process group and is stopped after each worker count, on failure and on Ctrl-C."""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone as dt_timezone
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, connections  # noqa: E402

from integrations.sandbox import soak  # noqa: E402
from tests.benchmarks import scale_out_metrics as metrics  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "artifacts/benchmarks/scale_out.json"
STOCK_TOP_UP = 100_000  # units per SKU at OSA's routing warehouse: no order waits for stock
SAMPLE_SECONDS = 5
DISPATCHER = "integrations.tasks.flows_dispatch_due_task"


@dataclass
class ScaleConfig:
    workers: list[int] = field(default_factory=lambda: [1, 2, 4])
    shops: int = 20
    traffic_seconds: int = 90
    orders_per_second: float = 3.0
    warmup_seconds: int = 90  # upper bound
    drain_seconds: int = 480  # upper bound
    cluster_workers: int = 1  # Q_WORKERS of each qcluster
    seed: int = 14
    log_dir: Path = field(default_factory=lambda: ROOT / "var" / "scale")


def parse_args(argv: list[str], env: dict[str, str]) -> ScaleConfig:
    """Command-line options, defaulting to the SCALE_* variables `make benchmark-scale` passes."""
    d = ScaleConfig()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, nargs="+",
                        default=[int(w) for w in env.get("SCALE_WORKERS", "").split()] or d.workers)
    parser.add_argument("--shops", type=int, default=int(env.get("SCALE_SHOPS") or d.shops))
    parser.add_argument("--seconds", type=int, default=int(env.get("SCALE_SECONDS") or d.traffic_seconds))
    parser.add_argument("--orders-per-second", type=float, default=float(env.get("SCALE_ORDERS_PER_SECOND") or d.orders_per_second))
    parser.add_argument("--warmup-seconds", type=int, default=int(env.get("SCALE_WARMUP_SECONDS") or d.warmup_seconds))
    parser.add_argument("--drain-seconds", type=int, default=int(env.get("SCALE_DRAIN_SECONDS") or d.drain_seconds))
    parser.add_argument("--cluster-workers", type=int, default=int(env.get("SCALE_CLUSTER_WORKERS") or d.cluster_workers))
    parser.add_argument("--seed", type=int, default=int(env.get("SCALE_SEED") or d.seed))
    a = parser.parse_args(argv)
    if min(a.workers) < 1 or a.shops < 2 or a.seconds < 1 or a.orders_per_second <= 0 or a.cluster_workers < 1:
        parser.error("workers ≥ 1, shops ≥ 2 (the demo's two), seconds ≥ 1, orders per second > 0, cluster workers ≥ 1")
    return ScaleConfig(workers=a.workers, shops=a.shops, traffic_seconds=a.seconds, orders_per_second=a.orders_per_second,
                       warmup_seconds=a.warmup_seconds, drain_seconds=a.drain_seconds, cluster_workers=a.cluster_workers,
                       seed=a.seed)


# --- seeding -----------------------------------------------------------------------------------------------------

def seed(site_url: str, *, shops: int) -> str:
    """The soak's seed (schema, bootstrap, demo without traffic, OSA only), more shops, ample stock at OSA."""
    from integrations.sandbox.demo import demo_shops_add

    notes = soak.setup(site_url)
    added = demo_shops_add(total=shops)
    stock_top_up(STOCK_TOP_UP)
    return f"{notes}; {len(added)} more shops (TikTok {shops} in all); +{STOCK_TOP_UP:,} units per SKU at OSA's routing warehouse"


def stock_top_up(units: int) -> None:
    """More stock at OSA's routing warehouse, on the emulator and in the hub alike (the figures OSA's inventory pull
    would report: Fulfillable = on hand − committed), so no order of the run waits for stock."""
    from django.db.models import F

    from integrations.connectors.osa.models import EmuStock
    from integrations.sandbox.demo import OSA_DOMAIN
    from inventory.models import Location
    from inventory.services import inventory_levels_set

    location = Location.objects.get(integration__connector="osa", is_default=True)
    rows = EmuStock.objects.filter(account__domain=OSA_DOMAIN, location_code=location.external_id)
    rows.update(on_hand=F("on_hand") + units)
    inventory_levels_set(location=location, reason="scale benchmark stock", basis="fulfillable", quantities={
        s.sku: {"on_hand": s.on_hand, "fulfillable": s.on_hand - s.committed} for s in rows.order_by("sku")})


# --- traffic and sampling ----------------------------------------------------------------------------------------

def place(shops: list, *, count: int, placed: int, rng: random.Random) -> int:
    """`count` orders, one per shop in turn from where the last round stopped (even spread); returns how many."""
    from integrations.sandbox.generator import orders_generate

    for i in range(count):
        shop = shops[(placed + i) % len(shops)]
        orders_generate(shop=shop, count=1, cancel_share=0, edit_share=0, return_share=0, seed=rng.randrange(1 << 30))
    return count


@dataclass
class Samples:
    ticks: set = field(default_factory=set)  # dispatcher task starts (epoch s)
    queue: list = field(default_factory=list)  # (t, tasks waiting in the broker)
    pg_connections: list = field(default_factory=list)  # (t, connections to the benchmark database)

    def take(self) -> None:
        from django_q.brokers import get_broker
        from django_q.models import Task

        now = time.time()
        self.ticks.update(t.timestamp() for t in Task.objects.filter(func=DISPATCHER).values_list("started", flat=True))
        self.queue.append((now, get_broker().queue_size()))
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
            self.pg_connections.append((now, cursor.fetchone()[0]))


def cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine since boot (/proc/stat): busy = total − idle − iowait."""
    try:
        fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0.0, 0.0
    total = sum(fields[:8])
    return total - fields[3] - fields[4], total


def processes() -> dict[int, tuple[str, int, int]]:
    """{pid: (command, process group, CPU jiffies)} of every process on the machine (/proc)."""
    out = {}
    for path in Path("/proc").glob("[0-9]*/stat"):
        try:
            pid, comm, group, jiffies = metrics.proc_stat(path.read_text())
        except (OSError, ValueError, IndexError):
            continue  # ended meanwhile
        out[pid] = (comm, group, jiffies)
    return out


def sent_orders() -> int:
    from orders.models import ShippingRequest

    return (ShippingRequest.objects.filter(sent_at__isnull=False, order__integration__connector="tiktok")
            .values("order").distinct().count())


def flows_not_run_yet() -> int:
    from integrations.models import FlowState, SyncRun

    enabled = set(FlowState.objects.filter(enabled=True, integration__is_active=True).values_list("pk", flat=True))
    ran = set(SyncRun.objects.filter(finished_at__isnull=False).exclude(status="skipped").values_list("flow_state", flat=True))
    return len(enabled - ran)


# --- one worker count --------------------------------------------------------------------------------------------

def measure(config: ScaleConfig, workers: int, *, say=print) -> dict:
    db = soak.database_settings(marker="scale", what="The scale-out benchmark", target="make benchmark-scale")
    soak.services_check(db)
    stamp = datetime.now(dt_timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    log_dir = config.log_dir / f"{stamp}-w{workers}"
    log_dir.mkdir(parents=True, exist_ok=True)
    port = soak.free_port()
    site_url = f"http://127.0.0.1:{port}"
    say(f"\n== {workers} worker(s) × {config.cluster_workers} per qcluster, {config.shops} shops, "
        f"{config.orders_per_second:g} orders/s for {config.traffic_seconds} s; database {db['NAME']} (recreated), "
        f"Redis {soak._redacted(settings.REDIS_URL)}, web {site_url}; logs in {log_dir}")
    soak.database_recreate(db)
    soak.queue_purge()
    started_seed = time.monotonic()
    say("  " + seed(site_url, shops=config.shops))
    say(f"  seeded in {time.monotonic() - started_seed:.0f} s")
    hold_minutes = _hold_minutes()
    connections.close_all()

    children = soak.Children(log_dir, soak.child_env(site_url, Q_WORKERS=str(config.cluster_workers)))

    def alive() -> None:
        dead = children.dead()
        if dead:
            raise soak.SoakError(f"child process(es) died: {', '.join(dead)} (see {log_dir})")

    samples = Samples()
    placed = 0
    timeline: dict[str, float | None] = {}
    try:
        children.start("web", ["runserver", f"127.0.0.1:{port}", "--noreload"])
        soak.web_wait(f"{site_url}/admin/login/")
        for i in range(workers):
            children.start(f"worker-{i + 1}", ["qcluster"])
        timeline["workers_started"] = time.time()
        say(f"  web server and {workers} qcluster(s) up")

        # Warm-up: the seed made every flow due at once; traffic starts when each has run once (bounded).
        warm_until = time.monotonic() + config.warmup_seconds
        waiting = flows_not_run_yet()
        while waiting and time.monotonic() < warm_until:
            alive()
            samples.take()
            time.sleep(SAMPLE_SECONDS)
            waiting = flows_not_run_yet()
        timeline["warmup_s"] = round(time.time() - timeline["workers_started"], 1)
        timeline["flows_not_run_after_warmup"] = waiting
        say(f"  warm-up {timeline['warmup_s']:.0f} s: {'every flow ran once' if not waiting else f'{waiting} flow(s) not run yet'}")

        from integrations.sandbox.models import EmuShop

        shops = list(EmuShop.objects.order_by("id"))
        rng = random.Random(config.seed)
        total = round(config.orders_per_second * config.traffic_seconds)
        cpu_before, procs_before = cpu_times(), processes()
        timeline["traffic_started"] = t0 = time.time()
        last_sample = 0.0
        while placed < total:
            alive()
            due = min(total, int(config.orders_per_second * (time.time() - t0)) + 1)
            if due > placed:
                placed += place(shops, count=due - placed, placed=placed, rng=rng)
            if time.time() - last_sample >= SAMPLE_SECONDS:
                samples.take()
                last_sample = time.time()
            time.sleep(max(0.0, min(0.5, t0 + placed / config.orders_per_second - time.time())))
        timeline["traffic_ended"] = time.time()
        say(f"  traffic: {placed} orders in {timeline['traffic_ended'] - t0:.0f} s over {len(shops)} shops")

        drain_until = time.monotonic() + config.drain_seconds
        sent = sent_orders()
        last_said = time.monotonic()
        while sent < placed and time.monotonic() < drain_until:
            alive()
            samples.take()
            time.sleep(2)
            sent = sent_orders()
            if time.monotonic() - last_said >= 30:
                last_said = time.monotonic()
                say(f"  drain {time.time() - timeline['traffic_ended']:.0f} s: {sent} of {placed} sent to OSA, "
                    f"queue {samples.queue[-1][1] if samples.queue else '?'}")
        timeline["end"] = time.time()
        timeline["drained"] = sent >= placed
        timeline["drain_s"] = round(timeline["end"] - timeline["traffic_ended"], 1)
        cpu_after, procs_after = cpu_times(), processes()
        groups = {p.pid: ("web (emulators, webhooks)" if label == "web" else "workers") for label, p in children.procs.items()}
        groups[os.getpgrp()] = "benchmark (traffic, sampling)"
        load = [round(x, 2) for x in os.getloadavg()]
        say(f"  drain {'complete' if timeline['drained'] else 'NOT complete'} after {timeline['drain_s']:.0f} s: "
            f"{sent} of {placed} sent")
    finally:
        children.stop_all()
        say(f"  children stopped: {', '.join(f'{k} pid {p.pid}' for k, p in children.procs.items()) or 'none'}")

    busy = cpu_after[0] - cpu_before[0]
    total_jiffies = cpu_after[1] - cpu_before[1]
    result = collect(config, workers=workers, timeline=timeline, samples=samples, hold_minutes=hold_minutes,
                     logs=children.log_texts())
    result["machine_busy_share"] = round(busy / total_jiffies, 2) if total_jiffies else None
    # CPU seconds per part over traffic + drain, against the machine's (cores × seconds).
    tick = float(os.sysconf("SC_CLK_TCK"))
    result["cpu_s"] = metrics.cpu_by_label(procs_before, procs_after, groups, busy_seconds=busy / tick, ticks_per_second=tick)
    result["cpu_s"]["machine_capacity"] = round((os.cpu_count() or 1) * (timeline["end"] - timeline["traffic_started"]), 1)
    result["load_average_at_end"] = load
    result["log_dir"] = str(log_dir.relative_to(ROOT)) if log_dir.is_relative_to(ROOT) else str(log_dir)
    result["binds"] = binds(result)
    return result


def _hold_minutes() -> int:
    """The minutes of the hold rule a new TikTok order meets first (the demo's, ahead of the 60-minute default)."""
    from orders.models import HoldRule

    rule = HoldRule.objects.filter(enabled=True, connector="tiktok").order_by("priority", "pk").first()
    return rule.minutes if rule else 0


# --- figures -----------------------------------------------------------------------------------------------------

def collect(config: ScaleConfig, *, workers: int, timeline: dict, samples: Samples, hold_minutes: int,
            logs: dict[str, str]) -> dict:
    from django.db.models import Count, Min, Sum
    from django_q.models import Task

    from integrations.models import FlowState, Integration, OpsException, SyncRun
    from integrations.sandbox.models import EmuOrder
    from orders.models import Order, ShippingRequest

    end, t0 = timeline["end"], timeline["traffic_started"]
    # Shops are named by their TikTok integration (one per emulated shop).
    channel = dict(Integration.objects.filter(connector="tiktok").values_list("remote_account_id", "name"))
    # Orders: placed at the emulator → ingested (hub order) → first shipping request created (routed) → sent to OSA.
    placed = {oid: (channel.get(shop_id, shop_id), float(ts)) for oid, shop_id, ts in
              EmuOrder.objects.values_list("order_id", "shop__shop_id", "create_time")}
    ingested, held = {}, {}
    for oid, created, minutes in Order.objects.filter(integration__connector="tiktok").values_list(
            "external_id", "created_at", "held_by_rule__minutes"):
        ingested[oid], held[oid] = created.timestamp(), 60.0 * (minutes or 0)
    requests = ShippingRequest.objects.filter(order__integration__connector="tiktok").values_list("order__external_id")
    routed = {oid: at.timestamp() for oid, at in requests.annotate(at=Min("created_at")).values_list("order__external_id", "at")}
    sent = {oid: at.timestamp() for oid, at in
            requests.filter(sent_at__isnull=False).annotate(at=Min("sent_at")).values_list("order__external_id", "at")}
    # Latency: placement → sent; minus the hold rule's minutes (the figure the issue asks for); and from the moment
    # the order was both in the hub and past its hold (the hold runs on order time, concurrently with the ingest).
    latency, minus_hold, after_hold, to_ingest, to_route, to_send = [], [], [], [], [], []
    per_shop_sent: dict[str, float] = {shop: 0.0 for shop, _ in placed.values()}
    per_shop_latency: dict[str, list[float]] = defaultdict(list)
    for oid, (shop, at) in placed.items():
        if oid in ingested:
            to_ingest.append(ingested[oid] - at)
            if oid in routed:
                to_route.append(routed[oid] - ingested[oid])
        if oid in routed and oid in sent:
            to_send.append(sent[oid] - routed[oid])
        if oid in sent:
            latency.append(sent[oid] - at)
            minus_hold.append(sent[oid] - at - held.get(oid, 0.0))
            after_hold.append(sent[oid] - max(at + held.get(oid, 0.0), ingested.get(oid, at)))
            per_shop_sent[shop] += 1
            per_shop_latency[shop].append(latency[-1])

    # Flows: lateness of the scheduled runs started after traffic began (the warm-up's burst is the seed's, not the
    # load's), open waits at the end; per flow kind and per shop.
    states = list(FlowState.objects.filter(enabled=True, integration__is_active=True)
                  .values_list("pk", "integration__name", "integration__connector", "flow", "interval"))
    runs: dict[int, list[metrics.Run]] = defaultdict(list)
    for pk, started, finished, status, trigger, note in SyncRun.objects.filter(started_at__lte=_dt(end)).values_list(
            "flow_state", "started_at", "finished_at", "status", "trigger", "note"):
        runs[pk].append(metrics.Run(started=started.timestamp(), finished=finished.timestamp() if finished else None,
                                    status=status, trigger=trigger, targeted=(note or "").startswith("targeted:")))
    ticks = sorted(samples.ticks)
    kinds: dict[str, list[metrics.Lateness]] = defaultdict(list)
    per_shop_worst: dict[str, float] = {}
    worst_flow, worst_value = "", -1.0
    for pk, name, connector, flow, interval in states:
        result = metrics.schedule_lateness(runs.get(pk, []), interval=interval.total_seconds(), end=end,
                                           due_from=timeline["workers_started"], ticks=ticks, since=t0)
        kinds[f"{connector}.{flow}"].append(result)
        value = metrics.worst(result)
        if connector == "tiktok":
            per_shop_worst[name] = max(per_shop_worst.get(name, 0.0), value)
        if value > worst_value:
            worst_flow, worst_value = f"{name} · {flow}", value
    by_flow, every = {}, {"late": [], "queue": [], "tick": [], "open": []}
    for kind, results in sorted(kinds.items()):
        late = [x for r in results for x in r.late]
        queue = [x for r in results for x in r.queue_wait]
        opened = [r.open_wait for r in results if r.open_wait is not None]
        every["late"] += late
        every["queue"] += queue
        every["tick"] += [x for r in results for x in r.tick_wait]
        every["open"] += opened
        by_flow[kind] = {"flows": len(results), "runs": len(late), "lateness": metrics.summary(late),
                         "queue_wait": metrics.summary(queue), "open_wait_max": round(max(opened), 1) if opened else None,
                         "after_failure": sum(r.after_failure for r in results)}

    window = SyncRun.objects.filter(started_at__gte=_dt(t0), started_at__lte=_dt(end))
    failed_runs = dict(window.filter(status="failed").values_list("error_class").annotate(n=Count("id"))
                       .values_list("error_class", "n"))
    tiktok_calls = dict(window.filter(integration__connector="tiktok").values_list("integration__name")
                        .annotate(n=Sum("api_calls")).values_list("integration__name", "n"))
    worker_lines = [line for label, text in logs.items() if label.startswith("worker") for line in text.splitlines()]
    answered = [r for r in metrics.http_responses(worker_lines) if t0 <= r[0] <= end]
    # TikTok's limit is per shop (TIKTOK_QPS each); the log line does not name the shop: see tiktok_calls_per_shop.
    remotes = metrics.remote_calls(answered, limits_per_minute={"osa": float(getattr(settings, "OSA_REQUESTS_PER_MINUTE", 120))})
    seconds = max(1.0, end - t0)
    waiting = every["late"] + every["open"]
    return {
        "workers": workers,
        "cluster_workers": config.cluster_workers,
        "shops": len(per_shop_sent) or config.shops,
        "placed": len(placed),
        "ingested": sum(1 for o in placed if o in ingested),
        "sent": sum(1 for o in placed if o in sent),
        "drained": timeline["drained"],
        "timeline": {k: round(v, 1) if isinstance(v, float) else v for k, v in timeline.items()},
        "throughput": metrics.throughput([at for _, at in placed.values()], list(sent.values())),
        "hold_minutes": hold_minutes,
        "held_orders": sum(1 for o in placed if held.get(o)),
        "latency_s": metrics.summary(latency),
        "latency_minus_hold_s": metrics.summary(minus_hold),
        "latency_after_hold_s": metrics.summary(after_hold),
        "stages_s": {"placed_to_ingested": metrics.summary(to_ingest), "ingested_to_routed": metrics.summary(to_route),
                     "routed_to_sent": metrics.summary(to_send)},
        "lateness": {"worst_s": round(max(waiting), 1) if waiting else None, "worst_flow": worst_flow,
                     "all": metrics.summary(waiting), "queue_wait": metrics.summary(every["queue"]),
                     "tick_wait": metrics.summary(every["tick"]),
                     "dispatcher_delay": metrics.summary(metrics.tick_delays([t for t in ticks if t0 <= t <= end])),
                     "open_wait_max": round(max(every["open"]), 1) if every["open"] else None, "by_flow": by_flow},
        "fairness": {"sent_per_shop": metrics.spread(per_shop_sent, digits=0),
                     "latency_p95_per_shop_s": metrics.spread(
                         {s: metrics.percentile(v, 95) for s, v in per_shop_latency.items()}),
                     "worst_lateness_per_shop_s": metrics.spread(per_shop_worst)},
        "remotes": remotes,
        "tiktok_calls_per_shop_per_second": metrics.spread({s: n / seconds for s, n in tiktok_calls.items()}, digits=3),
        "watch": {"queue_max": max((q for _, q in samples.queue), default=None),
                  "queue_median": statistics.median([q for _, q in samples.queue]) if samples.queue else None,
                  "pg_connections_max": max((c for _, c in samples.pg_connections), default=None),
                  "failed_tasks": Task.objects.filter(success=False).count(),
                  "failed_runs": failed_runs,
                  "open_exceptions": dict(OpsException.objects.filter(status=OpsException.Status.OPEN)
                                          .values_list("code").annotate(n=Count("id")).values_list("code", "n")),
                  "runs": window.count()},
    }


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=dt_timezone.utc)


def binds(r: dict) -> list[str]:
    """What limits this run, by the figures: a remote whose busiest minute reached 90 % of its client limit or that
    answered 429; the machine's CPU at 90 % busy or more; the queue (tasks waiting for a worker, p95 over 10 s)."""
    found = []
    for role, v in r["remotes"].items():
        if v["429"]:
            found.append(f"{role}: {v['429']} answers 429")
        if v["peak_share_of_limit"] is not None and v["peak_share_of_limit"] >= 0.9:
            found.append(f"{role} client limit ({v['peak_per_minute']} calls in the busiest minute of {v['limit_per_minute']:g})")
    if (r.get("machine_busy_share") or 0) >= 0.9:
        found.append(f"CPU ({r['machine_busy_share']:.0%} of the machine busy)")
    queue_p95 = r["lateness"]["queue_wait"]["p95"]
    if queue_p95 is not None and queue_p95 > 10:
        found.append(f"workers (due runs waited {queue_p95:g} s in the queue at p95)")
    return found or ["nothing measured: the offered load is below capacity (latency is the schedule's)"]


# --- the whole benchmark -----------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    config = parse_args(sys.argv[1:] if argv is None else argv, dict(os.environ))

    def on_term(signum, frame):  # a TERM stops the children like Ctrl-C does
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    report = {"benchmark": "scale_out", "date": datetime.now(dt_timezone.utc).isoformat(timespec="seconds"),
              "config": {**{k: v for k, v in asdict(config).items() if k != "log_dir"},
                         "flow_interval_s": 30, "tiktok_qps_per_shop": float(getattr(settings, "TIKTOK_QPS", 5)),
                         "osa_requests_per_minute": int(getattr(settings, "OSA_REQUESTS_PER_MINUTE", 120))},
              "runs": []}
    try:
        for workers in config.workers:
            result = measure(config, workers)
            report["runs"].append(result)
            report["machine"] = machine_info()
            print_run(result)
            OUT.parent.mkdir(parents=True, exist_ok=True)
            OUT.write_text(json.dumps(report, indent=2, default=str) + "\n")
            print(f"  written {OUT.relative_to(ROOT)}")
    except soak.SoakError as exc:
        print(f"benchmark-scale: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("benchmark-scale: interrupted (children stopped)", file=sys.stderr)
        return 1
    print_table(report)
    return 0


def machine_info() -> dict:
    from tests.benchmarks.bench_pull_orders import machine

    return machine()


def print_run(r: dict) -> None:
    t, lat, late = r["throughput"], r["latency_s"], r["lateness"]
    print(f"  {r['placed']} placed, {r['ingested']} ingested, {r['sent']} sent to OSA ({'drained' if r['drained'] else 'NOT drained'})")
    print(f"  throughput {t['orders_per_second']} orders/s over {t['window_s']} s (offered {t['offered_per_second']}/s; "
          f"send rate first → last send {t['send_rate_per_second']}/s)")
    minus, after = r["latency_minus_hold_s"], r["latency_after_hold_s"]
    print(f"  latency placement → sent: p50 {lat['p50']} s, p95 {lat['p95']} s, max {lat['max']} s; minus the "
          f"{r['hold_minutes']}-minute hold ({r['held_orders']} orders held): {minus['p50']} / {minus['p95']} / {minus['max']} s; "
          f"from hold end and ingest: {after['p50']} / {after['p95']} / {after['max']} s")
    print(f"  stages p50: placed → ingested {r['stages_s']['placed_to_ingested']['p50']} s, ingested → routed "
          f"{r['stages_s']['ingested_to_routed']['p50']} s, routed → sent {r['stages_s']['routed_to_sent']['p50']} s")
    print(f"  lateness of due flows: worst {late['worst_s']} s ({late['worst_flow']}), p95 {late['all']['p95']} s; "
          f"of which in the queue p95 {late['queue_wait']['p95']} s, max {late['queue_wait']['max']} s; dispatcher tick "
          f"after its minute p50 {late['dispatcher_delay']['p50']} s, max {late['dispatcher_delay']['max']} s")
    for kind, v in late["by_flow"].items():
        print(f"    {kind:42} {v['flows']:3} flows {v['runs']:4} runs  late p95 {v['lateness']['p95']} max "
              f"{v['lateness']['max']}  queue p95 {v['queue_wait']['p95']}  open {v['open_wait_max']}  after failure {v['after_failure']}")
    f = r["fairness"]
    print(f"  fairness over shops: sent {f['sent_per_shop']['min']} / {f['sent_per_shop']['median']} / {f['sent_per_shop']['max']}, "
          f"latency p95 {f['latency_p95_per_shop_s']['min']} / {f['latency_p95_per_shop_s']['median']} / "
          f"{f['latency_p95_per_shop_s']['max']} s, worst lateness {f['worst_lateness_per_shop_s']['min']} / "
          f"{f['worst_lateness_per_shop_s']['median']} / {f['worst_lateness_per_shop_s']['max']} s (min / median / max)")
    for role, v in r["remotes"].items():
        print(f"  remote {role}: {v['calls']} calls, {v['429']} × 429, busiest minute {v['peak_per_minute']} "
              f"(client limit {v['limit_per_minute']}/min)")
    w = r["watch"]
    print(f"  watch: queue max {w['queue_max']}, PostgreSQL connections max {w['pg_connections_max']}, failed tasks "
          f"{w['failed_tasks']}, failed runs {w['failed_runs']}, open exceptions {w['open_exceptions']}; machine "
          f"{r['machine_busy_share']} busy, load {r['load_average_at_end']}")
    print(f"  CPU seconds over traffic + drain: {r['cpu_s']}")
    print(f"  binds: {'; '.join(r['binds'])}")


def print_table(report: dict) -> None:
    from tests.benchmarks.readme_table import scale_table

    print()
    print(scale_table(report))


if __name__ == "__main__":
    sys.exit(main())
