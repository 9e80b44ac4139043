"""django-import-export building blocks for bulk data, and the Mapping resource. Never credentials.

Bulk resources here validate every row (model ``clean()`` through ``clean_model_instances``), report errors per
row, and apply nothing when any row is bad (one transaction, rolled back on validation errors too). Lookups
(natural keys: Product by sku, Location by code, Integration by name) are loaded for the whole file before
the rows are read, and rows are written with ``bulk_create``/``bulk_update`` in batches: a bounded number of
queries whatever the file size."""
from __future__ import annotations

from contextvars import ContextVar

from import_export import fields, resources, widgets
from import_export import tmp_storages as import_export_tmp_storages
from import_export.formats import base_formats
from tablib import Dataset
from import_export.instance_loaders import BaseInstanceLoader

from django.conf import settings as dj_settings
from django.core.exceptions import ValidationError

from integrations.models import Integration, Mapping
from integrations.spreadsheets import cell_escape, cell_unescape

CHUNK = 2000  # lookups per IN (...) query
_escape, _unescape = cell_escape, cell_unescape  # the one rule: integrations/spreadsheets.py


class ImportTooLarge(ValueError):
    """A bulk file over the size or row cap; the message is shown to the user as is."""


def import_max_bytes() -> int:
    return int(getattr(dj_settings, "BULK_IMPORT_MAX_BYTES", 10 * 1024 * 1024))


def import_max_rows() -> int:
    return int(getattr(dj_settings, "BULK_IMPORT_MAX_ROWS", 20_000))


def _check_size(size: int) -> None:
    cap = import_max_bytes()
    if size > cap:
        raise ImportTooLarge(f"The file is larger than {cap // 1024} KB ({size // 1024} KB); split it into smaller files.")


def _check_rows(count: int) -> None:
    cap = import_max_rows()
    if count > cap:
        raise ImportTooLarge(f"The file has {count} rows; one import takes at most {cap} rows. Split it into "
                             "smaller files.")


class _Capped:
    """Size and row caps applied when a bulk file is read (before any row reaches a resource)."""

    def create_dataset(self, in_stream, **kwargs):
        _check_size(len(in_stream))
        self._check_before_parse(in_stream)
        dataset = super().create_dataset(in_stream, **kwargs)
        _check_rows(len(dataset))
        return dataset

    def _check_before_parse(self, in_stream) -> None:
        pass


class SafeCSV(_Capped, base_formats.CSV):
    """CSV, capped. Formula escaping is done by the resources themselves (``BulkModelResource.export_field``),
    so every export format of these resources is escaped."""

    def _check_before_parse(self, in_stream) -> None:
        text = in_stream.decode(errors="replace") if isinstance(in_stream, bytes) else in_stream
        _check_rows(max(0, text.count("\n") - 1))  # a cheap upper bound before tablib builds the rows


class SafeJSON(_Capped, base_formats.JSON):
    """JSON (a list of row objects), capped."""


class SafeXLSX(_Capped, base_formats.XLSX):
    """XLSX, capped; the uncompressed size is checked too (a zip bomb is small on the wire)."""

    def _check_before_parse(self, in_stream) -> None:
        import io
        import zipfile

        try:
            with zipfile.ZipFile(io.BytesIO(in_stream)) as archive:
                unpacked = sum(info.file_size for info in archive.infolist())
        except zipfile.BadZipFile:
            raise ImportTooLarge("The file is not an XLSX workbook.") from None
        if unpacked > 10 * import_max_bytes():
            raise ImportTooLarge("The workbook unpacks to more than "
                                 f"{10 * import_max_bytes() // (1024 * 1024)} MB; split it into smaller files.")


# The only formats the bulk admins offer (IMPORT_EXPORT_FORMATS): what users need, nothing that can expand
# (YAML aliases) or render (HTML). XLSX is offered when openpyxl is installed.
BULK_FORMATS = [SafeCSV, SafeXLSX, SafeJSON]


def bulk_formats() -> list[type]:
    """BULK_FORMATS whose library is installed (XLSX needs openpyxl)."""
    from tablib.exceptions import UnsupportedFormat

    available = []
    for fmt in BULK_FORMATS:
        try:
            fmt().get_format()
        except (UnsupportedFormat, ImportError):
            continue
        available.append(fmt)
    return available


# --- where an uploaded bulk file waits between preview and confirm -------------------------------------

_upload_user: ContextVar = ContextVar("bulk_upload_user", default=None)
UPLOAD_PURPOSE = "bulk_import"


class UploadGone(ValueError):
    """The confirm step named a file that is not (or no longer) this user's pending upload."""


class PendingUploadStorage(import_export_tmp_storages.BaseStorage):
    """django-import-export's temporary storage, kept in the database (PendingUpload) instead of a file in
    the system temp folder: the confirm form carries only a random token (its SHA-256 is stored), usable by
    the uploader only, until it expires; removed after the import. (The library's TempFolderStorage takes the
    file *name* from the confirm form: any file directly in /tmp could be imported, then deleted.) The user
    comes from the admin view (ImportExportPermissionMixin sets it for the request)."""

    def save(self, data):
        from integrations import services

        user = _upload_user.get()
        if user is None:
            raise UploadGone("bulk uploads are stored only for a signed-in user")
        content = data.encode(self.encoding or "utf-8") if isinstance(data, str) else bytes(data)
        self.name = services.pending_upload_store(user=user, purpose=UPLOAD_PURPOSE, content=content)

    def read(self):
        from integrations import services

        content = services.pending_upload_read(user=_upload_user.get(), purpose=UPLOAD_PURPOSE, token=self.name or "")
        if content is None:
            raise UploadGone("The uploaded file has expired or was not uploaded by you; upload it again.")
        return content if "b" in (self.read_mode or "") else content.decode(self.encoding or "utf-8")

    def remove(self):
        from integrations import services

        services.pending_upload_discard(user=_upload_user.get(), purpose=UPLOAD_PURPOSE, token=self.name or "")


def _unescape_dataset(dataset: Dataset) -> None:
    """Drop the formula-escaping ' from every text cell, in place."""
    rows = [[_unescape(cell) for cell in row] for row in dataset]
    del dataset[:]
    for row in rows:
        dataset.append(row)


def _chunks(values: list, size: int = CHUNK):
    for start in range(0, len(values), size):
        yield values[start:start + size]


class CachedForeignKeyWidget(widgets.ForeignKeyWidget):
    """A ForeignKeyWidget by natural key whose lookups are loaded once per import (``prime``), so a row costs
    no query. An unknown value is a row error naming it."""

    def __init__(self, model, field: str, label: str, **kwargs):
        super().__init__(model, field, **kwargs)
        self.label = label
        self.cache: dict[str, object] | None = None

    def prime(self, values) -> None:
        keys = sorted({str(v).strip() for v in values if v not in (None, "")})
        self.cache = {}
        for chunk in _chunks(keys):
            for obj in self.model._default_manager.filter(**{f"{self.field}__in": chunk}):
                self.cache[str(getattr(obj, self.field))] = obj

    def clean(self, value, row=None, **kwargs):
        if value in (None, ""):
            return None
        key = str(value).strip()
        if self.cache is None:
            try:
                return super().clean(key, row=row, **kwargs)
            except self.model.DoesNotExist:
                raise ValueError(f"no {self.label} {key!r}") from None
        try:
            return self.cache[key]
        except KeyError:
            raise ValueError(f"no {self.label} {key!r}") from None


class PrefetchedInstanceLoader(BaseInstanceLoader):
    """Existing instances come from ``resource.existing`` (filled in ``before_import``), keyed by the
    import id values as the widgets clean them."""

    def get_instance(self, row):
        return self.resource.existing.get(self.resource.row_key(row))


class BulkModelResource(resources.ModelResource):
    """Base for bulk data resources: prefetched lookups, one transaction, bulk writes flushed once at the
    end (in ``BULK_BATCH`` chunks) only when every row is valid, per-row validation with the model's clean()."""

    BULK_BATCH = 1000

    class Meta:
        use_bulk = True
        # None: the library never flushes mid-file (it compares len(pending) == batch_size for every row);
        # our bulk_create/bulk_update write once at the end, in BULK_BATCH chunks.
        batch_size = None
        skip_diff = True
        clean_model_instances = True
        use_transactions = True
        report_skipped = False
        instance_loader_class = PrefetchedInstanceLoader

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.existing: dict = {}
        self._seen: dict = {}

    # --- export ---------------------------------------------------------------------------

    def export_field(self, field, instance, **kwargs):
        """OWASP formula escaping for every text cell: a leading = + - @ tab CR (or ') gets a ' prefix. The
        library's IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT only strips a leading "=". Import drops one leading
        ' again (``before_import``), so an export re-imports exactly."""
        value = super().export_field(field, instance, **kwargs)
        return _escape(value) if isinstance(value, str) else value

    def export_queryset(self, queryset):
        """Related rows loaded with the queryset (no query per exported row) and a stable order."""
        return queryset

    def filter_export(self, queryset, **kwargs):
        return self.export_queryset(super().filter_export(queryset, **kwargs))

    # --- lookups --------------------------------------------------------------------------

    def cached_widgets(self):
        return [(f, f.widget) for f in self.fields.values() if isinstance(f.widget, CachedForeignKeyWidget)]

    def row_key(self, row) -> tuple:
        values = []
        for name in self.get_import_id_fields():
            field = self.fields[name]
            try:
                values.append(field.clean(row))
            except (ValueError, KeyError):
                values.append(None)
        return tuple(getattr(v, "pk", v) for v in values)

    def instance_key(self, instance) -> tuple:
        values = (getattr(instance, self.fields[name].attribute, None) for name in self.get_import_id_fields())
        return tuple(getattr(v, "pk", v) for v in values)

    def load_existing(self, dataset) -> dict:
        """Existing instances for the dataset's keys, in a few queries. Override per resource."""
        return {}

    # Columns normalised before anything is looked up: {column: function(value) -> value}.
    column_cleaners: dict = {}

    def clean_dataset(self, dataset: Dataset) -> None:
        """Apply ``column_cleaners`` to every row, in place (after unescaping, before lookups)."""
        headers = list(dataset.headers or [])
        cleaners = {headers.index(c): f for c, f in self.column_cleaners.items() if c in headers}
        if not cleaners:
            return
        rows = [[cleaners[i](cell) if i in cleaners and cell not in (None, "") else cell for i, cell in enumerate(row)]
                for row in dataset]
        del dataset[:]
        for row in rows:
            dataset.append(row)

    def before_import(self, dataset, **kwargs):
        super().before_import(dataset, **kwargs)
        _unescape_dataset(dataset)
        self.clean_dataset(dataset)
        for field, widget in self.cached_widgets():
            if field.column_name in (dataset.headers or []):
                widget.prime(dataset[field.column_name])
        self.existing = self.load_existing(dataset)
        self._seen = {}

    # --- validation -----------------------------------------------------------------------

    def validate_instance(self, instance, import_validation_errors=None, validate_unique=True):
        """Model full_clean without its per-row queries: relations are resolved by the primed widgets and
        uniqueness is checked against the prefetched rows and the rest of the file (``check_unique``)."""
        errors = dict(import_validation_errors or {})
        exclude = set(errors) | {f.name for f in instance._meta.concrete_fields if f.is_relation}
        try:
            instance.full_clean(exclude=list(exclude), validate_unique=False)
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        if not errors:
            try:
                self.check_unique(instance)
            except ValidationError as exc:
                errors = exc.update_error_dict(errors)
        if errors:
            raise ValidationError(errors)

    def check_unique(self, instance) -> None:
        key = self.instance_key(instance)
        if key in self._seen:
            raise ValidationError({self.get_import_id_fields()[0]: f"also on row {self._seen[key]} of this file"})
        self._seen[key] = self._row_number

    # Called with each row number as the rows are read (integrations/bulk_imports.py shows progress with it).
    progress_callback = None

    def import_row(self, row, instance_loader, **kwargs):
        self._row_number = kwargs.get("row_number")
        if self.progress_callback is not None and self._row_number:
            self.progress_callback(self._row_number)
        return super().import_row(row, instance_loader, **kwargs)

    # --- writes ---------------------------------------------------------------------------

    def import_data(self, dataset, dry_run=False, raise_errors=False, use_transactions=None, collect_failed_rows=False,
                    rollback_on_validation_errors=True, **kwargs):
        """Nothing half-applied: invalid rows roll the whole file back (the library's default keeps the valid rows)."""
        return super().import_data(dataset, dry_run=dry_run, raise_errors=raise_errors, use_transactions=use_transactions,
                                   collect_failed_rows=collect_failed_rows,
                                   rollback_on_validation_errors=rollback_on_validation_errors, **kwargs)

    def _failed(self, result) -> bool:
        return result is not None and (result.has_errors() or result.has_validation_errors())

    def bulk_create(self, using_transactions, dry_run, raise_errors, batch_size=None, result=None):
        # The library flushes every batch_size rows (batch_size given) and once at the end (batch_size None).
        # Only the final flush writes, so nothing is written when any row failed, and rows may refer to rows
        # later in the file (a variant before its parent).
        if batch_size is not None:
            return
        if self._failed(result) or not self.create_instances:
            self.create_instances.clear()
            return
        if using_transactions or not dry_run:
            try:
                self.before_bulk_write(self.create_instances, created=True)
                self.write_creates(self.create_instances)
            except Exception as exc:  # noqa: BLE001 - reported as an import error, transaction rolled back
                self.handle_import_error(result, exc, raise_errors)
        self.create_instances.clear()

    def bulk_update(self, using_transactions, dry_run, raise_errors, batch_size=None, result=None):
        if batch_size is not None:
            return
        if self._failed(result) or not self.update_instances:
            self.update_instances.clear()
            return
        if using_transactions or not dry_run:
            try:
                self.before_bulk_write(self.update_instances, created=False)
                self._meta.model.objects.bulk_update(self.update_instances, self.get_bulk_update_fields(),
                                                     batch_size=self.BULK_BATCH)
            except Exception as exc:  # noqa: BLE001
                self.handle_import_error(result, exc, raise_errors)
        self.update_instances.clear()

    def before_bulk_write(self, instances, *, created: bool) -> None:
        pass

    def write_creates(self, instances) -> None:
        self._meta.model.objects.bulk_create(instances, batch_size=self.BULK_BATCH)

    def get_bulk_update_fields(self):
        ids = set(self.get_import_id_fields())
        return [f.attribute for name, f in self.fields.items()
                if name not in ids and f.attribute and "__" not in f.attribute and not f.readonly]


def integration_widget() -> CachedForeignKeyWidget:
    return CachedForeignKeyWidget(Integration, "name", "integration named")


class MappingResource(BulkModelResource):
    """Mappings of integrations: integration (name), kind, source, target, notes; natural key
    (integration, kind, source)."""

    integration = fields.Field(attribute="integration", column_name="integration", widget=integration_widget())

    class Meta(BulkModelResource.Meta):
        model = Mapping
        fields = ("integration", "kind", "source", "target", "notes")
        import_id_fields = ("integration", "kind", "source")

    def export_queryset(self, queryset):
        return queryset.select_related("integration")

    def clean_dataset(self, dataset) -> None:
        """SKU mappings' source and target normalised (catalog/sku.py) before the (integration, kind, source) lookup."""
        super().clean_dataset(dataset)
        headers = list(dataset.headers or [])
        if "kind" not in headers:
            return
        from catalog.sku import sku_normalize

        kind_at = headers.index("kind")
        columns = [headers.index(c) for c in ("source", "target") if c in headers]
        rows = [[sku_normalize(cell) if i in columns and str(row[kind_at] or "").strip() == "sku" and cell not in (None, "")
                 else cell for i, cell in enumerate(row)] for row in dataset]
        del dataset[:]
        for row in rows:
            dataset.append(row)

    def load_existing(self, dataset) -> dict:
        integrations = [i.pk for i in (self.fields["integration"].widget.cache or {}).values()]
        existing = {(m.integration_id, m.kind, m.source): m
                    for m in Mapping.objects.filter(integration_id__in=integrations).select_related("integration")}
        self.before = {key: (m.target, m.notes) for key, m in existing.items()}
        self.touched: list[Mapping] = []
        return existing

    def validate_instance(self, instance, import_validation_errors=None, validate_unique=True):
        super().validate_instance(instance, import_validation_errors, validate_unique)
        self.touched.append(instance)

    def after_import(self, dataset, result, **kwargs):
        """Record the change in each integration's settings history (source import, with the user)."""
        super().after_import(dataset, result, **kwargs)
        if self._failed(result):
            return
        from integrations.models import SettingsChange

        diffs: dict[int, dict] = {}
        for m in self.touched:
            key = (m.integration_id, m.kind, m.source)
            old = self.before.get(key)
            entry = {"kind": m.kind, "source": m.source, "target": m.target, "notes": m.notes}
            diff = diffs.setdefault(m.integration_id, {"added": [], "changed": [], "removed": []})
            if old is None:
                diff["added"].append(entry)
            elif old != (m.target, m.notes):
                diff["changed"].append({**entry, "target": [old[0], m.target], "notes": [old[1], m.notes]})
        user = kwargs.get("user")
        SettingsChange.objects.bulk_create([
            SettingsChange(integration_id=pk, user=user if getattr(user, "pk", None) else None, source=SettingsChange.Source.IMPORT,
                           summary=f"mappings imported: {len(d['added'])} added, {len(d['changed'])} changed",
                           diff={"mappings": d})
            for pk, d in diffs.items() if d["added"] or d["changed"]])

    def check_unique(self, instance) -> None:
        kinds = instance.integration.spec.mapping_kinds if instance.integration_id else ()
        if kinds and instance.kind not in kinds:
            raise ValidationError({"kind": f"{instance.integration.spec.label} has no {instance.kind} mappings"})
        super().check_unique(instance)
