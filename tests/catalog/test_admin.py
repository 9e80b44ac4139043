import csv
import io

import pytest
from django.urls import reverse

from catalog.models import ChannelOption, Product
from integrations import registry, services
from tests.integrations.conftest import fake_integration, fake_registered  # noqa: F401  (shared fixtures)
from tests.integrations.fake_connector import SPEC

pytestmark = pytest.mark.django_db


@pytest.fixture
def no_sku_integration():
    registry.register(registry.ConnectorSpec(**{**SPEC.__dict__, "code": "fake_nosku", "label": "No-SKU shop",
                                                "supports_channel_sku": False}))
    yield services.integration_create(name="No SKU shop", connector="fake_nosku")
    registry.unregister("fake_nosku")


def _product_post(product, **extra):
    data = {
        "sku": product.sku, "kind": "simple", "name": product.name, "description_html": "", "brand": "", "category": "",
        "price": "10.00", "compare_at_price": "", "currency": "USD", "weight": "", "weight_unit": "lb", "length": "",
        "width": "", "height": "", "dimension_unit": "in", "images": "[]", "barcode": "", "hazmat": "{}",
        "variant_options": "{}", "custom_fields": "{}", "status": "active",
        "channel_options-TOTAL_FORMS": "0", "channel_options-INITIAL_FORMS": "0",
        "channel_options-MIN_NUM_FORMS": "0", "channel_options-MAX_NUM_FORMS": "1000",
        "components-TOTAL_FORMS": "0", "components-INITIAL_FORMS": "0",
        "components-MIN_NUM_FORMS": "0", "components-MAX_NUM_FORMS": "1000",
    }
    data.update(extra)
    return data


def test_channel_sku_refused_for_a_connector_without_channel_skus_shows_a_field_error(admin_client, no_sku_integration):
    # given
    product = Product.objects.create(sku="MUG-1", name="Mug", price="10.00")
    # when
    response = admin_client.post(reverse("admin:catalog_product_change", args=[product.pk]), _product_post(product, **{
        "channel_options-TOTAL_FORMS": "1", "channel_options-0-integration": str(no_sku_integration.pk),
        "channel_options-0-channel_sku": "OTHER-SKU", "channel_options-0-sync_enabled": "on"}))
    # then
    assert response.status_code == 200
    assert "No-SKU shop has no Channel SKU: its SKUs must equal the master SKU." in response.content.decode()
    assert ChannelOption.objects.count() == 0


def test_channel_option_without_channel_sku_saves(admin_client, no_sku_integration):
    product = Product.objects.create(sku="MUG-1", name="Mug", price="10.00")
    response = admin_client.post(reverse("admin:catalog_product_change", args=[product.pk]), _product_post(product, **{
        "channel_options-TOTAL_FORMS": "1", "channel_options-0-integration": str(no_sku_integration.pk),
        "channel_options-0-channel_sku": "", "channel_options-0-sync_enabled": "on"}))
    assert response.status_code == 302
    assert ChannelOption.objects.get().effective_sku == "MUG-1"


def test_search_finds_products_by_channel_sku_and_barcode(admin_client, fake_integration):
    a = Product.objects.create(sku="A-1", name="Alpha", barcode="0123456789012")
    Product.objects.create(sku="B-1", name="Beta")
    ChannelOption.objects.create(product=a, integration=fake_integration, channel_sku="CH-A")
    url = reverse("admin:catalog_product_changelist")
    for term in ("CH-A", "0123456789012", "A-1"):
        html = admin_client.get(url, {"q": term}).content.decode()
        assert "Alpha" in html and "Beta" not in html, term


def test_export_incomplete_products_csv(admin_client, fake_integration):
    # given: one product with readiness problems, one ready
    bad = Product.objects.create(sku="BAD-1", name="Bad")
    good = Product.objects.create(sku="GOOD-1", name="Good")
    ChannelOption.objects.create(product=bad, integration=fake_integration, readiness_problems=[
        {"field": "images", "message": "at least one image is required"},
        {"field": "weight", "message": "weight is required"}])
    ChannelOption.objects.create(product=good, integration=fake_integration)
    # when
    response = admin_client.post(reverse("admin:catalog_product_changelist"),
                                 {"action": "export_incomplete_products", "_selected_action": [bad.pk, good.pk]})
    # then
    assert response["Content-Type"] == "text/csv"
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows == [["sku", "name", "integration", "problems"],
                    ["BAD-1", "Bad", "Fake A", "images: at least one image is required", "weight: weight is required"]]


def test_product_changelist_bounded_queries(admin_client, fake_integration, django_assert_max_num_queries):
    parent = Product.objects.create(sku="P", name="Parent", kind="parent")
    Product.objects.bulk_create([Product(sku=f"V-{i:02d}", name=f"V {i}", kind="variant", parent=parent) for i in range(60)])
    for model in ("product", "channeloption", "bundlecomponent"):
        with django_assert_max_num_queries(12):
            assert admin_client.get(reverse(f"admin:catalog_{model}_changelist")).status_code == 200


def test_product_change_page_links_variants(admin_client):
    parent = Product.objects.create(sku="P", name="Parent", kind="parent")
    Product.objects.create(sku="V1", name="V1", kind="variant", parent=parent)
    html = admin_client.get(reverse("admin:catalog_product_change", args=[parent.pk])).content.decode()
    assert f"?parent__id__exact={parent.pk}" in html and "1 variant(s)" in html




def test_product_export_needs_the_app_level_export_permission(client, django_user_model):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("ops", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(content_type__app_label="catalog", codename="view_product"))
    client.force_login(user)
    url = reverse("admin:catalog_product_export")
    assert client.get(url).status_code == 403
    user.user_permissions.add(Permission.objects.get(content_type__app_label="catalog", codename="export"))
    client.force_login(django_user_model.objects.get(pk=user.pk))
    assert client.get(url).status_code == 200


def test_export_incomplete_products_escapes_formulas(admin_client, fake_integration):
    """Issue #11 critical 5: the one OWASP rule (cells starting with = + - @ TAB CR get a leading ')."""
    fake_integration.name = "@evil"
    fake_integration.save()
    bad = Product.objects.create(sku="-SKU", name="=cmd|' /C calc'!A0")
    ChannelOption.objects.create(product=bad, integration=fake_integration, readiness_problems=[
        {"field": "+images", "message": "x"}, {"field": "", "message": "y"}])
    Product.objects.filter(pk=bad.pk).update(name="\tTAB")
    bad.refresh_from_db()
    response = admin_client.post(reverse("admin:catalog_product_changelist"),
                                 {"action": "export_incomplete_products", "_selected_action": [bad.pk]})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[1] == ["'-SKU", "'\tTAB", "'@evil", "'+images: x", ": y"]


def test_export_incomplete_products_needs_the_export_permission(client, django_user_model, fake_integration):
    from django.contrib.auth.models import Group

    from integrations import bootstrap

    bootstrap.groups_ensure()
    bad = Product.objects.create(sku="BAD-1", name="Bad")
    ChannelOption.objects.create(product=bad, integration=fake_integration, readiness_problems=[{"field": "f", "message": "m"}])
    url = reverse("admin:catalog_product_changelist")
    for group, allowed in ((bootstrap.OPS_GROUP, False), (bootstrap.ADMIN_GROUP, True)):
        user = django_user_model.objects.create_user(f"u-{group}", password="pw", is_staff=True)
        user.groups.add(Group.objects.get(name=group))
        client.force_login(user)
        page = client.get(url)
        assert (b"export_incomplete_products" in page.content) is allowed
        response = client.post(url, {"action": "export_incomplete_products", "_selected_action": [bad.pk]})
        assert (response.get("Content-Type") == "text/csv") is allowed, group
