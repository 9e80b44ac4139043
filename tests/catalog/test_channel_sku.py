"""Channel SKUs (issue #11, SKUs): normalised, matched exactly, and never two on one integration that differ
only by letter case — refused with a clear error in the model, the admin (Channel Options page and the
product's inline), CSV imports and, for any other path (connectors), by a database constraint. Remote SKUs
coming back (order lines, inventory, listings) are matched exactly after normalisation."""
import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from tablib import Dataset

from catalog import services as catalog_services
from catalog.models import ChannelOption, Product
from catalog.resources import ChannelOptionResource
from integrations import services
from inventory import services as inventory_services

pytestmark = pytest.mark.django_db

OSA_CREDS = {"api_key": "k-1", "api_secret": "s-1", "osa_domain": "acme"}


@pytest.fixture
def world():
    osa = services.integration_create(name="OSA C", connector="osa", credentials=OSA_CREDS)
    osa2 = services.integration_create(name="OSA D", connector="osa", credentials=OSA_CREDS)
    a = Product.objects.create(sku="A-1", name="a")
    b = Product.objects.create(sku="B-1", name="b")
    ChannelOption.objects.create(product=a, integration=osa, channel_sku="OSA-X1")
    return osa, osa2, a, b


@pytest.mark.parametrize("look_alike", ["osa-x1", "Osa-X1", "OSA-x1\u200b", "ｏｓａ-ｘ１"])
def test_a_case_only_duplicate_channel_sku_is_refused_with_a_clear_error(world, look_alike):
    osa, _, _, b = world
    option = ChannelOption(product=b, integration=osa, channel_sku=look_alike)
    with pytest.raises(ValidationError) as info:
        option.full_clean()
    assert "differs only by letter case from channel SKU 'OSA-X1' (product A-1) on OSA C" in str(info.value.message_dict["channel_sku"])
    assert ChannelOption.objects.filter(integration=osa).count() == 1


def test_an_exact_duplicate_names_the_product_holding_it(world):
    osa, _, _, b = world
    with pytest.raises(ValidationError) as info:
        ChannelOption(product=b, integration=osa, channel_sku="OSA-X1\u200f").full_clean()
    assert "already used by product A-1 on OSA C" in str(info.value.message_dict["channel_sku"])


def test_other_integrations_and_the_same_option_are_not_duplicates(world):
    osa, osa2, a, b = world
    ChannelOption(product=b, integration=osa2, channel_sku="osa-x1").full_clean()
    option = ChannelOption.objects.get(product=a, integration=osa)
    option.channel_sku = "OSA-X1"
    option.full_clean()


def test_the_database_refuses_case_only_duplicates_whatever_the_path(world):
    osa, _, _, b = world
    with pytest.raises(IntegrityError), transaction.atomic():
        ChannelOption.objects.bulk_create([ChannelOption(product=b, integration=osa, channel_sku="osa-x1")])


def test_the_channel_options_admin_refuses_a_case_only_duplicate(world, admin_client):
    osa, _, _, b = world
    response = admin_client.post("/catalog/channeloption/add/", {
        "product": b.pk, "integration": osa.pk, "channel_sku": "osa-X1", "sync_enabled": "on",
        "remote_product_id": "", "remote_sku_id": "", "listing_status": "", "last_pushed_fingerprint": "",
        "readiness_problems": "[]", "remote_warehouse_ids": "[]", "last_pushed_inventory": "{}",
        "derived_attributes": "{}", "attributes_source": ""})
    assert response.status_code == 200
    assert "differs only by letter case" in response.content.decode()
    assert ChannelOption.objects.filter(integration=osa).count() == 1


def test_the_product_inline_refuses_a_case_only_duplicate(world, admin_client):
    osa, _, _, b = world
    response = admin_client.post(f"/catalog/product/{b.pk}/change/", {
        "sku": "B-1", "kind": "simple", "name": "b", "currency": "USD", "weight_unit": "lb", "dimension_unit": "in",
        "status": "active", "images": "[]", "hazmat": "{}", "variant_options": "{}", "custom_fields": "{}",
        "channel_options-TOTAL_FORMS": "1", "channel_options-INITIAL_FORMS": "0",
        "channel_options-0-integration": osa.pk, "channel_options-0-channel_sku": "osa-x1",
        "channel_options-0-sync_enabled": "on", "channel_options-0-product": b.pk,
        "components-TOTAL_FORMS": "0", "components-INITIAL_FORMS": "0"})
    assert response.status_code == 200
    assert "differs only by letter case" in response.content.decode()
    assert ChannelOption.objects.filter(integration=osa).count() == 1


def _import(rows):
    dataset = Dataset(headers=["product", "integration", "channel_sku", "sync_enabled"])
    for row in rows:
        dataset.append(row)
    return ChannelOptionResource().import_data(dataset, dry_run=False)


def test_csv_import_refuses_case_only_duplicates_of_the_database(world):
    result = _import([["B-1", "OSA C", "osa-x1", "1"]])
    assert result.has_validation_errors()
    assert "differs only by letter case from channel SKU 'OSA-X1'" in str(result.invalid_rows[0].error_dict)
    assert ChannelOption.objects.filter(integration__name="OSA C").count() == 1


def test_csv_import_refuses_case_only_duplicates_within_the_file(world):
    Product.objects.create(sku="C-1", name="c")
    result = _import([["B-1", "OSA D", "NEW-9", "1"], ["C-1", "OSA D", "new-9", "1"]])
    assert result.has_validation_errors()
    assert "also on row 1 of this file" in str(result.invalid_rows[0].error_dict)
    assert not ChannelOption.objects.filter(integration__name="OSA D").exists()


def test_csv_import_may_change_the_case_of_its_own_channel_sku(world):
    result = _import([["A-1", "OSA C", "osa-x1", "1"]])
    assert not result.has_validation_errors() and not result.has_errors()
    assert ChannelOption.objects.get(integration__name="OSA C").channel_sku == "osa-x1"


def test_remote_skus_are_matched_exactly_after_normalisation(world):
    osa, _, a, b = world
    found = inventory_services.products_for_skus(skus=["A-1\u200b", "ｂ-1", "B-1", "osa-x1", "OSA-X1\ufeff", "a-1"], integration=osa)
    assert {sku: p.sku for sku, p in found.items()} == {"A-1\u200b": "A-1", "B-1": "B-1", "OSA-X1\ufeff": "A-1"}


def test_remote_listings_bind_by_the_normalised_seller_sku_exactly(world):
    osa, _, a, b = world
    created, updated, unchanged, unknown = catalog_services.channel_options_bind_remote(
        integration=osa, remote_skus=[{"seller_sku": "B-1\u200b", "product_id": "p9", "sku_id": "s9"},
                                      {"seller_sku": "a-1", "product_id": "p8", "sku_id": "s8"}])
    assert (created, unknown) == (1, ["a-1"])
    assert ChannelOption.objects.get(product=b, integration=osa).remote_sku_id == "s9"


def test_the_service_for_connectors_refuses_look_alikes_with_a_clear_error(world):
    osa, _, _, b = world
    option = ChannelOption(product=b, integration=osa)
    with pytest.raises(ValidationError) as info:
        catalog_services.channel_option_set_channel_sku(option=option, channel_sku="osa-x1\u200b")
    assert "differs only by letter case" in str(info.value)
    assert option.pk is None and ChannelOption.objects.filter(integration=osa).count() == 1
    saved = catalog_services.channel_option_set_channel_sku(option=option, channel_sku="ＯＳＡ-Ｂ1")
    assert ChannelOption.objects.get(pk=saved.pk).channel_sku == "OSA-B1"


@pytest.mark.parametrize("wanted, word", [("B-1", "is"), ("b-1", "differs only by letter case from")])
def test_a_channel_sku_colliding_with_another_products_master_sku_there_is_refused(world, wanted, word):
    osa, _, a, b = world  # b has no channel SKU on osa: it reaches OSA as "B-1"
    with pytest.raises(ValidationError) as info:
        ChannelOption(product=Product.objects.create(sku="C-1", name="c"), integration=osa, channel_sku=wanted).full_clean()
    assert f"Channel SKU '{wanted}' {word} the master SKU of product B-1" in str(info.value.message_dict["channel_sku"])
    result = _import([["C-1", "OSA C", wanted, "1"]])
    assert result.has_validation_errors() and "the master SKU of product B-1" in str(result.invalid_rows[0].error_dict)
    assert not ChannelOption.objects.filter(product__sku="C-1").exists()


def test_a_master_sku_overridden_on_that_integration_does_not_collide(world):
    osa, _, a, b = world
    ChannelOption.objects.create(product=b, integration=osa, channel_sku="OSA-B1")  # B reaches OSA as OSA-B1
    c = Product.objects.create(sku="C-1", name="c")
    ChannelOption(product=c, integration=osa, channel_sku="b-1").full_clean()
    assert not _import([["C-1", "OSA C", "b-1", "1"]]).has_validation_errors()



# The reverse direction: a master SKU equal, or equal but for letter case, to another product's channel SKU.
@pytest.mark.parametrize("look_alike", ["OSA-X1", "osa-x1", "ｏｓａ-ｘ１\u200b"])
def test_a_new_master_sku_that_looks_like_a_channel_sku_is_refused(world, look_alike):
    with pytest.raises(ValidationError) as info:
        Product(sku=look_alike, name="c").full_clean()
    message = info.value.message_dict["sku"][0]
    assert "the channel SKU 'OSA-X1' of product A-1 on OSA C" in message
    assert Product.objects.count() == 2


def test_renaming_a_master_sku_onto_a_channel_sku_is_refused_unless_it_has_its_own_there(world):
    osa, _, a, b = world
    b.sku = "osa-x1"
    with pytest.raises(ValidationError):
        b.full_clean()
    assert Product.objects.get(pk=b.pk).sku == "B-1"
    # B has its own channel SKU on OSA C: its master SKU never reaches it, so no collision there.
    ChannelOption.objects.create(product=b, integration=osa, channel_sku="OSA-B")
    b.full_clean()
    # A's master SKU equal to its own channel SKU is no collision either.
    a.sku = "OSA-X1"
    a.full_clean()


def test_a_product_import_refuses_a_master_sku_that_looks_like_a_channel_sku(world):
    from catalog.resources import ProductResource
    from integrations.resources import SafeCSV

    osa, _, a, b = world
    ChannelOption.objects.create(product=b, integration=osa, channel_sku="OSA-B")
    data = SafeCSV().create_dataset("sku,kind,name\nosa-x1,simple,new\nOSA-B,simple,b own\nNEW-1,simple,fine\n")
    result = ProductResource().import_data(data)
    assert [row.number for row in result.invalid_rows] == [1, 2]
    assert "the channel SKU 'OSA-X1' of product A-1 on OSA C" in str(result.invalid_rows[0].error.message_dict["sku"])
    assert "the channel SKU 'OSA-B' of product B-1 on OSA C" in str(result.invalid_rows[1].error.message_dict["sku"])
    assert sorted(Product.objects.values_list("sku", flat=True)) == ["A-1", "B-1"]
    # A's own master SKU may equal its own channel SKU; B-1 re-imported keeps its own channel SKU elsewhere.
    ok = ProductResource().import_data(SafeCSV().create_dataset("sku,kind,name\nA-1,simple,a2\nB-1,simple,b2\n"))
    assert not ok.has_validation_errors() and not ok.has_errors()
