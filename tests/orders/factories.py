"""Shared builders for order-operations tests: a fake channel, a fake 3PL (with managed routing), products,
locations, stock, and OrderIn payloads."""
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from catalog.models import BundleComponent, Product
from integrations import registry, services as integration_services
from inventory import services as inventory_services
from inventory.models import Location, LocationLink
from orders.interface import OrderIn, OrderLineIn
from orders.models import RoutingRule, RoutingRuleLocation

CHANNEL_SPEC = registry.ConnectorSpec(code="ops_channel", label="Ops channel", role=registry.CHANNEL, settings=(), credentials=())
THREE_PL_SPEC = registry.ConnectorSpec(
    code="ops_3pl", label="Ops 3PL", role=registry.FULFILLMENT, credentials=(),
    settings=(registry.SettingSpec("managed", "Force managed routing", "General", registry.BOOL, default=False),),
    extra={"managed_routing_setting": "managed"},
)


def register():
    registry.register(CHANNEL_SPEC)
    registry.register(THREE_PL_SPEC)


def unregister():
    registry.unregister("ops_channel")
    registry.unregister("ops_3pl")


def channel(name="Shop US"):
    return integration_services.integration_create(name=name, connector="ops_channel")


def three_pl(name="3PL", managed=False):
    return integration_services.integration_create(name=name, connector="ops_3pl", settings={"managed": managed})


def product(sku, kind=Product.Kind.SIMPLE):
    return Product.objects.create(sku=sku, name=sku, kind=kind)


def bundle(sku, parts):
    b = product(sku, Product.Kind.BUNDLE)
    for comp, qty in parts:
        BundleComponent.objects.create(bundle=b, component=comp, quantity=qty)
    return b


def location(integration, code, **kw):
    return Location.objects.create(integration=integration, code=code, name=code, external_id=code, **kw)


def link(source, target):
    return LocationLink.objects.create(source=source, target=target)


def stock(loc, prod, qty):
    if qty:
        inventory_services.inventory_receive(location=loc, product=prod, quantity=qty, reference="test")


def rule(name, locations, position=1, **kw):
    r = RoutingRule.objects.create(name=name, position=position, **kw)
    for rank, loc in enumerate(locations, start=1):
        RoutingRuleLocation.objects.create(rule=r, location=loc, rank=rank)
    return r


def order_in(external_id="O-1", lines=(("A", 1),), status="new", minutes_ago=0, **kw):
    return OrderIn(external_id=external_id, channel_status=kw.pop("channel_status", "AWAITING_SHIPMENT"), status=status,
                   lines=tuple(OrderLineIn(sku=sku, quantity=qty, unit_price=Decimal("10.00")) for sku, qty in lines),
                   ordered_at=timezone.now() - timedelta(minutes=minutes_ago), **kw)
