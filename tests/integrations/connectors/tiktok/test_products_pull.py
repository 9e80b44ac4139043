"""Products pull: TikTok SKUs matched to master SKUs, remote ids recorded, unknown SKUs reported."""
from catalog.models import ChannelOption, Product
from integrations import services
from integrations.connectors.tiktok import endpoints_catalog as ep
from integrations.connectors.tiktok import paging
from integrations.models import OpsException

FX = "catalog/"


def run(integration, flow):
    return services.flow_run(flow_state=integration.flow_states.get(flow=flow))


def test_pull_matches_skus_across_pages_and_reports_unknown(tiktok_integration, tiktok_api):
    red = Product.objects.create(sku="TEE-RED-M", name="Tee red")
    blue = Product.objects.create(sku="TEE-BLUE-M", name="Tee blue")
    tiktok_api.fixture("POST", ep.PATH_PRODUCTS_SEARCH, FX + "products_search__page1.json")
    tiktok_api.fixture("POST", ep.PATH_PRODUCTS_SEARCH, FX + "products_search__page2.json")

    sync = run(tiktok_integration, "pull_products")

    assert sync.pages == 2 and sync.created == 2 and sync.failed == 1
    assert sync.errors == [{"external_id": "MUG-UNKNOWN", "field": "seller_sku",
                            "message": "TikTok SKU 'MUG-UNKNOWN' has no master SKU in Switchyard"}]
    red_option = ChannelOption.objects.get(product=red, integration=tiktok_integration)
    assert (red_option.remote_product_id, red_option.remote_sku_id, red_option.listing_status) == (
        "1729592969712203232", "1729592969712207013", "ACTIVATE")
    assert red_option.remote_warehouse_ids == ["7068517275539719942", "7068517275539719943"]
    assert ChannelOption.objects.get(product=blue).remote_sku_id == "1729592969712207014"
    assert OpsException.objects.get(code="unknown_sku").message == "TikTok SKU 'MUG-UNKNOWN' does not match any master SKU"
    second_call = tiktok_api.calls_to(ep.PATH_PRODUCTS_SEARCH)[1]
    assert tiktok_api.query(second_call)["page_token"] == "b2Zmc2V0PTE="


def test_rerun_changes_nothing_and_reads_incrementally(tiktok_integration, tiktok_api):
    Product.objects.create(sku="TEE-RED-M", name="Tee red")
    Product.objects.create(sku="TEE-BLUE-M", name="Tee blue")
    for _ in range(2):
        tiktok_api.fixture("POST", ep.PATH_PRODUCTS_SEARCH, FX + "products_search__page1.json")
        tiktok_api.fixture("POST", ep.PATH_PRODUCTS_SEARCH, FX + "products_search__page2.json")
    first = run(tiktok_integration, "pull_products")

    second = run(tiktok_integration, "pull_products")

    assert second.created == 0 and second.updated == 0 and second.unchanged == 2
    assert ChannelOption.objects.filter(integration=tiktok_integration).count() == 2
    assert OpsException.objects.get(code="unknown_sku").count == 2
    third_body = tiktok_api.body(tiktok_api.calls_to(ep.PATH_PRODUCTS_SEARCH)[2])
    assert first.cursor_after == {"since": paging.window_end(first.started_at)}
    assert third_body["update_time_ge"] == first.cursor_after["since"] - 120  # the flow's overlap
    assert third_body["update_time_le"] == paging.window_end(second.started_at) - 1
    assert "update_time_ge" not in tiktok_api.body(tiktok_api.calls_to(ep.PATH_PRODUCTS_SEARCH)[0])


def test_pull_does_not_touch_other_integrations_options(tiktok_integration, tiktok_api):
    other = services.integration_create(name="TikTok UK", connector="tiktok")
    red = Product.objects.create(sku="TEE-RED-M", name="Tee red")
    ChannelOption.objects.create(product=red, integration=other, remote_sku_id="UK-1")
    tiktok_api.fixture("POST", ep.PATH_PRODUCTS_SEARCH, FX + "products_search__page2.json")

    run(tiktok_integration, "pull_products")

    assert ChannelOption.objects.get(integration=other).remote_sku_id == "UK-1"


def test_webhook_targeted_run_reads_only_that_product_and_keeps_the_cursor(tiktok_integration, tiktok_api):
    red = Product.objects.create(sku="TEE-RED-M", name="Tee red")
    state = tiktok_integration.flow_states.get(flow="pull_products")
    state.cursor = {"since": 1749600000}
    state.save()
    tiktok_api.ok("GET", ep.PATH_PRODUCT.format(product_id="1729592969712203232"), data={
        "id": "1729592969712203232", "status": "SELLER_DEACTIVATED",
        "skus": [{"id": "1729592969712207013", "seller_sku": "TEE-RED-M", "inventory": [{"warehouse_id": "W1", "quantity": 1}]}]})

    sync = services.flow_run(flow_state=state, trigger="webhook", params={"product_ids": ["1729592969712203232"]})

    assert sync.created == 1 and tiktok_api.calls_to(ep.PATH_PRODUCTS_SEARCH) == []
    assert ChannelOption.objects.get(product=red).listing_status == "SELLER_DEACTIVATED"
    state.refresh_from_db()
    assert state.cursor == {"since": 1749600000}


def test_unknown_sku_exception_resolves_once_the_master_sku_exists(tiktok_integration, tiktok_api):
    Product.objects.create(sku="TEE-RED-M", name="Tee red")
    Product.objects.create(sku="TEE-BLUE-M", name="Tee blue")
    for _ in range(2):
        tiktok_api.fixture("POST", ep.PATH_PRODUCTS_SEARCH, FX + "products_search__page1.json")
        tiktok_api.fixture("POST", ep.PATH_PRODUCTS_SEARCH, FX + "products_search__page2.json")
    run(tiktok_integration, "pull_products")
    assert OpsException.objects.get(code="unknown_sku").status == "open"
    assert not OpsException.objects.filter(code="record_skipped").exists()  # one exception per cause, not two
    Product.objects.create(sku="MUG-UNKNOWN", name="Mug")
    services.flow_state_force_resync(flow_state=tiktok_integration.flow_states.get(flow="pull_products"))
    second = run(tiktok_integration, "pull_products")
    assert second.failed == 0
    assert OpsException.objects.get(code="unknown_sku").status == "resolved"
