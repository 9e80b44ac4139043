"""Product push: held-back changes are sent once updates are allowed (#17 item 2); SKU patterns match the
product's own SKU and its OSA Channel SKU (#17 item 3)."""

import pytest

from catalog.models import ChannelOption, Product
from integrations.connectors.osa.models import EmuProduct

from .conftest import run_flow, settings_set

pytestmark = pytest.mark.django_db


def test_change_made_while_updates_are_off_is_sent_once_updates_are_allowed(osa_integration, emulator, products):
    # given: pushed once with updates off (SKU-1/2 already at OSA), then renamed while updates are still off
    settings_set(osa_integration, push_products=True, allow_product_updates=False)
    EmuProduct.objects.filter(sku="SKU-1").update(data={"sku": "SKU-1", "name": "Blue mug"})
    run_flow(osa_integration, "push_products")
    products[0].name = "Blue mug XL"
    products[0].save()
    blocked = run_flow(osa_integration, "push_products")
    assert EmuProduct.objects.get(sku="SKU-1").data["name"] == "Blue mug"
    assert "Allow updating products in OSA" in blocked.note
    # when: updates are allowed
    settings_set(osa_integration, allow_product_updates=True)
    sent = run_flow(osa_integration, "push_products")
    again = run_flow(osa_integration, "push_products")
    # then: every pending change is sent once (the renamed product, and SKU-2 whose OSA copy was never ours)
    assert EmuProduct.objects.get(sku="SKU-1").data["name"] == "Blue mug XL"
    assert (sent.updated, sent.created) == (2, 0)
    assert (again.updated, again.unchanged, again.api_calls) == (0, 2, 0)


def test_blocked_change_is_not_recorded_as_sent(osa_integration, emulator, products):
    # given: updates off, a product pushed by us, then changed twice
    settings_set(osa_integration, push_products=True, allow_product_updates=False)
    Product.objects.create(sku="SKU-3", name="Green mug")
    run_flow(osa_integration, "push_products")
    Product.objects.filter(sku="SKU-3").update(name="Green mug v2")
    run_flow(osa_integration, "push_products")
    # when
    settings_set(osa_integration, allow_product_updates=True)
    run = run_flow(osa_integration, "push_products")
    # then
    assert EmuProduct.objects.get(sku="SKU-3").data["name"] == "Green mug v2"
    assert run.updated == 3  # SKU-3 changed; SKU-1/2 were at OSA before and never sent by us


def test_product_sku_patterns_match_the_products_own_sku_and_its_osa_channel_sku(osa_integration, emulator, products):
    # given: ABC-1's OSA SKU is OSA-ABC-1; XYZ-1's OSA SKU is ABC-9; XYZ-2 matches neither
    abc = Product.objects.create(sku="ABC-1", name="a")
    ChannelOption.objects.create(product=abc, integration=osa_integration, channel_sku="OSA-ABC-1")
    xyz = Product.objects.create(sku="XYZ-1", name="x")
    ChannelOption.objects.create(product=xyz, integration=osa_integration, channel_sku="ABC-9")
    Product.objects.create(sku="XYZ-2", name="y")
    settings_set(osa_integration, push_products=True, product_sku_patterns=["ABC-*"])
    # when
    run_flow(osa_integration, "push_products")
    # then
    assert set(EmuProduct.objects.values_list("sku", flat=True)) == {"SKU-1", "SKU-2", "OSA-ABC-1", "ABC-9"}
