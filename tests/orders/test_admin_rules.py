"""Rule forms: list fields as validated text, SKU suggestions, location autocomplete, and the routing-rule preview."""
import pytest
from django.urls import reverse

from orders import selectors, services
from orders.forms import ListField, RoutingRuleForm
from orders.models import Order, RoutingRule
from tests.orders import factories as f

pytestmark = pytest.mark.django_db


def test_list_field_parses_and_joins():
    field = ListField(upper=True)
    assert field.clean(" us, ca\nUS ,, mx ") == ["US", "CA", "MX"]
    assert field.prepare_value(["A", "B"]) == "A, B"
    with pytest.raises(Exception, match="not a valid entry"):
        ListField().clean("<script>")


def _form(**data):
    return RoutingRuleForm(data={"name": "r", "position": 1, "enabled": True, "check_inventory": True, **data})


def test_unknown_skus_refused_with_their_names(sku_a):
    form = _form(skus="A, NOPE, ALSO-NOPE")
    assert not form.is_valid()
    assert form.errors["skus"] == ["Unknown SKU(s): NOPE, ALSO-NOPE. Create the products first or fix the spelling."]
    assert not RoutingRule.objects.exists()


def test_bad_country_refused():
    form = _form(countries="US, 12")
    assert not form.is_valid() and "not a country" in form.errors["countries"][0]


def test_valid_lists_saved_as_json_lists(sku_a):
    form = _form(skus="A", tags="vip, gift", countries="us", regions="ca, ny")
    assert form.is_valid(), form.errors
    rule = form.save()
    rule.refresh_from_db()
    assert (rule.skus, rule.tags, rule.countries, rule.regions) == (["A"], ["vip", "gift"], ["US"], ["CA", "NY"])


def test_preview_counts_matches_over_the_latest_orders(shop, wh, sku_a, sku_b, django_assert_max_num_queries):
    f.stock(wh, sku_a, 100)
    f.stock(wh, sku_b, 100)
    services.orders_upsert_from_channel(integration=shop, orders_in=[
        *[f.order_in(f"A-{i}", lines=(("A", 1),), shipping_address={"country_code": "US", "address1": "x", "city": "y"}) for i in range(3)],
        *[f.order_in(f"B-{i}", lines=(("B", 1),), shipping_address={"country_code": "GB", "address1": "x", "city": "y"}) for i in range(2)]])
    first = f.rule("first", [wh], position=1, skus=["A"])
    us = f.rule("us", [wh], position=2, countries=["US"])
    with django_assert_max_num_queries(4):
        preview = selectors.routing_rule_preview(rule=us)
    assert preview == {"orders": 5, "matched": 3, "taken_earlier": 3}
    assert selectors.routing_rule_preview(rule=first) == {"orders": 5, "matched": 3, "taken_earlier": 0}
    assert Order.objects.count() == 5


def test_rule_page_shows_the_preview_and_text_widgets(admin_client, shop, wh, sku_a):
    rule = f.rule("r", [wh], skus=["A"], countries=["US"])
    body = admin_client.get(reverse("admin:orders_routingrule_change", args=[rule.pk])).content.decode()
    assert 'value="A"' in body and 'value="US"' in body and "[&quot;" not in body
    assert "would have matched 0 of the last 0" in body or "No orders yet" in body
    assert 'list="skus-skus"' in body and '<option value="A">' in body
