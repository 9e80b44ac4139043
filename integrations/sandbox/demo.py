"""One-command demo: emulated TikTok shops (US, UK) and OSA account, the integrations connected to them,
catalog, locations, inventory, hold and routing rules, flows on short intervals and generated traffic.

`demo_seed()` is idempotent: a second call creates nothing twice (it only tops up traffic when the shops
have been quiet for a while)."""
from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from integrations.models import FlowState, Integration
from integrations.sandbox import services as emu
from integrations.sandbox.generator import orders_generate
from integrations.sandbox.models import EmuApp, EmuOrder, EmuShop, EmuSku

log = logging.getLogger(__name__)

US_NAME, UK_NAME, OSA_NAME, KATANA_NAME = "TikTok US", "TikTok UK", "OSA (sandbox)", "Katana (sandbox)"
KATANA_ACCOUNT = "sandbox-demo"
KATANA_DELIVER_AFTER_SECONDS = 20
DEMO_APP_KEY = "sandbox-demo-app"
OSA_DOMAIN = "sandbox-demo"
HOLD_MINUTES = 1
FLOW_INTERVAL = timedelta(seconds=30)
ORDERS_PER_SHOP = 24
ORDERS_PER_MINUTE = 4

# Catalog: a tee with variants, a cap, and a bundle of both (sold on TikTok as its own SKU).
VARIANTS = [("TEE-BLK-M", "Black, M", "19.99", 6), ("TEE-BLK-L", "Black, L", "19.99", 4), ("TEE-WHT-M", "White, M", "18.99", 3)]
SIMPLE = [("CAP-RED", "Cap, red", "12.50", 3)]
BUNDLE = ("BUNDLE-TEE-CAP", "Tee + cap bundle", "29.99", 1, [("TEE-BLK-M", 1), ("CAP-RED", 1)])
STOCK = 200

TIKTOK_FLOWS = ("pull_orders", "push_fulfillments", "push_cancellations", "pull_locations", "pull_products", "push_inventory",
                "pull_returns", "pull_refunds", "pull_statements")
KATANA_FLOWS = ("push_orders", "cancel_orders", "pull_fulfillments", "pull_products", "pull_locations", "pull_inventory")
OSA_FLOWS = ("push_shipping_requests", "cancel_shipping_requests", "pull_order_statuses", "pull_fulfillments", "pull_inventory",
             "pull_locations")


def demo_seed(*, traffic: bool = True, katana: bool = True, acumatica: bool = True, product_push: bool = True) -> str:
    """`traffic=False`: everything but the generated orders (the soak test drives its own traffic). `katana=False`:
    no Katana integration (UK orders go to OSA, as before Katana existed). `acumatica=False`: without the third shop
    routed to the Acumatica emulator. `product_push=False`: no catalog products pushed to the US shop (a listed
    product without stock would be ordered by generated traffic and never route). The soak passes all three: its
    checks model OSA, with stock for every listed SKU, as the only fulfillment source."""
    if not settings.SANDBOX_ENABLED:
        return ""
    notes: list[str] = []
    app = _app()
    us_shop = _shop(app, "Sandbox Shop US", "US", "USD")
    uk_shop = _shop(app, "Sandbox Shop UK", "GB", "GBP")
    _catalog(notes)
    osa = _osa(notes, extra_skus=[sku for sku, *_ in PUSH_PRODUCTS] if product_push else [])
    us = _tiktok_us(app, us_shop, notes)
    if product_push:
        _product_push(us, notes)
    _flows(us, TIKTOK_FLOWS)  # US fully set up first: the UK integration is its imported copy
    uk = _tiktok_uk(app, uk_shop, us, notes)
    if product_push:
        _product_push_us_only(uk)
    katana_location = _katana(uk, notes) if katana else None
    # With Katana, the UK shop's orders and stock are Katana's; the US shop stays on OSA.
    osa_channels = [(us, us_shop)] if katana_location is not None else [(us, us_shop), (uk, uk_shop)]
    osa_location = _locations(osa, osa_channels, notes)
    _inventory(osa_location, notes, extra_skus=[sku for sku, *_ in PUSH_PRODUCTS] if product_push else [])
    _rules(osa_location, notes)
    if katana_location is not None:
        _katana_links(katana_location, uk_shop, uk, notes)
        for shop_integration in (us, uk):  # stock per linked location: OSA's to the US shop, Katana's to the UK shop
            _settings_apply(shop_integration, {"inventory_total_to_default_warehouse": False})
    _mappings(osa, uk, notes)
    _flows(uk, TIKTOK_FLOWS)  # no-op when the import carried the flow schedules over
    if osa:
        _flows(osa, OSA_FLOWS)
    if katana_location is not None:
        _flows(katana_location.integration, KATANA_FLOWS)
    acu_shop = _acumatica_demo(app, notes) if acumatica else None
    if not traffic:
        return "Sandbox demo: " + "; ".join(notes)
    created = _traffic([us_shop, uk_shop] + ([acu_shop] if acu_shop else []))
    notes.append(f"{created} sandbox orders scheduled" if created else "sandbox traffic already flowing")
    return "Sandbox demo: " + "; ".join(notes)


# --- emulated side ---

def _app() -> EmuApp:
    app = EmuApp.objects.filter(app_key=DEMO_APP_KEY).first()
    if app is None:
        app = emu.app_ensure(app_key=DEMO_APP_KEY, app_secret=secrets.token_urlsafe(24),
                             redirect_url=f"{settings.SITE_URL.rstrip('/')}/integrations/tiktok/callback/")
    return app


def _shop(app: EmuApp, name: str, region: str, currency: str) -> EmuShop:
    shop = EmuShop.objects.filter(app=app, name=name).first()
    if shop is not None:
        return shop
    # Short remorse window and carrier delays so a demo order goes end to end in about two minutes.
    shop = emu.shop_create(app=app, name=name, region=region, currency=currency, remorse_seconds=30, pay_after_seconds=3,
                           transit_after_seconds=20, deliver_after_seconds=40, qps=20)
    weights = {sku: w for sku, _, _, w in VARIANTS + SIMPLE}
    emu.product_create(shop=shop, title="Basic Tee", skus=[
        {"seller_sku": sku, "name": label, "price": price, "quantity": STOCK, "weight": weights[sku]} for sku, label, price, _ in VARIANTS])
    emu.product_create(shop=shop, title="Cap", skus=[
        {"seller_sku": sku, "name": label, "price": price, "quantity": STOCK, "weight": w} for sku, label, price, w in SIMPLE])
    # The bundle is a virtual bundle (combined listing) made of the tee and the cap.
    parts = {s.seller_sku: s for s in EmuSku.objects.filter(product__shop=shop).select_related("product")}
    combined = [{"sku_id": parts[sku].sku_id, "sku_count": qty, "product_id": parts[sku].product.product_id, "seller_sku": sku}
                for sku, qty in BUNDLE[4]]
    emu.product_create(shop=shop, title=BUNDLE[1], skus=[
        {"seller_sku": BUNDLE[0], "name": "", "price": BUNDLE[2], "quantity": STOCK, "weight": BUNDLE[3], "combined": combined}])
    return shop


def _traffic(shops: list[EmuShop]) -> int:
    """Orders spread over the next minutes; skipped while the shops already have recent or upcoming orders."""
    recent = emu.now_ts() - 600
    created = 0
    for shop in shops:
        if EmuOrder.objects.filter(shop=shop, create_time__gte=recent).exists():
            continue
        result = orders_generate(shop=shop, count=ORDERS_PER_SHOP, per_minute=ORDERS_PER_MINUTE, cancel_share=0.1,
                                 edit_share=0.1, return_share=0.1)
        created += result.created
    return created


# --- Switchyard side ---

def _catalog(notes: list[str]) -> None:
    from catalog.models import BundleComponent, Product

    parent, _ = Product.objects.get_or_create(sku="TEE", defaults={"name": "Basic Tee", "kind": Product.Kind.PARENT})
    for sku, label, price, _w in VARIANTS:
        color, size = label.split(", ")
        Product.objects.get_or_create(sku=sku, defaults={"name": f"Basic Tee {label}", "kind": Product.Kind.VARIANT, "parent": parent,
                                                         "price": price, "variant_options": {"color": color, "size": size}})
    for sku, label, price, _w in SIMPLE:
        Product.objects.get_or_create(sku=sku, defaults={"name": label, "kind": Product.Kind.SIMPLE, "price": price})
    bundle, _ = Product.objects.get_or_create(sku=BUNDLE[0], defaults={"name": BUNDLE[1], "kind": Product.Kind.BUNDLE, "price": BUNDLE[2]})
    for sku, qty in BUNDLE[4]:
        BundleComponent.objects.get_or_create(bundle=bundle, component=Product.objects.get(sku=sku), defaults={"quantity": qty})
    notes.append("catalog: tee with 3 variants, cap, bundle")


def _osa(notes: list[str], *, extra_skus: list[str]) -> Integration | None:
    """The OSA integration on the emulator: stock for every SKU the shops list (`extra_skus`: the products the demo
    pushes to TikTok, so an order for them routes). Only OSA's warehouses report inventory ("Process inventory
    information only for these locations types"): the managed network is no routing target, so it is neither linked
    to TikTok nor counted (its stock would otherwise be an unlinked location's, raised as an exception)."""
    try:
        from integrations.connectors.osa import emulator as osa_emulator
        from integrations.connectors.osa import settings as osa_settings
    except ImportError:
        notes.append("no OSA connector installed: no fulfillment integration")
        return None
    from integrations import services

    skus = [s for s, *_ in VARIANTS + SIMPLE] + list(extra_skus)
    existing = Integration.objects.filter(name=OSA_NAME).first()
    if existing is not None:
        return existing
    account = osa_emulator.emulator_seed(domain=OSA_DOMAIN, skus=skus, quantity=STOCK, accept_delay_seconds=5, ship_delay_seconds=15)
    integration = services.integration_create(
        name=OSA_NAME, connector="osa", environment="sandbox",
        credentials={"api_key": account.api_key, "api_secret": account.api_secret, "osa_domain": OSA_DOMAIN})
    _settings_apply(integration, {"inventory_location_types": osa_settings.LOCATION_TYPE_WAREHOUSE})
    notes.append("OSA integration on the OSA emulator")
    return integration


def _tiktok_settings() -> dict:
    return {"pull_orders": True, "push_fulfillments": True, "cancel_push": True}


def _connect(integration: Integration, shop: EmuShop) -> None:
    """Issue tokens from the emulator and bind the shop with the TikTok connector's own services
    (the same writes its OAuth callback makes; the browser hop is skipped because the server is not up yet)."""
    from integrations.connectors.tiktok.auth import shop_bind
    from integrations.connectors.tiktok.tokens import tokens_store

    tokens_store(integration=integration, data=emu.token_set_direct(shop=shop))
    shop_bind(integration=integration, shop={"id": shop.shop_id, "name": shop.name, "region": shop.region, "cipher": shop.cipher,
                                             "code": shop.code, "seller_type": shop.seller_type})


def _credentials(app: EmuApp) -> dict:
    return {"app_key": app.app_key, "app_secret": app.app_secret, "service_id": app.service_id}


def _settings_apply(integration: Integration, values: dict) -> None:
    from integrations import services
    from integrations.schema import validate_settings

    wanted = {k: v for k, v in values.items() if k in {s.key for s in integration.spec.settings}}
    try:
        validate_settings(integration.spec, {**integration.settings, **wanted})
    except Exception as exc:  # noqa: BLE001 - a setting renamed by the connector must not break the demo
        log.warning("demo settings not applied: %s", exc)
        return
    services.integration_update_settings(integration=integration, values={**integration.settings, **wanted}, summary="demo seed")


def _tiktok_us(app: EmuApp, shop: EmuShop, notes: list[str]) -> Integration:
    from integrations import services

    integration = Integration.objects.filter(name=US_NAME).first()
    if integration is None:
        integration = services.integration_create(name=US_NAME, connector="tiktok", environment="sandbox", credentials=_credentials(app))
        _settings_apply(integration, _tiktok_settings())
    if not integration.remote_account_id:
        _connect(integration, shop)
    notes.append(f"{US_NAME} connected to {shop.name}")
    return integration


def _tiktok_uk(app: EmuApp, shop: EmuShop, us: Integration, notes: list[str]) -> Integration:
    return _tiktok_copy(app, shop, us, UK_NAME, notes)


def _tiktok_copy(app: EmuApp, shop: EmuShop, us: Integration, name: str, notes: list[str]) -> Integration:
    """A TikTok integration set up by importing the US integration's configuration, connected to `shop`."""
    integration = Integration.objects.filter(name=name).first()
    if integration is None:
        try:
            from integrations.configuration import configuration_export, configuration_import

            content = configuration_export(integration=us)
            integration, _plan = configuration_import(content=content, new_name=name)
            notes.append(f"{name} set up by importing the {US_NAME} configuration")
        except ImportError:
            from integrations import services

            integration = services.integration_create(name=name, connector="tiktok", environment="sandbox",
                                                      settings=dict(us.settings))
            notes.append(f"{name} set up by copying settings (no configuration helper)")
        Integration.objects.filter(pk=integration.pk).update(environment="sandbox")
        integration.refresh_from_db()
        integration.set_credentials(_credentials(app))
        integration.save(update_fields=["credentials_encrypted"])
    if not integration.remote_account_id:
        _connect(integration, shop)
    return integration


def _locations(osa: Integration | None, channels: list[tuple[Integration, EmuShop]], notes: list[str]):
    """TikTok warehouses and OSA locations as Switchyard locations (the same upsert their location flows use),
    linked OSA's default warehouse (New Jersey, the routing target) → each TikTok warehouse. Only that one is linked:
    orders are routed nowhere else, so publishing the managed network's stock too would show TikTok twice the units
    (issue 15: 333–380 on TikTok against 200 at New Jersey)."""
    from inventory.models import Location, LocationLink
    from inventory.services import locations_upsert_from_remote

    if osa is not None:
        from integrations.connectors.osa.models import EmuLocation

        emulated = list(EmuLocation.objects.filter(account__domain=OSA_DOMAIN).order_by("-is_default", "id"))
        kinds = {"managed": "3pl_managed"}  # as the OSA locations flow maps them
        # As the OSA locations flow maps them: OSA reports Fulfillable stock (inventory.services).
        rows = [{"external_id": loc.code, "name": loc.name, "is_default": loc.is_default, "kind": kinds.get(loc.type, "warehouse"),
                 "address": loc.address, "reports_fulfillable": True} for loc in emulated]
        sources = locations_upsert_from_remote(integration=osa, locations=rows)
        source = sources[0]  # the default warehouse: the routing target
    else:
        source, _ = Location.objects.get_or_create(code="demo-warehouse", defaults={"name": "Demo warehouse", "is_default": True})
    for integration, shop in channels:
        rows = [{"external_id": w.warehouse_id, "name": w.name, "is_default": w.is_default, "address": w.address}
                for w in shop.warehouses.order_by("id")]
        for target in locations_upsert_from_remote(integration=integration, locations=rows):
            LocationLink.objects.get_or_create(source=source, target=target)
    notes.append(f"locations linked: {source.name} → TikTok warehouses")
    return source


def _inventory(location, notes: list[str], *, extra_skus: list[str]) -> None:
    """The hub's levels at the routing warehouse as OSA holds them (the same SKUs `_osa` stocks), before any pull."""
    from inventory.models import InventoryLevel
    from inventory.services import inventory_levels_set

    if InventoryLevel.objects.filter(location=location).exists():
        return
    skus = [sku for sku, *_ in VARIANTS + SIMPLE] + list(extra_skus)
    if location.reports_fulfillable:  # the OSA emulator's figures: STOCK on hand, none committed
        inventory_levels_set(location=location, quantities={sku: {"on_hand": STOCK, "fulfillable": STOCK} for sku in skus},
                             reason="demo seed", basis="fulfillable")
    else:
        inventory_levels_set(location=location, quantities={sku: {"on_hand": STOCK} for sku in skus}, reason="demo seed")
    notes.append(f"inventory: {STOCK} of each SKU at {location.name}")


@transaction.atomic
def _rules(location, notes: list[str]) -> None:
    from orders.models import HoldRule, RoutingRule, RoutingRuleLocation

    HoldRule.objects.get_or_create(name="Demo: hold TikTok orders 1 minute",
                                   defaults={"connector": "tiktok", "minutes": HOLD_MINUTES, "priority": 10})
    rule, _ = RoutingRule.objects.get_or_create(name="Demo: route to the fulfillment warehouse", defaults={"position": 10})
    RoutingRuleLocation.objects.get_or_create(rule=rule, location=location, defaults={"rank": 1})
    notes.append(f"hold rule ({HOLD_MINUTES} min) and routing rule")


def _mappings(osa: Integration | None, uk: Integration, notes: list[str]) -> None:
    """OSA needs a shipping method for TikTok's delivery option; the UK shop's carriers differ from OSA's US ones."""
    from integrations.models import Mapping

    rows = [(uk, Mapping.Kind.CARRIER, "USPS", "Royal Mail"), (uk, Mapping.Kind.CARRIER, "UPS", "DPD UK")]
    if osa is not None:
        rows += [(osa, Mapping.Kind.SHIPPING_METHOD, "Standard shipping", "standard")]
    for integration, kind, source, target in rows:
        Mapping.objects.get_or_create(integration=integration, kind=kind, source=source, defaults={"target": target})
    notes.append("shipping method and carrier mappings")


def _flows(integration: Integration, codes: tuple[str, ...]) -> None:
    from integrations import services

    services.flow_states_ensure(integration=integration)
    known = {f.code: f for f in integration.spec.flows}
    switches = {known[c].enable_setting: True for c in codes if c in known and known[c].enable_setting}
    if switches:
        _settings_apply(integration, switches)
    FlowState.objects.filter(integration=integration, flow__in=[c for c in codes if c in known]).exclude(
        enabled=True, interval=FLOW_INTERVAL).update(enabled=True, interval=FLOW_INTERVAL, next_run_at=timezone.now())


# --- more shops (issue 14: the scale-out benchmark) ---

SCALE_SHOP_NAME, SCALE_CHANNEL_NAME = "Sandbox Shop {n:02d}", "TikTok {n:02d}"


def demo_shops_add(*, total: int) -> list[Integration]:
    """After `demo_seed(katana=False, …)`: more emulated US shops until `total` TikTok shops exist, each its own
    TikTok integration (an import of the US integration's configuration), its warehouse linked from OSA's routing
    warehouse, its flows on the demo's interval. The demo's hold rule, routing rule and OSA shipping-method mapping
    apply to every TikTok order, so nothing else is needed. Idempotent; returns the added shops' integrations."""
    us = Integration.objects.get(name=US_NAME)
    osa = Integration.objects.get(name=OSA_NAME)
    app = _app()
    existing = EmuShop.objects.filter(app=app).count()
    notes: list[str] = []
    channels = []
    for n in range(existing + 1, total + 1):
        shop = _shop(app, SCALE_SHOP_NAME.format(n=n), "US", "USD")
        channels.append((_tiktok_copy(app, shop, us, SCALE_CHANNEL_NAME.format(n=n), notes), shop))
    if channels:
        _locations(osa, channels, notes)
    for integration, _shop_row in channels:
        _flows(integration, TIKTOK_FLOWS)
    return [integration for integration, _ in channels]


# --- product push (issue 16): catalog products pushed to the emulated US shop ---

PUSH_PRODUCTS = [
    # (sku, name, category (emulator), description, image, price, custom fields): the tote is complete and is listed;
    # the blocks lack what their category requires, so "Prepare for Product Push to TikTok" stores the problems
    # and "Export Incomplete Products" lists them.
    ("TOTE-NAT", "Canvas Tote Bag, natural, with double handles for every day", "824712",
     "<p>Sturdy canvas tote.</p><ul><li>Double handles</li></ul>", "tote", "24.00", {"material": "Canvas"}),
    ("BLOCKS-100", "Building Blocks, 100 pieces, bright colours for young builders", "700645",
     "<p>100 building blocks.</p>", "blocks", "29.00", {}),
]


def _product_push(us: Integration, notes: list[str]) -> None:
    from catalog.models import Product

    base = settings.SITE_URL.rstrip("/")
    for sku, name, category, description, image, price, fields in PUSH_PRODUCTS:
        Product.objects.get_or_create(sku=sku, defaults={
            "name": name, "kind": Product.Kind.SIMPLE, "category": category, "description_html": description,
            "images": [f"{base}/integrations/sandbox/images/{image}.png"], "price": price, "weight": "0.5", "weight_unit": "lb",
            "custom_fields": fields})
    _settings_apply(us, {"product_update_skus": [sku for sku, *_ in PUSH_PRODUCTS]})
    _flows(us, ("prepare_products", "push_products"))
    notes.append(f"product push: {', '.join(sku for sku, *_ in PUSH_PRODUCTS)} to {US_NAME}")


def _product_push_us_only(uk: Integration) -> None:
    """The UK copy carries the same settings; its channel sync is off for these products (US-priced)."""
    from catalog.models import ChannelOption, Product

    for product in Product.objects.filter(sku__in=[sku for sku, *_ in PUSH_PRODUCTS]):
        ChannelOption.objects.update_or_create(integration=uk, product=product, defaults={"sync_enabled": False})


# --- Katana (the UK shop's orders) ---

def _katana(uk: Integration, notes: list[str]):
    """A Katana integration on the Katana emulator (API key mode), its location and stock; returns the location
    UK orders are routed to."""
    from integrations import services
    from integrations.connectors.katana import emulator as katana_emulator
    from inventory.services import inventory_levels_set, locations_upsert_from_remote

    integration = Integration.objects.filter(name=KATANA_NAME).first()
    if integration is None:
        from catalog.models import Product

        names = dict(Product.objects.filter(sku__in=[s for s, *_ in VARIANTS + SIMPLE]).values_list("sku", "name"))
        account = katana_emulator.emulator_seed(
            name=KATANA_ACCOUNT, api_key=f"katana-demo-{secrets.token_urlsafe(12)}", quantity=STOCK,
            deliver_after_seconds=KATANA_DELIVER_AFTER_SECONDS, locations=[{"name": "Katana UK warehouse"}],
            variants=[{"sku": sku, "name": names.get(sku, label), "price": price} for sku, label, price, _ in VARIANTS + SIMPLE])
        integration = services.integration_create(name=KATANA_NAME, connector="katana", environment="sandbox",
                                                  credentials={"api_key": account.api_key})
        _settings_apply(integration, {"channel_integrations": [UK_NAME], "inventory_buffer_minutes": 1})
        notes.append("Katana integration on the Katana emulator (UK shop orders)")
    # As "Pull locations from Katana" maps them (the emulator's location 1).
    [location] = locations_upsert_from_remote(integration=integration, locations=[
        {"external_id": "1", "name": "Katana UK warehouse", "kind": "warehouse", "is_default": True, "reports_fulfillable": True}])
    from inventory.models import InventoryLevel

    if not InventoryLevel.objects.filter(location=location).exists():
        inventory_levels_set(location=location, reason="demo seed", basis="fulfillable", quantities={
            sku: {"on_hand": STOCK, "fulfillable": STOCK} for sku, *_ in VARIANTS + SIMPLE})
    return location


@transaction.atomic
def _katana_links(location, uk_shop: EmuShop, uk: Integration, notes: list[str]) -> None:
    """Katana location → the UK TikTok warehouses (its stock reaches TikTok UK); a routing rule sends UK orders there."""
    from inventory.models import LocationLink
    from inventory.services import locations_upsert_from_remote
    from orders.models import RoutingRule, RoutingRuleLocation

    rows = [{"external_id": w.warehouse_id, "name": w.name, "is_default": w.is_default, "address": w.address}
            for w in uk_shop.warehouses.order_by("id")]
    for target in locations_upsert_from_remote(integration=uk, locations=rows):
        LocationLink.objects.get_or_create(source=location, target=target)
    rule, _ = RoutingRule.objects.get_or_create(name="Demo: TikTok UK orders to Katana",
                                                defaults={"position": 5, "integration": uk})
    RoutingRuleLocation.objects.get_or_create(rule=rule, location=location, defaults={"rank": 1})
    notes.append("routing rule: TikTok UK → Katana; Katana stock → TikTok UK")
# --- Acumatica: a third TikTok shop whose orders go to the Acumatica emulator ---

ACU_SHOP_NAME, ACU_CHANNEL_NAME, ACU_NAME = "Sandbox Shop US Wholesale", "TikTok US Wholesale", "Acumatica (sandbox)"
ACU_CLIENT_ID = "sandbox-demo-client@SandboxTenant"
ACU_FLOWS = ("push_orders", "cancel_orders", "pull_shipping_requests", "pull_fulfillments", "pull_products", "pull_inventory",
             "pull_locations")


def _acumatica_demo(app: EmuApp, notes: list[str]) -> EmuShop | None:
    """The third shop routes to the Acumatica emulator. Its orders use TikTok's "Standard shipping", which has no Ship Via
    mapping yet: they wait as one cause ("Standard shipping" has no Ship Via mapping) until the mapping is added
    (Standard shipping → UPSGROUND) and Re-drive is pressed. The shipment Acumatica creates then shows on the shipping
    request, and its tracking reaches the emulated shop (carrier UPSGROUND mapped to TikTok's UPS)."""
    try:
        from integrations.connectors.acumatica import emulator as acu_emulator
    except ImportError:
        return None
    from integrations import services
    from integrations.models import Mapping
    from inventory.models import LocationLink
    from inventory.services import inventory_levels_set, locations_upsert_from_remote
    from orders.models import RoutingRule, RoutingRuleLocation

    shop = _shop(app, ACU_SHOP_NAME, "US", "USD")
    channel = Integration.objects.filter(name=ACU_CHANNEL_NAME).first()
    if channel is None:
        channel = services.integration_create(name=ACU_CHANNEL_NAME, connector="tiktok", environment="sandbox",
                                              credentials=_credentials(app))
        _settings_apply(channel, _tiktok_settings())
    if not channel.remote_account_id:
        _connect(channel, shop)
    _flows(channel, TIKTOK_FLOWS)
    acu = Integration.objects.filter(name=ACU_NAME).first()
    if acu is None:
        instance = acu_emulator.emulator_seed(
            name="sandbox-demo", client_id=ACU_CLIENT_ID, client_secret=secrets.token_urlsafe(24), customers=("TIKTOK",),
            ship_vias=("UPSGROUND", "FEDEX2DAY"), payment_methods=("TTS",), warehouses=(("MAIN", "Main warehouse"),),
            items=[s for s, *_ in VARIANTS + SIMPLE], quantity=STOCK, ship_delay_seconds=20, action_polls=1)
        acu = services.integration_create(
            name=ACU_NAME, connector="acumatica",
            settings={"push_orders": True, "generic_customer_id": "TIKTOK", "order_sources": [ACU_CHANNEL_NAME], "mark_sent_to_fulfillment": True,
                      "push_canceled_orders": True, "pull_fulfillments": True, "pull_shipping_requests": True,
                      "pull_products": True, "inventory_direction": "pull", "locations_direction": "pull"},
            credentials={"api_url": f"{settings.SITE_URL.rstrip('/')}/integrations/acumatica/sandbox",
                         "client_id": instance.client_id, "client_secret": instance.client_secret})
        _acumatica_connect(acu, instance)
        Mapping.objects.get_or_create(integration=acu, kind=Mapping.Kind.PAYMENT_METHOD, source="*", defaults={"target": "TTS"})
        Mapping.objects.get_or_create(integration=channel, kind=Mapping.Kind.CARRIER, source="UPSGROUND", defaults={"target": "UPS"})
    location = locations_upsert_from_remote(integration=acu, locations=[
        {"external_id": "MAIN", "name": "Acumatica Main warehouse", "is_default": False, "kind": "warehouse"}])[0]
    for target in locations_upsert_from_remote(integration=channel, locations=[
            {"external_id": w.warehouse_id, "name": w.name, "is_default": w.is_default, "address": w.address}
            for w in shop.warehouses.order_by("id")]):
        LocationLink.objects.get_or_create(source=location, target=target)
    if not location.inventory_levels.exists():
        inventory_levels_set(location=location, quantities={sku: {"on_hand": STOCK, "fulfillable": STOCK}
                                                            for sku, *_ in VARIANTS + SIMPLE},
                             reason="demo seed", basis="fulfillable")
    rule, _ = RoutingRule.objects.get_or_create(name="Demo: US Wholesale shop to Acumatica",
                                                defaults={"position": 5, "integration": channel})
    RoutingRuleLocation.objects.get_or_create(rule=rule, location=location, defaults={"rank": 1})
    # The settings above switch these flows on (the dropdowns hold a direction, not True): short intervals only.
    FlowState.objects.filter(integration=acu, flow__in=ACU_FLOWS).exclude(interval=FLOW_INTERVAL).update(
        interval=FLOW_INTERVAL, next_run_at=timezone.now())
    notes.append(f"{ACU_CHANNEL_NAME} routed to {ACU_NAME} (add the Ship Via mapping “Standard shipping” → UPSGROUND, "
                 "then Re-drive)")
    return shop


def _acumatica_connect(integration: Integration, instance) -> None:
    """Tokens from the emulator's identity server through the connector's own store (the same writes its OAuth
    callback makes; the browser hop is skipped because the server is not up yet)."""
    from integrations import services
    from integrations.connectors.acumatica import emulator as acu_emulator
    from integrations.connectors.acumatica.tokens import redirect_uri, tokens_store

    approved = acu_emulator.authorize(client_id=instance.client_id, redirect_uri=redirect_uri(), state="demo",
                                      scope="api offline_access")
    code = approved.split("code=", 1)[1].split("&", 1)[0]
    data = acu_emulator.token(form={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri(),
                                    "client_id": instance.client_id, "client_secret": instance.client_secret})
    tokens_store(integration=integration, data=data)
    services.integration_mark_connected(integration=integration)
