"""Inventory services: locations from remotes, quantity changes (always ledgered), commitments.

available, kept on the level row and recomputed on every change under the level's row lock, is
  * on a location the hub counts: on_hand − committed;
  * on a location whose remote reports Fulfillable (`Location.reports_fulfillable`, e.g. OSA): the remote's
    figure (`fulfillable`, taken at `fulfillable_at`) − `committed_unseen`, the hub's commitments that figure
    does not include (requests the remote had not acknowledged when the figure was taken; see
    InventoryCommitment). There `on_hand` is the remote's own on-hand figure, for information only, and a
    shipment changes neither: the remote's next figure already reflects it.
Every change of a stock quantity writes an InventoryLedgerEntry with its reason, so the sum of a field's ledger
deltas is the field's current value (committed_unseen is bookkeeping derived from commitments, not ledgered).

Locking: every path that writes several levels in one transaction locks them first through
`inventory_levels_lock` (ascending level id), so two such paths never wait on each other in a cycle;
`with_deadlock_retry` retries what still deadlocks (other tables in the cycle)."""
from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Iterable, TypeVar

from django.db import OperationalError, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone
from django.utils.text import slugify

from catalog.models import Product
from inventory import hooks
from inventory.models import InventoryCommitment, InventoryLedgerEntry, InventoryLevel, Location

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Fields a remote may set through inventory_levels_set (committed is ours: it follows shipping requests).
SETTABLE_FIELDS = ("on_hand", "fulfillable", "inbound", "unavailable")
# PostgreSQL SQLSTATEs worth retrying the transaction for: deadlock_detected, serialization_failure.
RETRYABLE_SQLSTATES = ("40P01", "40001")


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


def with_deadlock_retry(fn: Callable[[], T], *, attempts: int = 3, atomic: bool = True) -> T:
    """Run fn() in its own transaction (a savepoint when already inside one) and run it again when PostgreSQL
    picked it as a deadlock victim (or a serialization failure): the rolled-back attempt changed nothing.
    atomic=False (outside any transaction only): fn commits its own short transactions, e.g. a scheduled pass
    over many orders; a pass cut short by a deadlock runs again and picks up what is still due."""
    if not atomic and transaction.get_connection().in_atomic_block:
        attempts = 1  # the surrounding transaction is aborted by the error: nothing to retry here
    for attempt in range(1, attempts + 1):
        try:
            if not atomic:
                return fn()
            with transaction.atomic():
                return fn()
        except OperationalError as exc:
            sqlstate = getattr(exc.__cause__, "sqlstate", None) or getattr(exc.__cause__, "pgcode", None)
            if sqlstate not in RETRYABLE_SQLSTATES or attempt == attempts:
                raise
            logger.warning("inventory.deadlock_retry", extra={"attempt": attempt, "sqlstate": sqlstate})
    raise AssertionError("unreachable")


# --- locations ------------------------------------------------------------------------------

def locations_upsert_from_remote(*, integration, locations: list[dict]) -> list[Location]:
    """Upsert on (integration, external_id); dict: external_id, name, kind, address, is_default, and optionally
    reports_fulfillable (the remote reports Fulfillable stock for it, see the module docstring)."""
    by_id = {str(d["external_id"]): d for d in locations if str(d.get("external_id") or "")}
    existing = {loc.external_id: loc for loc in Location.objects.filter(integration=integration, external_id__in=list(by_id))}
    result = []
    for external_id, data in by_id.items():
        values = {"name": (data.get("name") or external_id)[:120], "kind": data.get("kind") or Location.Kind.WAREHOUSE,
                  "address": data.get("address") or {}, "is_default": bool(data.get("is_default"))}
        if "reports_fulfillable" in data:
            values["reports_fulfillable"] = bool(data["reports_fulfillable"])
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


def level_available(level: InventoryLevel, location: Location) -> int:
    """What the hub may still promise from this level (see the module docstring)."""
    if location.reports_fulfillable:
        return level.fulfillable - level.committed_unseen
    return level.on_hand - level.committed


def inventory_levels_lock(*, pairs: Iterable[tuple[int, int]]) -> dict[tuple[int, int], InventoryLevel]:
    """Row-lock the levels of (location_id, product_id) pairs, creating missing ones, in ascending level id.
    Every path that writes several levels in one transaction takes its locks here first."""
    wanted = {(int(loc), int(prod)) for loc, prod in pairs if loc and prod}
    if not wanted:
        return {}
    by_location: dict[int, set[int]] = defaultdict(set)
    for loc, prod in wanted:
        by_location[loc].add(prod)
    match = Q()
    for loc, prods in by_location.items():
        match |= Q(location_id=loc, product_id__in=sorted(prods))
    have = set(InventoryLevel.objects.filter(match).values_list("location_id", "product_id"))
    if wanted - have:
        InventoryLevel.objects.bulk_create(
            [InventoryLevel(location_id=loc, product_id=prod) for loc, prod in sorted(wanted - have)], ignore_conflicts=True)
    return {(lv.location_id, lv.product_id): lv for lv in InventoryLevel.objects.select_for_update().filter(match).order_by("pk")}


def _unseen_by_product(*, location: Location, product_ids: Iterable[int], as_of) -> dict[int, int]:
    """Hub commitments at the location that a figure taken at `as_of` does not include."""
    not_counted = Q(acknowledged_at__isnull=True) | Q(acknowledged_at__gt=as_of)
    return dict(InventoryCommitment.objects.filter(not_counted, location=location, product_id__in=list(product_ids),
                                                   quantity__gt=0)
                .values("product_id").annotate(q=Sum("quantity")).values_list("product_id", "q"))


def inventory_levels_set(*, location: Location, quantities: dict[str, dict[str, int]], reason: str, run=None,
                         basis: str = "on_hand", as_of=None) -> int:
    """Set remote-reported quantities per SKU (bulk). Locked locations are skipped (returns 0); unknown
    SKUs raise an inventory exception. Returns the number of SKUs applied. Stock arriving re-checks
    orders waiting for inventory (after this transaction commits).

    basis="fulfillable": the remote reports Fulfillable (net of its own commitments), taken at `as_of` (hub
    clock at the start of the read, default now): the location is marked `reports_fulfillable`, and available =
    that figure − the hub's commitments it does not include. A figure older than the one stored is ignored.
    The levels are locked (ascending id) and re-read, so a commitment made meanwhile is never overwritten."""
    from integrations.models import OpsException
    from integrations.services import exception_raise, exceptions_resolve

    if location.quantities_locked or not quantities:
        return 0
    for sku, values in quantities.items():
        bad = [k for k, v in values.items() if k in SETTABLE_FIELDS and (not isinstance(v, int) or isinstance(v, bool) or v < 0)]
        if bad:
            raise ValueError(f"{sku}: {', '.join(bad)} must be a whole number ≥ 0")
    if basis not in ("on_hand", "fulfillable"):
        raise ValueError(f"unknown inventory basis {basis!r}")
    products = products_for_skus(skus=list(quantities), integration=location.integration)
    for sku in quantities:
        if sku not in products:
            exception_raise(category=OpsException.Category.INVENTORY, code="unknown_sku", integration=location.integration,
                            entity=location, cause_key=f"sku:{sku}", dedup_key=f"inventory:{location.pk}:unknown_sku:{sku}",
                            message=f"Inventory for unknown SKU {sku} at {location.name}.", details={"sku": sku})
    exceptions_resolve(dedup_keys=[f"inventory:{location.pk}:unknown_sku:{sku}" for sku in products], note="SKU now known")
    if not products:
        return 0
    as_of = as_of or timezone.now()

    def write() -> list[int]:
        if basis == "fulfillable" and not location.reports_fulfillable:
            Location.objects.filter(pk=location.pk).update(reports_fulfillable=True)
            location.reports_fulfillable = True
        levels = inventory_levels_lock(pairs=[(location.pk, p.pk) for p in products.values()])
        unseen = (_unseen_by_product(location=location, product_ids=[p.pk for p in products.values()], as_of=as_of)
                  if location.reports_fulfillable else {})
        changed_levels, entries, restocked, figured, moved = [], [], [], [], []
        for sku, product in products.items():
            values = quantities[sku]
            level = levels[(location.pk, product.pk)]
            fields = list(SETTABLE_FIELDS)
            if basis == "fulfillable":
                if level.fulfillable_at is not None and as_of < level.fulfillable_at:
                    fields = [f for f in fields if f != "fulfillable"]  # an older figure than the stored one
                elif "fulfillable" in values:
                    figured.append(product.pk)
            before = level_available(level, location)
            changed = False
            for field in fields:
                if field not in values or getattr(level, field) == values[field]:
                    continue
                delta = values[field] - getattr(level, field)
                setattr(level, field, values[field])
                entries.append(_ledger(level, field, delta, reason, run=run))
                changed = True
            if product.pk in figured:
                level.fulfillable_at = as_of
                level.committed_unseen = unseen.get(product.pk, 0)
                changed = True
            available = level_available(level, location)
            if changed or level.available != available:
                level.available = available
                level.updated_at = timezone.now()
                changed_levels.append(level)
            if available > before:
                restocked.append(product.pk)
            if available != before:
                moved.append(product.pk)
        InventoryLevel.objects.bulk_update(changed_levels, [*SETTABLE_FIELDS, "available", "fulfillable_at", "committed_unseen",
                                                            "updated_at"])
        InventoryLedgerEntry.objects.bulk_create(entries)
        if figured:
            # Counted in the figure now stored (and every later one): no longer needed.
            InventoryCommitment.objects.filter(location=location, product_id__in=figured).filter(
                Q(quantity__lte=0) | Q(acknowledged_at__lte=as_of)).delete()
        return restocked, moved

    restocked, moved = with_deadlock_retry(write)
    if basis == "on_hand":
        _resolve_count_short(location_id=location.pk,
                             product_ids=[p.pk for sku, p in products.items() if "on_hand" in quantities[sku]])
    if restocked:
        # After commit, in its own transactions: routing locks other levels, which must not be taken while
        # this transaction holds these (lock order), and keeps this transaction short.
        transaction.on_commit(lambda: hooks.restock_notify(product_ids=restocked))
    if moved:
        # After commit: the channels this location feeds push the new figure now instead of on their next poll.
        transaction.on_commit(lambda: hooks.availability_notify(location_id=location.pk, product_ids=moved))
    return len(products)


def products_for_skus(*, skus: list[str], integration=None) -> dict[str, Product]:
    """Master SKU first, then the integration's channel SKU and SKU mappings. Matching is exact after
    normalisation (catalog/sku.py: NFKC, invisible characters removed; letter case kept); the result is keyed
    by the SKUs as given."""
    from catalog.models import ChannelOption
    from catalog.sku import sku_normalize
    from integrations.models import Mapping

    given = list(skus)
    normal = {s: sku_normalize(s) for s in given}
    skus = sorted({n for n in normal.values() if n})
    found = _products_for_normalised_skus(skus=skus, integration=integration, ChannelOption=ChannelOption, Mapping=Mapping)
    return {s: found[n] for s, n in normal.items() if n in found}


def _products_for_normalised_skus(*, skus: list[str], integration, ChannelOption, Mapping) -> dict[str, Product]:
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
    return inventory_levels_lock(pairs=[(location.pk, product.pk)])[(location.pk, product.pk)]


def _apply(level: InventoryLevel, location: Location, deltas: dict[str, int], *, reason: str, reference: str = "", run=None,
           allow_negative: bool = False) -> InventoryLevel:
    """Apply field deltas to a locked level, ledgered. Refuses (InsufficientInventory, nothing saved) to make a stock
    quantity negative, or to lower available below 0 unless allow_negative."""
    entries = _deltas_apply(level, location, deltas, reason=reason, reference=reference, run=run, allow_negative=allow_negative)
    level.save(update_fields=[*deltas, "available", "updated_at"])
    InventoryLedgerEntry.objects.bulk_create(entries)
    return level


def _deltas_apply(level: InventoryLevel, location: Location, deltas: dict[str, int], *, reason: str, reference: str = "",
                  run=None, allow_negative: bool = False) -> list[InventoryLedgerEntry]:
    """`_apply` in memory: the level's fields and available changed, its ledger entries returned (not saved)."""
    before = level_available(level, location)

    def sku() -> str:  # only on refusal (a query)
        return getattr(level.product, "sku", level.product_id)

    for field, delta in deltas.items():
        after = getattr(level, field) + delta
        if after < 0:
            if field == "committed_unseen":
                after = 0
            else:
                raise InsufficientInventory(f"{sku()} @ {location.name}: {field} would be {after}")
        setattr(level, field, after)
    available = level_available(level, location)
    if available < 0 and available < before and not allow_negative:
        raise InsufficientInventory(f"{sku()} @ {location.name}: available would be {available}")
    level.available = available
    level.updated_at = timezone.now()
    return [_ledger(level, field, delta, reason, reference, run) for field, delta in deltas.items()
            if delta and field != "committed_unseen"]


def _commitment(*, location: Location, product: Product, reference: str) -> InventoryCommitment:
    commitment, _ = InventoryCommitment.objects.get_or_create(location=location, product_id=product.pk, reference=reference[:120])
    return commitment


def _counted_in_figure(commitment: InventoryCommitment, level: InventoryLevel) -> bool:
    """True when the remote's stored figure already includes this commitment."""
    return bool(commitment.acknowledged_at and level.fulfillable_at and commitment.acknowledged_at <= level.fulfillable_at)


@transaction.atomic
def inventory_adjust(*, location: Location, product: Product, field: str, delta: int, reason: str, reference: str = "",
                     run=None, allow_negative: bool = False) -> InventoryLevel:
    """Change one quantity by delta, ledgered. Refuses (InsufficientInventory, nothing changed) to make a
    quantity negative, or available negative unless allow_negative (routing without inventory check)."""
    if field not in ("on_hand", "committed", *SETTABLE_FIELDS):
        raise ValueError(f"unknown inventory field {field!r}")
    level = _level_for_update(location=location, product=product)
    if delta == 0:
        return level
    return _apply(level, location, {field: delta}, reason=reason, reference=reference, run=run, allow_negative=allow_negative)


def inventory_receive(*, location: Location, product: Product, quantity: int, reference: str = "", run=None) -> InventoryLevel:
    if quantity <= 0:
        raise ValueError("quantity must be positive")
    return inventory_adjust(location=location, product=product, field="on_hand", delta=quantity, reason=Reason.RECEIVED,
                            reference=reference, run=run)


@transaction.atomic
def inventory_commit(*, location: Location, product: Product, quantity: int, reference: str = "", run=None,
                     allow_negative: bool = False) -> InventoryLevel:
    """Commit units for `reference` (a shipping request). On a location reporting Fulfillable they are not yet
    acknowledged by the remote, so they also count against its figure until a figure taken after the
    acknowledgement arrives (InventoryCommitment; rows already counted are deleted as figures arrive)."""
    if quantity <= 0:
        raise ValueError("quantity must be positive")
    level = _level_for_update(location=location, product=product)
    if not location.reports_fulfillable:  # the hub counts this location itself: nothing to reconcile with a figure
        return _apply(level, location, {"committed": quantity}, reason=Reason.COMMITTED, reference=reference, run=run,
                      allow_negative=allow_negative)
    level = _apply(level, location, {"committed": quantity, "committed_unseen": quantity}, reason=Reason.COMMITTED,
                   reference=reference, run=run, allow_negative=allow_negative)
    InventoryCommitment.objects.filter(pk=_commitment(location=location, product=product, reference=reference).pk).update(
        quantity=F("quantity") + quantity)
    return level


def inventory_commitments_acknowledged(*, reference: str = "", references: list[str] | None = None, at=None) -> int:
    """The remote acknowledged `reference` (or each of `references`, one statement): it now counts those units in
    its own commitments, so a figure taken from now on includes them. Idempotent. Changes no level: a figure
    stored so far was taken before now."""
    refs = [r[:120] for r in (references if references is not None else [reference])]
    if not refs:
        return 0
    return InventoryCommitment.objects.filter(reference__in=refs, acknowledged_at__isnull=True).update(
        acknowledged_at=at or timezone.now())


@transaction.atomic
def inventory_release(*, location: Location, product: Product, quantity: int, consume: bool = False, reference: str = "",
                      run=None) -> InventoryLevel:
    """Undo a commitment. consume=True (cancel without restock): the units leave on_hand too (on a location the
    hub counts; a remote reporting Fulfillable reports the loss itself)."""
    if quantity <= 0:
        raise ValueError("quantity must be positive")
    level = _level_for_update(location=location, product=product)
    commitment = (InventoryCommitment.objects.filter(location=location, product_id=product.pk, reference=reference[:120]).first()
                  if location.reports_fulfillable else None)
    deltas, take = _release_deltas(level, location, commitment, quantity=quantity, consume=consume)
    if take:
        InventoryCommitment.objects.filter(pk=commitment.pk).update(quantity=F("quantity") - take)
    return _apply(level, location, deltas, reason=Reason.CONSUMED if consume else Reason.RELEASED, reference=reference, run=run,
                  allow_negative=True)


def _release_deltas(level: InventoryLevel, location: Location, commitment: InventoryCommitment | None, *, quantity: int,
                    consume: bool) -> tuple[dict[str, int], int]:
    """What releasing `quantity` changes on the (locked) level, and how much it takes off the commitment."""
    deltas, take = {"committed": -quantity}, 0
    if commitment is not None:
        take = min(quantity, max(0, commitment.quantity))
        if take and not _counted_in_figure(commitment, level):
            deltas["committed_unseen"] = -take
    if consume and not location.reports_fulfillable:
        deltas["on_hand"] = -min(quantity, max(0, level.on_hand))
    return deltas, take


@dataclass(frozen=True)
class Release:
    """One commitment to undo (inventory_releases): what inventory_release takes, the product by id."""
    location: Location
    product_id: int
    quantity: int
    consume: bool = False
    reference: str = ""


@transaction.atomic
def inventory_releases(*, releases: list[Release], run=None) -> None:
    """`inventory_release` for many commitments at once, in a bounded number of statements: the levels locked
    once (ascending id), the commitments of locations reporting Fulfillable read once, then levels, commitments
    and ledger entries written in one statement each. Applied in the order given (a level released twice is
    ledgered twice, each entry with the quantity after it)."""
    if any(r.quantity <= 0 for r in releases):
        raise ValueError("quantity must be positive")
    if not releases:
        return
    levels = inventory_levels_lock(pairs=[(r.location.pk, r.product_id) for r in releases])
    counted = [r for r in releases if r.location.reports_fulfillable]
    commitments: dict[tuple[int, int, str], InventoryCommitment] = {}
    if counted:
        match = Q()
        for r in counted:
            match |= Q(location_id=r.location.pk, product_id=r.product_id, reference=r.reference[:120])
        commitments = {(c.location_id, c.product_id, c.reference): c for c in InventoryCommitment.objects.filter(match)}
    changed, taken, entries = {}, {}, []
    for r in releases:
        level = levels[(r.location.pk, r.product_id)]
        commitment = commitments.get((r.location.pk, r.product_id, r.reference[:120])) if r.location.reports_fulfillable else None
        deltas, take = _release_deltas(level, r.location, commitment, quantity=r.quantity, consume=r.consume)
        if take:
            commitment.quantity -= take
            taken[commitment.pk] = commitment
        entries += _deltas_apply(level, r.location, deltas, reason=Reason.CONSUMED if r.consume else Reason.RELEASED,
                                 reference=r.reference, run=run, allow_negative=True)
        changed[level.pk] = level
    InventoryLevel.objects.bulk_update(list(changed.values()), ["on_hand", "committed", "committed_unseen", "available",
                                                                "updated_at"])
    if taken:
        InventoryCommitment.objects.bulk_update(list(taken.values()), ["quantity"])
    InventoryLedgerEntry.objects.bulk_create(entries)


@transaction.atomic
def inventory_ship(*, location: Location, product: Product, quantity: int, reference: str = "", run=None) -> InventoryLevel:
    """Units left the building: the commitment drops, and on_hand on a location the hub counts. A shipment
    that really happened never fails on local stock arithmetic: what the hub's count cannot cover is raised
    as an inventory exception (the count is wrong), not refused. On a location reporting Fulfillable the
    remote's figure already excludes the units (they were its commitments), so available does not move."""
    if quantity <= 0:
        raise ValueError("quantity must be positive")
    level = _level_for_update(location=location, product=product)
    if location.reports_fulfillable:  # shipped: the remote certainly had the request
        InventoryCommitment.objects.filter(location=location, product_id=product.pk, reference=reference[:120],
                                           acknowledged_at__isnull=True).update(acknowledged_at=timezone.now())
    deltas = {"committed": -min(quantity, level.committed)}
    if not location.reports_fulfillable:
        deltas["on_hand"] = -min(quantity, max(0, level.on_hand))
        short = quantity - min(quantity, max(0, level.on_hand))
        if short:
            _raise_count_short(level=level, location=location, product=product, short=short, reference=reference)
    return _apply(level, location, deltas, reason=Reason.SHIPPED, reference=reference, run=run, allow_negative=True)


def _raise_count_short(*, level, location: Location, product: Product, short: int, reference: str) -> None:
    from integrations.models import OpsException
    from integrations.services import exception_raise

    exception_raise(category=OpsException.Category.INVENTORY, code="shipped_more_than_on_hand", integration=location.integration,
                    entity=location, dedup_key=f"inventory:{location.pk}:count_short:{product.pk}",
                    details={"product_id": product.pk, "short": short, "reference": reference},
                    message=f"{reference or 'A shipment'} shipped {short} unit(s) of {getattr(product, 'sku', product.pk)} "
                    f"more than "
                    f"the hub counted on hand at {location.name}: on hand stays at 0. Recount and set the quantity.")


def _resolve_count_short(*, location_id: int, product_ids: Iterable[int]) -> None:
    from integrations.services import exceptions_resolve

    exceptions_resolve(dedup_keys=[f"inventory:{location_id}:count_short:{p}" for p in product_ids], note="on hand set again")


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
    _resolve_count_short(location_id=level.location_id, product_ids=[level.product_id])
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
    from django.db.models import F, Q, Sum

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
    arrivals_touched = list(Arrival.objects.filter(pk__in=list(touched)).select_related("location"))
    # Inbound of several locations changes in this one transaction: lock those levels first, in level-id order.
    inventory_levels_lock(pairs=[(a.location_id, p) for a in arrivals_touched for p in touched[a.pk]]
                          + [(line.arrival.location_id, line.product_id)
                             for line in ArrivalLine.objects.filter(arrival__in=arrivals_touched).select_related("arrival")])
    for arrival in arrivals_touched:
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
