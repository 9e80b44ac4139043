"""Progress of a background bulk import is visible while its transaction is still open (PostgreSQL: the
rows-done counter is written through a second, autocommit connection)."""
import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections

from catalog.models import Product
from integrations import bulk_imports
from integrations.models import BulkImport

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (DATABASE_URL=postgres://...)"),
]


def test_rows_done_is_visible_to_other_connections_during_the_import(monkeypatch):
    body = "sku,kind,name,parent_sku,components\n" + "".join(f"P{i},simple,N{i},,\n" for i in range(300))
    job = BulkImport.objects.create(model_label="catalog.product", resource_path="catalog.resources.ProductResource",
                                    format_path="integrations.resources.SafeCSV", content=body.encode(), rows_total=300)
    seen = []
    original = bulk_imports._Progress.row

    def row(self, number):
        original(self, number)
        if number == 250:  # what the progress page would read now, from another connection
            other = connections.create_connection(DEFAULT_DB_ALIAS)
            try:
                with other.cursor() as cursor:
                    cursor.execute("SELECT status, rows_done FROM integrations_bulkimport WHERE id = %s", [job.pk])
                    seen.append(cursor.fetchone())
                    cursor.execute("SELECT count(*) FROM catalog_product")
                    seen.append(cursor.fetchone())
            finally:
                other.close()

    monkeypatch.setattr(bulk_imports._Progress, "row", row)
    job = bulk_imports.bulk_import_run(bulk_import_id=job.pk)
    assert seen == [("running", 200), (0,)]  # progress visible, the rows not yet (one transaction)
    assert job.status == BulkImport.Status.SUCCEEDED and job.rows_done == 300 and Product.objects.count() == 300
