"""A stock change at a linked source location asks the TikTok inventory push to run at once (integrations/
inventory_chain.py): the new figure reaches TikTok in the same worker pass, not on the push's next poll."""
import pytest

from catalog.models import ChannelOption, Product
from integrations import services
from integrations.connectors.tiktok import endpoints_catalog as ep
from integrations.models import FlowState, SyncRun
from inventory.models import InventoryLevel, Location, LocationLink
from inventory.services import inventory_levels_set

WH1 = "7068517275539719942"
PRODUCT_ID = "1729592969712203232"
BLUE_SKU_ID = "1729592969712207014"
UPDATE_PATH = ep.PATH_INVENTORY_UPDATE.format(product_id=PRODUCT_ID)


@pytest.fixture
def linked(tiktok_integration):
    wh1 = Location.objects.create(integration=tiktok_integration, code="tt-wh1", name="LA Pickup", external_id=WH1,
                                  is_default=True)
    main = Location.objects.create(code="osa-main", name="OSA Main")
    LocationLink.objects.create(source=main, target=wh1)
    blue = Product.objects.create(sku="TEE-BLUE-M", name="Tee blue")
    ChannelOption.objects.create(product=blue, integration=tiktok_integration, remote_product_id=PRODUCT_ID,
                                 remote_sku_id=BLUE_SKU_ID, remote_warehouse_ids=[WH1], listing_status="ACTIVATE",
                                 last_pushed_inventory={WH1: 3})
    InventoryLevel.objects.create(product=blue, location=main, on_hand=3, available=3)
    # Per linked location (the default sends the total of every location to the default warehouse: see below).
    publish(tiktok_integration, total=False)
    return {"main": main, "blue": blue}


def publish(integration, *, total: bool) -> None:
    services.integration_update_settings(integration=integration, values={
        **integration.settings, "push_inventory": True, "inventory_total_to_default_warehouse": total})
    integration.refresh_from_db()
    assert FlowState.objects.get(integration=integration, flow="push_inventory").enabled


def test_a_stock_change_at_a_linked_source_pushes_the_new_quantity_at_once(
        tiktok_integration, tiktok_api, linked, django_capture_on_commit_callbacks):
    # given
    tiktok_api.fixture("POST", UPDATE_PATH, "catalog/inventory_update__ok.json")
    # when
    with django_capture_on_commit_callbacks(execute=True):
        inventory_levels_set(location=linked["main"], quantities={"TEE-BLUE-M": {"on_hand": 1}}, reason="test")
    # then: one targeted push run (tasks run inline in tests), which sent the new figure
    run = SyncRun.objects.get(integration=tiktok_integration, flow="push_inventory")
    assert (run.status, run.trigger, run.updated) == ("succeeded", "webhook", 1)
    assert run.note == f"targeted: {{'source_location_ids': ['{linked['main'].pk}']}}"
    assert [tiktok_api.body(c) for c in tiktok_api.calls_to(UPDATE_PATH)] == [
        {"skus": [{"id": BLUE_SKU_ID, "inventory": [{"warehouse_id": WH1, "quantity": 1}]}]}]
    assert ChannelOption.objects.get(product=linked["blue"]).last_pushed_inventory == {WH1: 1}
    state = FlowState.objects.get(integration=tiktok_integration, flow="push_inventory")
    assert (state.pending_params, state.pending_inflight, state.pending_run_at) == ({}, {}, None)


def test_an_unchanged_figure_asks_nothing(tiktok_integration, tiktok_api, linked, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        inventory_levels_set(location=linked["main"], quantities={"TEE-BLUE-M": {"on_hand": 3}}, reason="test")

    assert not SyncRun.objects.filter(flow="push_inventory").exists()
    assert FlowState.objects.get(integration=tiktok_integration, flow="push_inventory").pending_params == {}
    assert tiktok_api.calls_to(UPDATE_PATH) == []


def test_a_disabled_push_is_not_asked(tiktok_integration, tiktok_api, linked, django_capture_on_commit_callbacks):
    FlowState.objects.filter(integration=tiktok_integration, flow="push_inventory").update(enabled=False)

    with django_capture_on_commit_callbacks(execute=True):
        inventory_levels_set(location=linked["main"], quantities={"TEE-BLUE-M": {"on_hand": 1}}, reason="test")

    assert not SyncRun.objects.filter(flow="push_inventory").exists()
    assert FlowState.objects.get(integration=tiktok_integration, flow="push_inventory").pending_params == {}


def test_an_unlinked_location_asks_nothing(tiktok_integration, tiktok_api, linked, django_capture_on_commit_callbacks):
    LocationLink.objects.all().delete()

    with django_capture_on_commit_callbacks(execute=True):
        inventory_levels_set(location=linked["main"], quantities={"TEE-BLUE-M": {"on_hand": 1}}, reason="test")

    assert not SyncRun.objects.filter(flow="push_inventory").exists()


def test_a_shop_publishing_totals_is_asked_for_any_location_in_the_total(
        tiktok_integration, tiktok_api, linked, django_capture_on_commit_callbacks):
    # given: totals mode, and the changed location is not linked to the shop
    tiktok_api.fixture("POST", UPDATE_PATH, "catalog/inventory_update__ok.json")
    publish(tiktok_integration, total=True)
    LocationLink.objects.all().delete()
    # when
    with django_capture_on_commit_callbacks(execute=True):
        inventory_levels_set(location=linked["main"], quantities={"TEE-BLUE-M": {"on_hand": 1}}, reason="test")
    # then
    run = SyncRun.objects.get(integration=tiktok_integration, flow="push_inventory")
    assert (run.status, run.updated) == ("succeeded", 1)
    assert ChannelOption.objects.get(product=linked["blue"]).last_pushed_inventory == {WH1: 1}


def test_a_location_left_out_of_totals_asks_nothing(tiktok_integration, tiktok_api, linked,
                                                    django_capture_on_commit_callbacks):
    publish(tiktok_integration, total=True)
    Location.objects.filter(pk=linked["main"].pk).update(exclude_from_totals=True)
    linked["main"].refresh_from_db()

    with django_capture_on_commit_callbacks(execute=True):
        inventory_levels_set(location=linked["main"], quantities={"TEE-BLUE-M": {"on_hand": 1}}, reason="test")

    assert not SyncRun.objects.filter(flow="push_inventory").exists()
