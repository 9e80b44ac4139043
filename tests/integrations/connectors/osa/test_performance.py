"""Bounded queries per page: the inventory pull is bulk (independent of the number of SKUs)."""

import pytest

from catalog.models import Product
from inventory.models import InventoryLevel, Location

from .conftest import run_flow

pytestmark = pytest.mark.django_db


def _inventory_page(skus):
    return {
        "inventory": [
            {"sku": s, "location_code": "OSA-NJ", "location_type": "warehouse", "fulfillable": 7, "on_hand": 9} for s in skus
        ],
        "next_page": None,
    }


@pytest.mark.parametrize("count", [5, 100])
def test_inventory_pull_queries_do_not_grow_with_skus(osa_integration, osa_api, django_assert_max_num_queries, count):
    # given
    Location.objects.create(integration=osa_integration, code="osa-nj", name="OSA NJ", external_id="OSA-NJ")
    skus = [f"SKU-{i:04d}" for i in range(count)]
    Product.objects.bulk_create([Product(sku=s, name=s) for s in skus])
    osa_api.ok("GET", "/inventory", _inventory_page(skus))
    # when / then
    with django_assert_max_num_queries(45):
        run_flow(osa_integration, "pull_inventory")
    assert InventoryLevel.objects.filter(fulfillable=7).count() == count
