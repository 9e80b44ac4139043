"""Soak test checks: pure functions over plain figures (unit-tested with bad data), plus the collectors
that read those figures from the database after a soak run (`collect_*`).

Every check returns a `CheckResult` whose `figures` line is printed whatever the outcome and whose
`problems` list names each offending record (the run fails when any check has problems)."""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime

MAX_LISTED = 20  # problems printed per check; the count is always complete


@dataclass
class CheckResult:
    name: str
    figures: str
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def render(self) -> str:
        head = f"[{'PASS' if self.ok else 'FAIL'}] {self.name}: {self.figures}"
        if self.ok:
            return head
        lines = [head, f"       {len(self.problems)} problem(s):"]
        lines += [f"       - {p}" for p in self.problems[:MAX_LISTED]]
        if len(self.problems) > MAX_LISTED:
            lines.append(f"       … and {len(self.problems) - MAX_LISTED} more")
        return "\n".join(lines)


def _dupes(keys) -> dict:
    return {k: n for k, n in Counter(keys).items() if n > 1}


# --- pure checks ---------------------------------------------------------------------------------

def check_orders(*, emulator: list[tuple[str, str]], hub: list[tuple[str, str]]) -> CheckResult:
    """Every emulated channel order exactly once in the hub and every hub order exactly once at the emulator.
    `emulator` and `hub`: (shop or integration label, channel order id) pairs; the label is only printed."""
    emu_ids = [oid for _, oid in emulator]
    hub_ids = [oid for _, oid in hub]
    problems = [f"order {oid} {n}× at the emulator" for oid, n in _dupes(emu_ids).items()]
    problems += [f"order {oid} {n}× in the hub" for oid, n in _dupes(hub_ids).items()]
    missing = sorted(set(emu_ids) - set(hub_ids))
    extra = sorted(set(hub_ids) - set(emu_ids))
    problems += [f"order {oid} at the emulator, not in the hub" for oid in missing]
    problems += [f"order {oid} in the hub, not at the emulator" for oid in extra]
    per_shop = Counter(label for label, _ in emulator)
    shops = ", ".join(f"{label} {n}" for label, n in sorted(per_shop.items()))
    return CheckResult("every channel order exactly once in the hub and vice versa",
                       f"emulator {len(emu_ids)} ({shops}), hub {len(hub_ids)}, missing {len(missing)}, extra {len(extra)}",
                       problems)


def check_shipping_requests(*, hub_sent: list[tuple[str, str]], remote: list[tuple[str, str, str]]) -> CheckResult:
    """Every shipping request the hub sent exactly once at the fulfillment emulator, nothing there the hub did not send,
    and at most one live (not canceled) request per channel order there.
    `hub_sent`: (reference, channel order id) of requests the hub marked as sent; `remote`: (reference, channel order id,
    status) of the orders at the emulator."""
    refs = [r for r, _, _ in remote]
    problems = [f"request {ref} {n}× at the fulfillment emulator" for ref, n in _dupes(refs).items()]
    problems += [f"request {ref} {n}× in the hub" for ref, n in _dupes([r for r, _ in hub_sent]).items()]
    hub_refs = {r for r, _ in hub_sent}
    missing = sorted(hub_refs - set(refs))
    extra = sorted(set(refs) - hub_refs)
    problems += [f"request {ref} sent by the hub, not at the fulfillment emulator" for ref in missing]
    problems += [f"request {ref} at the fulfillment emulator, not sent by the hub" for ref in extra]
    live = [order for _, order, status in remote if status != "canceled"]
    problems += [f"channel order {order} has {n} live requests at the fulfillment emulator" for order, n in _dupes(live).items()]
    return CheckResult("every shipping request exactly once at the fulfillment emulator",
                       f"hub sent {len(hub_refs)}, emulator {len(refs)} ({len(live)} not canceled), missing {len(missing)}, "
                       f"extra {len(extra)}", problems)


def check_cancellations(orders: list[tuple[str, str, str, int]]) -> CheckResult:
    """An order the buyer cancelled at the channel is cancelled in the hub and never shipped; an order that shipped
    is not cancelled in the hub. `orders`: (channel order id, channel status, hub status, shipments at the source)."""
    problems = []
    cancelled = 0
    for order, channel, hub, shipments in orders:
        if channel == "CANCELLED":
            cancelled += 1
            if hub != "canceled":
                problems.append(f"order {order} cancelled at the channel is {hub or 'missing'} in the hub")
            if shipments:
                problems.append(f"order {order} cancelled at the channel has {shipments} shipment(s) at the fulfillment source")
        elif shipments and hub == "canceled":
            problems.append(f"order {order} shipped ({shipments} shipment(s)) but is canceled in the hub")
    return CheckResult("a cancelled order is cancelled everywhere and never ships",
                       f"{cancelled} cancelled at the channel of {len(orders)}", problems)


def check_shipments(*, remote: list[tuple[str, str, str]], hub: list[tuple[str, str]],
                    channel: list[tuple[str, str]]) -> CheckResult:
    """Every shipment of the fulfillment emulator exactly once in the hub (as a fulfillment) and exactly once at
    the channel (as a package with its tracking number), and nothing in either that did not ship.
    `remote`: (shipment id, channel order id, tracking number); `hub`: (fulfillment external id, channel order id);
    `channel`: (channel order id, tracking number) of the channel's packages."""
    remote_ids = [sid for sid, _, _ in remote]
    problems = [f"shipment {sid} {n}× at the fulfillment emulator" for sid, n in _dupes(remote_ids).items()]
    hub_count = Counter(fid for fid, _ in hub)
    channel_count = Counter((order, tracking) for order, tracking in channel)
    hub_missing = channel_missing = 0
    for sid, order, tracking in remote:
        n = hub_count.get(sid, 0)
        if n != 1:
            hub_missing += n == 0
            problems.append(f"shipment {sid} (order {order}) {n}× in the hub")
        m = channel_count.get((order, tracking), 0)
        if m != 1:
            channel_missing += m == 0
            problems.append(f"shipment {sid} (order {order}, tracking {tracking}) {m}× at the channel")
    known = set(remote_ids)
    problems += [f"hub fulfillment {fid} (order {order}) has no shipment at the fulfillment emulator"
                 for fid, order in hub if fid not in known]
    shipped = {(order, tracking) for _, order, tracking in remote}
    problems += [f"channel package of order {order} (tracking {tracking}) matches no shipment"
                 for order, tracking in channel if (order, tracking) not in shipped]
    return CheckResult("every shipment exactly once in the hub and once at the channel",
                       f"emulator {len(remote_ids)}, hub {len(hub)} (missing {hub_missing}), channel packages {len(channel)} "
                       f"(missing {channel_missing})", problems)


@dataclass(frozen=True)
class StockRow:
    """One SKU at one fulfillment location: the source's figures, the hub's level, and the hub's commitments the
    source has not been sent yet (shipping requests not yet accepted by the source).

    `reports_fulfillable`: the hub keeps the source's Fulfillable figure (`hub_fulfillable`) and its own commitments
    the source has not seen (`hub_committed_unseen`) apart, available = fulfillable − committed_unseen; otherwise
    the hub counts the location itself, available = on_hand − committed."""
    location: str
    sku: str
    source_on_hand: int
    source_committed: int
    hub_on_hand: int
    hub_committed: int
    hub_available: int
    unsent: int
    reports_fulfillable: bool = False
    hub_fulfillable: int = 0
    hub_committed_unseen: int = 0

    @property
    def source_fulfillable(self) -> int:
        return max(0, self.source_on_hand - self.source_committed)

    @property
    def expected_available(self) -> int:
        return self.source_fulfillable - self.unsent

    def inconsistencies(self) -> list[str]:
        """How the hub's level disagrees with the source or with itself (empty: it agrees)."""
        found = []
        if self.hub_available != self.expected_available:
            found.append(f"available {self.hub_available} ≠ source fulfillable {self.source_fulfillable} − hub unsent "
                         f"{self.unsent} = {self.expected_available} (off by {self.hub_available - self.expected_available:+d})")
        if self.reports_fulfillable:
            if self.hub_fulfillable != self.source_fulfillable:
                found.append(f"hub fulfillable {self.hub_fulfillable} ≠ source fulfillable {self.source_fulfillable}")
            if self.hub_available != self.hub_fulfillable - self.hub_committed_unseen:
                found.append(f"available {self.hub_available} ≠ hub fulfillable {self.hub_fulfillable} − committed unseen "
                             f"{self.hub_committed_unseen}")
            if self.hub_committed_unseen != self.unsent:
                found.append(f"hub committed unseen {self.hub_committed_unseen} ≠ units of requests not yet sent {self.unsent}")
        elif self.hub_on_hand - self.hub_committed != self.hub_available:
            found.append(f"available {self.hub_available} ≠ hub on hand {self.hub_on_hand} − committed {self.hub_committed}")
        return found


def check_stock(rows: list[StockRow]) -> CheckResult:
    """Hub stock equals the source's figures plus the hub's own unsent commitments: what the hub can still promise
    (available, which feeds the channel) is the source's fulfillable figure minus the hub's commitments the source has
    not seen, and the hub's level agrees with itself."""
    problems = []
    for r in rows:
        found = r.inconsistencies()
        if found:
            hub = f"hub fulfillable {r.hub_fulfillable}, committed unseen {r.hub_committed_unseen}, " if r.reports_fulfillable else ""
            problems.append(f"{r.sku} @ {r.location}: source on hand {r.source_on_hand}, committed {r.source_committed} "
                            f"(fulfillable {r.source_fulfillable}); {hub}hub on hand {r.hub_on_hand}, "
                            f"committed {r.hub_committed}, available {r.hub_available}; hub unsent {r.unsent}: " + "; ".join(found))
    total_source = sum(r.source_fulfillable for r in rows)
    total_hub = sum(r.hub_available for r in rows)
    return CheckResult("hub stock = source's figures + hub's unsent commitments",
                       f"{len(rows)} SKU×location rows, source fulfillable {total_source}, hub available {total_hub}, "
                       f"unsent {sum(r.unsent for r in rows)}, mismatched {len(problems)}", problems)


def check_ledger(rows: list[tuple[str, str, str, int, int]]) -> CheckResult:
    """Every inventory figure is the sum of its ledger: nothing changed a level without a ledger entry, and no
    concurrent write was lost. `rows`: (location, sku, field, level value, sum of the ledger's deltas)."""
    problems = [f"{sku} @ {location}: {name} is {value} but its ledger sums to {total} (off by {value - total:+d})"
                for location, sku, name, value, total in rows if value != total]
    return CheckResult("every inventory figure equals the sum of its ledger",
                       f"{len(rows)} figures, mismatched {len(problems)}", problems)


def check_overlaps(runs: list[tuple[str, datetime, datetime | None]], *, now: datetime) -> CheckResult:
    """No two runs of one flow overlap in time. `runs`: (flow label, started, finished or None = still running);
    skipped runs (which never ran the flow) must be left out by the caller. A run still open at the end counts as
    running until `now`."""
    by_flow: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for flow, start, end in runs:
        by_flow[flow].append((start, end or now))
    problems = []
    for flow, spans in sorted(by_flow.items()):
        spans.sort()
        latest_end, latest_start = None, None
        for start, end in spans:
            if latest_end is not None and start < latest_end:
                problems.append(f"{flow}: run started {start.isoformat()} while the run started {latest_start.isoformat()} "
                                f"was still running (until {latest_end.isoformat()})")
            if latest_end is None or end > latest_end:
                latest_end, latest_start = end, start
    still_open = sum(1 for _, _, end in runs if end is None)
    if still_open:
        problems += [f"{flow}: run started {start.isoformat()} never finished" for flow, start, end in runs if end is None]
    return CheckResult("no overlapping runs of a flow",
                       f"{len(runs)} runs of {len(by_flow)} flows, overlaps {len(problems) - still_open}, "
                       f"unfinished {still_open}",
                       problems)


def check_failed_tasks(failures: list[tuple[str, str]], *, total: int) -> CheckResult:
    """No failed django-q task. `failures`: (task name/func, result text)."""
    problems = [f"{name}: {(result or '').strip().splitlines()[-1][:200] if (result or '').strip() else 'failed'}"
                for name, result in failures]
    return CheckResult("no failed django-q task", f"{total} tasks recorded, {len(failures)} failed", problems)


DEADLOCK = re.compile(r"deadlock detected", re.IGNORECASE)
TRACEBACK = re.compile(r"^Traceback \(most recent call last\):", re.MULTILINE)


def check_logs(logs: dict[str, str]) -> CheckResult:
    """No deadlock and no traceback in any process log. `logs`: process label → log text."""
    problems = []
    deadlocks = tracebacks = 0
    for label, text in sorted(logs.items()):
        lines = text.splitlines()
        for i, line in enumerate(lines):
            if DEADLOCK.search(line):
                deadlocks += 1
                problems.append(f"{label} line {i + 1}: {line.strip()[:200]}")
            elif TRACEBACK.match(line):
                tracebacks += 1
                # The exception line ends the traceback block: the first unindented line after it.
                tail = next((ln for ln in lines[i + 1:i + 200] if ln and not ln.startswith(" ")), "")
                problems.append(f"{label} line {i + 1}: traceback: {tail.strip()[:200]}")
    size = sum(len(t.splitlines()) for t in logs.values())
    return CheckResult("no deadlock and no traceback in any process log",
                       f"{len(logs)} logs, {size} lines, deadlocks {deadlocks}, tracebacks {tracebacks}", problems)


@dataclass(frozen=True)
class OpenException:
    code: str
    label: str
    count: int
    cause_gone: bool
    why: str  # why the cause is judged gone, or still present


def check_exceptions(exceptions: list[OpenException]) -> CheckResult:
    """No open exception whose cause is gone (open ones whose cause is still there are listed in the figures)."""
    gone = [e for e in exceptions if e.cause_gone]
    present = Counter(e.code for e in exceptions if not e.cause_gone)
    problems = [f"{e.code} on {e.label} (seen {e.count}×) is still open but {e.why}" for e in gone]
    still = ", ".join(f"{code} {n}" for code, n in sorted(present.items())) or "none"
    return CheckResult("no open exception whose cause is gone",
                       f"{len(exceptions)} open, cause gone {len(gone)}, cause still present: {still}", problems)


def check_quiet(*, reached: bool, waited_seconds: float, pending: dict[str, int]) -> CheckResult:
    """The quiet period ended with every flow idle and nothing in flight (bounded wait)."""
    left = ", ".join(f"{k} {v}" for k, v in pending.items() if v) or "nothing"
    problems = [] if reached else [f"still in flight after {waited_seconds:.0f} s: {left}"]
    return CheckResult("quiet period: every flow idle, nothing in flight", f"waited {waited_seconds:.0f} s, in flight: {left}",
                       problems)


# --- collectors (database → figures) -------------------------------------------------------------

LIVE_SR_STATUSES = ("new", "pendingInventory", "readyForFulfillment", "onHold")
HUB_ORDER_OPEN = ("new", "onHold", "toBeValidated", "readyForFulfillment", "sentToFulfillment", "partialFulfillment")
SR_OPEN = ("new", "pendingInventory", "readyForFulfillment", "sentToFulfillment", "partialFulfillment", "onHold")
ORDER_SETTLED = ("fulfilled", "inTransit", "delivered", "canceled", "returned", "refunded", "closed")


def collect_orders() -> CheckResult:
    from integrations.sandbox.models import EmuOrder
    from integrations.sandbox.services import now_ts
    from orders.models import Order

    emulator = list(EmuOrder.objects.filter(create_time__lte=now_ts()).values_list("shop__name", "order_id"))
    hub = list(Order.objects.filter(integration__connector="tiktok").values_list("integration__name", "external_id"))
    return check_orders(emulator=emulator, hub=hub)


def _osa_accounts():
    from integrations.connectors.osa.models import EmuAccount

    return list(EmuAccount.objects.all())


def collect_shipping_requests() -> CheckResult:
    from integrations.connectors.osa.models import EmuOrder as OsaOrder
    from orders.models import ShippingRequest

    hub_sent = list(ShippingRequest.objects.exclude(external_id="").values_list("reference", "order__external_id"))
    remote = [(o.reference, str((o.payload or {}).get("order_number") or ""), o.status) for o in OsaOrder.objects.all()]
    return check_shipping_requests(hub_sent=hub_sent, remote=remote)


def collect_cancellations() -> CheckResult:
    from integrations.connectors.osa.models import EmuShipment
    from integrations.sandbox.models import EmuOrder
    from integrations.sandbox.services import now_ts
    from orders.models import Order

    hub = dict(Order.objects.filter(integration__connector="tiktok").values_list("external_id", "status"))
    shipped = Counter(str((s.order.payload or {}).get("order_number") or "") for s in EmuShipment.objects.select_related("order"))
    rows = [(oid, status, hub.get(oid, ""), shipped.get(oid, 0))
            for oid, status in EmuOrder.objects.filter(create_time__lte=now_ts()).values_list("order_id", "status")]
    return check_cancellations(rows)


def collect_shipments() -> CheckResult:
    from integrations.connectors.osa.models import EmuShipment
    from integrations.sandbox.models import EmuPackage
    from orders.models import Fulfillment

    remote = [(s.osa_id, str((s.order.payload or {}).get("order_number") or ""), s.tracking_number)
              for s in EmuShipment.objects.select_related("order")]
    hub = list(Fulfillment.objects.filter(integration__connector="osa").values_list("external_id", "order__external_id"))
    channel = list(EmuPackage.objects.values_list("order__order_id", "tracking_number"))
    return check_shipments(remote=remote, hub=hub, channel=channel)


def _osa_processed_location_codes(account, locations: dict) -> set[str]:
    """The account's locations whose inventory the hub takes in: those of the types the OSA integration's "Process
    inventory information only for these locations types" admits (the others are not mirrored, by setting)."""
    from integrations.connectors.osa.flows.inventory import ALLOWED_TYPES
    from integrations.connectors.osa.models import EmuLocation
    from integrations.connectors.osa.settings import LOCATION_TYPE_BOTH

    codes = set()
    for emulated in EmuLocation.objects.filter(account=account):
        location = locations.get(emulated.code)
        if location is None:
            continue
        chosen = (location.integration.settings if location.integration else {}).get("inventory_location_types", LOCATION_TYPE_BOTH)
        if emulated.type in ALLOWED_TYPES.get(chosen, ALLOWED_TYPES[LOCATION_TYPE_BOTH]):
            codes.add(emulated.code)
    return codes


def collect_stock() -> CheckResult:
    from integrations.connectors.osa.models import EmuStock
    from inventory.models import InventoryLevel, Location
    from orders.models import ShippingRequestLine

    rows = []
    for account in _osa_accounts():
        locations = {loc.external_id: loc for loc in Location.objects.filter(integration__connector="osa").select_related("integration")}
        processed = _osa_processed_location_codes(account, locations)
        for stock in EmuStock.objects.filter(account=account).order_by("location_code", "sku"):
            location = locations.get(stock.location_code)
            if location is None or stock.location_code not in processed:
                continue
            level = InventoryLevel.objects.filter(location=location, product__sku=stock.sku).first()
            unsent = sum(ShippingRequestLine.objects.filter(
                shipping_request__location=location, shipping_request__external_id="", product__sku=stock.sku,
                shipping_request__status__in=LIVE_SR_STATUSES).values_list("quantity", flat=True))
            figure = (lambda name: getattr(level, name, 0) or 0) if level else (lambda name: 0)
            rows.append(StockRow(location=location.code, sku=stock.sku, source_on_hand=stock.on_hand,
                                 source_committed=stock.committed, hub_on_hand=figure("on_hand"),
                                 hub_committed=figure("committed"),
                                 hub_available=figure("available"), unsent=unsent,
                                 reports_fulfillable=bool(getattr(location, "reports_fulfillable", False)),
                                 hub_fulfillable=figure("fulfillable"), hub_committed_unseen=figure("committed_unseen")))
    return check_stock(rows)


def collect_ledger() -> CheckResult:
    from django.db.models import Sum

    from inventory.models import InventoryLedgerEntry, InventoryLevel

    grouped = InventoryLedgerEntry.objects.values_list("product_id", "location_id", "field").annotate(total=Sum("delta"))
    sums = {(p, loc, f): total for p, loc, f, total in grouped.values_list("product_id", "location_id", "field", "total")}
    rows = []
    for level in InventoryLevel.objects.select_related("product", "location").order_by("location__code", "product__sku"):
        for name in ("on_hand", "committed", "fulfillable"):
            total = sums.get((level.product_id, level.location_id, name), 0)
            rows.append((level.location.code, level.product.sku, name, getattr(level, name), total))
    return check_ledger(rows)


def collect_overlaps(*, now: datetime) -> CheckResult:
    from integrations.models import SyncRun

    runs = [(f"{integration} {flow}", start, end) for integration, flow, start, end in
            SyncRun.objects.exclude(status="skipped").values_list("integration__name", "flow", "started_at", "finished_at")]
    return check_overlaps(runs, now=now)


def collect_failed_tasks() -> CheckResult:
    from django_q.models import Task

    failures = [(t.name or t.func, str(t.result or "")) for t in Task.objects.filter(success=False).order_by("started")]
    return check_failed_tasks(failures, total=Task.objects.count())


def exception_cause(exc) -> tuple[bool, str]:
    """Is the cause of this open exception gone? Judged from what it is attached to:
    an order (or a shipping request / fulfillment of one) that has settled — shipped, delivered, canceled or
    returned with every shipping request closed — no longer has the problem; an exception on no entity is gone when
    every flow of its integration has succeeded since it was last seen."""
    from integrations.models import FlowState
    from orders.models import Fulfillment, Order, ShippingRequest

    entity = exc.entity if exc.content_type_id else None
    order = entity if isinstance(entity, Order) else None
    if isinstance(entity, (ShippingRequest, Fulfillment)):
        order = entity.order
    if order is not None:
        open_srs = order.shipping_requests.filter(status__in=SR_OPEN).count()
        if order.status in ORDER_SETTLED and not open_srs:
            return True, f"order {order.external_id} has settled ({order.status})"
        return False, f"order {order.external_id} is {order.status} with {open_srs} open shipping request(s)"
    if entity is None and exc.integration_id:
        states = FlowState.objects.filter(integration_id=exc.integration_id, enabled=True)
        stale = [s.flow for s in states if not s.last_succeeded_at or s.last_succeeded_at <= exc.last_seen_at]
        if not stale:
            return True, "every flow of its integration has succeeded since"
        return False, f"flows not succeeded since: {', '.join(stale)}"
    return False, "no rule to judge it"


def collect_exceptions() -> CheckResult:
    from integrations.models import OpsException

    rows = []
    for exc in OpsException.objects.filter(status=OpsException.Status.OPEN).select_related("integration").order_by("pk"):
        gone, why = exception_cause(exc)
        rows.append(OpenException(code=exc.code, label=exc.entity_label or exc.dedup_key, count=exc.count, cause_gone=gone,
                                  why=why))
    return check_exceptions(rows)


def in_flight() -> dict[str, int]:
    """What is still moving: scheduled emulator events, open orders/requests at either side, unsent pushes, running flows."""
    from integrations.connectors.osa.models import EmuOrder as OsaOrder
    from integrations.models import Integration, OutboundPush, SyncRun
    from integrations.sandbox.models import EmuOrder
    from integrations.sandbox.services import now_ts
    from orders.models import Order, ShippingRequest
    from orders.selectors import fulfillments_to_push

    channels = Integration.objects.filter(connector="tiktok")
    channel_pushes = sum(fulfillments_to_push(channel_integration=i).count() for i in channels)
    return {
        "channel events pending": EmuOrder.objects.filter(next_event_at__isnull=False).count(),
        "channel orders not yet due": EmuOrder.objects.filter(create_time__gt=now_ts()).count(),
        "fulfillment orders open": OsaOrder.objects.filter(status__in=("waiting", "success", "partially_shipped")).count(),
        "hub orders open": Order.objects.filter(status__in=HUB_ORDER_OPEN).count(),
        "hub shipping requests open": ShippingRequest.objects.filter(status__in=SR_OPEN).count(),
        "fulfillments not pushed": channel_pushes,
        "pushes pending": OutboundPush.objects.filter(status=OutboundPush.Status.PENDING).count(),
        "runs in progress": SyncRun.objects.filter(finished_at__isnull=True).count(),
    }
