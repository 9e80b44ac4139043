"""Large bulk data imports run by a django-q2 worker, with progress (issue #11, Imports).

The admins' confirm step (integrations/admin_config.ImportExportPermissionMixin.process_import) imports a
file of at most BULK_IMPORT_INLINE_ROWS rows inside the request, as before; a larger one (still within the
size and row caps) becomes a BulkImport row holding the file, and `bulk_import_run_task` applies it:

- claimed by compare-and-set (queued → running), so a task delivered twice applies the file once;
- the rows are applied by the same resource, in one transaction: nothing is applied when any row is bad;
- progress (phase, rows done) is written as the rows are read: on PostgreSQL through a second, autocommit
  connection (visible while the import's own transaction is open); elsewhere at each phase change;
- the outcome (totals, the first 200 row errors, a redacted failure message) is stored on the row; any
  unexpected exception marks it failed, then is re-raised so the task is recorded as failed too;
- nothing is left hanging (`bulk_imports_recover`, every 5 minutes): an import still running past the task
  time limit lost its worker (its transaction rolled back: nothing applied) and is marked failed; one still
  queued after STALE_QUEUED is queued again (the claim makes a second delivery harmless).

Kept in its own module (not services.py) so the connector work landing in parallel does not conflict."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.apps import apps
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from integrations.models import BulkImport
from integrations.redaction import redact

logger = logging.getLogger("integrations.bulk_imports")

MAX_STORED_ERRORS = 200
STALE_QUEUED = timedelta(minutes=10)


def inline_rows() -> int:
    """Files with more rows than this are imported by a worker (BULK_IMPORT_INLINE_ROWS, default 1000)."""
    return int(getattr(settings, "BULK_IMPORT_INLINE_ROWS", 1000))


def _dotted(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def bulk_import_enqueue(*, user, model, resource_class: type, format_class: type, content: bytes,
                        file_name: str, rows_total: int) -> BulkImport:
    """Record a confirmed import and queue its task (after commit)."""
    job = BulkImport.objects.create(user=user, model_label=model._meta.label_lower, resource_path=_dotted(resource_class),
                                    format_path=_dotted(format_class), file_name=file_name[:255], content=content,
                                    rows_total=rows_total, phase="waiting for a worker")

    def _enqueue():
        from django_q.tasks import async_task

        async_task("integrations.tasks.bulk_import_run_task", job.pk, task_name=f"bulk-import-{job.pk}")

    transaction.on_commit(_enqueue)
    return job


class _Progress:
    """Writes rows done / phase where the user can see them while the import's transaction is open."""

    def __init__(self, job: BulkImport):
        self.job, self.every = job, max(100, job.rows_total // 50)
        self.side = None

    def _write(self, **values) -> None:
        if not connection.in_atomic_block:
            BulkImport.objects.filter(pk=self.job.pk).update(**values)
            return
        if connection.vendor != "postgresql":
            return  # SQLite allows one writer: the page shows the phase until the transaction ends
        if self.side is None:
            self.side = connections.create_connection(DEFAULT_DB_ALIAS)
        columns = ", ".join(f"{name} = %s" for name in values)
        with self.side.cursor() as cursor:
            cursor.execute(f"UPDATE {BulkImport._meta.db_table} SET {columns} WHERE id = %s", [*values.values(), self.job.pk])

    def phase(self, text: str) -> None:
        self._write(phase=text)

    def row(self, number: int) -> None:
        if number % self.every == 0:
            self._write(rows_done=number)

    def close(self) -> None:
        if self.side is not None:
            self.side.close()


def _outcome(result) -> tuple[dict, list[dict]]:
    totals = {k: int(v) for k, v in result.totals.items()}
    errors = []
    for error in result.base_errors:
        errors.append({"row": None, "message": redact(str(error.error))[:500]})
    for number, row_errors in result.row_errors():
        for error in row_errors:
            errors.append({"row": number, "message": redact(str(error.error))[:500]})
    for invalid in result.invalid_rows:
        for field, messages in invalid.error_dict.items():
            errors.append({"row": invalid.number, "message": redact(f"{field}: {'; '.join(str(m) for m in messages)}")[:500]})
    return totals, errors[:MAX_STORED_ERRORS]


def bulk_import_run(*, bulk_import_id: int) -> BulkImport | None:
    """Apply a queued import (see the module docstring). None when it is gone or already claimed."""
    claimed = BulkImport.objects.filter(pk=bulk_import_id, status=BulkImport.Status.QUEUED).update(
        status=BulkImport.Status.RUNNING, started_at=timezone.now(), phase="reading the file")
    if not claimed:
        return None
    job = BulkImport.objects.get(pk=bulk_import_id)
    progress = _Progress(job)
    try:
        model = apps.get_model(job.model_label)
        resource = import_string(job.resource_path)()
        input_format = import_string(job.format_path)()
        content = bytes(job.content)  # text formats are stored UTF-8 encoded
        # the caps apply again here
        dataset = input_format.create_dataset(content if input_format.is_binary() else content.decode("utf-8"))
        job.rows_total = len(dataset)
        BulkImport.objects.filter(pk=job.pk).update(rows_total=job.rows_total,
                                                    phase=f"checking and applying {job.rows_total} rows")
        progress.every = max(100, job.rows_total // 50)
        resource.progress_callback = progress.row
        result = resource.import_data(dataset, dry_run=False, file_name=job.file_name, user=job.user,
                                      retain_instance_in_row_result=False)
        totals, errors = _outcome(result)
        failed = result.has_errors() or result.has_validation_errors()
        BulkImport.objects.filter(pk=job.pk).update(
            status=BulkImport.Status.FAILED if failed else BulkImport.Status.SUCCEEDED, totals=totals, errors=errors,
            rows_done=job.rows_total, finished_at=timezone.now(), content=b"",
            phase="nothing applied: fix the rows listed and import again" if failed else "done",
            error_message=f"{len(errors)} row error(s); nothing was applied." if failed else "")
        logger.info("bulk_import.finished", extra={"bulk_import": job.pk, "model": model._meta.label_lower,
                                                   "rows": job.rows_total, "failed": failed})
    except Exception as exc:
        BulkImport.objects.filter(pk=job.pk).update(status=BulkImport.Status.FAILED, finished_at=timezone.now(),
                                                    phase="failed", error_message=redact(f"{type(exc).__name__}: {exc}")[:2000])
        raise
    finally:
        progress.close()
    job.refresh_from_db()
    return job


def bulk_imports_recover(*, now: datetime | None = None) -> dict[str, int]:
    """Fail imports whose worker stopped; queue again those whose task never started."""
    now = now or timezone.now()
    limit = timedelta(seconds=int(getattr(settings, "Q_TIMEOUT", 600)) + 60)
    lost = BulkImport.objects.filter(status=BulkImport.Status.RUNNING, started_at__lt=now - limit).update(
        status=BulkImport.Status.FAILED, finished_at=now, phase="failed", content=b"",
        error_message="The worker stopped before the import finished (time limit or restart); nothing was applied. "
                      "Import the file again, or split it into smaller files.")
    requeued = 0
    from django_q.tasks import async_task

    stale = BulkImport.objects.filter(status=BulkImport.Status.QUEUED, created_at__lt=now - STALE_QUEUED)
    for pk in stale.values_list("pk", flat=True):
        async_task("integrations.tasks.bulk_import_run_task", pk, task_name=f"bulk-import-{pk}-again")
        requeued += 1
    return {"lost": lost, "requeued": requeued}
