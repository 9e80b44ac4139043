import pytest
from django.urls import reverse

from inventory.models import InventoryLedgerEntry, InventoryLevel, Location
from tests.orders import factories as f


@pytest.fixture
def fifty_levels(tpl):
    loc = f.location(tpl, "wh")
    for i in range(50):
        f.stock(loc, f.product(f"S{i}"), i + 1)
    return loc


@pytest.mark.parametrize("name", ["inventory_inventorylevel", "inventory_inventoryledgerentry", "inventory_location",
                                  "inventory_locationlink"])
def test_changelists_bounded(client, admin_user, fifty_levels, django_assert_max_num_queries, name):
    client.force_login(admin_user)
    with django_assert_max_num_queries(20):
        assert client.get(reverse(f"admin:{name}_changelist")).status_code == 200


def test_manual_edit_in_admin_is_ledgered_on_locked_location(client, admin_user, fifty_levels):
    fifty_levels.quantities_locked = True
    fifty_levels.save()
    level = InventoryLevel.objects.get(product__sku="S0")
    client.force_login(admin_user)
    response = client.post(reverse("admin:inventory_inventorylevel_change", args=[level.pk]), {"on_hand": 9})
    assert response.status_code == 302
    level.refresh_from_db()
    assert (level.on_hand, level.available) == (9, 9)
    assert InventoryLedgerEntry.objects.filter(product__sku="S0", reason="manual", delta=8).count() == 1


def test_lock_action(client, admin_user, fifty_levels):
    client.force_login(admin_user)
    client.post(reverse("admin:inventory_location_changelist"), {"action": "lock", "_selected_action": [fifty_levels.pk]})
    assert Location.objects.get(pk=fifty_levels.pk).quantities_locked is True


def test_adding_a_level_in_admin_is_ledgered(client, admin_user, tpl):
    loc = f.location(tpl, "wh")
    product = f.product("NEW")
    client.force_login(admin_user)
    response = client.post(reverse("admin:inventory_inventorylevel_add"), {"product": product.pk, "location": loc.pk, "on_hand": 4})
    assert response.status_code == 302
    level = InventoryLevel.objects.get()
    assert (level.on_hand, level.available) == (4, 4)
    assert list(InventoryLedgerEntry.objects.values_list("field", "delta", "reason")) == [("on_hand", 4, "manual")]
