"""`make soak`: a live soak test on PostgreSQL + Redis with one web server and N django-q2 workers.

Phases: refuse unless PostgreSQL and Redis answer → recreate the dedicated soak database (its name must contain
"soak") and empty the soak cluster's Redis queue → migrate, bootstrap, sandbox demo without its own traffic →
start one web server (127.0.0.1, a free port; it serves the emulators) and N `qcluster` processes, each logging
to its own file → generated traffic for the given time → a quiet period until nothing is in flight and every
flow has run once more (bounded) → stop every child → the checks of `soak_checks`, each printed with its
figures. Every child runs in its own process group and is stopped on exit, on failure and on Ctrl-C."""
from __future__ import annotations

import io
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone as dt_timezone
from pathlib import Path
from typing import Callable

from django.conf import settings

from integrations.sandbox import soak_checks

STOP_TIMEOUT = 30  # seconds a child gets to stop after SIGTERM before SIGKILL
POLL_SECONDS = 5
RUNS_IN_PROGRESS = "runs in progress"


class SoakError(Exception):
    """The soak cannot run (services unreachable, unsafe database name, a child died); nothing was checked."""


@dataclass
class SoakConfig:
    workers: int = 3
    traffic_seconds: int = 600
    quiet_seconds: int = 600  # upper bound of the quiet period
    tick_seconds: int = 10  # one traffic round per tick
    orders_per_tick: int = 1  # per shop
    seed: int = 18
    log_dir: Path = field(default_factory=lambda: Path(settings.BASE_DIR) / "var" / "soak")

    @classmethod
    def from_env(cls, env: dict[str, str]) -> "SoakConfig":
        """SOAK_WORKERS (3), SOAK_MINUTES (10) or SOAK_SECONDS (overrides minutes), SOAK_QUIET_SECONDS (600),
        SOAK_TICK_SECONDS (10), SOAK_ORDERS_PER_TICK (1 per shop), SOAK_SEED (18), SOAK_LOG_DIR (var/soak)."""
        def number(name: str, default: int, minimum: int) -> int:
            raw = env.get(name, "")
            try:
                value = int(raw) if raw.strip() else default
            except ValueError:
                raise SoakError(f"{name}={raw!r} is not a whole number") from None
            if value < minimum:
                raise SoakError(f"{name} must be at least {minimum} (got {value})")
            return value

        minutes = number("SOAK_MINUTES", 10, 0)
        config = cls(workers=number("SOAK_WORKERS", 3, 1), traffic_seconds=number("SOAK_SECONDS", minutes * 60, 0),
                     quiet_seconds=number("SOAK_QUIET_SECONDS", 600, 0), tick_seconds=number("SOAK_TICK_SECONDS", 10, 1),
                     orders_per_tick=number("SOAK_ORDERS_PER_TICK", 1, 0), seed=number("SOAK_SEED", 18, 0))
        if env.get("SOAK_LOG_DIR"):
            config.log_dir = Path(env["SOAK_LOG_DIR"])
        return config


# --- services and the dedicated database ----------------------------------------------------------

def database_settings(*, marker: str = "soak", what: str = "The soak test", target: str = "make soak") -> dict:
    """The default database's settings, refused unless it is PostgreSQL whose name contains `marker` (the run drops
    and recreates it) and Redis is the broker. `what` and `target` name the caller in the refusal (the scale
    benchmark passes its own)."""
    db = settings.DATABASES["default"]
    env = marker.upper()
    if db["ENGINE"] != "django.db.backends.postgresql":
        raise SoakError(f"{what} runs on PostgreSQL: set DATABASE_URL=postgres://… ({target} sets {env}_DATABASE_URL).")
    if marker not in str(db["NAME"]):
        raise SoakError(f"Refusing to recreate database {db['NAME']!r}: the {marker} database's name must contain '{marker}'.")
    if not settings.REDIS_URL:
        raise SoakError(f"{what} runs on the Redis broker: set REDIS_URL=redis://… ({target} sets {env}_REDIS_URL).")
    return db


def services_check(db: dict) -> None:
    """Refuse clearly when PostgreSQL or Redis does not answer."""
    import psycopg
    import redis

    try:
        psycopg.connect(**_pg_params(db, "postgres"), connect_timeout=5).close()
    except psycopg.Error as exc:
        where = f"{db.get('HOST') or 'localhost'}:{db.get('PORT') or 5432}"
        raise SoakError(f"PostgreSQL at {where} is not reachable: {exc}") from None
    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=3, socket_timeout=3).ping()
    except redis.RedisError as exc:
        raise SoakError(f"Redis at {_redacted(settings.REDIS_URL)} is not reachable: {exc}") from None


def _redacted(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}{parts.path}"


def _pg_params(db: dict, dbname: str) -> dict:
    params = {"dbname": dbname, "host": db.get("HOST") or "127.0.0.1", "port": db.get("PORT") or 5432,
              "user": db.get("USER") or "postgres"}
    if db.get("PASSWORD"):
        params["password"] = db["PASSWORD"]
    return params


def database_recreate(db: dict) -> None:
    import psycopg
    from django.db import connections
    from psycopg import sql

    connections["default"].close()
    with psycopg.connect(**_pg_params(db, "postgres"), autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db["NAME"])))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))


def queue_purge() -> None:
    """Tasks left in the soak cluster's Redis queue by an earlier run would run against the new database."""
    from django_q.brokers import get_broker

    get_broker().purge_queue()


def setup(site_url: str) -> str:
    """Schema, groups and schedules, then the sandbox demo without its generated orders."""
    from django.core.management import call_command

    from integrations.sandbox.demo import demo_seed

    settings.SITE_URL = site_url
    call_command("migrate", interactive=False, verbosity=0)
    call_command("bootstrap", verbosity=0, stdout=io.StringIO())  # its local admin password is not the soak's business
    return demo_seed(traffic=False, katana=False, acumatica=False, product_push=False)  # the checks model OSA as the only fulfillment source, with stock for every listed SKU (Katana, Acumatica: their own tests)


# --- child processes -----------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Children:
    """Child processes, each in its own process group with its log file; `stop_all` ends them (TERM, then KILL)."""

    def __init__(self, log_dir: Path, env: dict[str, str]):
        self.log_dir, self.env = log_dir, env
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, Path] = {}

    def start(self, label: str, args: list[str]) -> subprocess.Popen:
        path = self.log_dir / f"{label}.log"
        with open(path, "ab") as log:
            proc = subprocess.Popen([sys.executable, "manage.py", *args], cwd=settings.BASE_DIR, env=self.env, stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs[label], self.logs[label] = proc, path
        return proc

    def dead(self) -> list[str]:
        return [f"{label} (exit {p.returncode})" for label, p in self.procs.items() if p.poll() is not None]

    def stop_all(self) -> None:
        for proc in self.procs.values():
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            # The group too: qcluster's own worker processes must not outlive it.
            _signal_group(proc, signal.SIGKILL)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    def log_texts(self) -> dict[str, str]:
        return {label: path.read_text(errors="replace") for label, path in self.logs.items() if path.exists()}


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)  # start_new_session: the group id is the child's pid
    except (ProcessLookupError, PermissionError):
        pass


def child_env(site_url: str, **extra: str) -> dict[str, str]:
    """The environment of the web server and the workers: this process's (database, Redis, keys) plus the sandbox
    on the web server's address."""
    return {**os.environ, "SITE_URL": site_url, "SANDBOX_ENABLED": "1", "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings.local"), **extra}


def web_wait(url: str, *, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except urllib.error.HTTPError:
            return  # it answered
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    raise SoakError(f"The web server did not answer at {url} within {timeout:.0f} s")


# --- traffic -------------------------------------------------------------------------------------

@dataclass
class TrafficTotals:
    orders: int = 0
    cancels: int = 0
    edits: int = 0
    returns: int = 0
    restocks: int = 0
    restocked_units: int = 0
    shrinks: int = 0
    shrunk_units: int = 0

    def line(self) -> str:
        return (f"{self.orders} orders ({self.cancels} buyer cancellations, {self.edits} address edits, {self.returns} returns), "
                f"{self.restocks} restocks (+{self.restocked_units} units) and {self.shrinks} stock counts down "
                f"at the fulfillment source")


def traffic_tick(*, rng: random.Random, orders_per_shop: int, totals: TrafficTotals) -> None:
    """One round: orders on every emulated shop (with buyer cancellations, address edits and returns in their shares),
    and a stock change at the fulfillment source (a restock, sometimes a count that finds fewer units)."""
    from django.db.models import F

    from integrations.connectors.osa.models import EmuStock
    from integrations.sandbox.generator import orders_generate
    from integrations.sandbox.models import EmuShop

    for shop in EmuShop.objects.order_by("id"):
        count = rng.randint(0, 2 * orders_per_shop)
        if not count:
            continue
        result = orders_generate(shop=shop, count=count, cancel_share=0.1, edit_share=0.15, return_share=0.1,
                                 seed=rng.randrange(1 << 30))
        totals.orders += result.created
        totals.cancels += result.cancels
        totals.edits += result.edits
        totals.returns += result.returns
    stock = list(EmuStock.objects.order_by("id"))
    if not stock:
        return
    row = rng.choice(stock)
    if rng.random() < 0.2:
        # A count finds fewer units than booked; never below what the source has committed to its orders.
        delta = rng.randint(1, 3)
        if EmuStock.objects.filter(pk=row.pk, on_hand__gte=F("committed") + delta).update(on_hand=F("on_hand") - delta):
            totals.shrinks += 1
            totals.shrunk_units += delta
    else:
        delta = rng.randint(3, 12)
        EmuStock.objects.filter(pk=row.pk).update(on_hand=F("on_hand") + delta)
        totals.restocks += 1
        totals.restocked_units += delta


# --- the run -------------------------------------------------------------------------------------

def quiet_wait(*, limit_seconds: int, alive: Callable[[], None],
               say: Callable[[str], None]) -> tuple[bool, float, dict[str, int]]:
    """Wait until nothing is in flight, then until every enabled flow has finished a run started after that moment
    (so the hub has read the final state), with nothing in flight again. Bounded by `limit_seconds`."""
    from django.db.models import Max
    from django.utils import timezone

    from integrations.models import FlowState, SyncRun

    started = time.monotonic()
    settled_at = None
    pending: dict[str, int] = {}
    last_said = 0.0
    while True:
        alive()
        pending = soak_checks.in_flight()
        # Runs come and go every few seconds: only work waiting to be done keeps the system from being settled.
        busy = any(v for k, v in pending.items() if k != RUNS_IN_PROGRESS)
        if busy:
            settled_at = None
        elif settled_at is None:
            settled_at = timezone.now()
        else:
            flows = list(FlowState.objects.filter(enabled=True, integration__is_active=True).values_list("pk", flat=True))
            last = dict(SyncRun.objects.filter(flow_state__in=flows, started_at__gte=settled_at, finished_at__isnull=False)
                        .exclude(status="skipped").values_list("flow_state").annotate(Max("started_at")))
            pending = {"flows not run since everything settled": len(set(flows) - set(last))}
            if not pending["flows not run since everything settled"]:
                now_pending = soak_checks.in_flight()
                if not any(now_pending.values()):  # nothing left to do and, at this instant, no run in progress
                    return True, time.monotonic() - started, {}
                if any(v for k, v in now_pending.items() if k != RUNS_IN_PROGRESS):
                    settled_at = None  # a run brought new work (e.g. a late event): settle again
        waited = time.monotonic() - started
        if waited >= limit_seconds:
            return False, waited, pending
        if waited - last_said >= 30:
            last_said = waited
            left = ", ".join(f"{k} {v}" for k, v in pending.items() if v)
            say(f"  quiet period {waited:.0f} s: {left or 'settled, waiting for every flow to run once more'}")
        time.sleep(POLL_SECONDS)


def run(config: SoakConfig, *, say: Callable[[str], None] = print) -> list[soak_checks.CheckResult]:
    """The whole soak; returns the check results. Raises SoakError when it cannot run."""
    from django.db import connections

    db = database_settings()
    services_check(db)
    stamp = datetime.now(dt_timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    log_dir = config.log_dir / stamp
    log_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    site_url = f"http://127.0.0.1:{port}"
    say(f"soak: database {db['NAME']} (recreated), Redis {_redacted(settings.REDIS_URL)}, web {site_url}, "
        f"{config.workers} workers, "
        f"{config.traffic_seconds} s of traffic, quiet period up to {config.quiet_seconds} s; logs in {log_dir}")
    database_recreate(db)
    queue_purge()
    say("  " + setup(site_url))
    connections.close_all()

    children = Children(log_dir, child_env(site_url))

    def alive() -> None:
        dead = children.dead()
        if dead:
            raise SoakError(f"child process(es) died: {', '.join(dead)} (see {log_dir})")

    def on_term(signum, frame):  # a TERM to the soak stops its children like Ctrl-C does
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    totals = TrafficTotals()
    try:
        children.start("web", ["runserver", f"127.0.0.1:{port}", "--noreload"])
        web_wait(f"{site_url}/admin/login/")
        for i in range(config.workers):
            children.start(f"worker-{i + 1}", ["qcluster"])
        say(f"  web server and {config.workers} workers up")

        rng = random.Random(config.seed)
        started = time.monotonic()
        ticks = 0
        max_ticks = config.traffic_seconds // config.tick_seconds + 1
        while ticks < max_ticks and time.monotonic() - started < config.traffic_seconds:
            alive()
            traffic_tick(rng=rng, orders_per_shop=config.orders_per_tick, totals=totals)
            ticks += 1
            if ticks % max(1, 60 // config.tick_seconds) == 0:
                say(f"  traffic {time.monotonic() - started:.0f} s: {totals.line()}")
            time.sleep(max(0.0, min(config.tick_seconds, config.traffic_seconds - (time.monotonic() - started))))
        say(f"  traffic done: {totals.line()}")

        reached, waited, pending = quiet_wait(limit_seconds=config.quiet_seconds, alive=alive, say=say)
        say(f"  quiet period {'reached' if reached else 'NOT reached'} after {waited:.0f} s")
    finally:
        children.stop_all()
        signal.signal(signal.SIGTERM, previous)
        say(f"  children stopped: {', '.join(f'{k} pid {p.pid}' for k, p in children.procs.items()) or 'none'}")

    now = datetime.now(dt_timezone.utc)
    return [
        soak_checks.check_quiet(reached=reached, waited_seconds=waited, pending=pending),
        soak_checks.collect_orders(),
        soak_checks.collect_shipping_requests(),
        soak_checks.collect_shipments(),
        soak_checks.collect_cancellations(),
        soak_checks.collect_stock(),
        soak_checks.collect_ledger(),
        soak_checks.collect_overlaps(now=now),
        soak_checks.collect_failed_tasks(),
        soak_checks.check_logs(children.log_texts()),
        soak_checks.collect_exceptions(),
    ]
