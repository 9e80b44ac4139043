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


def test_countries_are_iso_codes_chosen_from_a_list():
    form = _form(countries=["US", "12"])
    assert not form.is_valid()
    assert form.errors["countries"] == ["Select a valid choice. 12 is not one of the available choices."]
    assert ("GB", "United Kingdom (GB)") in form.fields["countries"].choices
    assert len(form.fields["countries"].choices) == 249
    assert not RoutingRule.objects.exists()


def test_a_country_saved_as_a_name_stays_choosable(wh):
    rule = f.rule("legacy", [wh], countries=["UNITED STATES"])
    form = RoutingRuleForm(instance=rule)
    assert form.fields["countries"].choices[-1] == ("UNITED STATES", "UNITED STATES")
    assert 'value="UNITED STATES" selected' in str(form["countries"])


def test_valid_lists_saved_as_json_lists(sku_a):
    form = _form(skus="A", tags="vip, gift", countries=["US", "CA"], regions="ca, ny")
    assert form.is_valid(), form.errors
    rule = form.save()
    rule.refresh_from_db()
    assert (rule.skus, rule.tags, rule.countries, rule.regions) == (["A"], ["vip", "gift"], ["US", "CA"], ["CA", "NY"])


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


def _orders_us_gb(shop, wh, sku_a, sku_b):
    f.stock(wh, sku_a, 100)
    f.stock(wh, sku_b, 100)
    services.orders_upsert_from_channel(integration=shop, orders_in=[
        *[f.order_in(f"A-{i}", lines=(("A", 1),), shipping_address={"country_code": "US", "address1": "x", "city": "y"}) for i in range(3)],
        *[f.order_in(f"B-{i}", lines=(("B", 1),), shipping_address={"country_code": "GB", "address1": "x", "city": "y"}) for i in range(2)]])


def _post_data(**data):
    return {"name": "r", "position": 1, "enabled": "on", "check_inventory": "on", "skus": "", "tags": "", "regions": "", **data}


def test_preview_of_unsaved_edits_on_a_saved_rule(admin_client, shop, wh, sku_a, sku_b, django_assert_max_num_queries):
    _orders_us_gb(shop, wh, sku_a, sku_b)
    rule = f.rule("r", [wh], position=1, countries=["US"])
    url = reverse("admin:orders_routingrule_preview", args=[rule.pk])
    assert url.endswith(f"/{rule.pk}/preview/")
    with django_assert_max_num_queries(12):
        answer = admin_client.post(url, _post_data(countries=["GB"])).json()
    assert answer == {"text": "This rule would have matched 2 of the last 5 orders."}
    assert admin_client.post(url, _post_data(countries=["GB", "US"])).json()["text"].startswith("This rule would have matched 5 of")
    rule.refresh_from_db()
    assert rule.countries == ["US"]  # nothing saved
    assert RoutingRule.objects.count() == 1


def test_preview_of_a_new_rule_and_of_invalid_values(admin_client, shop, wh, sku_a, sku_b):
    _orders_us_gb(shop, wh, sku_a, sku_b)
    url = reverse("admin:orders_routingrule_preview")
    assert admin_client.post(url, _post_data(skus="B")).json() == {"text": "This rule would have matched 2 of the last 5 orders."}
    assert admin_client.post(url, _post_data(skus="NOPE")).json() == {
        "errors": {"skus": ["Unknown SKU(s): NOPE. Create the products first or fix the spelling."]}}
    assert admin_client.get(url).status_code == 405  # POST only: a GET previews nothing
    assert not RoutingRule.objects.exists()


def test_preview_needs_permission_to_edit_rules(client, django_user_model, wh):
    from django.contrib.auth.models import Permission

    rule = f.rule("r", [wh])
    staff = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_routingrule"))
    client.force_login(staff)
    assert client.post(reverse("admin:orders_routingrule_preview", args=[rule.pk]), _post_data()).status_code == 403


def test_rule_page_shows_the_preview_and_text_widgets(admin_client, shop, wh, sku_a):
    rule = f.rule("r", [wh], skus=["A"], countries=["US"])
    body = admin_client.get(reverse("admin:orders_routingrule_change", args=[rule.pk])).content.decode()
    assert 'value="A"' in body and '<option value="US" selected>United States (US)</option>' in body and "[&quot;" not in body
    assert 'id="rule-preview-button"' in body and "orders/rule_preview.js" in body and "SelectFilter2.js" in body
    assert "would have matched 0 of the last 0" in body or "No orders yet" in body
    assert 'list="skus-skus"' in body and '<option value="A">' in body
