"""Property-based: no sequence of inventory events makes available negative without raising, and none
loses a unit (the ledger deltas of each field sum to its current value)."""
import pytest
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings, strategies as st

from inventory import services
from inventory.models import InventoryLedgerEntry, InventoryLevel, Location
from catalog.models import Product

EVENTS = st.lists(st.tuples(st.sampled_from(["receive", "commit", "ship", "release", "consume", "adjust"]),
                            st.integers(min_value=1, max_value=8)), max_size=25)


@pytest.mark.django_db
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=EVENTS)
def test_inventory_events_never_go_negative_and_never_lose_a_unit(events):
    InventoryLedgerEntry.objects.all().delete()
    InventoryLevel.objects.all().delete()
    loc, _ = Location.objects.get_or_create(code="prop", defaults={"name": "prop"})
    product, _ = Product.objects.get_or_create(sku="P", defaults={"name": "P"})
    for kind, qty in events:
        try:
            if kind == "receive":
                services.inventory_receive(location=loc, product=product, quantity=qty)
            elif kind == "commit":
                services.inventory_commit(location=loc, product=product, quantity=qty)
            elif kind == "ship":
                services.inventory_ship(location=loc, product=product, quantity=qty)
            elif kind == "release":
                services.inventory_release(location=loc, product=product, quantity=qty)
            elif kind == "consume":
                services.inventory_release(location=loc, product=product, quantity=qty, consume=True)
            else:
                services.inventory_adjust(location=loc, product=product, field="on_hand", delta=-qty, reason="adjusted")
        except services.InsufficientInventory:
            pass
        level = InventoryLevel.objects.filter(location=loc, product=product).first()
        if level is None:
            continue
        assert level.available == level.on_hand - level.committed
        assert level.available >= 0 and level.committed >= 0 and level.on_hand >= 0
        for field in ("on_hand", "committed"):
            total = InventoryLedgerEntry.objects.filter(location=loc, product=product, field=field).aggregate(s=Sum("delta"))["s"] or 0
            assert total == getattr(level, field)
