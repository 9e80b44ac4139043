"""Product and Channel Options resources: natural keys, variants, bundles, row errors, nothing half-applied,
10,000-row imports in a bounded number of queries."""
import dataclasses
import math
import time
from decimal import Decimal

import pytest
import tablib
from django.db import connection

from catalog.models import BundleComponent, ChannelOption, Product
from catalog.resources import ChannelOptionResource, ProductResource
from integrations import registry, services
from integrations.resources import SafeCSV
from tests.integrations import fake_connector

NO_SKU_SPEC = dataclasses.replace(fake_connector.SPEC, code="fakenosku", label="NoSku Shop", supports_channel_sku=False)


@pytest.fixture(autouse=True)
def connectors():
    registry.register(fake_connector.SPEC)
    registry.register(NO_SKU_SPEC)
    yield
    registry.unregister("fakenosku")


@pytest.fixture
def shops(db):
    return (services.integration_create(name="Shop A", connector="fake"),
            services.integration_create(name="NoSku", connector="fakenosku"))


def csv_dataset(text: str) -> tablib.Dataset:
    return SafeCSV().create_dataset(text)


def rows_of(result):
    return [(row.number, {k: [str(e) for e in v] for k, v in row.error.message_dict.items()}) for row in result.invalid_rows]


def product_state():
    return (sorted(Product.objects.values_list("sku", "kind", "name", "parent__sku", "price")),
            sorted(BundleComponent.objects.values_list("bundle__sku", "component__sku", "quantity")))


def test_products_with_variants_and_bundles_import(db):
    # given: a variant before its parent, a bundle naming components in the file
    data = csv_dataset(
        "sku,kind,name,parent_sku,price,components\n"
        "TEE-RED-M,variant,Tee red M,TEE,19.90,\n"
        "TEE,parent,Tee,,,\n"
        "MUG,simple,Mug,,9.50,\n"
        "KIT,bundle,Kit,,25.00,TEE-RED-M:2;MUG:1\n")

    # when
    result = ProductResource().import_data(data)

    # then
    assert not result.has_errors() and not result.has_validation_errors()
    assert product_state() == (
        [("KIT", "bundle", "Kit", None, Decimal("25.00")), ("MUG", "simple", "Mug", None, Decimal("9.50")),
         ("TEE", "parent", "Tee", None, None), ("TEE-RED-M", "variant", "Tee red M", "TEE", Decimal("19.90"))],
        [("KIT", "MUG", 1), ("KIT", "TEE-RED-M", 2)])


def test_product_export_round_trips(db):
    # given
    ProductResource().import_data(csv_dataset(
        "sku,kind,name,parent_sku,price,components\nP,parent,P,,,\nV,variant,=V,P,1.00,\nB,bundle,-B,,3.00,V:3\n"))
    before = product_state()
    exported = SafeCSV().export_data(ProductResource().export())
    BundleComponent.objects.all().delete()
    Product.objects.all().delete()

    # when
    result = ProductResource().import_data(csv_dataset(exported))

    # then
    assert "'=V" in exported and "'-B" in exported
    assert not result.has_validation_errors()
    assert product_state() == before


def test_re_import_updates_by_sku_and_replaces_components(db):
    # given
    ProductResource().import_data(csv_dataset("sku,kind,name,components\nA,simple,A,\nB,simple,B,\nK,bundle,K,A:1\n"))

    # when
    ProductResource().import_data(csv_dataset("sku,kind,name,components\nK,bundle,Kit renamed,B:4\n"))

    # then
    assert Product.objects.get(sku="K").name == "Kit renamed"
    assert list(BundleComponent.objects.values_list("bundle__sku", "component__sku", "quantity")) == [("K", "B", 4)]
    assert Product.objects.count() == 3


BAD_PRODUCT_CASES = [
    ("unknown_parent", "X,variant,X,NOPE,", {"parent_sku": ["no product with SKU 'NOPE' (in the database or this file)"]}),
    ("variant_without_parent", "X,variant,X,,", {"parent": ["A variant needs a parent product."]}),
    ("bad_kind", "X,gizmo,X,,", {"kind": ["Value 'gizmo' is not a valid choice."]}),
    ("unknown_component", "X,bundle,X,,GHOST:1", {"components": ["no product with SKU 'GHOST'"]}),
    ("bad_component_quantity", "X,bundle,X,,OLD:two", {"components": ["quantity of 'OLD' is not a whole number: 'two'"]}),
    ("malformed_components", "X,bundle,X,,OLD", {"components": ["'OLD' is not SKU:quantity"]}),
    ("components_on_simple", "X,simple,X,,OLD:1", {"components": ["only bundles have components (kind is 'simple')"]}),
    ("duplicate_sku", "OK,simple,Again,,", {"sku": ["also on row 1 of this file"]}),
]


@pytest.mark.parametrize("line,errors", [c[1:] for c in BAD_PRODUCT_CASES], ids=[c[0] + "_case" for c in BAD_PRODUCT_CASES])
def test_bad_product_row_is_reported_and_nothing_applied(db, line, errors):
    # given
    Product.objects.create(sku="OLD", name="Old")
    before = product_state()
    data = csv_dataset(f"sku,kind,name,parent_sku,components\nOK,simple,Fine,,\n{line}\n")

    # when
    result = ProductResource().import_data(data)

    # then
    assert rows_of(result) == [(2, errors)]
    assert product_state() == before


def test_channel_options_import_and_refuse_channel_sku_where_unsupported(shops):
    # given
    shop, nosku = shops
    Product.objects.create(sku="A", name="A")
    Product.objects.create(sku="B", name="B")
    data = csv_dataset("product,integration,channel_sku,sync_enabled\n"
                       "A,Shop A,CH-A,1\nB,Shop A,,0\nA,NoSku,TT-A,1\n")

    # when
    result = ChannelOptionResource().import_data(data)

    # then
    assert rows_of(result) == [(3, {"channel_sku": ["NoSku Shop has no Channel SKU: its SKUs must equal the master SKU."]})]
    assert ChannelOption.objects.exists() is False


CHANNEL_BAD_CASES = [
    ("unknown_product", "GHOST,Shop A,,1", {"product": ["no product with SKU 'GHOST'"]}),
    ("unknown_integration", "A,Nowhere,,1", {"integration": ["no integration named 'Nowhere'"]}),
    ("channel_sku_taken_in_db", "B,Shop A,TAKEN,1", {"channel_sku": ["Channel SKU 'TAKEN' is already used by product C on Shop A."]}),
    ("duplicate_row", "A,Shop A,,0", {"product": ["also on row 1 of this file"]}),
    ("channel_sku_twice_in_file", "B,Shop A,NEW-1,1", {"channel_sku": ["channel SKU 'NEW-1' is also on row 1 of this file"]}),
]


@pytest.mark.parametrize("line,errors", [c[1:] for c in CHANNEL_BAD_CASES], ids=[c[0] + "_case" for c in CHANNEL_BAD_CASES])
def test_bad_channel_option_row_is_reported_and_nothing_applied(shops, line, errors):
    # given
    shop, _ = shops
    a = Product.objects.create(sku="A", name="A")
    Product.objects.create(sku="B", name="B")
    c = Product.objects.create(sku="C", name="C")
    ChannelOption.objects.create(product=c, integration=shop, channel_sku="TAKEN")
    before = sorted(ChannelOption.objects.values_list("product__sku", "integration__name", "channel_sku", "sync_enabled"))

    # when
    result = ChannelOptionResource().import_data(csv_dataset(f"product,integration,channel_sku,sync_enabled\nA,Shop A,NEW-1,1\n{line}\n"))

    # then
    assert rows_of(result) == [(2, errors)]
    assert sorted(ChannelOption.objects.values_list("product__sku", "integration__name", "channel_sku", "sync_enabled")) == before
    assert a.channel_options.exists() is False


def test_channel_options_update_existing_rows(shops):
    # given
    shop, _ = shops
    a = Product.objects.create(sku="A", name="A")
    ChannelOption.objects.create(product=a, integration=shop, channel_sku="OLD", remote_product_id="R-1")

    # when
    result = ChannelOptionResource().import_data(csv_dataset("product,integration,channel_sku,sync_enabled\nA,Shop A,NEW,0\n"))

    # then
    assert not result.has_validation_errors()
    option = ChannelOption.objects.get()
    assert (option.channel_sku, option.sync_enabled, option.remote_product_id) == ("NEW", False, "R-1")


def insert_batches(model, rows: int) -> int:
    """INSERT statements the database backend needs for ``rows`` new rows (SQLite: 999 variables per
    statement, so about 37 products per INSERT; PostgreSQL: our 1,000-row batches)."""
    fields = model._meta.concrete_fields
    per_statement = min(1000, connection.ops.bulk_batch_size(fields, [model()] * 1000))
    return math.ceil(rows / per_statement)


def test_10000_row_product_csv_imports_within_bounded_queries(db, django_assert_max_num_queries, capsys):
    # given: 2,000 parents with 4 variants each (variants before parents), plus 2,000 existing products updated
    Product.objects.bulk_create([Product(sku=f"OLD-{i:05d}", name="old") for i in range(2000)])
    lines = ["sku,kind,name,parent_sku,price,components"]
    lines += [f"V-{i:05d}-{n},variant,Variant {i} {n},P-{i:05d},9.99," for i in range(1600) for n in range(4)]
    lines += [f"P-{i:05d},parent,Parent {i},,," for i in range(1600)]
    lines += [f"OLD-{i:05d},simple,Renamed {i},,5.00," for i in range(2000)]
    data = csv_dataset("\n".join(lines) + "\n")
    assert len(data) == 10000

    # when
    started = time.monotonic()
    # fixed lookups/transaction overhead + one statement per backend batch, never one per row
    budget = 30 + insert_batches(Product, 8000) + insert_batches(Product, 2000)
    assert budget < 1000 / 2
    with django_assert_max_num_queries(budget):
        result = ProductResource().import_data(data)
    elapsed = time.monotonic() - started

    # then
    assert not result.has_errors() and not result.has_validation_errors()
    assert Product.objects.count() == 10000
    assert Product.objects.filter(kind="variant", parent__isnull=False).count() == 6400
    assert Product.objects.get(sku="OLD-01999").name == "Renamed 1999"
    with capsys.disabled():
        print(f"\n10,000-row product import: {elapsed:.1f} s")


def test_10000_row_channel_options_csv_imports_within_bounded_queries(shops, django_assert_max_num_queries, capsys):
    # given
    shop, nosku = shops
    Product.objects.bulk_create([Product(sku=f"S-{i:05d}", name="p") for i in range(5000)])
    existing = Product.objects.filter(sku__lt="S-01000")
    ChannelOption.objects.bulk_create([ChannelOption(product=p, integration=shop, channel_sku=f"OLD-{p.sku}") for p in existing])
    lines = ["product,integration,channel_sku,sync_enabled"]
    lines += [f"S-{i:05d},Shop A,CH-{i:05d},1" for i in range(5000)]
    lines += [f"S-{i:05d},NoSku,,{i % 2}" for i in range(5000)]
    data = csv_dataset("\n".join(lines) + "\n")

    # when
    started = time.monotonic()
    budget = 30 + insert_batches(ChannelOption, 9000) + insert_batches(ChannelOption, 1000)
    assert budget < 200
    with django_assert_max_num_queries(budget):
        result = ChannelOptionResource().import_data(data)
    elapsed = time.monotonic() - started

    # then
    assert not result.has_errors() and not result.has_validation_errors()
    assert ChannelOption.objects.filter(integration=shop).exclude(channel_sku="").count() == 5000
    assert ChannelOption.objects.get(integration=shop, product__sku="S-00001").channel_sku == "CH-00001"
    assert ChannelOption.objects.filter(integration=nosku, sync_enabled=True).count() == 2500
    with capsys.disabled():
        print(f"\n10,000-row Channel Options import: {elapsed:.1f} s")


def test_product_export_queries_do_not_grow_with_rows(db, django_assert_max_num_queries):
    # given
    parent = Product.objects.create(sku="P", name="P", kind="parent")
    for i in range(60):
        v = Product.objects.create(sku=f"V{i:02d}", name="v", kind="variant", parent=parent)
        kit = Product.objects.create(sku=f"K{i:02d}", name="k", kind="bundle")
        BundleComponent.objects.create(bundle=kit, component=v, quantity=2)

    # when
    with django_assert_max_num_queries(6):  # 121 rows: a fixed number, not one per row
        dataset = ProductResource().export()

    # then
    assert len(dataset) == 121
    assert dataset.dict[0]["components"] == "V00:2" and dataset.dict[61]["parent_sku"] == "P"


def test_product_admin_import_previews_then_confirms_with_these_resources(admin_client):
    # given: the library's admin flow (upload → preview → confirm) on the Product admin
    from django.core.files.uploadedfile import SimpleUploadedFile
    from import_export.formats.base_formats import CSV

    from catalog.admin import ProductAdmin
    from django.contrib import admin as django_admin

    formats = ProductAdmin(Product, django_admin.site).get_import_formats()
    csv_index = [i for i, f in enumerate(formats) if issubclass(f, CSV)][0]
    upload = SimpleUploadedFile("p.csv", b"sku,kind,name,parent_sku,components\nP,parent,Parent,,\nV,variant,Var,P,\n")

    # when
    preview = admin_client.post("/catalog/product/import/", {"format": csv_index, "import_file": upload, "resource": 0})

    # then
    assert preview.status_code == 200
    assert preview.context["result"].has_validation_errors() is False
    assert Product.objects.exists() is False
    confirm = preview.context["confirm_form"].initial
    done = admin_client.post("/catalog/product/process_import/", confirm)
    assert done.status_code == 302
    assert sorted(Product.objects.values_list("sku", "parent__sku")) == [("P", None), ("V", "P")]


def test_product_admin_import_preview_shows_row_errors_and_changes_nothing(admin_client):
    # given
    from django.core.files.uploadedfile import SimpleUploadedFile
    from import_export.formats.base_formats import CSV

    from catalog.admin import ProductAdmin
    from django.contrib import admin as django_admin

    formats = ProductAdmin(Product, django_admin.site).get_import_formats()
    csv_index = [i for i, f in enumerate(formats) if issubclass(f, CSV)][0]
    upload = SimpleUploadedFile("p.csv", b"sku,kind,name,parent_sku\nOK,simple,Fine,\nV,variant,Var,NOPE\n")

    # when
    preview = admin_client.post("/catalog/product/import/", {"format": csv_index, "import_file": upload, "resource": 0})

    # then
    assert preview.status_code == 200
    assert rows_of(preview.context["result"]) == [(2, {"parent_sku": ["no product with SKU 'NOPE' (in the database or this file)"]})]
    assert "confirm_form" not in preview.context or preview.context["confirm_form"] is None
    assert Product.objects.exists() is False
