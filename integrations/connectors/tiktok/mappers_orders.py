"""Pure mapping of TikTok orders (reference §4.3) into orders.interface dataclasses, and the pull filters."""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from integrations.connectors.tiktok import constants as c
from integrations.exceptions import PayloadError
from integrations.flows import payload_hash
from orders.interface import CancellationIn, OrderIn, OrderLineIn, QuantityLineIn
from orders.money import allocate

CENT = Decimal("0.01")

STATUS_MAP = {
    "UNPAID": "draft",
    "ON_HOLD": "onHold",
    "AWAITING_SHIPMENT": "new",
    "PARTIALLY_SHIPPING": "partialFulfillment",
    "AWAITING_COLLECTION": "fulfilled",
    "IN_TRANSIT": "inTransit",
    "DELIVERED": "delivered",
    "COMPLETED": "closed",
    "CANCELLED": "canceled",
    "CANCEL": "canceled",  # webhook spelling (§13.5)
}
# Platform-fulfilled (FBT) orders arrive as fulfilled until they move further.
PLATFORM_STATUS_MAP = {**{k: "fulfilled" for k in STATUS_MAP}, "IN_TRANSIT": "inTransit", "DELIVERED": "delivered",
                       "COMPLETED": "closed", "CANCELLED": "canceled", "CANCEL": "canceled"}
CANCEL_SOURCES = {"BUYER": "buyer", "SELLER": "seller", "SYSTEM": "platform", "OPERATOR": "platform"}


@dataclass(frozen=True)
class PullFilters:
    statuses: frozenset[str]
    exclude_before: datetime
    pull_platform_shipped: bool = False
    pull_on_hold: bool = False
    only_ids: frozenset[str] = frozenset()


ZERO = Decimal("0")


@lru_cache(maxsize=4096)
def _amount(text: str) -> Decimal:
    """A TikTok amount string to cents (Decimals are immutable: a page repeats few distinct prices)."""
    return Decimal(text).quantize(CENT, rounding=ROUND_HALF_UP)


def money(value, *, field: str = "", external_id: str = "") -> Decimal:
    if value is None or value == "":
        return ZERO
    try:
        return _amount(value if type(value) is str else str(value))
    except InvalidOperation:
        raise PayloadError(f"not an amount: {value!r}", external_id=external_id, field=field) from None


def epoch(value) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), tz=timezone.utc) if value else None
    except (TypeError, ValueError, OverflowError):
        return None


def is_platform_fulfilled(order: dict) -> bool:
    return order.get("fulfillment_type") == c.FULFILLMENT_BY_TIKTOK


def skip_reason(order: dict, filters: PullFilters) -> str:
    """Why a TikTok order is not pulled ("" = pull it)."""
    order_id = str(order.get("id", ""))
    if filters.only_ids and order_id not in filters.only_ids:
        return "not in the specific order ids"
    created = epoch(order.get("create_time"))
    if created is None or created < filters.exclude_before:
        return "created before the exclusion date"
    if is_platform_fulfilled(order) and not filters.pull_platform_shipped:
        return "shipped by platform"
    status = order.get("status", "")
    if not status:  # a cut record is not filtered away silently: the mapper reports it (a visible record error)
        return ""
    return status_skip_reason(status, filters)


def status_skip_reason(status: str, filters: PullFilters) -> str:
    """Why an order in this TikTok status is not pulled ("" = pull it)."""
    if status == "ON_HOLD":
        return "" if filters.pull_on_hold else "on hold"
    if status not in filters.statuses:
        return f"status {status} not pulled"
    return ""


def _line_sku(item: dict, external_id: str) -> str:
    sku = (item.get("seller_sku") or "").strip()
    if not sku:
        raise PayloadError("line item without seller_sku", external_id=external_id, field=f"line_items[{item.get('id', '')}].seller_sku")
    return sku


def _item_money(item: dict, external_id: str) -> tuple[Decimal, Decimal, Decimal]:
    """(price, discount, tax) of one TikTok line item (one unit)."""
    price = money(item.get("original_price"), field="original_price", external_id=external_id)
    discount = money(item.get("seller_discount"), field="seller_discount", external_id=external_id) + money(
        item.get("platform_discount"), field="platform_discount", external_id=external_id)
    tax = sum((money(t.get("tax_amount"), field="item_tax", external_id=external_id) for t in item.get("item_tax") or []),
              Decimal("0"))
    return price, discount, tax


def _bundle_components(item: dict, external_id: str) -> list[tuple[str, int]]:
    """[(component SKU, units per bundle unit)] of a combined listing line item, merged per SKU."""
    counts: "OrderedDict[str, int]" = OrderedDict()
    for comp in item.get("combined_listing_skus") or []:
        sku = (comp.get("seller_sku") or "").strip()
        if not sku:
            raise PayloadError("combined listing component without seller_sku", external_id=external_id,
                               field="combined_listing_skus.seller_sku")
        counts[sku] = counts.get(sku, 0) + max(1, int(comp.get("sku_count") or 1))
    return list(counts.items())


def _add(grouped: dict, key: tuple[str, str], *, units: int, price: Decimal, discount: Decimal, tax: Decimal, canceled: bool,
         name: str, line_id: str = "", is_bundle: bool = False) -> None:
    row = grouped.setdefault(key, {"qty": 0, "price": Decimal("0"), "discount": Decimal("0"), "tax": Decimal("0"), "ids": [],
                                   "canceled": 0, "name": "", "bundle": False})
    row["qty"] += units
    row["price"] += price
    row["discount"] += discount
    row["tax"] += tax
    row["canceled"] += units if canceled else 0
    row["bundle"] = row["bundle"] or is_bundle
    row["name"] = row["name"] or name
    if line_id and line_id not in row["ids"]:
        row["ids"].append(line_id)


def order_lines(order: dict, *, virtual_bundles: bool) -> tuple[OrderLineIn, ...]:
    """Quantity = number of TikTok line items per SKU (each unit is its own line item). With virtual bundles, a
    combined listing item stays an ordered bundle line (its SKU, money and line item id) and each of its
    components becomes a line linked to it (bundle_sku) carrying the bundle's price, discount and tax allocated
    by unit with the largest-remainder method, so the components sum to the bundle exactly."""
    external_id = str(order.get("id", ""))
    grouped: "OrderedDict[tuple[str, str], dict]" = OrderedDict()
    components: "OrderedDict[tuple[str, str], dict]" = OrderedDict()
    for item in order.get("line_items") or []:
        canceled = item.get("display_status") == "CANCELLED"
        name = " · ".join(p for p in (item.get("product_name"), item.get("sku_name")) if p)
        price, discount, tax = _item_money(item, external_id)
        line_id = str(item.get("id", ""))
        parts = _bundle_components(item, external_id) if virtual_bundles else []
        if not parts:
            _add(grouped, ("", _line_sku(item, external_id)), units=1, price=price, discount=discount, tax=tax, canceled=canceled,
                 name=name, line_id=line_id)
            continue
        # A combined listing may lack a seller SKU of its own; its TikTok SKU id then names the ordered line.
        bundle_sku = (item.get("seller_sku") or "").strip() or str(item.get("sku_id") or "").strip() or _line_sku(item, external_id)
        _add(grouped, ("", bundle_sku), units=1, price=price, discount=discount, tax=tax, canceled=canceled, name=name,
             line_id=line_id, is_bundle=True)
        weights = [count for _, count in parts]
        shares = [allocate(total, weights) for total in (price, discount, tax)]
        for n, (sku, count) in enumerate(parts):
            _add(components, (bundle_sku, sku), units=count, price=shares[0][n], discount=shares[1][n], tax=shares[2][n],
                 canceled=canceled, name="")
    if not grouped:
        raise PayloadError("order without line items", external_id=external_id, field="line_items")
    return tuple(
        OrderLineIn(sku=sku, bundle_sku=bundle_sku, quantity=row["qty"],
                    unit_price=(row["price"] / row["qty"]).quantize(CENT, rounding=ROUND_HALF_UP), price_total=row["price"],
                    discount=row["discount"], tax=row["tax"], name=row["name"][:255], channel_line_ids=tuple(row["ids"]),
                    is_bundle=row["bundle"], canceled_quantity=row["canceled"])
        for (bundle_sku, sku), row in [*grouped.items(), *components.items()]
    )


def shipping_address(order: dict) -> dict:
    """Stored as given (masked for platform logistics); district levels become country/state/city."""
    addr = order.get("recipient_address") or {}
    levels = {d.get("address_level"): d.get("address_name", "") for d in addr.get("district_info") or []}
    return {
        "name": addr.get("name", ""), "first_name": addr.get("first_name", ""), "last_name": addr.get("last_name", ""),
        "phone": addr.get("phone_number", ""), "address1": addr.get("address_line1", ""), "address2": addr.get("address_line2", ""),
        "address3": addr.get("address_line3", ""), "address4": addr.get("address_line4", ""),
        "city": levels.get("L3", "") or addr.get("post_town", ""), "state": levels.get("L1", ""), "country": levels.get("L0", ""),
        "country_code": addr.get("region_code", ""), "postal_code": addr.get("postal_code", ""),
        "full_address": addr.get("full_address", ""), "email": order.get("buyer_email", ""),
    }


def order_to_order_in(order: dict, *, virtual_bundles: bool = True) -> OrderIn:
    external_id = str(order.get("id") or "")
    if not external_id:
        raise PayloadError("order without id", field="id")
    status = order.get("status", "")
    platform = is_platform_fulfilled(order)
    mapped = (PLATFORM_STATUS_MAP if platform else STATUS_MAP).get(status)
    if mapped is None:
        raise PayloadError(f"unknown TikTok order status {status!r}", external_id=external_id, field="status")
    pay = order.get("payment") or {}

    def amount(key: str) -> Decimal:
        return money(pay.get(key), field=f"payment.{key}", external_id=external_id)

    tags = ["tiktok"]
    for flag, tag in (("is_sample_order", "sample"), ("is_cod", "cod"), ("is_replacement_order", "replacement"),
                      ("is_exchange_order", "exchange")):
        if order.get(flag):
            tags.append(tag)
    if order.get("shipping_type") == "TIKTOK":
        tags.append("tiktok-shipping")
    lines = order_lines(order, virtual_bundles=virtual_bundles)
    return OrderIn(
        external_id=external_id, channel_status=status, status=mapped, lines=lines,
        currency=pay.get("currency") or "USD",
        subtotal=amount("sub_total"), shipping_total=amount("shipping_fee"), tax_total=amount("tax"),
        discount_total=amount("seller_discount") + amount("platform_discount"), total=amount("total_amount"),
        fulfillment_type="platform" if platform else "seller", order_type=order.get("order_type", ""),
        ordered_at=epoch(order.get("create_time")), remote_updated_at=epoch(order.get("update_time")),
        buyer_external_id=str(order.get("user_id", "")), buyer_email=order.get("buyer_email", ""),
        buyer_message=order.get("buyer_message", ""), payment_method=order.get("payment_method_name", ""),
        shipping_address=shipping_address(order), shipping_method=order.get("delivery_option_name", ""),
        delivery_option_id=str(order.get("delivery_option_id", "")),
        ship_by=epoch(order.get("rts_sla_time")) or epoch(order.get("shipping_due_time")),
        deliver_by=epoch(order.get("delivery_sla_time")) or epoch(order.get("delivery_due_time")),
        tags=tuple(tags), payload_hash=payload_hash(order),
        # TikTok's cancellation source and reason travel with the order, so a new order that arrives already
        # cancelled (fully or some lines) keeps them.
        cancellations=tuple(_cancellations(order, external_id=external_id, status=mapped, lines=lines)),
    )


def cancellations_from_order(order: dict, order_in: OrderIn) -> list[CancellationIn]:
    """Buyer/platform/seller cancellations seen on a pulled order: the whole order (status CANCELLED),
    or one cancellation per cancelled TikTok line item (one unit each). External ids are stable, so
    re-pulls are idempotent and later cancellations add up without double counting."""
    return _cancellations(order, external_id=order_in.external_id, status=order_in.status, lines=order_in.lines)


def _cancellations(order: dict, *, external_id: str, status: str, lines: tuple[OrderLineIn, ...]) -> list[CancellationIn]:
    source = CANCEL_SOURCES.get(order.get("cancellation_initiator") or "", "platform")
    if status == "canceled":
        return [CancellationIn(source=source, reason=order.get("cancel_reason", ""), external_id=f"{external_id}:order",
                               status="completed", is_full=True)]
    result = []
    by_id = {line_id: line.sku for line in lines for line_id in line.channel_line_ids}
    for item in order.get("line_items") or []:
        if item.get("display_status") != "CANCELLED":
            continue
        item_id = str(item.get("id", ""))
        result.append(CancellationIn(
            source=CANCEL_SOURCES.get(item.get("cancel_user") or "", source), reason=item.get("cancel_reason", ""),
            external_id=f"{external_id}:line:{item_id}", status="completed", is_full=False,
            lines=(QuantityLineIn(sku=by_id.get(item_id, item.get("seller_sku", "")), quantity=1, external_line_id=item_id),)))
    return result
