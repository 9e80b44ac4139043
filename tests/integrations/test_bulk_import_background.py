"""Large bulk data imports run in a django-q2 task with progress (issue #11, Imports): over
BULK_IMPORT_INLINE_ROWS rows the confirm step records a BulkImport and sends the user to its progress page;
the worker applies the file once (compare-and-set claim), all or nothing, and stores the outcome."""
import pytest
from django.contrib import admin as django_admin
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from import_export.formats.base_formats import CSV, JSON

from catalog.admin import ProductAdmin
from catalog.models import Product
from integrations import bootstrap, bulk_imports, tasks
from integrations.models import BulkImport

pytestmark = pytest.mark.django_db

HEADER = "sku,kind,name,parent_sku,components\n"


def fmt_index(kind):
    formats = ProductAdmin(Product, django_admin.site).get_import_formats()
    return [i for i, f in enumerate(formats) if issubclass(f, kind)][0]


def preview_and_confirm(client, body: str, *, name="p.csv", kind=CSV, capture=None):
    response = client.post("/catalog/product/import/", {
        "format": fmt_index(kind), "resource": 0, "import_file": SimpleUploadedFile(name, body.encode())})
    assert "confirm_form" in response.context, response.content.decode()[:2000]
    initial = response.context["confirm_form"].initial
    with capture(execute=True):
        return client.post("/catalog/product/process_import/", initial)


def test_a_large_import_runs_in_the_background_and_shows_its_progress(admin_client, settings,
                                                                      django_capture_on_commit_callbacks):
    settings.BULK_IMPORT_INLINE_ROWS = 2
    body = HEADER + "".join(f"S{i},simple,N{i},,\n" for i in range(3))
    response = preview_and_confirm(admin_client, body, capture=django_capture_on_commit_callbacks)
    job = BulkImport.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("admin:integrations_bulkimport_change", args=[job.pk])
    assert (job.status, job.rows_total, job.rows_done, job.file_name) == (BulkImport.Status.SUCCEEDED, 3, 3, "p.csv")
    assert job.totals["new"] == 3 and job.errors == [] and job.content in (b"", memoryview(b""))
    assert sorted(Product.objects.values_list("sku", flat=True)) == ["S0", "S1", "S2"]
    page = admin_client.get(response["Location"]).content.decode()
    assert "3 of 3 rows (100%)" in page and "Succeeded" in page and "3 new" in page
    assert 'http-equiv="refresh"' not in page


def test_json_goes_to_the_background_too(admin_client, settings, django_capture_on_commit_callbacks):
    settings.BULK_IMPORT_INLINE_ROWS = 1
    body = "[" + ",".join(f'{{"sku": "J{i}", "kind": "simple", "name": "N"}}' for i in range(2)) + "]"
    preview_and_confirm(admin_client, body, name="p.json", kind=JSON, capture=django_capture_on_commit_callbacks)
    assert BulkImport.objects.get().status == BulkImport.Status.SUCCEEDED
    assert Product.objects.count() == 2


def test_a_small_import_stays_inline(admin_client, settings, django_capture_on_commit_callbacks):
    settings.BULK_IMPORT_INLINE_ROWS = 5
    response = preview_and_confirm(admin_client, HEADER + "S1,simple,N1,,\n", capture=django_capture_on_commit_callbacks)
    assert response.status_code == 302 and response["Location"].endswith("/catalog/product/")
    assert not BulkImport.objects.exists() and Product.objects.filter(sku="S1").exists()


def queued(body: str, user=None) -> BulkImport:
    from catalog.resources import ProductResource
    from integrations.resources import SafeCSV

    return BulkImport.objects.create(user=user, model_label="catalog.product", resource_path="catalog.resources.ProductResource",
                                     format_path="integrations.resources.SafeCSV", file_name="q.csv", content=body.encode(),
                                     rows_total=body.count("\n") - 1)


def test_row_errors_fail_the_import_apply_nothing_and_are_listed():
    Product.objects.create(sku="AB-1", name="x")
    job = queued(HEADER + "S1,simple,N1,,\nab-1,simple,look-alike,,\n")
    job = bulk_imports.bulk_import_run(bulk_import_id=job.pk)
    assert job.status == BulkImport.Status.FAILED and "nothing was applied" in job.error_message
    assert [e["row"] for e in job.errors] == [2] and "differs only by letter case" in job.errors[0]["message"]
    assert sorted(Product.objects.values_list("sku", flat=True)) == ["AB-1"]


def test_a_task_delivered_twice_applies_the_file_once():
    job = queued(HEADER + "S1,simple,N1,,\n")
    assert tasks.bulk_import_run_task(job.pk) == f"bulk import {job.pk}: succeeded"
    assert tasks.bulk_import_run_task(job.pk) == f"bulk import {job.pk}: already claimed or gone"
    assert Product.objects.count() == 1


def test_an_unexpected_exception_fails_the_import_and_the_task(monkeypatch):
    from catalog.resources import ProductResource

    def boom(self, *args, **kwargs):
        raise RuntimeError("disk on fire, password=hunter2hunter2")

    monkeypatch.setattr(ProductResource, "import_data", boom)
    job = queued(HEADER + "S1,simple,N1,,\n")
    with pytest.raises(RuntimeError):
        bulk_imports.bulk_import_run(bulk_import_id=job.pk)
    job.refresh_from_db()
    assert job.status == BulkImport.Status.FAILED and job.finished_at is not None
    assert job.error_message == "RuntimeError: disk on fire, password=***"
    assert not Product.objects.exists()


def test_the_caps_apply_in_the_worker_too(settings):
    job = queued(HEADER + "S1,simple,N1,,\nS2,simple,N2,,\n")
    settings.BULK_IMPORT_MAX_ROWS = 1
    with pytest.raises(Exception):
        bulk_imports.bulk_import_run(bulk_import_id=job.pk)
    job.refresh_from_db()
    assert job.status == BulkImport.Status.FAILED and "at most 1 rows" in job.error_message


def test_users_see_only_their_own_imports_and_nobody_changes_them(client, django_user_model):
    bootstrap.groups_ensure()
    alice = django_user_model.objects.create_user("alice", password="pw", is_staff=True)
    bob = django_user_model.objects.create_user("bob", password="pw", is_staff=True)
    for user in (alice, bob):
        user.groups.add(Group.objects.get(name=bootstrap.ADMIN_GROUP))
    job = queued(HEADER + "S1,simple,N1,,\n", user=alice)
    client.force_login(alice)
    page = client.get(reverse("admin:integrations_bulkimport_change", args=[job.pk])).content.decode()
    assert "waiting" in page and 'http-equiv="refresh"' in page  # queued: the page refreshes itself
    assert client.post(reverse("admin:integrations_bulkimport_delete", args=[job.pk])).status_code == 403
    client.force_login(bob)
    response = client.get(reverse("admin:integrations_bulkimport_change", args=[job.pk]))
    assert response.status_code == 302  # "doesn't exist" → back to the list
    assert client.get(reverse("admin:integrations_bulkimport_changelist")).context["cl"].result_count == 0
    assert BulkImport.objects.get(pk=job.pk).status == BulkImport.Status.QUEUED


def xlsx_bytes(rows) -> bytes:
    import io

    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_xlsx_is_offered_and_imports_in_the_background(admin_client, settings, django_capture_on_commit_callbacks):
    from import_export.formats.base_formats import XLSX

    names = {f().get_title().lower() for f in ProductAdmin(Product, django_admin.site).get_import_formats()}
    assert names == {"csv", "xlsx", "json"}
    settings.BULK_IMPORT_INLINE_ROWS = 1
    content = xlsx_bytes([["sku", "kind", "name", "parent_sku", "components"], ["X1", "simple", "N1", None, None],
                          ["X2", "simple", "N2", None, None]])
    response = admin_client.post("/catalog/product/import/", {
        "format": fmt_index(XLSX), "resource": 0, "import_file": SimpleUploadedFile("p.xlsx", content)})
    initial = response.context["confirm_form"].initial
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post("/catalog/product/process_import/", initial)
    job = BulkImport.objects.get()
    assert job.status == BulkImport.Status.SUCCEEDED and job.rows_total == 2
    assert sorted(Product.objects.values_list("sku", flat=True)) == ["X1", "X2"]


def test_xlsx_rows_are_capped(admin_client, settings):
    from import_export.formats.base_formats import XLSX

    settings.BULK_IMPORT_MAX_ROWS = 1
    content = xlsx_bytes([["sku", "kind", "name"], ["X1", "simple", "N1"], ["X2", "simple", "N2"]])
    response = admin_client.post("/catalog/product/import/", {
        "format": fmt_index(XLSX), "resource": 0, "import_file": SimpleUploadedFile("p.xlsx", content)})
    assert "at most 1 rows" in response.content.decode() and "confirm_form" not in response.context
    assert not Product.objects.exists()


# --- between preview and confirm the file waits in the database, bound to its uploader ----------------

def test_the_confirm_step_cannot_name_a_file_in_the_temp_folder(admin_client):
    import os
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as handle:
        handle.write(HEADER + "EVIL-1,simple,from tmp,,\n")
    try:
        response = admin_client.post("/catalog/product/process_import/", {
            "import_file_name": os.path.basename(handle.name), "original_file_name": "x.csv",
            "format": fmt_index(CSV), "resource": 0}, follow=True)
        assert "upload it again" in response.content.decode()
        assert not Product.objects.exists() and os.path.exists(handle.name)  # neither imported nor deleted
    finally:
        os.remove(handle.name)


def test_an_upload_is_usable_once_and_only_by_its_uploader(admin_client, client, django_user_model,
                                                           django_capture_on_commit_callbacks):
    response = admin_client.post("/catalog/product/import/", {
        "format": fmt_index(CSV), "resource": 0, "import_file": SimpleUploadedFile("p.csv", (HEADER + "S1,simple,N,,\n").encode())})
    initial = response.context["confirm_form"].initial
    other = django_user_model.objects.create_superuser("other", "o@example.com", "pw")
    client.force_login(other)
    assert "upload it again" in client.post("/catalog/product/process_import/", initial, follow=True).content.decode()
    assert not Product.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post("/catalog/product/process_import/", initial)
    assert Product.objects.count() == 1
    Product.objects.all().delete()
    assert "upload it again" in admin_client.post("/catalog/product/process_import/", initial, follow=True).content.decode()
    assert not Product.objects.exists()


def test_imports_left_hanging_are_recovered(settings):
    from datetime import timedelta

    from django.utils import timezone

    settings.Q_TIMEOUT = 600
    now = timezone.now()
    lost = queued(HEADER + "L1,simple,N,,\n")
    BulkImport.objects.filter(pk=lost.pk).update(status=BulkImport.Status.RUNNING, started_at=now - timedelta(minutes=12))
    running = queued(HEADER + "R1,simple,N,,\n")
    BulkImport.objects.filter(pk=running.pk).update(status=BulkImport.Status.RUNNING, started_at=now - timedelta(minutes=5))
    stuck = queued(HEADER + "Q1,simple,N,,\n")
    BulkImport.objects.filter(pk=stuck.pk).update(created_at=now - timedelta(minutes=11))
    fresh = queued(HEADER + "F1,simple,N,,\n")
    assert tasks.bulk_imports_recover_task() == {"lost": 1, "requeued": 1}  # Q sync in tests: the requeued one runs now
    statuses = dict(BulkImport.objects.values_list("pk", "status"))
    assert statuses == {lost.pk: "failed", running.pk: "running", stuck.pk: "succeeded", fresh.pk: "queued"}
    assert "nothing was applied" in BulkImport.objects.get(pk=lost.pk).error_message
    assert list(Product.objects.values_list("sku", flat=True)) == ["Q1"]
