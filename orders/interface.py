"""Data crossing from connectors into the orders core (frozen dataclasses, no ORM).

Connector mappers produce these; orders.services consumes them. Amounts are Decimal."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from catalog.sku import sku_normalize


def _normalise_sku(line) -> None:
    """SKUs from any connector follow the catalog's one rule (catalog/sku.py) before they are matched."""
    object.__setattr__(line, "sku", sku_normalize(line.sku))


@dataclass(frozen=True)
class OrderLineIn:
    sku: str
    quantity: int
    unit_price: Decimal = Decimal("0")
    discount: Decimal = Decimal("0")
    tax: Decimal = Decimal("0")
    name: str = ""
    # Channel line ids aggregated into this line (TikTok sends one line item per unit).
    channel_line_ids: tuple[str, ...] = ()
    # True on an ordered bundle line whose components follow as lines with bundle_sku = this line's SKU.
    is_bundle: bool = False
    canceled_quantity: int = 0
    # A component of the ordered bundle line with this SKU (in the same OrderIn): routed, committed and shipped
    # in the bundle's place. Its quantity is a whole multiple of the bundle line's (units per bundle unit).
    bundle_sku: str = ""
    # Exact sum of the unit prices (before discount and tax) when the units' prices differ; default
    # unit_price × quantity. Line total = price_total − discount + tax, so it is never off by a rounded average.
    price_total: Decimal | None = None

    def __post_init__(self) -> None:
        _normalise_sku(self)


@dataclass(frozen=True)
class OrderIn:
    external_id: str
    channel_status: str
    # The local status the channel status maps to: one of orders.models.OrderStatus values
    # ("new", "onHold", "canceled", "fulfilled", "inTransit", "delivered", "closed"...). The core
    # decides the actual transition (holds, routing) from it.
    status: str
    lines: tuple[OrderLineIn, ...]
    currency: str = "USD"
    subtotal: Decimal = Decimal("0")
    shipping_total: Decimal = Decimal("0")
    tax_total: Decimal = Decimal("0")
    discount_total: Decimal = Decimal("0")
    total: Decimal = Decimal("0")
    fulfillment_type: str = "seller"  # "seller" | "platform"
    order_type: str = ""
    ordered_at: datetime | None = None
    remote_updated_at: datetime | None = None
    buyer_external_id: str = ""
    buyer_email: str = ""
    buyer_message: str = ""
    payment_method: str = ""
    shipping_address: dict = field(default_factory=dict)
    shipping_method: str = ""
    delivery_option_id: str = ""
    ship_by: datetime | None = None
    deliver_by: datetime | None = None
    tags: tuple[str, ...] = ()
    payload_hash: str = ""
    # Cancellations the channel reports on this order (source, reason, stable external ids): the full one when
    # the order is cancelled, or one per cancelled line. Used when the order is first created (or cancelled by
    # an update) so the channel's source and reason are kept; empty = "platform" with the channel status.
    cancellations: tuple[CancellationIn, ...] = ()


@dataclass(frozen=True)
class QuantityLineIn:
    sku: str
    quantity: int
    external_line_id: str = ""
    amount: Decimal = Decimal("0")

    def __post_init__(self) -> None:
        _normalise_sku(self)


@dataclass(frozen=True)
class CancellationIn:
    source: str  # buyer | platform | seller | fulfillment | user
    reason: str = ""
    external_id: str = ""
    status: str = "completed"
    is_full: bool = True
    lines: tuple[QuantityLineIn, ...] = ()


@dataclass(frozen=True)
class FulfillmentIn:
    external_id: str
    carrier: str = ""
    shipping_method: str = ""
    tracking_numbers: tuple[str, ...] = ()
    tracking_url: str = ""
    shipped_at: datetime | None = None
    lines: tuple[QuantityLineIn, ...] = ()  # empty = everything on the shipping request


@dataclass(frozen=True)
class ReturnIn:
    external_id: str
    order_external_id: str
    status: str
    return_type: str = ""
    reason: str = ""
    tracking_number: str = ""
    currency: str = "USD"
    refund_total: Decimal = Decimal("0")
    remote_created_at: datetime | None = None
    remote_updated_at: datetime | None = None
    lines: tuple[QuantityLineIn, ...] = ()


@dataclass(frozen=True)
class RefundIn:
    external_id: str
    order_external_id: str
    status: str
    refund_type: str = ""
    reason: str = ""
    currency: str = "USD"
    amount: Decimal = Decimal("0")
    return_external_id: str = ""
    remote_created_at: datetime | None = None
    lines: tuple[QuantityLineIn, ...] = ()


@dataclass
class UpsertResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[dict] = field(default_factory=list)  # {"external_id", "field", "message"}
    order_ids: dict[str, int] = field(default_factory=dict)  # external_id → Order pk of every order upserted
