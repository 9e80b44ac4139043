"""Bulk data imports (django-import-export admins) are bounded (issue #11, Imports): only CSV, XLSX and
JSON are offered (no YAML: a 389-byte alias bomb), and files over the size or row cap are refused with a
clear message before any row is read into the models."""
import pytest
from django.contrib import admin as django_admin
from django.core.files.uploadedfile import SimpleUploadedFile
from import_export.formats.base_formats import CSV, JSON

from catalog.admin import ProductAdmin
from catalog.models import Product
from inventory.admin import LocationAdmin
from inventory.models import Location

pytestmark = pytest.mark.django_db


def fmt_index(admin_class, model, kind):
    formats = admin_class(model, django_admin.site).get_import_formats()
    return [i for i, f in enumerate(formats) if issubclass(f, kind)][0]


@pytest.mark.parametrize("admin_class, model", [(ProductAdmin, Product), (LocationAdmin, Location)])
def test_only_csv_xlsx_and_json_are_offered(admin_class, model):
    for formats in (admin_class(model, django_admin.site).get_import_formats(),
                    admin_class(model, django_admin.site).get_export_formats()):
        names = {f().get_title().lower() for f in formats}
        assert names and names <= {"csv", "xlsx", "json"}, names
        assert {"csv", "json"} <= names


def test_too_many_rows_are_refused_with_a_clear_message(admin_client, settings):
    settings.BULK_IMPORT_MAX_ROWS = 3
    body = "sku,kind,name,parent_sku,components\n" + "".join(f"S{i},simple,N{i},,\n" for i in range(4))
    response = admin_client.post("/catalog/product/import/", {
        "format": fmt_index(ProductAdmin, Product, CSV), "resource": 0,
        "import_file": SimpleUploadedFile("p.csv", body.encode())})
    assert response.status_code == 200
    assert "at most 3 rows" in response.content.decode() and "4 rows" in response.content.decode()
    assert "confirm_form" not in response.context and not Product.objects.exists()


def test_a_file_over_the_size_cap_is_refused_before_it_is_read(admin_client, settings):
    settings.BULK_IMPORT_MAX_BYTES = 1000
    body = "sku,kind,name,parent_sku,components\n" + "S1,simple," + "x" * 2000 + ",,\n"
    response = admin_client.post("/catalog/product/import/", {
        "format": fmt_index(ProductAdmin, Product, CSV), "resource": 0,
        "import_file": SimpleUploadedFile("p.csv", body.encode())}, follow=True)
    assert response.status_code == 200
    assert "larger than" in response.content.decode()
    assert "confirm_form" not in response.context and not Product.objects.exists()


def test_json_rows_are_capped_too(admin_client, settings):
    settings.BULK_IMPORT_MAX_ROWS = 2
    body = '[' + ",".join(f'{{"sku": "S{i}", "kind": "simple", "name": "N"}}' for i in range(3)) + ']'
    response = admin_client.post("/catalog/product/import/", {
        "format": fmt_index(ProductAdmin, Product, JSON), "resource": 0,
        "import_file": SimpleUploadedFile("p.json", body.encode())})
    assert "at most 2 rows" in response.content.decode()
    assert not Product.objects.exists()


def test_within_the_caps_the_import_previews(admin_client, settings):
    settings.BULK_IMPORT_MAX_ROWS = 3
    body = "sku,kind,name,parent_sku,components\nS1,simple,N1,,\n"
    response = admin_client.post("/catalog/product/import/", {
        "format": fmt_index(ProductAdmin, Product, CSV), "resource": 0,
        "import_file": SimpleUploadedFile("p.csv", body.encode())})
    assert "confirm_form" in response.context
