"""Status transitions: every allowed move and refused moves, recorded on the timeline."""
import pytest

from orders import services
from orders.models import Order, OrderEvent, OrderStatus
from tests.orders import factories as f

ALLOWED = [(src, dst) for src, targets in services.TRANSITIONS.items() for dst in sorted(targets)]
REFUSED = [(src, dst) for src in OrderStatus.values for dst in OrderStatus.values
           if dst != src and dst not in services.TRANSITIONS[src]]


def _order(shop, status):
    return Order.objects.create(integration=shop, external_id=f"T-{status}", status=status)


@pytest.mark.parametrize("src,dst", ALLOWED)
def test_allowed_transition_moves_and_records_event(shop, admin_user, src, dst):
    order = _order(shop, src)
    event = services.order_transition(order=order, to_status=dst, actor="user root", user=admin_user, message="why")
    order.refresh_from_db()
    assert order.status == dst
    assert (event.from_status, event.to_status, event.actor, event.user, event.message) == (src, dst, "user root", admin_user, "why")


@pytest.mark.parametrize("src,dst", REFUSED)
def test_refused_transition_changes_nothing(shop, src, dst):
    order = _order(shop, src)
    with pytest.raises(services.InvalidTransition):
        services.order_transition(order=order, to_status=dst, actor="test")
    order.refresh_from_db()
    assert order.status == src
    assert OrderEvent.objects.count() == 0


def test_same_status_is_a_no_op(shop):
    order = _order(shop, "new")
    assert services.order_transition(order=order, to_status="new", actor="x") is None
    assert OrderEvent.objects.count() == 0


def test_closed_is_terminal_and_fulfilled_cannot_go_back():
    assert services.TRANSITIONS["closed"] == frozenset()
    assert "readyForFulfillment" not in services.TRANSITIONS["fulfilled"]


def test_timeline_of_a_routed_order_names_the_actors(shop, wh, sku_a):
    f.stock(wh, sku_a, 5)
    f.rule("r", [wh])
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in()])
    order = Order.objects.get()
    kinds = list(order.events.values_list("kind", "from_status", "to_status", "actor"))
    # one event for the arrival and the starting status it got
    assert kinds == [("created", "new", "readyForFulfillment", "sync"), ("routed", "", "", "routing")]
