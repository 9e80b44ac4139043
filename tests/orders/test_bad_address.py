import pytest

from integrations.models import OpsException
from orders.models import Order, ShippingRequest
from orders.services import address_problems, exceptions_redrive, orders_upsert_from_channel
from tests.orders import factories as f

pytestmark = pytest.mark.django_db

GOOD = {"name": "J*** D**", "address1": "1** Main St", "city": "Austin", "state": "Texas", "country_code": "US",
        "postal_code": "78701"}


@pytest.mark.parametrize(("address", "missing"), [
    ({}, []),  # _case_no_address_shared
    (GOOD, []),  # _case_masked_values_count_as_given
    ({"name": "Jo", "city": "Austin", "country_code": "US"}, ["street address"]),  # _case_no_street
    ({"address1": "1 Main St", "postal_code": "78701"}, ["country"]),  # _case_no_country
    ({"address1": "1 Main St", "country": "United States"}, ["postal code or city"]),  # _case_no_postcode_or_city
])
def test_address_problems(address, missing):
    assert address_problems(address) == missing


def _route_everything(tpl, wh, sku_a):
    f.stock(wh, sku_a, 10)
    f.rule("all to wh", [wh])


def test_incomplete_address_waits_in_review_with_one_exception(shop, tpl, wh, sku_a):
    # given
    _route_everything(tpl, wh, sku_a)
    bad = f.order_in("O-1", shipping_address={"name": "Jo", "city": "Austin", "country_code": "US"})
    # when: ingested twice
    orders_upsert_from_channel(integration=shop, orders_in=[bad])
    orders_upsert_from_channel(integration=shop, orders_in=[bad])
    # then
    order = Order.objects.get(external_id="O-1")
    assert (order.status, order.review_reason) == ("reviewRequired", "bad_address")
    exc = OpsException.objects.get(code="bad_address")
    assert (exc.category, exc.status, exc.details) == ("ingestion", "open", {"missing": ["street address"]})
    assert ShippingRequest.objects.exists() is False  # nothing sent anywhere


def test_completed_address_on_a_later_pull_resolves_and_routes(shop, tpl, wh, sku_a):
    _route_everything(tpl, wh, sku_a)
    orders_upsert_from_channel(integration=shop, orders_in=[f.order_in("O-1", shipping_address={"name": "Jo", "country_code": "US"})])
    # when the channel sends the completed address
    orders_upsert_from_channel(integration=shop, orders_in=[f.order_in("O-1", shipping_address=GOOD)])
    # then
    order = Order.objects.get(external_id="O-1")
    assert order.review_reason == ""
    assert (order.status, order.shipping_requests.count()) == ("readyForFulfillment", 1)
    assert OpsException.objects.get(code="bad_address").status == "resolved"


def test_redrive_after_an_admin_edit_of_the_address(shop, tpl, wh, sku_a):
    _route_everything(tpl, wh, sku_a)
    orders_upsert_from_channel(integration=shop, orders_in=[f.order_in("O-1", shipping_address={"address1": "1 Main St"})])
    order = Order.objects.get(external_id="O-1")
    Order.objects.filter(pk=order.pk).update(shipping_address=GOOD)
    # when
    exceptions_redrive(exceptions=OpsException.objects.filter(code="bad_address"))
    # then
    order.refresh_from_db()
    assert order.review_reason == "" and order.shipping_requests.count() == 1
    assert OpsException.objects.get(code="bad_address").status == "resolved"
