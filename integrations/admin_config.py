"""Configuration export/import in the Integration admin: actions "Export configuration (JSON/CSV)" and
"Import configuration…", and the import views (upload → preview of the difference → confirm).

IntegrationAdmin inherits ConfigurationAdminMixin first and calls super() in get_urls/get_actions. Export
needs ``integrations.export``, import ``integrations.import`` (separate from view/change). The views are one
call deep into ``integrations.configuration``."""
from __future__ import annotations

import io
import zipfile

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.text import slugify

from integrations import configuration, services
from integrations.models import Integration

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
UPLOAD_PURPOSE = "configuration_import"


class ImportExportPermissionMixin:
    """For the bulk-data admins (put it before ImportExportMixin): check the app-level permissions the models
    declare in Meta.permissions (``catalog.import``, ``integrations.export``...). The library itself checks
    ``<app>.<code>_<model>`` (``catalog.import_product``), which no model declares, so only superusers could
    import or export. ``import_permission`` / ``export_permission`` override the permission names."""

    import_permission: str | None = None
    export_permission: str | None = None
    # Between preview and confirm the file waits in the database, bound to its uploader (not in /tmp by name).
    tmp_storage_class = "integrations.resources.PendingUploadStorage"

    @property
    def formats(self):
        """CSV, XLSX and JSON only, each capped in size and rows (integrations/resources.py)."""
        from integrations.resources import bulk_formats

        return bulk_formats()

    def import_action(self, request, **kwargs):
        from integrations.resources import _upload_user

        token = _upload_user.set(request.user)
        try:
            return self._import_action(request, **kwargs)
        finally:
            _upload_user.reset(token)

    def _import_action(self, request, **kwargs):
        """Refuse a file over the size cap from its declared size, before it is stored or read."""
        from integrations.resources import ImportTooLarge, _check_size

        upload = request.FILES.get("import_file") if request.method == "POST" else None
        if upload is not None:
            try:
                _check_size(upload.size)
            except ImportTooLarge as exc:
                messages.error(request, str(exc))
                return HttpResponseRedirect(request.path)
        return super().import_action(request, **kwargs)

    def process_import(self, request, **kwargs):
        from integrations.resources import _upload_user

        token = _upload_user.set(request.user)
        try:
            return self._process_import(request, **kwargs)
        finally:
            _upload_user.reset(token)

    def _process_import(self, request, **kwargs):
        """Confirm step: a file over BULK_IMPORT_INLINE_ROWS rows is handed to a worker (integrations/
        bulk_imports.py) and the user is sent to its progress page; a smaller one is imported here."""
        from integrations import bulk_imports
        from integrations.resources import ImportTooLarge, UploadGone

        if request.method != "POST" or not self.has_import_permission(request):
            return super().process_import(request, **kwargs)
        confirm_form = self.create_confirm_form(request)
        if not confirm_form.is_valid():
            return super().process_import(request, **kwargs)
        format_class = self.get_import_formats()[int(confirm_form.cleaned_data["format"])]
        input_format = format_class(encoding=self.from_encoding)
        encoding = None if input_format.is_binary() else self.from_encoding
        tmp_storage = self.get_tmp_storage_class()(name=confirm_form.cleaned_data["import_file_name"], encoding=encoding,
                                                   read_mode=input_format.get_read_mode(),
                                                   **self.get_tmp_storage_class_kwargs())
        try:
            data = tmp_storage.read()
            rows = len(input_format.create_dataset(data))
        except (ImportTooLarge, UploadGone) as exc:
            messages.error(request, str(exc))
            return HttpResponseRedirect(reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_import"))
        if rows <= bulk_imports.inline_rows():
            return super().process_import(request, **kwargs)
        content = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        job = bulk_imports.bulk_import_enqueue(
            user=request.user, model=self.model, resource_class=self.choose_import_resource_class(confirm_form, request),
            format_class=format_class, content=content, file_name=confirm_form.cleaned_data.get("original_file_name") or "",
            rows_total=rows)
        tmp_storage.remove()
        messages.info(request, f"The import of {rows} rows runs in the background: this page shows its progress.")
        return HttpResponseRedirect(reverse("admin:integrations_bulkimport_change", args=[job.pk]))

    def add_data_read_fail_error_to_form(self, form, e):
        """Our caps explain themselves; the library's message names only the exception class."""
        from integrations.resources import ImportTooLarge

        if isinstance(e, ImportTooLarge):
            form.add_error("import_file", str(e))
            return
        super().add_data_read_fail_error_to_form(form, e)

    def has_import_permission(self, request) -> bool:
        code = getattr(settings, "IMPORT_EXPORT_IMPORT_PERMISSION_CODE", None) or "import"
        return request.user.has_perm(self.import_permission or f"{self.opts.app_label}.{code}")

    def has_export_permission(self, request) -> bool:
        code = getattr(settings, "IMPORT_EXPORT_EXPORT_PERMISSION_CODE", None) or "export"
        return request.user.has_perm(self.export_permission or f"{self.opts.app_label}.{code}")


class ConfigurationImportForm(forms.Form):
    file = forms.FileField(help_text="A configuration file exported from Switchyard (.json or .csv).")
    target = forms.ModelChoiceField(queryset=Integration.objects.all(), required=False,
                                    help_text="Import into this integration (same connector kind as the file)…")
    new_name = forms.CharField(max_length=120, required=False, label="…or create a new integration named",
                               help_text="Leave the integration above empty to create a new one from the file.")

    def clean(self):
        data = super().clean()
        if not data.get("target") and not (data.get("new_name") or "").strip():
            raise forms.ValidationError("Choose an integration to import into, or give a name for a new one.")
        if data.get("target") and (data.get("new_name") or "").strip():
            raise forms.ValidationError("Choose an existing integration or a new name, not both.")
        upload = data.get("file")
        if upload is not None and upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
        return data


class ConfigurationAdminMixin:
    """Actions and views for configuration bundles; see the module docstring."""

    configuration_import_template = "admin/integrations/configuration/import.html"
    configuration_preview_template = "admin/integrations/configuration/preview.html"

    # --- permissions ------------------------------------------------------------------------------

    def has_configuration_export_permission(self, request) -> bool:
        return request.user.has_perm("integrations.export")

    def has_configuration_import_permission(self, request) -> bool:
        return request.user.has_perm("integrations.import")

    # --- actions ----------------------------------------------------------------------------------

    def get_actions(self, request):
        actions = super().get_actions(request)
        if self.has_configuration_export_permission(request):
            for name, description in (("export_configuration_json", "Export configuration (JSON)"),
                                      ("export_configuration_csv", "Export configuration (CSV)")):
                actions[name] = (getattr(type(self), name), name, description)
        if self.has_configuration_import_permission(request):
            actions["import_configuration"] = (type(self).import_configuration, "import_configuration",
                                               "Import configuration into the selected integration…")
        return actions

    def export_configuration_json(self, request, queryset):
        return self._configuration_download(request, queryset, configuration.JSON)

    def export_configuration_csv(self, request, queryset):
        return self._configuration_download(request, queryset, configuration.CSV)

    def _configuration_download(self, request, queryset, fmt):
        if not self.has_configuration_export_permission(request):
            raise PermissionDenied
        integrations = list(queryset)
        files = [(f"{slugify(i.name) or i.pk}.config.{fmt}", configuration.configuration_export(integration=i, fmt=fmt))
                 for i in integrations]
        if len(files) == 1:
            name, content = files[0]
            content_type = "application/json" if fmt == configuration.JSON else "text/csv; charset=utf-8"
        else:
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                for file_name, data in files:
                    archive.writestr(file_name, data)
            name, content, content_type = f"configurations-{fmt}.zip", buffer.getvalue(), "application/zip"
        response = HttpResponse(content, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    def import_configuration(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one integration to import a configuration into.", messages.WARNING)
            return None
        return HttpResponseRedirect(reverse("admin:integrations_integration_configuration_import") + f"?target={queryset.get().pk}")

    # --- views ------------------------------------------------------------------------------------

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("configuration/import/", wrap(self.configuration_import_view), name="integrations_integration_configuration_import"),
        ] + super().get_urls()

    def configuration_import_view(self, request):
        """GET: upload form. POST step=preview: validate, show the difference. POST step=confirm: apply."""
        if not self.has_configuration_import_permission(request):
            raise PermissionDenied
        step = request.POST.get("step", "upload") if request.method == "POST" else "upload"
        if step == "confirm":
            return self._configuration_confirm(request)
        if request.method == "POST":
            form = ConfigurationImportForm(request.POST, request.FILES)
            if form.is_valid():
                content = form.cleaned_data["file"].read()
                target = form.cleaned_data["target"]
                new_name = (form.cleaned_data["new_name"] or "").strip()
                try:
                    _, plan = configuration.configuration_import(content=content, target=target, new_name=new_name,
                                                                 dry_run=True, user=request.user)
                except configuration.ConfigurationInvalid as exc:
                    return self._configuration_render(request, self.configuration_import_template,
                                                      form=form, errors=exc.errors)
                upload = services.pending_upload_store(user=request.user, purpose=UPLOAD_PURPOSE, content=content)
                removed = (plan.diff.get("mappings") or {}).get("removed", [])
                other_removals = [(section["name"], row["what"]) for section in _diff_sections(plan.diff) if section["name"] != "mappings"
                                  for row in section["rows"] if row["what"].startswith("removed")]
                return self._configuration_render(request, self.configuration_preview_template, plan=plan, target=target,
                                                  new_name=new_name, upload=upload, sections=_diff_sections(plan.diff),
                                                  removed_mappings=removed, other_removals=other_removals)
        else:
            initial = {}
            if request.GET.get("target"):
                initial["target"] = get_object_or_404(Integration, pk=request.GET["target"])
            form = ConfigurationImportForm(initial=initial)
        return self._configuration_render(request, self.configuration_import_template, form=form, errors=[])

    def _configuration_confirm(self, request):
        target_pk = request.POST.get("target") or ""
        target = get_object_or_404(Integration, pk=target_pk) if target_pk else None
        new_name = (request.POST.get("new_name") or "").strip()
        content = services.pending_upload_take(user=request.user, purpose=UPLOAD_PURPOSE, token=request.POST.get("upload", ""))
        if content is None:
            form = ConfigurationImportForm(initial={"target": target, "new_name": new_name})
            return self._configuration_render(request, self.configuration_import_template, form=form, errors=[
                ("file", "the uploaded file expired or was already used; upload it again")])
        mode = request.POST.get("mappings_mode") or configuration.MAPPINGS_REPLACE
        try:
            integration, plan = configuration.configuration_import(content=content, target=target, new_name=new_name,
                                                                   user=request.user, mappings_mode=mode)
        except configuration.ConfigurationInvalid as exc:  # the target changed since the preview, or tampering
            form = ConfigurationImportForm(initial={"target": target, "new_name": new_name})
            return self._configuration_render(request, self.configuration_import_template, form=form, errors=exc.errors)
        if plan.has_changes or target is None:
            verb = "created from the file" if target is None else "updated"
            self.message_user(request, f"{integration}: configuration {verb}.", messages.SUCCESS)
        else:
            self.message_user(request, f"{integration}: no change, the configuration is already identical.", messages.INFO)
        return HttpResponseRedirect(reverse("admin:integrations_integration_change", args=[integration.pk]))

    def _configuration_render(self, request, template, **context):
        return TemplateResponse(request, template, {
            **self.admin_site.each_context(request), "opts": self.model._meta, "title": "Import configuration",
            "has_view_permission": self.has_view_permission(request), **context})


def _diff_sections(diff: dict) -> list[dict]:
    """The plan's difference as display rows: section, what, before, after."""
    sections = []
    for name, part in diff.items():
        if not part:
            continue
        rows = []
        if name in ("settings", "flows"):
            for key, (old, new) in part.items():
                rows.append({"what": key, "before": old, "after": new})
        else:
            for kind in ("added", "changed", "removed"):
                for item in part.get(kind, []):
                    if isinstance(item, dict) and "target" in item and isinstance(item["target"], list):
                        rows.append({"what": f"{kind}: {item['kind']} {item['source']}", "before": item["target"][0],
                                     "after": item["target"][1]})
                    elif isinstance(item, dict):
                        label = f"{item.get('kind', '')} {item.get('source', '')}".strip()
                        rows.append({"what": f"{kind}: {label}", "before": item.get("target") if kind == "removed" else "",
                                     "after": item.get("target") if kind == "added" else ""})
                    else:
                        rows.append({"what": f"{kind}: {item}", "before": "", "after": ""})
        sections.append({"name": name.replace("_", " "), "rows": rows})
    return sections
