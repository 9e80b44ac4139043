"""How the suite makes each flow of the registry do real work, and where a fault hits it.

Every flow of every registered connector must appear here, either in DRIVERS (the fault matrix drives it) or in
NOT_DRIVEN with the reason; tests/reliability/test_registry.py fails on a flow that is in neither, so a new
connector's flows (Katana, Acumatica) are covered or flagged the day they are registered."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from tests.reliability.world import ACU, KATANA, OSA, UK, US, WHOLESALE, World


@dataclass(frozen=True)
class Driver:
    prepare: Callable[[World], object]
    # Where the fault hits: the first call matching method + path regex during the run. Pushes aim at their
    # write, so "timeout after the remote accepted" means the remote really did the work.
    method: str = ""
    path: str = ".*"
    push: bool = False
    # The answer has no body to cut (Acumatica actions answer 202/204 empty): the malformed fault does not apply.
    bodyless: bool = False


def _nothing(world: World) -> None:
    return None


def _order(world: World):
    return world.place_order(("TEE-BLK-M", 2), ("CAP-RED", 1))


def _pulled(world: World):
    remote = _order(world)
    world.run(US, "pull_orders")
    return remote


def _routed(world: World):
    remote = _pulled(world)
    world.release_holds()
    return remote


def _sent(world: World):
    remote = _routed(world)
    world.run(OSA, "push_shipping_requests")
    return remote


def _shipped(world: World):
    remote = _sent(world)
    world.run(OSA, "pull_fulfillments")
    return remote


def _catalog_bound(world: World) -> None:
    if world.clock is not None:
        world.clock.tick(2)  # the pull's window ends a second before "now": listings seeded this second fall inside it
    world.run(US, "pull_products")  # TikTok product ids: what push_inventory addresses


def _local(remote):
    from orders.models import Order

    return Order.objects.get(external_id=remote.order_id)


def _hub_cancelled_before_sending(world: World):
    from orders.services import order_cancel

    remote = _pulled(world)
    order_cancel(order=_local(remote), reason="customer asked by phone")
    return remote


def _hub_cancelled_after_sending(world: World):
    from orders.services import order_cancel

    remote = _sent(world)
    order_cancel(order=_local(remote), reason="customer asked by phone")
    return remote


def _osa_cancelled(world: World):
    from integrations.connectors.osa import emulator
    from orders.models import ShippingRequest

    remote = _routed(world)
    sr = ShippingRequest.objects.get(order=_local(remote))
    world.account.__class__.objects.filter(pk=world.account.pk).update(accept_delay_seconds=3600)  # stays Waiting
    world.run(OSA, "push_shipping_requests")
    emulator.emulator_cancel_order(domain=world.account.domain, reference=sr.reference, reason="damaged in warehouse")
    return remote


# --- Katana and Acumatica: the same stages on another shop and downstream system -----------------------------------
# Katana: the UK shop's orders and stock; Acumatica: the US Wholesale shop's. enable_katana() / enable_acumatica()
# bring them into the world.

@dataclass(frozen=True)
class DownstreamStages:
    """An order's stages on a channel routed to a downstream ERP/MRP: placed, routed, sent, shipped there, cancelled
    in the hub after it was sent."""

    enable: str  # the World method that joins the pipeline to the world
    place: str  # the World method that places and pays an order in the channel's emulated shop
    channel: str  # the channel integration's name
    downstream: str  # the downstream integration's name
    ships: str  # the World method with which the downstream system ships everything open

    def nothing(self, world: World) -> None:
        getattr(world, self.enable)()

    def routed(self, world: World):
        getattr(world, self.enable)()
        remote = getattr(world, self.place)(("TEE-BLK-M", 2), ("CAP-RED", 1))
        world.run(self.channel, "pull_orders")
        world.release_holds()
        return remote

    def sent(self, world: World):
        remote = self.routed(world)
        world.run(self.downstream, "push_orders")
        return remote

    def shipped(self, world: World):
        remote = self.sent(world)
        getattr(world, self.ships)()
        return remote

    def hub_cancelled_after_sending(self, world: World):
        from orders.services import order_cancel

        remote = self.sent(world)
        order_cancel(order=_local(remote), reason="customer asked by phone")
        return remote


KATANA_STAGES = DownstreamStages("enable_katana", "place_uk_order", UK, KATANA, "katana_ships")
ACUMATICA_STAGES = DownstreamStages("enable_acumatica", "place_wholesale_order", WHOLESALE, ACU, "acumatica_ships")
_katana_nothing, _katana_routed, _katana_sent = KATANA_STAGES.nothing, KATANA_STAGES.routed, KATANA_STAGES.sent
_katana_delivered, _katana_hub_cancelled_after_sending = KATANA_STAGES.shipped, KATANA_STAGES.hub_cancelled_after_sending
_acu_nothing, _acu_routed, _acu_sent = ACUMATICA_STAGES.nothing, ACUMATICA_STAGES.routed, ACUMATICA_STAGES.sent
_acu_shipped, _acu_hub_cancelled_after_sending = ACUMATICA_STAGES.shipped, ACUMATICA_STAGES.hub_cancelled_after_sending


def _acu_settings(world: World, **values) -> None:
    from integrations import services

    integration = world.acu_integration
    services.integration_update_settings(integration=integration, values={**integration.settings, **values})


def _acu_refunded(world: World):
    """An order Acumatica shipped is refunded on the channel: one line, one unit (refunds switched on)."""
    from decimal import Decimal

    from orders.models import Refund, RefundLine

    remote = _acu_shipped(world)
    _acu_settings(world, push_refunds=True)
    order = _local(remote)
    line = order.lines.get(sku="CAP-RED")
    refund = Refund.objects.create(order=order, integration=order.integration, external_id=f"RF-{order.external_id}",
                                   status="completed", amount=line.unit_price)
    RefundLine.objects.create(refund=refund, order_line=line, sku=line.sku, quantity=1, amount=line.unit_price)
    return remote


def _acu_inventory_to_push(world: World) -> None:
    """Inventory direction switched to push; the hub counts 150 tees at MAIN, Acumatica 200: one adjustment of −50."""
    from inventory.models import InventoryLevel

    world.enable_acumatica()
    _acu_settings(world, inventory_direction="push")
    InventoryLevel.objects.filter(location__integration=world.acu_integration, product__sku="TEE-BLK-M").update(
        on_hand=150, fulfillable=150, available=150)


def _acu_location_to_push(world: World) -> None:
    """Locations direction switched to push; a new hub location of Acumatica's without a WarehouseID."""
    from inventory.models import Location

    world.enable_acumatica()
    _acu_settings(world, locations_direction="push")
    Location.objects.create(integration=world.acu_integration, code="acu-west", name="West coast")


DRIVERS: dict[tuple[str, str], Driver] = {
    ("tiktok", "pull_orders"): Driver(_order),
    ("tiktok", "pull_locations"): Driver(_nothing),
    ("tiktok", "pull_products"): Driver(_nothing),
    ("tiktok", "pull_returns"): Driver(_nothing),
    ("tiktok", "pull_refunds"): Driver(_nothing),
    ("tiktok", "pull_statements"): Driver(_nothing),
    ("tiktok", "push_fulfillments"): Driver(_shipped, method="POST", path=r"/fulfillment/", push=True),
    ("tiktok", "push_cancellations"): Driver(_hub_cancelled_before_sending, method="POST", path=r"/cancellations", push=True),
    ("tiktok", "push_inventory"): Driver(_catalog_bound, method="POST", path=r"/inventory/update", push=True),
    ("osa", "push_shipping_requests"): Driver(_routed, method="POST", path=r"/orders$", push=True),
    ("osa", "cancel_shipping_requests"): Driver(_hub_cancelled_after_sending, method="POST", path=r"/cancel$", push=True),
    ("osa", "pull_order_statuses"): Driver(_osa_cancelled),
    ("osa", "pull_fulfillments"): Driver(_sent),
    ("osa", "pull_inventory"): Driver(_nothing),
    ("osa", "pull_locations"): Driver(_nothing),
    ("osa", "pull_returns"): Driver(_nothing),
    ("osa", "pull_receipts"): Driver(_nothing),
    ("osa", "push_products"): Driver(_nothing, method="POST", path=r"/products", push=True),
    ("katana", "push_orders"): Driver(_katana_routed, method="POST", path=r"/sales_orders$", push=True),
    ("katana", "cancel_orders"): Driver(_katana_hub_cancelled_after_sending, method="DELETE", path=r"/sales_orders/\d+$", push=True),
    ("katana", "pull_fulfillments"): Driver(_katana_delivered),
    ("katana", "pull_products"): Driver(_katana_nothing),
    ("katana", "pull_locations"): Driver(_katana_nothing),
    ("katana", "pull_inventory"): Driver(_katana_nothing),
    ("acumatica", "push_orders"): Driver(_acu_routed, method="PUT", path=r"/SalesOrder$", push=True),
    ("acumatica", "cancel_orders"): Driver(_acu_hub_cancelled_after_sending, method="POST", path=r"/CancelSalesOrder$", push=True,
                                             bodyless=True),
    ("acumatica", "push_refunds"): Driver(_acu_refunded, method="PUT", path=r"/SalesOrder$", push=True),
    ("acumatica", "pull_shipping_requests"): Driver(_acu_shipped),
    ("acumatica", "pull_fulfillments"): Driver(_acu_shipped),
    ("acumatica", "pull_products"): Driver(_acu_nothing),
    ("acumatica", "pull_inventory"): Driver(_acu_nothing),
    ("acumatica", "push_inventory"): Driver(_acu_inventory_to_push, method="PUT", path=r"/InventoryAdjustment$", push=True),
    ("acumatica", "pull_locations"): Driver(_acu_nothing),
    ("acumatica", "push_locations"): Driver(_acu_location_to_push, method="PUT", path=r"/Warehouse$", push=True),
}

NOT_DRIVEN: dict[tuple[str, str], str] = {
    ("tiktok", "push_products"): "needs a complete TikTok listing (category, images, attributes): no remote call in this world",
    ("tiktok", "prepare_products"): "readiness check only, makes no remote call",
    ("tiktok", "push_refunds"): "needs a return awaiting a seller refund decision: not seeded yet",
    ("tiktok", "push_buyer_messages"): "needs buyer-message templates and conversations: not seeded yet",
    ("tiktok", "push_order_cards"): "needs order-card settings and conversations: not seeded yet",
    ("osa", "push_returns"): "needs an RMA to send: not seeded yet",
    ("osa", "push_arrivals"): "needs an arrival (ASN) to send: not seeded yet",
    ("katana", "push_fbt_orders"): "off by default; tests/integrations/connectors/katana covers it",
}
