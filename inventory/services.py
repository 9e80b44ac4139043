"""Inventory services: locations from remotes, quantity changes (always ledgered), commitments.

available = on_hand − committed, kept on the level row and recomputed on every change. Every change of
a quantity writes an InventoryLedgerEntry with its reason, so the sum of a field's ledger deltas is the
field's current value."""
from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from catalog.models import Product
from inventory import hooks
from inventory.models import InventoryLedgerEntry, InventoryLevel, Location

# Fields a remote may set through inventory_levels_set (committed is ours: it follows shipping requests).
SETTABLE_FIELDS = ("on_hand", "fulfillable", "inbound", "unavailable")


class Reason:
    RECEIVED = "received"
    COMMITTED = "committed"
    SHIPPED = "shipped"
    RELEASED = "released"  # cancel with restock
    CONSUMED = "canceled_no_restock"  # cancel without restock: the units are gone
    ADJUSTED = "adjusted"
    MANUAL = "manual"


class InsufficientInventory(ValueError):
    """A change would make available (or a quantity) negative."""


# --- locations ------------------------------------------------------------------------------

def locations_upsert_from_remote(*, integration, locations: list[dict]) -> list[Location]:
    """Upsert on (integration, external_id); dict: external_id, name, kind, address, is_default."""
    by_id = {str(d["external_id"]): d for d in locations if str(d.get("external_id") or "")}
    existing = {loc.external_id: loc for loc in Location.objects.filter(integration=integration, external_id__in=list(by_id))}
    result = []
    for external_id, data in by_id.items():
        values = {"name": (data.get("name") or external_id)[:120], "kind": data.get("kind") or Location.Kind.WAREHOUSE,
                  "address": data.get("address") or {}, "is_default": bool(data.get("is_default"))}
        loc = existing.get(external_id)
        if loc is None:
            loc = Location.objects.create(integration=integration, external_id=external_id,
                                          code=_unique_code(f"{integration.name}-{external_id}"), **values)
        elif any(getattr(loc, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(loc, k, v)
            loc.save(update_fields=list(values))
        result.append(loc)
    return result


def _unique_code(base: str) -> str:
    code = slugify(base)[:72] or "location"
    candidate, n = code, 1
    while Location.objects.filter(code=candidate).exists():
        n += 1
        candidate = f"{code}-{n}"
    return candidate


# --- levels ---------------------------------------------------------------------------------

def _ledger(level: InventoryLevel, field: str, delta: int, reason: str, reference: str = "", run=None) -> InventoryLedgerEntry:
    return InventoryLedgerEntry(product_id=level.product_id, location_id=level.location_id, field=field, delta=delta,
                                quantity_after=getattr(level, field), reason=reason, reference=reference[:120], sync_run=run)


def inventory_levels_set(*, location: Location, quantities: dict[str, dict[str, int]], reason: str, run=None) -> int:
    """Set remote-reported quantities per SKU (bulk). Locked locations are skipped (returns 0); unknown
    SKUs raise an inventory exception. Returns the number of SKUs applied. Stock arriving re-checks
    orders waiting for inventory."""
    from integrations.models import OpsException
    from integrations.services import exception_raise, exceptions_resolve

    if location.quantities_locked or not quantities:
        return 0
    for sku, values in quantities.items():
        bad = [k for k, v in values.items() if k in SETTABLE_FIELDS and (not isinstance(v, int) or isinstance(v, bool) or v < 0)]
        if bad:
            raise ValueError(f"{sku}: {', '.join(bad)} must be a whole number ≥ 0")
    products = products_for_skus(skus=list(quantities), integration=location.integration)
    for sku in quantities:
        if sku not in products:
            exception_raise(category=OpsException.Category.INVENTORY, code="unknown_sku", integration=location.integration,
                            entity=location, cause_key=f"sku:{sku}", dedup_key=f"inventory:{location.pk}:unknown_sku:{sku}",
                            message=f"Inventory for unknown SKU {sku} at {location.name}.", details={"sku": sku})
    exceptions_resolve(dedup_keys=[f"inventory:{location.pk}:unknown_sku:{sku}" for sku in products], note="SKU now known")
    levels = {lv.product_id: lv for lv in InventoryLevel.objects.filter(location=location, product__in=[p.pk for p in products.values()])}
    new_levels, changed_levels, entries, restocked = [], [], [], []
    for sku, product in products.items():
        values = quantities[sku]
        level = levels.get(product.pk)
        is_new = level is None
        if is_new:
            level = InventoryLevel(product=product, location=location)
        changed = False
        for field in SETTABLE_FIELDS:
            if field not in values or getattr(level, field) == values[field]:
                continue
            delta = values[field] - getattr(level, field)
            setattr(level, field, values[field])
            entries.append(_ledger(level, field, delta, reason, run=run))
            changed = True
            if field == "on_hand" and delta > 0:
                restocked.append(product.pk)
        if changed:
            level.available = level.on_hand - level.committed
            level.updated_at = timezone.now()
            (new_levels if is_new else changed_levels).append(level)
    InventoryLevel.objects.bulk_create(new_levels)
    InventoryLevel.objects.bulk_update(changed_levels, [*SETTABLE_FIELDS, "available", "updated_at"])
    InventoryLedgerEntry.objects.bulk_create(entries)
    if restocked:
        hooks.restock_notify(product_ids=restocked)
    return len(products)


def products_for_skus(*, skus: list[str], integration=None) -> dict[str, Product]:
    """Master SKU first, then the integration's channel SKU and SKU mappings."""
    from catalog.models import ChannelOption
    from integrations.models import Mapping

    found = {p.sku: p for p in Product.objects.filter(sku__in=skus)}
    missing = [s for s in skus if s not in found]
    if missing and integration is not None:
        for option in ChannelOption.objects.filter(integration=integration, channel_sku__in=missing).select_related("product"):
            found[option.channel_sku] = option.product
        missing = [s for s in skus if s not in found]
        if missing:
            maps = dict(Mapping.objects.filter(integration=integration, kind=Mapping.Kind.SKU, source__in=missing).values_list("source", "target"))
            targets = {p.sku: p for p in Product.objects.filter(sku__in=list(maps.values()))}
            for source, target in maps.items():
                if target in targets:
                    found[source] = targets[target]
    return found


def _level_for_update(*, location: Location, product: Product) -> InventoryLevel:
    level, _ = InventoryLevel.objects.select_for_update().get_or_create(product=product, location=location)
    return level


@transaction.atomic
def inventory_adjust(*, location: Location, product: Product, field: str, delta: int, reason: str, reference: str = "",
                     run=None, allow_negative: bool = False) -> InventoryLevel:
    """Change one quantity by delta, ledgered. Refuses (InsufficientInventory, nothing changed) to make a
    quantity negative, or available negative unless allow_negative (routing without inventory check)."""
    if field not in ("on_hand", "committed", *SETTABLE_FIELDS):
        raise ValueError(f"unknown inventory field {field!r}")
    if delta == 0:
        return _level_for_update(location=location, product=product)
    level = _level_for_update(location=location, product=product)
    after = getattr(level, field) + delta
    if after < 0:
        raise InsufficientInventory(f"{product.sku} @ {location.name}: {field} would be {after}")
    setattr(level, field, after)
    available = level.on_hand - level.committed
    reduces_available = (field == "on_hand" and delta < 0) or (field == "committed" and delta > 0)
    if available < 0 and reduces_available and not allow_negative:
        raise InsufficientInventory(f"{product.sku} @ {location.name}: available would be {available}")
    level.available = available
    level.save(update_fields=[field, "available", "updated_at"])
    InventoryLedgerEntry.objects.create(product=product, location=location, field=field, delta=delta, quantity_after=after,
                                        reason=reason, reference=reference[:120], sync_run=run)
    return level


def inventory_receive(*, location: Location, product: Product, quantity: int, reference: str = "", run=None) -> InventoryLevel:
    if quantity <= 0:
        raise ValueError("quantity must be positive")
    return inventory_adjust(location=location, product=product, field="on_hand", delta=quantity, reason=Reason.RECEIVED,
                            reference=reference, run=run)


def inventory_commit(*, location: Location, product: Product, quantity: int, reference: str = "", run=None,
                     allow_negative: bool = False) -> InventoryLevel:
    if quantity <= 0:
        raise ValueError("quantity must be positive")
    return inventory_adjust(location=location, product=product, field="committed", delta=quantity, reason=Reason.COMMITTED,
                            reference=reference, run=run, allow_negative=allow_negative)


@transaction.atomic
def inventory_release(*, location: Location, product: Product, quantity: int, consume: bool = False, reference: str = "",
                      run=None) -> InventoryLevel:
    """Undo a commitment. consume=True (cancel without restock): the units leave on_hand too."""
    if quantity <= 0:
        raise ValueError("quantity must be positive")
    level = inventory_adjust(location=location, product=product, field="committed", delta=-quantity,
                             reason=Reason.CONSUMED if consume else Reason.RELEASED, reference=reference, run=run)
    if consume:
        level = inventory_adjust(location=location, product=product, field="on_hand", delta=-quantity, reason=Reason.CONSUMED,
                                 reference=reference, run=run, allow_negative=True)
    return level


@transaction.atomic
def inventory_ship(*, location: Location, product: Product, quantity: int, reference: str = "", run=None) -> InventoryLevel:
    """Units left the building: committed and on_hand both drop; available is unchanged."""
    if quantity <= 0:
        raise ValueError("quantity must be positive")
    level = _level_for_update(location=location, product=product)
    from_committed = min(quantity, level.committed)
    if from_committed:
        inventory_adjust(location=location, product=product, field="committed", delta=-from_committed, reason=Reason.SHIPPED,
                         reference=reference, run=run)
    # Shipping more than was committed (e.g. the 3PL shipped a substitute) draws on available stock.
    return inventory_adjust(location=location, product=product, field="on_hand", delta=-quantity, reason=Reason.SHIPPED,
                            reference=reference, run=run, allow_negative=bool(from_committed == quantity))


@transaction.atomic
def inventory_level_set_manual(*, level: InventoryLevel, on_hand: int, user=None, reason: str = Reason.MANUAL) -> InventoryLevel:
    """A person's edit in the admin: allowed on locked locations too, and ledgered."""
    if on_hand < 0:
        raise InsufficientInventory("on hand cannot be negative")
    level = InventoryLevel.objects.select_for_update().get(pk=level.pk)
    delta = on_hand - level.on_hand
    if delta:
        who = f"user {user.get_username()}" if user is not None else ""
        inventory_adjust(location=level.location, product=level.product, field="on_hand", delta=delta, reason=reason,
                         reference=who, allow_negative=True)
        level.refresh_from_db()
    return level


def location_set_lock(*, location: Location, locked: bool) -> None:
    Location.objects.filter(pk=location.pk).update(quantities_locked=locked)
    location.quantities_locked = locked


# --- arrivals and receipts (what a 3PL expects and what it physically received) -------------

ARRIVAL_OPEN_STATUSES = ("expected", "sent", "partial")


def arrivals_inbound_refresh(*, location: Location, product_ids: set[int], reason: str = "arrivals", run=None) -> int:
    """Inbound = expected − received over the location's open arrivals, per product, set through
    inventory_levels_set (ledgered). Returns the number of SKUs applied."""
    from django.db.models import Sum

    from inventory.models import ArrivalLine

    product_ids = {p for p in product_ids if p}
    if not product_ids:
        return 0
    sums = {
        row["product_id"]: max(0, (row["expected"] or 0) - (row["received"] or 0))
        for row in ArrivalLine.objects.filter(arrival__location=location, arrival__status__in=ARRIVAL_OPEN_STATUSES,
                                              product_id__in=product_ids)
        .values("product_id").annotate(expected=Sum("quantity_expected"), received=Sum("quantity_received"))
    }
    skus = dict(Product.objects.filter(pk__in=product_ids).values_list("pk", "sku"))
    return inventory_levels_set(location=location, quantities={skus[p]: {"inbound": sums.get(p, 0)} for p in skus},
                                reason=reason, run=run)


@transaction.atomic
def arrival_mark_sent(*, arrival, external_id: str, reason: str = "arrivals", run=None):
    """The 3PL accepted the arrival under `external_id`: status sent, and its lines count as inbound.
    Idempotent: marking an already-sent arrival again with the same id changes nothing."""
    from inventory.models import Arrival

    external_id = str(external_id or "").strip()
    if not external_id:
        raise ValueError(f"arrival {arrival.reference}: the 3PL's id is required")
    Arrival.objects.filter(pk=arrival.pk).update(external_id=external_id, status=Arrival.Status.SENT)
    arrival.external_id, arrival.status = external_id, Arrival.Status.SENT
    arrivals_inbound_refresh(location=arrival.location, product_ids=set(arrival.lines.values_list("product_id", flat=True)),
                             reason=reason, run=run)
    return arrival


def _receipt_valid(data: dict) -> str:
    if not str(data.get("external_id") or "").strip():
        return "external_id is required"
    lines = data.get("lines")
    if not isinstance(lines, list):
        return "lines must be a list"
    for line in lines:
        qty = line.get("quantity") if isinstance(line, dict) else None
        if not isinstance(line, dict) or not str(line.get("sku") or "").strip() or not isinstance(qty, int) or isinstance(qty, bool) or qty < 0:
            return "each line needs a sku and a whole quantity ≥ 0"
    return ""


@transaction.atomic
def receipts_record(*, integration, receipts: list[dict], reason: str = "arrivals", run=None) -> dict:
    """Upsert what the 3PL received on (integration, external_id). Each dict: external_id, arrival_reference,
    received_at (aware datetime or None), lines [{"sku", "quantity"}]. SKUs resolve to products (master SKU,
    the integration's channel SKUs, SKU mappings); arrivals are this integration's (or at its locations).
    Then, per touched arrival: ArrivalLine.quantity_received = sum of its receipt lines, status partial or
    received, and the location's inbound recomputed (ledgered). Re-recording the same receipts changes nothing.
    Returns {"created", "updated", "unchanged", "errors": [{"external_id", "field", "message"}]}; a malformed
    receipt is reported in errors and writes nothing."""
    from django.db.models import Q, Sum

    from inventory.models import Arrival, ArrivalLine, Receipt, ReceiptLine

    out = {"created": 0, "updated": 0, "unchanged": 0, "errors": []}
    valid = []
    for data in receipts:
        problem = _receipt_valid(data)
        if problem:
            out["errors"].append({"external_id": str(data.get("external_id") or ""), "field": "receipt", "message": problem})
        else:
            valid.append(data)
    if not valid:
        return out
    refs = {str(d.get("arrival_reference") or "") for d in valid} - {""}
    arrivals = {a.reference: a for a in Arrival.objects.filter(reference__in=refs).filter(
        Q(integration=integration) | Q(location__integration=integration)).select_related("location")}
    existing = {r.external_id: r for r in Receipt.objects.filter(
        integration=integration, external_id__in=[str(d["external_id"]) for d in valid]).prefetch_related("lines")}
    products = products_for_skus(skus=sorted({ln["sku"] for d in valid for ln in d["lines"]}), integration=integration)
    touched: dict[int, set[int]] = {}
    for data in valid:
        external_id = str(data["external_id"])
        arrival = arrivals.get(str(data.get("arrival_reference") or ""))
        wanted = sorted((ln["sku"], ln["quantity"]) for ln in data["lines"])
        receipt = existing.get(external_id)
        if receipt is not None:
            have = sorted((ln.sku, ln.quantity) for ln in receipt.lines.all())
            if have == wanted and receipt.arrival_id == (arrival.pk if arrival else None) and receipt.received_at == data.get("received_at"):
                out["unchanged"] += 1
                continue
            if receipt.arrival_id and receipt.arrival_id != (arrival.pk if arrival else None):
                touched.setdefault(receipt.arrival_id, set()).update(ln.product_id for ln in receipt.lines.all() if ln.product_id)
            old_products = {ln.product_id for ln in receipt.lines.all() if ln.product_id}
            receipt.arrival, receipt.received_at = arrival, data.get("received_at")
            receipt.save(update_fields=["arrival", "received_at"])
            receipt.lines.all().delete()
            out["updated"] += 1
        else:
            receipt = Receipt.objects.create(integration=integration, arrival=arrival, external_id=external_id,
                                             received_at=data.get("received_at"))
            old_products = set()
            out["created"] += 1
        ReceiptLine.objects.bulk_create([
            ReceiptLine(receipt=receipt, product=products.get(sku), sku=sku, quantity=qty) for sku, qty in wanted])
        if arrival is None:
            out["errors"].append({"external_id": external_id, "field": "arrival_reference",
                                  "message": f"receipt for unknown arrival {data.get('arrival_reference')} recorded without an arrival"})
            continue
        touched.setdefault(arrival.pk, set()).update(old_products | {products[s].pk for s, _ in wanted if s in products})
    for arrival in Arrival.objects.filter(pk__in=list(touched)).select_related("location"):
        received = dict(ReceiptLine.objects.filter(receipt__arrival=arrival, product__isnull=False)
                        .values("product_id").annotate(q=Sum("quantity")).values_list("product_id", "q"))
        lines = list(ArrivalLine.objects.filter(arrival=arrival))
        for line in lines:
            line.quantity_received = received.get(line.product_id, 0)
        ArrivalLine.objects.bulk_update(lines, ["quantity_received"])
        got_any = any(line.quantity_received for line in lines)
        complete = bool(lines) and all(line.quantity_received >= line.quantity_expected for line in lines)
        status = Arrival.Status.RECEIVED if complete else (Arrival.Status.PARTIAL if got_any else arrival.status)
        if status != arrival.status and arrival.status != Arrival.Status.CANCELED:
            Arrival.objects.filter(pk=arrival.pk).update(status=status)
        arrivals_inbound_refresh(location=arrival.location, product_ids=touched[arrival.pk] | {ln.product_id for ln in lines},
                                 reason=reason, run=run)
    return out
