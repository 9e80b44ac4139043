"""inventory.services / selectors: levels from remotes, ledger, lock, availability, channel quantities."""
import pytest

from integrations.models import OpsException
from inventory import selectors, services
from inventory.models import ChannelInventoryPolicy, InventoryLedgerEntry, InventoryLevel, Location
from tests.orders import factories as f


def test_locations_upsert_from_remote_is_idempotent(tpl):
    rows = [{"external_id": "W1", "name": "East", "kind": "warehouse", "address": {"city": "NYC"}, "is_default": True}]
    first = services.locations_upsert_from_remote(integration=tpl, locations=rows)
    second = services.locations_upsert_from_remote(integration=tpl, locations=[{**rows[0], "name": "East 2"}])
    assert first[0].pk == second[0].pk
    loc = Location.objects.get()
    assert (loc.name, loc.is_default, loc.address, loc.code) == ("East 2", True, {"city": "NYC"}, "3pl-w1")


def test_levels_set_writes_ledger_and_available(wh, sku_a):
    applied = services.inventory_levels_set(location=wh, quantities={"A": {"on_hand": 7, "fulfillable": 6}}, reason="osa sync")
    services.inventory_levels_set(location=wh, quantities={"A": {"on_hand": 7, "fulfillable": 6}}, reason="osa sync")
    services.inventory_levels_set(location=wh, quantities={"A": {"on_hand": 4}}, reason="osa sync")
    level = InventoryLevel.objects.get()
    assert applied == 1
    assert (level.on_hand, level.fulfillable, level.available) == (4, 6, 4)
    assert sorted(InventoryLedgerEntry.objects.values_list("field", "delta", "quantity_after", "reason")) == [
        ("fulfillable", 6, 6, "osa sync"), ("on_hand", -3, 4, "osa sync"), ("on_hand", 7, 7, "osa sync")]


def test_levels_set_skips_locked_location(wh, sku_a):
    wh.quantities_locked = True
    wh.save()
    assert services.inventory_levels_set(location=wh, quantities={"A": {"on_hand": 7}}, reason="sync") == 0
    assert InventoryLevel.objects.count() == 0
    assert InventoryLedgerEntry.objects.count() == 0


def test_manual_edit_on_locked_location_is_allowed_and_ledgered(wh, sku_a, admin_user):
    f.stock(wh, sku_a, 5)
    wh.quantities_locked = True
    wh.save()
    services.inventory_level_set_manual(level=InventoryLevel.objects.get(), on_hand=2, user=admin_user)
    assert InventoryLevel.objects.get().on_hand == 2
    assert InventoryLedgerEntry.objects.filter(reason="manual", delta=-3, reference="user root").count() == 1


def test_levels_set_unknown_sku_raises_one_inventory_exception(wh, sku_a):
    services.inventory_levels_set(location=wh, quantities={"A": {"on_hand": 1}, "GHOST": {"on_hand": 2}}, reason="sync")
    services.inventory_levels_set(location=wh, quantities={"GHOST": {"on_hand": 2}}, reason="sync")
    exc = OpsException.objects.get()
    assert (exc.category, exc.code, exc.count, exc.cause_key) == ("inventory", "unknown_sku", 2, "sku:GHOST")
    assert InventoryLevel.objects.count() == 1


def test_levels_set_rejects_bad_quantities_and_changes_nothing(wh, sku_a):
    with pytest.raises(ValueError):
        services.inventory_levels_set(location=wh, quantities={"A": {"on_hand": 3}, "B": {"on_hand": -1}}, reason="sync")
    assert InventoryLevel.objects.count() == 0


def test_commit_beyond_available_is_refused(wh, sku_a):
    f.stock(wh, sku_a, 2)
    with pytest.raises(services.InsufficientInventory):
        services.inventory_commit(location=wh, product=sku_a, quantity=3)
    level = InventoryLevel.objects.get()
    assert (level.committed, level.available) == (0, 2)
    assert InventoryLedgerEntry.objects.filter(field="committed").count() == 0


def test_ship_release_consume_arithmetic(wh, sku_a):
    f.stock(wh, sku_a, 10)
    services.inventory_commit(location=wh, product=sku_a, quantity=6)
    services.inventory_ship(location=wh, product=sku_a, quantity=2)
    services.inventory_release(location=wh, product=sku_a, quantity=1)
    services.inventory_release(location=wh, product=sku_a, quantity=1, consume=True)
    level = InventoryLevel.objects.get()
    # on_hand 10 - 2 shipped - 1 consumed; committed 6 - 2 - 1 - 1
    assert (level.on_hand, level.committed, level.available) == (7, 2, 5)


def test_product_available_totals_exclude_marked_locations_and_derive_bundles(tpl, sku_a, sku_b):
    east, west = f.location(tpl, "e"), f.location(tpl, "w", exclude_from_totals=True)
    f.stock(east, sku_a, 7)
    f.stock(east, sku_b, 3)
    f.stock(west, sku_a, 100)
    kit = f.bundle("KIT", [(sku_a, 2), (sku_b, 1)])
    assert selectors.product_available(product=sku_a) == 7
    assert selectors.product_available(product=sku_a, location=west) == 100
    assert selectors.product_available(product=kit) == 3  # min(7 // 2, 3 // 1)


def test_channel_quantities_per_linked_location_with_buffer(shop, tpl, sku_a, sku_b):
    east, west = f.location(tpl, "e"), f.location(tpl, "w")
    tt_wh = f.location(shop, "tt-1")
    f.link(east, tt_wh)
    f.link(west, tt_wh)
    f.stock(east, sku_a, 5)
    f.stock(west, sku_a, 4)
    f.stock(east, sku_b, 1)
    f.bundle("KIT", [(sku_a, 2)])
    ChannelInventoryPolicy.objects.create(integration=shop, buffer_units=2)
    assert selectors.channel_quantities(integration=shop) == {"A": {"tt-1": 7}, "B": {"tt-1": 0}, "KIT": {"tt-1": 2}}


def test_channel_quantities_total_to_default_location_excludes_marked(shop, tpl, sku_a):
    east, west = f.location(tpl, "e"), f.location(tpl, "w", exclude_from_totals=True)
    f.location(shop, "tt-default", is_default=True)
    f.stock(east, sku_a, 5)
    f.stock(west, sku_a, 50)
    assert selectors.channel_quantities(integration=shop, total=True) == {"A": {"tt-default": 5}}
