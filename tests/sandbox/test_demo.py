"""demo_seed(): everything the demo needs, created once."""
from integrations.models import FlowState, Integration
from integrations.sandbox.demo import demo_seed
from integrations.sandbox.models import EmuOrder, EmuShop, EmuToken


def _counts():
    from catalog.models import Product
    from inventory.models import InventoryLevel, Location, LocationLink
    from orders.models import HoldRule, RoutingRule

    return {"integrations": Integration.objects.count(), "shops": EmuShop.objects.count(), "orders": EmuOrder.objects.count(),
            "tokens": EmuToken.objects.count(), "products": Product.objects.count(), "locations": Location.objects.count(),
            "links": LocationLink.objects.count(), "levels": InventoryLevel.objects.count(), "holds": HoldRule.objects.count(),
            "routing": RoutingRule.objects.count(), "flows": FlowState.objects.count()}


def test_demo_seed_sets_everything_up(db, settings):
    settings.SANDBOX_ENABLED = True
    message = demo_seed()
    assert message.startswith("Sandbox demo:")
    us, uk = Integration.objects.get(name="TikTok US"), Integration.objects.get(name="TikTok UK")
    assert us.environment == uk.environment == "sandbox"
    shops = {s.name: s for s in EmuShop.objects.all()}
    assert us.remote_account_id == shops["Sandbox Shop US"].shop_id and uk.remote_account_id == shops["Sandbox Shop UK"].shop_id
    assert us.remote_state["shop_cipher"] == shops["Sandbox Shop US"].cipher
    assert us.get_credentials()["app_key"] == uk.get_credentials()["app_key"] == "sandbox-demo-app"
    assert FlowState.objects.get(integration=us, flow="pull_orders").enabled
    assert EmuOrder.objects.filter(shop__name="Sandbox Shop US").count() == 24
    from catalog.models import Product

    assert Product.objects.get(sku="BUNDLE-TEE-CAP").components.count() == 2
    assert Product.objects.filter(parent__sku="TEE").count() == 3


def test_demo_seed_is_idempotent(db, settings):
    settings.SANDBOX_ENABLED = True
    demo_seed()
    before = _counts()
    demo_seed()
    assert _counts() == before


def test_demo_seed_does_nothing_without_sandbox(db, settings):
    settings.SANDBOX_ENABLED = False
    assert demo_seed() == ""
    assert not Integration.objects.exists() and not EmuShop.objects.exists()


def test_uk_is_an_import_of_the_us_configuration(db, settings):
    settings.SANDBOX_ENABLED = True
    demo_seed()
    us, uk = Integration.objects.get(name="TikTok US"), Integration.objects.get(name="TikTok UK")
    assert uk.settings == us.settings
    from integrations.models import SettingsChange

    assert SettingsChange.objects.filter(integration=uk, source=SettingsChange.Source.IMPORT).exists()
    flows = lambda i: {(f.flow, f.enabled, f.interval) for f in FlowState.objects.filter(integration=i)}  # noqa: E731
    assert flows(uk) == flows(us)


def test_demo_publishes_only_the_routing_warehouse_to_tiktok(db, settings):
    """The README's figure: TikTok shows New Jersey's 200 (less commitments), not both OSA locations' 400."""
    from inventory.models import LocationLink
    from inventory.selectors import channel_quantities

    settings.SANDBOX_ENABLED = True
    demo_seed(traffic=False)
    # Each shop is fed by the one warehouse its orders are routed to (OSA's managed network is not linked).
    links = set(LocationLink.objects.values_list("source__name", "target__integration__name"))
    assert links == {("OSA New Jersey", "TikTok US"), ("Katana UK warehouse", "TikTok UK"),
                     ("Acumatica Main warehouse", "TikTok US Wholesale")}
    us = Integration.objects.get(name="TikTok US")
    figures = [q for per_location in channel_quantities(integration=us).values() for q in per_location.values()]
    assert figures and max(figures) <= 200


def _serve_site_from_the_test_client(responses, site_url: str) -> None:
    """The demo's connectors call the sandbox at SITE_URL: answer those calls with Django's test client."""
    import re
    from urllib.parse import urlsplit

    from django.test import Client

    client = Client()

    def forward(request):
        parts = urlsplit(request.url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in request.headers.items()
                   if k.lower() not in ("content-type", "content-length", "host")}
        response = client.generic(request.method, path, data=request.body or b"", content_type="application/json", **headers)
        return response.status_code, {}, response.content

    for method in ("GET", "POST", "PUT", "DELETE", "PATCH"):
        responses.add_callback(method, re.compile(re.escape(site_url.rstrip("/")) + r"/.*"), callback=forward)


def test_demo_osa_inventory_reaches_the_hub_for_every_listed_sku_without_an_unlinked_location(db, settings, responses):
    """The pushed tote has stock at OSA (an order for it routes), and OSA's managed network, which is not linked to
    TikTok, is not processed (no "location not linked" exception in a fresh demo)."""
    from integrations import services
    from integrations.models import OpsException, SyncRun
    from inventory.models import InventoryLevel

    settings.SANDBOX_ENABLED = True
    demo_seed(traffic=False, katana=False, acumatica=False)
    _serve_site_from_the_test_client(responses, settings.SITE_URL)
    osa = Integration.objects.get(connector="osa")
    assert osa.settings["inventory_location_types"] == "warehouse"

    run = services.flow_run(flow_state=osa.flow_states.get(flow="pull_inventory"))

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert not OpsException.objects.filter(code="location_not_linked").exists()
    tote = InventoryLevel.objects.get(location__name="OSA New Jersey", product__sku="TOTE-NAT")
    assert (tote.fulfillable, tote.available) == (200, 200)
    assert not InventoryLevel.objects.filter(location__name="OSA managed network").exists()


def test_demo_without_product_push_stocks_no_unlisted_product_at_osa(db, settings):
    from integrations.connectors.osa.models import EmuStock

    settings.SANDBOX_ENABLED = True
    demo_seed(traffic=False, katana=False, acumatica=False, product_push=False)
    assert not EmuStock.objects.filter(sku="TOTE-NAT").exists()
    assert EmuStock.objects.filter(sku="CAP-RED", location_code="OSA-NJ").values_list("on_hand", flat=True).get() == 200


def test_demo_shops_add_connects_more_shops_like_the_uk_one(db, settings):
    """The scale-out benchmark's shops: each its own TikTok integration (an import of the US configuration, connected to
    its emulated shop), fed by OSA's routing warehouse, with the demo's flows; idempotent."""
    from datetime import timedelta

    from inventory.models import LocationLink
    from integrations.sandbox.demo import TIKTOK_FLOWS, demo_shops_add

    settings.SANDBOX_ENABLED = True
    demo_seed(traffic=False, katana=False, acumatica=False, product_push=False)
    # when
    added = demo_shops_add(total=4)
    # then
    assert [i.name for i in added] == ["TikTok 03", "TikTok 04"]
    shops = {s.name: s for s in EmuShop.objects.all()}
    assert sorted(shops) == ["Sandbox Shop 03", "Sandbox Shop 04", "Sandbox Shop UK", "Sandbox Shop US"]
    us = Integration.objects.get(name="TikTok US")
    for integration, shop in zip(added, ("Sandbox Shop 03", "Sandbox Shop 04")):
        integration.refresh_from_db()
        assert integration.remote_account_id == shops[shop].shop_id
        assert integration.settings == us.settings
        enabled = set(FlowState.objects.filter(integration=integration, enabled=True, interval=timedelta(seconds=30))
                      .values_list("flow", flat=True))
        assert enabled == set(TIKTOK_FLOWS)
    links = set(LocationLink.objects.values_list("source__name", "target__integration__name"))
    assert links == {("OSA New Jersey", name) for name in ("TikTok US", "TikTok UK", "TikTok 03", "TikTok 04")}
    before = _counts()
    assert demo_shops_add(total=4) == []
    assert _counts() == before
