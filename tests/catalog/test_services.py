"""Catalog services: binding remote listings to master SKUs, push bookkeeping, readiness selectors."""
import pytest

from catalog import selectors, services
from catalog.models import ChannelOption, Product
from integrations import services as integration_services


@pytest.fixture
def shop(db):
    return integration_services.integration_create(name="TikTok A", connector="tiktok")


def test_bind_remote_creates_updates_and_reports_unknown(shop, django_assert_max_num_queries):
    red = Product.objects.create(sku="RED", name="Red")
    blue = Product.objects.create(sku="BLUE", name="Blue")
    ChannelOption.objects.create(product=blue, integration=shop, remote_sku_id="old")
    rows = [{"seller_sku": "RED", "product_id": "P1", "sku_id": "S1", "status": "ACTIVATE", "warehouse_ids": ["W2", "W1"]},
            {"seller_sku": "BLUE", "product_id": "P1", "sku_id": "S2", "status": "ACTIVATE", "warehouse_ids": []},
            {"seller_sku": "GHOST", "product_id": "P9", "sku_id": "S9", "status": "ACTIVATE", "warehouse_ids": []}]

    with django_assert_max_num_queries(6):
        created, updated, unchanged, unknown = services.channel_options_bind_remote(integration=shop, remote_skus=rows)

    assert (created, updated, unchanged, unknown) == (1, 1, 0, ["GHOST"])
    assert ChannelOption.objects.get(product=red).remote_warehouse_ids == ["W1", "W2"]
    assert ChannelOption.objects.get(product=blue).remote_sku_id == "S2"
    assert services.channel_options_bind_remote(integration=shop, remote_skus=rows)[:3] == (0, 0, 2)


def test_bind_remote_with_nothing_known_changes_nothing(shop):
    assert services.channel_options_bind_remote(integration=shop, remote_skus=[{"seller_sku": "X"}]) == (0, 0, 0, ["X"])
    assert not ChannelOption.objects.exists()


def test_record_push_clears_problems_and_keeps_ids(shop):
    product = Product.objects.create(sku="RED", name="Red")
    option = ChannelOption.objects.create(product=product, integration=shop, readiness_problems=[{"field": "images", "message": "x"}])

    services.channel_option_record_push(option=option, fingerprint="abc", remote_product_id="P1", remote_sku_id="S1",
                                        listing_status="PENDING")

    option.refresh_from_db()
    assert (option.last_pushed_fingerprint, option.remote_product_id, option.remote_sku_id, option.listing_status) == (
        "abc", "P1", "S1", "PENDING")
    assert option.readiness_problems == [] and option.last_pushed_at is not None


def test_selectors_skip_parents_and_disabled_items(shop):
    parent = Product.objects.create(sku="TEE", kind="parent", name="Tee")
    red = Product.objects.create(sku="TEE-RED", kind="variant", parent=parent, name="Red")
    off = Product.objects.create(sku="OFF", name="Off")
    ChannelOption.objects.create(product=off, integration=shop, sync_enabled=False, remote_sku_id="S")
    ChannelOption.objects.create(product=red, integration=shop, remote_sku_id="S1", readiness_problems=[{"field": "x", "message": "y"}])

    assert list(selectors.products_for_channel_push(integration=shop)) == [red]
    assert [o.product for o in selectors.channel_options_for_inventory(integration=shop)] == [red]
    assert [o.product for o in selectors.channel_options_incomplete(integration=shop)] == [red]


def test_channel_sync_switched_off_for_another_integration_does_not_hide_the_product(shop):
    other = integration_services.integration_create(name="TikTok UK", connector=shop.connector)
    tote = Product.objects.create(sku="TOTE", name="Tote")
    ChannelOption.objects.create(product=tote, integration=shop)  # on here
    ChannelOption.objects.create(product=tote, integration=other, sync_enabled=False)  # off for the other shop only

    assert list(selectors.products_for_channel_push(integration=shop)) == [tote]
    assert list(selectors.products_for_channel_push(integration=other)) == []
