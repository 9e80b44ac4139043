"""Sandbox order generator: realistic traffic for emulated shops (rate, SKU mix, cancellations, edits, returns)."""
from __future__ import annotations

import random
from dataclasses import dataclass

from integrations.sandbox import services
from integrations.sandbox.models import EmuShop, EmuSku


@dataclass(frozen=True)
class TrafficResult:
    shop: str
    created: int
    cancels: int
    edits: int
    returns: int


def orders_generate(*, shop: EmuShop, count: int, per_minute: float = 0, cancel_share: float = 0.1, edit_share: float = 0.1,
                    return_share: float = 0.05, max_units: int = 3, seed: int | None = None) -> TrafficResult:
    """Place `count` orders on `shop`.

    SKUs are drawn by their `weight` (the SKU mix); 1..`max_units` units per SKU, 1-2 SKUs per order. With `per_minute`
    > 0 the orders are spread over time (create_time in the future; the emulator shows them once due). A share of
    orders is cancelled by the buyer inside the remorse window, a share gets an address edit, a share is returned
    after delivery."""
    if count < 0 or not 0 <= cancel_share <= 1 or not 0 <= edit_share <= 1 or not 0 <= return_share <= 1:
        raise ValueError("count must be >= 0 and shares between 0 and 1")
    skus = list(EmuSku.objects.filter(product__shop=shop, product__status="ACTIVATE").select_related("product").order_by("id"))
    if not skus:
        raise ValueError(f"Sandbox shop {shop.name} has no active SKUs.")
    rng = random.Random(seed)
    weights = [max(1, s.weight) for s in skus]
    start = services.now_ts()
    cancels = edits = returns = 0
    for i in range(count):
        picked = {s.pk: s for s in rng.choices(skus, weights=weights, k=rng.choice((1, 1, 2)))}
        items = [(s, rng.randint(1, max_units)) for s in picked.values()]
        at = start + (int(i * 60 / per_minute) if per_minute else 0)
        window = max(2, shop.remorse_seconds - 1)
        cancel = rng.random() < cancel_share
        edit = not cancel and rng.random() < edit_share
        ret = not cancel and rng.random() < return_share
        services.order_create(shop=shop, items=items, at=at, rng=rng,
                              buyer_cancel_after=rng.randint(1, window) if cancel else None,
                              edit_after=rng.randint(1, window) if edit else None,
                              return_after_delivery=rng.randint(30, 120) if ret else None)
        cancels, edits, returns = cancels + cancel, edits + edit, returns + ret
    return TrafficResult(shop=shop.name, created=count, cancels=cancels, edits=edits, returns=returns)
