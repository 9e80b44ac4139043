"""Order lines and ordered bundles: an ordered bundle line (a channel's virtual bundle) stays on the order as the
buyer ordered it; its component lines (``bundle_line``) are what is routed, committed and shipped."""
from __future__ import annotations

from orders.models import Order, OrderLine


def _parent_ids(lines) -> set[int]:
    """Pks of the ordered bundle lines among these lines (those that have component lines): never routed,
    committed or shipped themselves."""
    return {ln.bundle_line_id for ln in lines if ln.bundle_line_id}


def _lines_by_sku(order: Order) -> dict[str, OrderLine]:
    """The order's lines by SKU as a channel or 3PL names them: the ordered lines, and a bundle component only
    for a SKU not ordered on its own."""
    out: dict[str, OrderLine] = {}
    for line in sorted(order.lines.all(), key=lambda ln: (ln.bundle_line_id is not None, ln.pk)):
        out.setdefault(line.sku, line)
    return out
