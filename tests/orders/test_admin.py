"""Order admin: changelists with bounded queries, actions one call deep, the release permission."""
import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from orders import services
from orders.models import HoldRule, Order, ShippingRequest
from tests.orders import factories as f


@pytest.fixture
def fifty_orders(shop, wh, sku_a):
    f.stock(wh, sku_a, 100)
    f.rule("r", [wh])
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in(f"O-{i}") for i in range(50)])


@pytest.mark.parametrize("name", ["orders_order", "orders_shippingrequest", "orders_fulfillment", "orders_cancellation",
                                  "orders_return", "orders_refund", "orders_holdrule", "orders_routingrule"])
def test_changelists_render_with_bounded_queries(client, admin_user, fifty_orders, django_assert_max_num_queries, name):
    client.force_login(admin_user)
    with django_assert_max_num_queries(20):
        response = client.get(reverse(f"admin:{name}_changelist"))
    assert response.status_code == 200


def test_order_change_page_shows_timeline(client, admin_user, fifty_orders):
    client.force_login(admin_user)
    order = Order.objects.first()
    response = client.get(reverse("admin:orders_order_change", args=[order.pk]))
    assert response.status_code == 200
    assert b"timeline" in response.content.lower()


def test_search_by_sku_and_external_id(client, admin_user, fifty_orders):
    client.force_login(admin_user)
    assert client.get(reverse("admin:orders_order_changelist"), {"q": "O-7"}).context["cl"].result_list[0].external_id == "O-7"
    assert len(client.get(reverse("admin:orders_order_changelist"), {"q": "A"}).context["cl"].result_list) == 50


def test_release_action_releases_and_routes(client, admin_user, shop, wh, sku_a):
    f.stock(wh, sku_a, 5)
    f.rule("r", [wh])
    HoldRule.objects.create(name="h", minutes=60, clock="sync_time")
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in()])
    order = Order.objects.get()
    client.force_login(admin_user)
    client.post(reverse("admin:orders_order_changelist"), {"action": "release_hold", "_selected_action": [order.pk]})
    order.refresh_from_db()
    assert order.status == "readyForFulfillment"
    assert ShippingRequest.objects.count() == 1


def test_release_action_needs_permission(client, django_user_model, shop, sku_a):
    staff = django_user_model.objects.create_user("ops", password="pw", is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_order", "change_order"]))
    HoldRule.objects.create(name="h", minutes=60, clock="sync_time")
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in()])
    order = Order.objects.get()
    client.force_login(staff)
    response = client.get(reverse("admin:orders_order_changelist"))
    assert "release_hold" not in response.context["action_form"].fields["action"].choices.__str__()
    client.post(reverse("admin:orders_order_changelist"), {"action": "release_hold", "_selected_action": [order.pk]})
    assert Order.objects.get().status == "onHold"


def test_refused_action_shows_error_and_changes_nothing(client, admin_user, fifty_orders):
    client.force_login(admin_user)
    order = Order.objects.first()
    response = client.post(reverse("admin:orders_order_changelist"), {"action": "release_hold", "_selected_action": [order.pk]}, follow=True)
    assert "not held" in response.content.decode()
    assert Order.objects.get(pk=order.pk).status == "readyForFulfillment"


def test_shipping_request_cancel_without_restock_action(client, admin_user, fifty_orders):
    from inventory.models import InventoryLevel

    client.force_login(admin_user)
    sr = ShippingRequest.objects.first()
    client.post(reverse("admin:orders_shippingrequest_changelist"), {"action": "cancel_no_restock", "_selected_action": [sr.pk]})
    sr.refresh_from_db()
    level = InventoryLevel.objects.get()
    assert sr.status == "canceled"
    assert (level.on_hand, level.committed) == (99, 49)
