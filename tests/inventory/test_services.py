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


# --- remote Fulfillable figures and the hub's commitments (#17 item 1, #10 defect 4) -------------------------

def test_shipping_more_than_the_hub_counted_is_recorded_and_raises_a_recount_exception(wh, sku_a):
    from integrations.models import OpsException

    # given: the hub counts 1 on hand, a request committed 1 (without stock check) ships 3 units
    f.stock(wh, sku_a, 1)
    services.inventory_commit(location=wh, product=sku_a, quantity=1, reference="SY-1-1")
    # when
    level = services.inventory_ship(location=wh, product=sku_a, quantity=3, reference="SY-1-1")
    # then: recorded, on hand stays at 0, the count is flagged; a recount resolves it
    assert (level.on_hand, level.committed, level.available) == (0, 0, 0)
    from inventory.models import InventoryCommitment

    assert InventoryCommitment.objects.count() == 0  # a hub-counted location keeps no commitment rows
    exc = OpsException.objects.get(code="shipped_more_than_on_hand", status="open")
    assert "2 unit(s)" in exc.message
    services.inventory_levels_set(location=wh, quantities={"A": {"on_hand": 4}}, reason="count")
    assert OpsException.objects.get(pk=exc.pk).status == "resolved"


def test_remote_fulfillable_basis_release_and_ship(wh, sku_a):
    from datetime import timedelta

    from django.utils import timezone

    t0 = timezone.now()
    # given: a remote reporting Fulfillable 10; two requests committed, one acknowledged before the next figure
    services.inventory_levels_set(location=wh, quantities={"A": {"fulfillable": 10}}, reason="pull", basis="fulfillable",
                                  as_of=t0)
    services.inventory_commit(location=wh, product=sku_a, quantity=2, reference="SY-1-1")
    services.inventory_commit(location=wh, product=sku_a, quantity=3, reference="SY-2-1")
    services.inventory_commitments_acknowledged(reference="SY-1-1", at=t0 + timedelta(seconds=1))
    assert InventoryLevel.objects.get().available == 5
    # when: the remote's next figure (taken after SY-1-1 reached it) counts SY-1-1 in its commitments
    services.inventory_levels_set(location=wh, quantities={"A": {"fulfillable": 8}}, reason="pull", basis="fulfillable",
                                  as_of=t0 + timedelta(seconds=2))
    level = InventoryLevel.objects.get()
    assert (level.fulfillable, level.committed, level.committed_unseen, level.available) == (8, 5, 3, 5)
    # when: SY-1-1 ships (the remote's figure already excludes it) and SY-2-1 is cancelled before it was sent
    services.inventory_ship(location=wh, product=sku_a, quantity=2, reference="SY-1-1")
    services.inventory_release(location=wh, product=sku_a, quantity=3, reference="SY-2-1")
    # then
    level.refresh_from_db()
    assert (level.fulfillable, level.committed, level.committed_unseen, level.available) == (8, 0, 0, 8)
    # an older figure arriving late changes nothing
    services.inventory_levels_set(location=wh, quantities={"A": {"fulfillable": 1}}, reason="pull", basis="fulfillable", as_of=t0)
    level.refresh_from_db()
    assert (level.fulfillable, level.available) == (8, 8)


def test_releases_in_bulk_match_one_release_at_a_time(wh, wh2, sku_a, sku_b, django_assert_num_queries):
    # given: wh2 reports Fulfillable (SY-1-1 counted in its figure, SY-2-1 not yet); wh is counted here
    from datetime import timedelta

    from django.utils import timezone

    from inventory.models import InventoryCommitment

    t0 = timezone.now()
    f.stock(wh, sku_a, 10)
    f.stock(wh, sku_b, 10)
    services.inventory_levels_set(location=wh2, quantities={"A": {"fulfillable": 10}}, reason="pull", basis="fulfillable", as_of=t0)
    services.inventory_commit(location=wh2, product=sku_a, quantity=2, reference="SY-1-1")
    services.inventory_commit(location=wh2, product=sku_a, quantity=3, reference="SY-2-1")
    services.inventory_commitments_acknowledged(reference="SY-1-1", at=t0 + timedelta(seconds=1))
    services.inventory_levels_set(location=wh2, quantities={"A": {"fulfillable": 8}}, reason="pull", basis="fulfillable",
                                  as_of=t0 + timedelta(seconds=2))
    for ref, product, qty in (("SY-3-1", sku_a, 4), ("SY-3-1", sku_b, 2), ("SY-4-1", sku_a, 1)):
        services.inventory_commit(location=wh, product=product, quantity=qty, reference=ref)
    first_entry = InventoryLedgerEntry.objects.order_by("-pk").values_list("pk", flat=True).first()
    R = services.Release
    # when: five releases over three levels in one call (wh/A twice, one consumed)
    with django_assert_num_queries(8):  # savepoint, 2 to lock the levels, commitments, levels, commitments, ledger, release
        services.inventory_releases(releases=[
            R(wh2, sku_a.pk, 2, reference="SY-1-1"), R(wh2, sku_a.pk, 3, reference="SY-2-1"),
            R(wh, sku_a.pk, 4, consume=True, reference="SY-3-1"), R(wh, sku_b.pk, 2, reference="SY-3-1"),
            R(wh, sku_a.pk, 1, reference="SY-4-1")])
    # then: what inventory_release one at a time gives (test_remote_fulfillable_basis_release_and_ship,
    # test_ship_release_consume_arithmetic), each change ledgered with the quantity after it
    levels = {(lv.location_id, lv.product.sku): lv for lv in InventoryLevel.objects.select_related("product")}
    remote = levels[(wh2.pk, "A")]
    assert (remote.fulfillable, remote.committed, remote.committed_unseen, remote.available) == (8, 0, 0, 8)
    assert [(lv.on_hand, lv.committed, lv.available) for lv in (levels[(wh.pk, "A")], levels[(wh.pk, "B")])] == [(6, 0, 6),
                                                                                                              (10, 0, 10)]
    assert list(InventoryCommitment.objects.values_list("reference", "quantity")) == [("SY-2-1", 0)]  # SY-1-1 in the figure
    assert list(InventoryLedgerEntry.objects.filter(pk__gt=first_entry).order_by("pk").values_list(
        "location_id", "product__sku", "field", "delta", "quantity_after", "reason", "reference")) == [
        (wh2.pk, "A", "committed", -2, 3, "released", "SY-1-1"), (wh2.pk, "A", "committed", -3, 0, "released", "SY-2-1"),
        (wh.pk, "A", "committed", -4, 1, "canceled_no_restock", "SY-3-1"),
        (wh.pk, "A", "on_hand", -4, 6, "canceled_no_restock", "SY-3-1"),
        (wh.pk, "B", "committed", -2, 0, "released", "SY-3-1"), (wh.pk, "A", "committed", -1, 0, "released", "SY-4-1")]


def test_with_deadlock_retry_non_atomic_runs_a_pass_again_and_gives_up_on_other_errors(db):
    from django.db import OperationalError

    class Deadlock(Exception):
        sqlstate = "40P01"

    class Other(Exception):
        sqlstate = "42P01"

    calls = []

    def deadlocked_once():
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("deadlock detected") from Deadlock()
        return len(calls)

    def broken():
        raise OperationalError("no such table") from Other()

    # inside the test's transaction a non-atomic pass cannot be retried: it runs once
    with pytest.raises(OperationalError):
        services.with_deadlock_retry(deadlocked_once, atomic=False)
    # atomic (a savepoint here): retried
    assert services.with_deadlock_retry(deadlocked_once) == 2
    with pytest.raises(OperationalError):
        services.with_deadlock_retry(broken)
