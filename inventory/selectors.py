"""Inventory reads: availability per location, totals, bundles, and what a channel may publish."""
from __future__ import annotations

from collections import defaultdict

from django.db.models import Case, F, When

from catalog.models import BundleComponent, Product
from inventory.models import ChannelInventoryPolicy, InventoryLevel, Location, LocationLink


def available_expression():
    """available per level, in SQL (inventory.services.level_available): the remote's Fulfillable figure minus the
    hub's commitments it has not counted, where the location reports Fulfillable; else on_hand − committed."""
    return Case(When(location__reports_fulfillable=True, then=F("fulfillable") - F("committed_unseen")),
                default=F("on_hand") - F("committed"))


def available_by_location(*, product_ids, location_ids) -> dict[tuple[int, int], int]:
    """{(location_id, product_id): available} for the given products and locations."""
    rows = InventoryLevel.objects.filter(product_id__in=list(product_ids), location_id__in=list(location_ids)).annotate(
        avail=available_expression()).values_list("location_id", "product_id", "avail")
    return {(loc, prod): avail for loc, prod, avail in rows}


def bundle_components(*, bundle_ids) -> dict[int, list[tuple[int, int]]]:
    """{bundle_id: [(component_id, quantity), ...]}"""
    out: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for bundle_id, component_id, qty in BundleComponent.objects.filter(bundle_id__in=list(bundle_ids)).values_list(
            "bundle_id", "component_id", "quantity"):
        out[bundle_id].append((component_id, qty))
    return dict(out)


def bundle_available(*, components: list[tuple[int, int]], available: dict[int, int]) -> int:
    """min over components of floor(available / quantity); 0 without components."""
    if not components:
        return 0
    return max(0, min(max(0, available.get(cid, 0)) // max(1, qty) for cid, qty in components))


def product_available(*, product: Product, location: Location | None = None) -> int:
    """Available units of a product at a location, or across locations counted in totals. Bundles are
    derived from their components per location."""
    locations = [location] if location is not None else list(Location.objects.filter(is_active=True, exclude_from_totals=False))
    loc_ids = [loc.pk for loc in locations]
    if product.kind == Product.Kind.BUNDLE:
        comps = bundle_components(bundle_ids=[product.pk]).get(product.pk, [])
        avail = available_by_location(product_ids=[c for c, _ in comps] + [product.pk], location_ids=loc_ids)
        total = 0
        for loc_id in loc_ids:
            per_component = {cid: avail.get((loc_id, cid), 0) for cid, _ in comps}
            total += bundle_available(components=comps, available=per_component) + max(0, avail.get((loc_id, product.pk), 0))
        return total
    avail = available_by_location(product_ids=[product.pk], location_ids=loc_ids)
    return sum(avail.values())


def channel_buffer(*, integration) -> int:
    policy = ChannelInventoryPolicy.objects.filter(integration=integration).first()
    return policy.buffer_units if policy else 0


def channel_source_ids(*, integration, location: Location | None = None, total: bool = False) -> set[int]:
    """The stock-holding locations whose levels channel_quantities sums for this channel (same arguments)."""
    from integrations import registry

    if total:
        return set(Location.objects.filter(is_active=True, exclude_from_totals=False)
                   .exclude(integration__role=registry.CHANNEL).values_list("pk", flat=True))
    targets = [location] if location is not None else list(Location.objects.filter(integration=integration, is_active=True))
    return set(LocationLink.objects.filter(target__in=targets, source__is_active=True).values_list("source_id", flat=True))


def channel_quantities(*, integration, location: Location | None = None, total: bool = False) -> dict[str, dict[str, int]]:
    """{sku: {channel_location_external_id: available}} to publish to a selling channel (available per level:
    see available_expression; for a location reporting Fulfillable, the remote's figure − the hub's commitments
    it has not counted yet).

    Per linked location: the sum over the stock-holding locations linked into it. total=True: the sum over
    every active location not excluded from totals (and not owned by a selling channel), published to the
    channel's default location. Minus the channel's buffer, never below 0; bundles derived from their
    components per stock-holding location."""
    from integrations import registry

    if total:
        target = location or Location.objects.filter(integration=integration, is_default=True).first()
        target_key = target.external_id if target else ""
        sources = list(Location.objects.filter(is_active=True, exclude_from_totals=False)
                       .exclude(integration__role=registry.CHANNEL))
        groups = {target_key: [s.pk for s in sources]}
    else:
        targets = [location] if location is not None else list(Location.objects.filter(integration=integration, is_active=True))
        groups = {t.external_id: [] for t in targets}
        for target_key, source_id in LocationLink.objects.filter(target__in=targets, source__is_active=True).values_list(
                "target__external_id", "source_id"):
            groups[target_key].append(source_id)
    source_ids = {sid for ids in groups.values() for sid in ids}
    if not source_ids:
        return {}
    levels = InventoryLevel.objects.filter(location_id__in=source_ids).annotate(avail=available_expression()).values_list(
        "location_id", "product_id", "avail")
    avail: dict[tuple[int, int], int] = {}
    product_ids = set()
    for loc_id, product_id, value in levels:
        avail[(loc_id, product_id)] = value
        product_ids.add(product_id)
    comp_map = bundle_components(bundle_ids=Product.objects.filter(kind=Product.Kind.BUNDLE).values_list("pk", flat=True))
    product_ids |= set(comp_map)
    skus = dict(Product.objects.filter(pk__in=product_ids).values_list("pk", "sku"))
    buffer = channel_buffer(integration=integration)
    result: dict[str, dict[str, int]] = defaultdict(dict)
    for target_key, ids in groups.items():
        sums: dict[int, int] = defaultdict(int)
        for (loc_id, product_id), value in avail.items():
            if loc_id in ids and product_id not in comp_map:
                sums[product_id] += max(0, value)
        for bundle_id, comps in comp_map.items():
            sums[bundle_id] += sum(
                bundle_available(components=comps, available={cid: avail.get((loc_id, cid), 0) for cid, _ in comps})
                + max(0, avail.get((loc_id, bundle_id), 0))
                for loc_id in ids)
        for product_id, value in sums.items():
            result[skus[product_id]][target_key] = max(0, value - buffer)
    return dict(result)
