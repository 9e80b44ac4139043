"""SKU normalisation (issue #11, Imports): NFKC, invisible and control characters stripped, case-only
duplicates refused with a clear error — in the model, the admin, CSV imports and the connector contract."""
import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction
from tablib import Dataset

from catalog.models import Product
from catalog.resources import ProductResource
from catalog.sku import sku_normalize

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("raw, expected", [
    ("AB-1", "AB-1"), ("  AB-1 ", "AB-1"), ("AB\u200b-1", "AB-1"), ("\ufeffAB-1", "AB-1"), ("AB-1\u200f", "AB-1"),
    ("AB\x00-1", "AB-1"), ("ＡＢ－１", "AB-1"), ("AB\u202e-1", "AB-1"), ("AB\t-1", "AB-1"), ("ab-1", "ab-1"),
])
def test_normalise(raw, expected):
    assert sku_normalize(raw) == expected


def test_saved_skus_are_normalised():
    product = Product.objects.create(sku="ＡＢ\u200b-1", name="x")
    assert Product.objects.get(pk=product.pk).sku == "AB-1"


@pytest.mark.parametrize("look_alike, message", [
    ("ab-1", "differs only by letter case from existing SKU 'AB-1'"), ("AB\u200b-1", "already exists"),
    ("ＡＢ-1", "already exists"), ("Ab-1\u200f", "differs only by letter case from existing SKU 'AB-1'")])
def test_look_alikes_of_an_existing_sku_are_refused_by_full_clean(look_alike, message):
    Product.objects.create(sku="AB-1", name="x")
    product = Product(sku=look_alike, name="y")
    with pytest.raises(ValidationError) as info:
        product.full_clean()
    assert message in str(info.value.message_dict["sku"])


def test_the_database_refuses_case_only_duplicates_whatever_the_path():
    Product.objects.create(sku="AB-1", name="x")
    with pytest.raises(IntegrityError), transaction.atomic():
        Product.objects.bulk_create([Product(sku="ab-1", name="y")])


def test_an_sku_of_only_invisible_characters_is_refused():
    with pytest.raises(ValidationError) as info:
        Product(sku="\u200b\u200f", name="y").full_clean()
    assert "sku" in info.value.message_dict


def test_admin_refuses_a_case_only_duplicate(admin_client):
    Product.objects.create(sku="AB-1", name="x")
    response = admin_client.post("/catalog/product/add/", {
        "sku": "ab-1", "kind": "simple", "name": "y", "currency": "USD", "weight_unit": "lb", "dimension_unit": "in",
        "status": "active", "images": "[]", "hazmat": "{}", "variant_options": "{}", "custom_fields": "{}",
        "channel_options-TOTAL_FORMS": "0", "channel_options-INITIAL_FORMS": "0",
        "components-TOTAL_FORMS": "0", "components-INITIAL_FORMS": "0"})
    assert response.status_code == 200
    assert "differs only by letter case" in response.content.decode()
    assert Product.objects.count() == 1


def _import(rows):
    dataset = Dataset(headers=["sku", "kind", "name", "parent_sku", "components"])
    for row in rows:
        dataset.append(row)
    return ProductResource().import_data(dataset, dry_run=False)


def test_csv_import_normalises_and_updates_the_existing_product():
    Product.objects.create(sku="AB-1", name="old")
    result = _import([["AB\u200b-1", "simple", "new", "", ""]])
    assert not result.has_errors() and not result.has_validation_errors()
    assert list(Product.objects.values_list("sku", "name")) == [("AB-1", "new")]


def test_csv_import_refuses_case_only_duplicates_of_the_database_and_of_the_file():
    Product.objects.create(sku="AB-1", name="old")
    result = _import([["ab-1", "simple", "x", "", ""]])
    assert result.has_validation_errors()
    assert "differs only by letter case" in str(result.invalid_rows[0].error_dict)
    result = _import([["CD-1", "simple", "x", "", ""], ["cd-1", "simple", "y", "", ""]])
    assert result.has_validation_errors()
    assert sorted(Product.objects.values_list("sku", flat=True)) == ["AB-1"]


def test_connector_order_lines_carry_normalised_skus():
    from decimal import Decimal

    from orders.interface import OrderLineIn, QuantityLineIn

    assert OrderLineIn(sku="AB\u200b-1", quantity=1, unit_price=Decimal("1")).sku == "AB-1"
    assert QuantityLineIn(sku="ＡＢ-1", quantity=1).sku == "AB-1"
