"""Inventory services: locations from remotes, quantity changes (always ledgered), commitments.

available = on_hand − committed, kept on the level row and recomputed on every change. Every change of
a quantity writes an InventoryLedgerEntry with its reason, so the sum of a field's ledger deltas is the
field's current value."""
from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from catalog.models import Product
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
        from orders.services import orders_recheck_pending

        orders_recheck_pending(product_ids=restocked)
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
