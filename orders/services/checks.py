"""Checks an order must pass before it is routed: known SKUs and a usable shipping address."""
from __future__ import annotations

from catalog.models import Product
from integrations.models import OpsException
from integrations.services import exception_raise, exceptions_resolve
from inventory import services as inventory_services
from orders.models import Order, OrderLine
from orders.services.lines import _parent_ids


def _unknown_skus(order: Order) -> list[str]:
    """SKUs that must be known to ship: not those of ordered bundle lines (their components ship)."""
    lines = list(order.lines.all())
    parents = _parent_ids(lines)
    return list(dict.fromkeys(ln.sku for ln in lines if ln.pk not in parents and ln.product_id is None
                              and ln.quantity > ln.canceled_quantity))


def _raise_unknown_skus(order: Order) -> None:
    for sku in _unknown_skus(order):
        _raise_unknown_sku(order, sku)


def address_problems(address: dict) -> list[str]:
    """What a carrier needs that a given shipping address lacks. No address at all is not a problem here
    (channels that share none, platform logistics); masked values (TikTok hides parts with '*') count as given."""
    if not address or not any(str(v).strip() for v in address.values()):
        return []
    missing = []
    if not (str(address.get("address1", "")).strip() or str(address.get("full_address", "")).strip()):
        missing.append("street address")
    if not (str(address.get("country_code", "")).strip() or str(address.get("country", "")).strip()):
        missing.append("country")
    if not (str(address.get("postal_code", "")).strip() or str(address.get("city", "")).strip()):
        missing.append("postal code or city")
    return missing


def _bad_address_key(order: Order) -> str:
    return f"order:{order.pk}:bad_address"


def _raise_bad_address(order: Order) -> None:
    missing = address_problems(order.shipping_address)
    exception_raise(category=OpsException.Category.INGESTION, code="bad_address", integration=order.integration, entity=order,
                    cause_key=f"address:{order.pk}", dedup_key=_bad_address_key(order),
                    message=f"Order {order.external_id} has an incomplete shipping address (missing {', '.join(missing)}); "
                            "it waits in review until the address is completed at the channel or edited here.",
                    details={"missing": missing})


def _raise_unknown_sku(order: Order, sku: str) -> None:
    exception_raise(category=OpsException.Category.INGESTION, code="unknown_sku", integration=order.integration, entity=order,
                    cause_key=f"sku:{sku}", dedup_key=f"order:{order.pk}:unknown_sku:{sku}",
                    message=f"Order {order.external_id} has unknown SKU {sku}: create the product or map the SKU.",
                    details={"sku": sku})


def order_resolve_skus(*, order: Order) -> list[str]:
    """Re-resolve line SKUs against the catalog and SKU mappings; resolve the exceptions of SKUs now known.
    Returns the SKUs still unknown."""
    lines = list(order.lines.all())
    products = inventory_services.products_for_skus(skus=[ln.sku for ln in lines], integration=order.integration)
    changed = []
    for line in lines:
        product = products.get(line.sku)
        if product is not None and line.product_id != product.pk:
            line.product = product
            line.is_bundle = line.is_bundle or product.kind == Product.Kind.BUNDLE
            changed.append(line)
    if changed:
        OrderLine.objects.bulk_update(changed, ["product", "is_bundle"])
    exceptions_resolve(dedup_keys=[f"order:{order.pk}:unknown_sku:{sku}" for sku in products], note="SKU now known")
    parents = _parent_ids(lines)
    return list(dict.fromkeys(ln.sku for ln in lines if ln.sku not in products and ln.pk not in parents))
