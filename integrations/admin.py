"""Admin for integrations: the per-connector Integration page (settings from the ConnectorSpec,
write-only credentials, flow states, actions) and every engine model. Actions are one call deep."""
from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.db.models import Q
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme
from urllib.parse import urlencode
from import_export.admin import ImportExportMixin

from integrations import forms as integration_forms
from integrations import exception_help, registry, selectors, services
from integrations.admin_config import ConfigurationAdminMixin, ImportExportPermissionMixin
from integrations.models import (BulkImport, ExternalRef, FlowState, Integration, Mapping, OpsException, OutboundPush,
                                 SettingsChange, SyncRun)
from integrations.resources import MappingResource
from integrations import admin_tasks  # noqa: F401,E402  (replaces django-q2's admin: read-only for staff)

RUN_FLOW_PERM = "integrations.run_flow"


def _can_run_flows(request) -> bool:
    return request.user.has_perm(RUN_FLOW_PERM)


def _json(value) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


# --- flow actions shared by the Integration and FlowState admins --------------------------------

FLOW_ACTIONS = {
    "run": ("Run now", False),
    "force_resync": ("Force resync", True),
    "reset_cursor": ("Reset cursor", True),
}


def _flow_action_apply(request, action: str, states) -> int:
    count = 0
    for state in states:
        if action == "run":
            services.flow_run_enqueue(flow_state=state, user=request.user)
        elif action == "force_resync":
            services.flow_state_force_resync(flow_state=state, user=request.user)
        elif action == "reset_cursor":
            services.flow_state_reset_cursor(flow_state=state, user=request.user)
        count += 1
    return count


def _flow_action_message(action: str, count: int) -> str:
    return {
        "run": f"{count} flow run(s) queued.",
        "force_resync": f"{count} flow(s) will resync everything on their next run (queued now).",
        "reset_cursor": f"Cursor reset on {count} flow(s).",
    }[action]


def _confirm_page(request, model_admin, *, action: str, states, title_objects, admin_action: str | None,
                  selected=None):
    """The intermediate page for Force resync / Reset cursor (the admin's delete-confirmation pattern)."""
    label = FLOW_ACTIONS[action][0]
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"{label}: are you sure?",
        "action_label": label,
        "action": action,
        "admin_action": admin_action,
        "states": states,
        "objects": title_objects,
        "selected": selected or [],
        "opts": model_admin.model._meta,
        "explanation": {
            "force_resync": "The next run of each flow ignores its cursor and fingerprints once and fetches "
                            "everything again (bindings make this harmless: nothing is duplicated). It runs now.",
            "reset_cursor": "Each flow's cursor is cleared: the next run starts from the beginning (or the "
                            "configured start date). Nothing is duplicated; it may take longer.",
        }.get(action, ""),
    }
    return TemplateResponse(request, "admin/integrations/confirm_flow_action.html", context)


def _flow_bulk_action(model_admin, request, queryset, action: str, states_of):
    states = list(states_of(queryset))
    needs_confirm = FLOW_ACTIONS[action][1]
    if needs_confirm and request.POST.get("confirmed") != "yes":
        return _confirm_page(request, model_admin, action=action, states=states, title_objects=list(queryset),
                             admin_action=request.POST.get("action"),
                             selected=request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME))
    count = _flow_action_apply(request, action, states)
    model_admin.message_user(request, _flow_action_message(action, count), messages.SUCCESS)
    return None


def _states_of_integrations(queryset):
    return FlowState.objects.filter(integration__in=queryset).select_related("integration")


# --- Integration ---------------------------------------------------------------------------------

def _flow_switch_label(state: FlowState) -> str:
    """The label of the setting that switches this flow on/off ("" when the flow has none)."""
    spec = registry.CONNECTORS.get(state.integration.connector) if state.integration_id else None
    if spec is None:
        return ""
    try:
        flow = spec.flow(state.flow)
    except KeyError:
        return ""
    if not flow.enable_setting:
        return ""
    try:
        return spec.setting(flow.enable_setting).label
    except KeyError:
        return flow.enable_setting


class _SwitchedBySettingCheckbox(forms.CheckboxInput):
    """A read-only checkbox with the reason under it (tabular inlines show no per-row help)."""

    def __init__(self, help_text: str):
        super().__init__(attrs={"disabled": True})
        self.help_text = help_text

    def render(self, name, value, attrs=None, renderer=None):
        return format_html('{}<div class="help">{}</div>', super().render(name, value, attrs, renderer), self.help_text)


class FlowStateInlineForm(forms.ModelForm):
    """One truth for on/off: a flow switched by a setting (FlowSpec.enable_setting) shows ``enabled`` read-only
    (the settings save sets it, services.flow_states_sync_switches); only flows without one are switched here."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        label = _flow_switch_label(self.instance) if self.instance.pk else ""
        if label and "enabled" in self.fields:
            field = self.fields["enabled"]
            field.disabled = True  # posted values are ignored: the stored value stands
            field.help_text = f"switched by the setting '{label}'"
            field.widget = _SwitchedBySettingCheckbox(field.help_text)


def human_time(value) -> str:
    """A cursor value as people read it: epoch seconds / ISO strings become a local date with seconds."""
    from datetime import datetime, timezone as dt_timezone

    from django.utils.dateparse import parse_datetime

    moment = None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 10 ** 9 <= value < 10 ** 11:
        moment = datetime.fromtimestamp(value, tz=dt_timezone.utc)
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and 10 ** 12 <= value < 10 ** 14:  # milliseconds
        moment = datetime.fromtimestamp(value / 1000, tz=dt_timezone.utc)
    elif isinstance(value, str) and len(value) >= 10 and value[:4].isdigit():
        moment = parse_datetime(value)
        if moment is not None and timezone.is_naive(moment):
            moment = timezone.make_aware(moment, dt_timezone.utc)
    if moment is None:
        return str(value)
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S")


class FlowStateInline(admin.TabularInline):
    """The flows table: switch and interval editable, the rest read as people read it (last run linked, human cursor
    dates, no next run for a disabled flow), Run now / Force resync / Reset cursor on each row."""

    model = FlowState
    form = FlowStateInlineForm
    extra = 0
    can_delete = False
    verbose_name_plural = "flows"
    fields = ["flow_label", "enabled", "interval", "last_run", "last_success", "next_run", "cursor_display", "flow_buttons"]
    readonly_fields = ["flow_label", "last_run", "last_success", "next_run", "cursor_display", "flow_buttons"]

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return selectors.flow_states_with_last_run(super().get_queryset(request).select_related("integration"))

    @admin.display(description="flow")
    def flow_label(self, obj):
        try:
            label = obj.spec.label
        except KeyError:
            label = obj.flow
        return format_html('<strong>{}</strong><br><span class="help">{}</span>', label, obj.flow)

    @admin.display(description="last run")
    def last_run(self, obj):
        run = last_run_summary(obj)
        if run is None:  # the cell is followed by flow_progress.js while a run is queued or running
            return format_html('<span class="flow-last-run-cell" data-flow-state="{}">never</span>', obj.pk)
        return format_html('<span class="flow-last-run-cell" data-flow-state="{}" data-run="{}"><a href="{}" class="flow-last-run '
                           'flow-run-{}">#{} {}</a><br><span class="help">{} · {}</span>{}</span>', obj.pk, run["id"], run["url"],
                           run["status"], run["id"], run["status"], run["started"], run["detail"],
                           format_html('<br><span class="errornote" style="padding:2px 4px">{}</span>', run["error"]) if run["error"] else "")

    @admin.display(description="last success")
    def last_success(self, obj):
        if not obj.last_succeeded_at:
            return "never"
        text = timezone.localtime(obj.last_succeeded_at).strftime("%Y-%m-%d %H:%M:%S")
        return format_html("{}{}", text, format_html('<br><span class="help">{} failure(s) since</span>', obj.consecutive_failures)
                           if obj.consecutive_failures else "")

    @admin.display(description="next run")
    def next_run(self, obj):
        if not obj.enabled:
            return "— (off)"
        if not obj.next_run_at:
            return "at the next dispatch"
        return timezone.localtime(obj.next_run_at).strftime("%Y-%m-%d %H:%M:%S")

    @admin.display(description="cursor")
    def cursor_display(self, obj):
        if not obj.cursor:
            return "— (from the start)"
        rows = format_html_join("", "<div><code>{}</code>: {}</div>", ((k, human_time(v)) for k, v in sorted(obj.cursor.items())))
        return rows

    @admin.display(description="actions")
    def flow_buttons(self, obj):
        if obj.pk is None:
            return ""
        run_url = reverse("admin:integrations_integration_flow_action", args=[obj.integration_id, obj.pk, "run"])
        return format_html(
            '<div style="white-space:nowrap">'
            '<button type="submit" class="button" formaction="{}" formmethod="post" name="_flow_action" value="run">'
            'Run now</button> <a class="button" href="{}">Force resync</a> <a class="button" href="{}">Reset cursor</a></div>',
            run_url,
            reverse("admin:integrations_integration_flow_action", args=[obj.integration_id, obj.pk, "force_resync"]),
            reverse("admin:integrations_integration_flow_action", args=[obj.integration_id, obj.pk, "reset_cursor"]),
        )


@admin.register(Integration)
class IntegrationAdmin(ConfigurationAdminMixin, admin.ModelAdmin):
    list_display = ["name", "connector_label", "role", "environment", "health", "is_active", "remote_account_id",
                    "auth_expires_at", "updated_at"]
    change_form_template = "admin/integrations/integration/change_form.html"
    list_filter = ["connector", "role", "status", "is_active"]
    search_fields = ["name", "=remote_account_id"]
    readonly_fields = ["connector_label", "role", "status", "last_error", "auth_expires_at", "paused_reason",
                       "remote_account_id", "connector_links"]
    actions = ["action_test_connection", "action_run_now", "action_force_resync", "action_reset_cursor"]
    inlines = [FlowStateInline]

    # --- forms built from the connector spec ----------------------------------------------------

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = integration_forms.IntegrationAddForm
        elif obj.connector in registry.CONNECTORS:
            kwargs["form"], _ = integration_forms.integration_change_form_class(obj)
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ["name", "connector", "environment"]})]
        if obj.connector not in registry.CONNECTORS:  # connector package removed: status only, no settings
            return [(None, {"fields": ["name", "is_active"]}), ("Status", {"fields": self.readonly_fields})]
        return integration_forms.integration_change_form_class(obj)[1]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None and obj.connector in registry.CONNECTORS:
            # Users with view permission only see settings read-only: the admin reads them as attributes.
            for name, value in integration_forms.read_only_values(obj).items():
                setattr(obj, name, value)
        return obj

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def save_model(self, request, obj, form, change):
        if not change:
            created = services.integration_create(name=obj.name, connector=form.cleaned_data["connector"],
                                                  environment=form.cleaned_data.get("environment") or "", user=request.user)
            for field in Integration._meta.concrete_fields:
                setattr(obj, field.attname, getattr(created, field.attname))
            obj._state.adding = False
            return
        obj.save(update_fields=["name", "is_active", "environment", "updated_at"])
        if not hasattr(form, "settings_values"):  # connector not installed: nothing else to save
            return
        services.integration_update_settings(integration=obj, values=form.settings_values, user=request.user)
        services.integration_update_credentials(integration=obj, values=form.credential_values, user=request.user)

    def save_formset(self, request, form, formset, change):
        """Flow switches and intervals edited inline are recorded in the settings history."""
        changes = {}
        for inline_form in formset.forms:
            if inline_form.instance.pk and inline_form.has_changed():
                before = FlowState.objects.filter(pk=inline_form.instance.pk).values("enabled", "interval").first() or {}
                changes[inline_form.instance.flow] = {
                    name: [str(before.get(name)), str(inline_form.cleaned_data.get(name))]
                    for name in inline_form.changed_data if name in ("enabled", "interval")
                }
        super().save_formset(request, form, formset, change)
        changes = {flow: diff for flow, diff in changes.items() if diff}
        if changes:
            SettingsChange.objects.create(integration=form.instance, user=request.user, source=SettingsChange.Source.ADMIN,
                                          summary=f"{len(changes)} flow schedule(s) changed", diff={"flows": changes})

    def response_add(self, request, obj, post_url_continue=None):
        self.message_user(request, f"{obj} created: now fill in its settings and credentials.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:integrations_integration_change", args=[obj.pk]))

    def get_queryset(self, request):
        from django.db.models import Count, Max

        return super().get_queryset(request).annotate(
            enabled_flows=Count("flow_states", filter=Q(flow_states__enabled=True), distinct=True),
            failing_flows=Count("flow_states", filter=Q(flow_states__enabled=True, flow_states__consecutive_failures__gt=0), distinct=True),
            last_success=Max("flow_states__last_succeeded_at", filter=Q(flow_states__enabled=True)))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = dict(extra_context or {})
        obj = Integration.objects.filter(pk=object_id).first() if str(object_id).isdigit() else None
        if obj is not None:
            extra["health"] = selectors.integration_health(integration=obj)
            extra["health_runs_url"] = reverse("admin:integrations_syncrun_changelist") + f"?integration__id__exact={obj.pk}"
            extra["health_exceptions_url"] = (reverse("admin:integrations_opsexception_changelist")
                                              + f"?integration__id__exact={obj.pk}&status__exact=open")
        return super().change_view(request, object_id, form_url, extra_context=extra)

    # --- read-only status ------------------------------------------------------------------------

    @admin.display(description="status")
    def health(self, obj):
        """Computed from the connection and the flows' outcomes (selectors.health_status), in list-sized queries."""
        class _State:  # the changelist has the aggregates, not the flow states
            def __init__(self, enabled, failing, success):
                self.enabled, self.consecutive_failures, self.last_succeeded_at, self.flow = enabled, failing, success, "flow"

        enabled = getattr(obj, "enabled_flows", 0) or 0
        failing = getattr(obj, "failing_flows", 0) or 0
        states = [_State(True, 1 if i < failing else 0, getattr(obj, "last_success", None)) for i in range(enabled)]
        code, label, reason = selectors.health_status(integration=obj, states=states)
        if code == "degraded":
            reason = f"{failing} of {enabled} enabled flow(s) failing"
        return format_html('<span class="health-{}" title="{}">{}</span>', code, reason, label)

    @admin.display(description="connector", ordering="connector")
    def connector_label(self, obj):
        try:
            return obj.spec.label
        except KeyError:
            return f"{obj.connector} (not installed)"

    @admin.display(description="links")
    def connector_links(self, obj):
        if obj is None or obj.pk is None:
            return ""
        links = [("Settings history", reverse("admin:integrations_integration_history_settings", args=[obj.pk])),
                 ("Runs", reverse("admin:integrations_syncrun_changelist") + f"?integration__id__exact={obj.pk}"),
                 ("Exceptions", reverse("admin:integrations_opsexception_changelist") + f"?integration__id__exact={obj.pk}")]
        try:
            spec_links = obj.spec.extra.get("admin_links", ())
        except KeyError:
            spec_links = ()
        for label, url_name in spec_links:
            try:
                links.append((label, reverse(url_name, args=[obj.pk])))
            except NoReverseMatch:
                continue
        buttons = format_html_join(" ", '<a class="button" href="{}">{}</a>', ((url, label) for label, url in links))
        test_url = reverse("admin:integrations_integration_test_connection", args=[obj.pk])
        return format_html('{} <button type="submit" class="button" formaction="{}" formmethod="post" '
                           'name="_test_connection" value="1">Test connection</button>', buttons, test_url)

    # --- list actions ---------------------------------------------------------------------------

    def has_run_flow_permission(self, request):
        return _can_run_flows(request)

    @admin.action(description="Test connection", permissions=["run_flow"])
    def action_test_connection(self, request, queryset):
        for integration in queryset:
            ok, message = services.integration_test_connection(integration=integration)
            self.message_user(request, f"{integration}: {message}", messages.SUCCESS if ok else messages.ERROR)

    @admin.action(description="Run now (all flows)", permissions=["run_flow"])
    def action_run_now(self, request, queryset):
        return _flow_bulk_action(self, request, queryset, "run", _states_of_integrations)

    @admin.action(description="Force resync (all flows)", permissions=["run_flow"])
    def action_force_resync(self, request, queryset):
        return _flow_bulk_action(self, request, queryset, "force_resync", _states_of_integrations)

    @admin.action(description="Reset cursor (all flows)", permissions=["run_flow"])
    def action_reset_cursor(self, request, queryset):
        return _flow_bulk_action(self, request, queryset, "reset_cursor", _states_of_integrations)

    # --- extra views ------------------------------------------------------------------------------

    def get_urls(self):
        wrap = self.admin_site.admin_view
        extra = [
            path("<int:pk>/settings-history/", wrap(self.settings_history_view), name="integrations_integration_history_settings"),
            path("<int:pk>/test-connection/", wrap(self.test_connection_view), name="integrations_integration_test_connection"),
            path("<int:pk>/flow/<int:state_pk>/<str:action>/", wrap(self.flow_action_view),
                 name="integrations_integration_flow_action"),
            path("<int:pk>/flows/progress/", wrap(self.flow_progress_view), name="integrations_integration_flow_progress"),
        ]
        return extra + super().get_urls()

    def settings_history_view(self, request, pk):
        integration = get_object_or_404(Integration, pk=pk)
        if not self.has_view_or_change_permission(request, integration):
            raise PermissionDenied
        changes = SettingsChange.objects.filter(integration=integration).select_related("user").order_by("-at")[:500]
        rows = [{"change": c, "lines": _diff_lines(c.diff)} for c in changes]
        context = {**self.admin_site.each_context(request), "title": f"Settings history: {integration}",
                   "integration": integration, "rows": rows, "opts": self.model._meta, "original": integration}
        return TemplateResponse(request, "admin/integrations/settings_history.html", context)

    def test_connection_view(self, request, pk):
        integration = get_object_or_404(Integration, pk=pk)
        if request.method != "POST" or not _can_run_flows(request):
            raise PermissionDenied
        ok, message = services.integration_test_connection(integration=integration)
        self.message_user(request, f"{integration}: {message}", messages.SUCCESS if ok else messages.ERROR)
        return HttpResponseRedirect(reverse("admin:integrations_integration_change", args=[pk]))

    def flow_action_view(self, request, pk, state_pk, action):
        state = get_object_or_404(FlowState.objects.select_related("integration"), pk=state_pk, integration_id=pk)
        if action not in FLOW_ACTIONS or not _can_run_flows(request):
            raise PermissionDenied
        back = reverse("admin:integrations_integration_change", args=[pk])
        needs_confirm = FLOW_ACTIONS[action][1]
        if request.method != "POST" or (needs_confirm and request.POST.get("confirmed") != "yes"):
            if not needs_confirm:
                return HttpResponseRedirect(back)
            return _confirm_page(request, self, action=action, states=[state], title_objects=[state], admin_action=None)
        latest = selectors.flow_states_with_last_run(FlowState.objects.filter(pk=state.pk)).values_list("last_run_id", flat=True)
        after = latest.first() or 0
        with transaction.atomic():
            count = _flow_action_apply(request, action, [state])
        runs = reverse("admin:integrations_syncrun_changelist") + "?" + urlencode(
            {"integration__id__exact": state.integration_id, "flow__exact": state.flow})
        message = _flow_action_message(action, count)
        if action != "reset_cursor":
            message += " Its progress and result show under “last run” in the flows table below, updated until it finishes"
        self.message_user(request, format_html('{}: {} (<a href="{}">all runs of this flow</a>).', state.flow, message, runs),
                          messages.SUCCESS)
        follow = f"?{urlencode({'follow': state.pk, 'after': after})}" if action != "reset_cursor" else ""
        return HttpResponseRedirect(back + follow + "#flows")

    def flow_progress_view(self, request, pk):
        """JSON for flow_progress.js: each flow's latest run (as in the flows table). View permission suffices."""
        integration = get_object_or_404(Integration, pk=pk)
        if not self.has_view_or_change_permission(request, integration):
            raise PermissionDenied
        states = selectors.flow_states_with_last_run(FlowState.objects.filter(integration=integration).order_by("pk"))
        return JsonResponse({"flows": [{"id": s.pk, "flow": s.flow, "run": last_run_summary(s)} for s in states]})


def _diff_lines(diff: dict) -> list[str]:
    lines = []
    for group, changes in (diff or {}).items():
        if isinstance(changes, dict):
            for key, value in changes.items():
                if isinstance(value, list) and len(value) == 2:
                    lines.append(f"{group} · {key}: {value[0]!r} → {value[1]!r}")
                else:
                    lines.append(f"{group} · {key}: {value!r}")
        else:
            lines.append(f"{group}: {changes!r}")
    return lines


def last_run_summary(state) -> dict | None:
    """The latest run of a flow state annotated by selectors.flow_states_with_last_run, as shown in the flows table
    (and served to flow_progress.js while it follows a run)."""
    run_id = getattr(state, "last_run_id", None)
    if not run_id:
        return None
    started = timezone.localtime(state.last_run_started).strftime("%Y-%m-%d %H:%M:%S") if state.last_run_started else ""
    if state.last_run_status == SyncRun.Status.RUNNING:
        detail = f"page {state.last_run_pages}, {state.last_run_fetched} fetched so far"
    elif state.last_run_finished and state.last_run_started:
        detail = duration_text((state.last_run_finished - state.last_run_started).total_seconds())
    else:
        detail = ""
    return {"id": run_id, "status": state.last_run_status, "url": reverse("admin:integrations_syncrun_change", args=[run_id]),
            "started": started, "detail": detail, "error": _first_line(state.last_run_error or "", 100)}


# --- FlowState -------------------------------------------------------------------------------------

def _flow_switch_setting(state: FlowState) -> str | None:
    """The setting that switches this flow on and off, if its connector declares one."""
    try:
        return state.spec.enable_setting
    except KeyError:  # connector or flow no longer registered
        return None


@admin.register(FlowState)
class FlowStateAdmin(admin.ModelAdmin):
    list_display = ["integration", "flow", "enabled", "interval", "next_run", "last_succeeded_at",
                    "consecutive_failures", "short_error", "running"]
    list_filter = ["enabled", "flow", "integration"]
    list_select_related = ["integration"]
    # No list_editable: a flow with an on/off setting is switched by that setting only (one source of truth).
    search_fields = ["integration__name", "flow"]
    raw_id_fields = ["integration"]
    readonly_fields = ["integration", "flow", "cursor", "next_run_at", "lease_token", "lease_expires_at",
                       "consecutive_failures", "last_error", "dispatched_at", "last_started_at", "last_succeeded_at",
                       "last_failed_at",
                       "force_full", "pending_params", "pending_inflight", "pending_run_at", "pending_failures"]
    actions = ["action_run_now", "action_force_resync", "action_reset_cursor"]

    def has_add_permission(self, request):
        return False

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and _flow_switch_setting(obj):
            fields.append("enabled")
        return fields

    def has_run_flow_permission(self, request):
        return _can_run_flows(request)

    @admin.display(description="last error")
    def short_error(self, obj):
        return obj.last_error[:120]

    @admin.display(description="running", boolean=True)
    def running(self, obj):
        return obj.is_running

    @admin.display(description="next run", ordering="next_run_at")
    def next_run(self, obj):
        """A disabled flow has no next run, whatever time is left in the column from when it was on."""
        if not obj.enabled:
            return "— (off)"
        return timezone.localtime(obj.next_run_at).strftime("%Y-%m-%d %H:%M:%S") if obj.next_run_at else "at the next dispatch"

    @admin.action(description="Run now", permissions=["run_flow"])
    def action_run_now(self, request, queryset):
        return _flow_bulk_action(self, request, queryset, "run", lambda qs: qs.select_related("integration"))

    @admin.action(description="Force resync", permissions=["run_flow"])
    def action_force_resync(self, request, queryset):
        return _flow_bulk_action(self, request, queryset, "force_resync", lambda qs: qs.select_related("integration"))

    @admin.action(description="Reset cursor", permissions=["run_flow"])
    def action_reset_cursor(self, request, queryset):
        return _flow_bulk_action(self, request, queryset, "reset_cursor", lambda qs: qs.select_related("integration"))


# --- SyncRun ---------------------------------------------------------------------------------------

def duration_text(seconds: float | None) -> str:
    """12.3 s, 4 min 05 s, 2 h 03 min."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class RunOutcomeFilter(admin.SimpleListFilter):
    title = "outcome"
    parameter_name = "outcome"

    def lookups(self, request, model_admin):
        return (("problems", "Failed or partial"), ("failed", "Failed"), ("partial", "Partial (some records failed)"),
                ("changed", "Succeeded, changed something"), ("quiet", "Succeeded, nothing changed"),
                ("skipped", "Skipped"), ("running", "Running"), ("folded", "Folded other requests"))

    def queryset(self, request, queryset):
        value = self.value()
        if value == "problems":
            return queryset.filter(status__in=(SyncRun.Status.FAILED, SyncRun.Status.PARTIAL))
        if value == "changed":
            return queryset.filter(status=SyncRun.Status.SUCCEEDED).filter(Q(created__gt=0) | Q(updated__gt=0))
        if value == "quiet":
            return queryset.filter(status=SyncRun.Status.SUCCEEDED, created=0, updated=0)
        if value == "folded":
            return queryset.filter(coalesced__gt=0)
        if value in ("failed", "partial", "skipped", "running"):
            return queryset.filter(status=value)
        return queryset


def _first_line(text: str, limit: int = 160) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    """The run log: one row per run, seconds in times, durations, outcome filters, readable errors. An audit log:
    nobody changes a run, only a superuser deletes (retention prunes by schedule, housekeeping_prune)."""

    list_display = ["id", "started", "integration", "flow", "trigger", "outcome", "duration", "records", "api_calls",
                    "error_summary"]
    list_display_links = ["id", "started"]
    list_filter = [RunOutcomeFilter, "status", "trigger", "flow", "integration", "dry_run", ("started_at", admin.DateFieldListFilter)]
    list_select_related = ["integration"]
    search_fields = ["=id", "error_message", "note"]
    date_hierarchy = "started_at"
    show_full_result_count = False
    fieldsets = [
        (None, {"fields": ["integration", "flow", "trigger", "triggered_by", "outcome", "dry_run", "started", "finished",
                           "duration", "records", "pages", "api_calls", "coalesced", "note"]}),
        ("Error", {"fields": ["error_class", "error_readable", "record_errors"]}),
        ("Cursor", {"fields": ["cursor_before_display", "cursor_after_display"], "classes": ["collapse"]}),
    ]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def get_readonly_fields(self, request, obj=None):
        return [name for _, opts in self.fieldsets for name in opts["fields"]]

    @admin.display(description="started", ordering="started_at")
    def started(self, obj):
        return timezone.localtime(obj.started_at).strftime("%Y-%m-%d %H:%M:%S") if obj.started_at else "—"

    @admin.display(description="finished", ordering="finished_at")
    def finished(self, obj):
        return timezone.localtime(obj.finished_at).strftime("%Y-%m-%d %H:%M:%S") if obj.finished_at else "—"

    @admin.display(description="duration")
    def duration(self, obj):
        if obj.finished_at and obj.started_at:
            return duration_text((obj.finished_at - obj.started_at).total_seconds())
        if obj.status == SyncRun.Status.RUNNING and obj.started_at:
            return "running " + duration_text((timezone.now() - obj.started_at).total_seconds())
        return "—"

    @admin.display(description="outcome", ordering="status")
    def outcome(self, obj):
        colours = {"failed": "#842029", "partial": "#664d03", "skipped": "#6c757d", "running": "#084298", "succeeded": "#0f5132"}
        extra = f" · folded {obj.coalesced}" if obj.coalesced else ""
        return format_html('<strong style="color:{}">{}</strong>{}', colours.get(obj.status, "inherit"), obj.get_status_display(), extra)

    @admin.display(description="records")
    def records(self, obj):
        if obj.status == SyncRun.Status.SKIPPED:
            return "—"
        parts = [f"{obj.fetched} fetched"]
        parts += [f"{n} {label}" for n, label in ((obj.created, "new"), (obj.updated, "updated"), (obj.failed, "failed")) if n]
        if obj.pages > 1:
            parts.append(f"{obj.pages} pages")
        return ", ".join(parts)

    @admin.display(description="error / note")
    def error_summary(self, obj):
        if obj.error_message or obj.error_class:
            return format_html("<strong>{}</strong>: {}", obj.error_class or "Error", _first_line(obj.error_message))
        if obj.failed and obj.errors:
            first = obj.errors[0]
            return f"{obj.failed} record(s) failed, e.g. {first.get('external_id', '')}: {_first_line(str(first.get('message', '')), 120)}"
        return _first_line(obj.note, 120)

    @admin.display(description="error")
    def error_readable(self, obj):
        if not obj.error_message:
            return "—"
        return format_html('<pre style="white-space:pre-wrap;max-width:100ch">{}</pre>', obj.error_message)

    @admin.display(description="cursor before")
    def cursor_before_display(self, obj):
        return format_html("<pre>{}</pre>", _json(obj.cursor_before))

    @admin.display(description="cursor after")
    def cursor_after_display(self, obj):
        return format_html("<pre>{}</pre>", _json(obj.cursor_after))

    @admin.display(description="per-record errors")
    def record_errors(self, obj):
        if not obj.errors:
            return "None"
        rows = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                                ((e.get("external_id", ""), e.get("field", ""), e.get("message", "") or e.get("error", ""))
                                 for e in obj.errors))
        return format_html("<table><thead><tr><th>External id</th><th>Field</th><th>Message</th></tr></thead>"
                           "<tbody>{}</tbody></table>", rows)


# --- bindings, mappings, exceptions, pushes, history ----------------------------------------------------

@admin.register(ExternalRef)
class ExternalRefAdmin(admin.ModelAdmin):
    list_display = ["external_id", "kind", "integration", "content_type", "object_id", "remote_updated_at", "synced_at"]
    list_filter = ["kind", "integration", "content_type"]
    list_select_related = ["integration", "content_type"]
    search_fields = ["=external_id"]
    raw_id_fields = ["integration"]
    readonly_fields = ["synced_at"]
    show_full_result_count = False


@admin.register(Mapping)
class MappingAdmin(ImportExportPermissionMixin, ImportExportMixin, admin.ModelAdmin):
    resource_classes = [MappingResource]
    list_display = ["integration", "kind", "source", "target", "notes", "updated_at"]
    list_filter = ["kind", "integration"]
    list_select_related = ["integration"]
    search_fields = ["source", "target"]
    autocomplete_fields = ["integration"]
    form = integration_forms.MappingForm

    def response_add(self, request, obj, post_url_continue=None):
        """A mapping added from an exception group (its "Add mapping" link carries the cause) re-drives that group."""
        cause = request.GET.get("_redrive_cause", "")
        if cause and "_addanother" not in request.POST and "_continue" not in request.POST:
            queryset = OpsException.objects.filter(status=OpsException.Status.OPEN, cause_key=cause, integration=obj.integration)
            self.message_user(request, f"Mapping {obj} saved. " + _redrive(request, queryset), messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:integrations_opsexception_by_cause"))
        return super().response_add(request, obj, post_url_continue)


@admin.register(OpsException)
class OpsExceptionAdmin(admin.ModelAdmin):
    list_display = ["id", "category", "status", "integration", "entity_link", "what_and_fix", "count", "last_seen_at"]
    list_filter = ["status", "category", "integration", "code"]
    list_select_related = ["integration", "content_type"]
    search_fields = ["=entity_label", "=cause_key", "message", "dedup_key"]
    raw_id_fields = ["integration"]
    show_full_result_count = False
    readonly_fields = ["category", "code", "entity_link", "what_is_wrong", "how_to_fix", "message", "integration", "cause_key",
                       "details_display", "first_seen_at", "last_seen_at", "count", "resolved_at", "resolved_by",
                       "resolution_note", "dedup_key"]
    fields = readonly_fields + ["status"]
    actions = ["action_resolve", "action_dismiss", "action_redrive"]
    change_list_template = "admin/integrations/opsexception/change_list.html"

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    def get_readonly_fields(self, request, obj=None):
        return self.fields  # status changes go through the actions (resolved_by / resolved_at recorded)

    @admin.display(description="record")
    def entity_link(self, obj):
        ct = obj.content_type
        url = exception_help.entity_url(app_label=ct.app_label if ct else "", model=ct.model if ct else "", object_id=obj.object_id)
        label = obj.entity_label or (f"{ct.model} {obj.object_id}" if ct else "—")
        return format_html('<a href="{}">{}</a>', url, label) if url else label

    @admin.display(description="what is wrong / fix")
    def what_and_fix(self, obj):
        what, fix = exception_help.explain(obj.code, obj.integration.connector if obj.integration_id else "")
        link = exception_help.fix_link(code=obj.code, cause_key=obj.cause_key, integration_id=obj.integration_id)
        fix_html = format_html(' <a class="button" href="{}">{}</a>', link[1], link[0]) if link else ""
        return format_html('<strong>{}</strong><br>{}<br><span class="help">{} {}</span>', obj.code, obj.message[:300], fix, fix_html)

    @admin.display(description="what is wrong")
    def what_is_wrong(self, obj):
        return exception_help.explain(obj.code, obj.integration.connector if obj.integration_id else "")[0]

    @admin.display(description="how to fix it")
    def how_to_fix(self, obj):
        fix = exception_help.explain(obj.code, obj.integration.connector if obj.integration_id else "")[1]
        link = exception_help.fix_link(code=obj.code, cause_key=obj.cause_key, integration_id=obj.integration_id)
        return format_html('{} <a class="button" href="{}">{}</a>', fix, link[1], link[0]) if link else fix

    @admin.display(description="details")
    def details_display(self, obj):
        return format_html("<pre>{}</pre>", _json(obj.details))

    def _set_status(self, request, queryset, status):
        count = 0
        for exception in queryset.filter(status=OpsException.Status.OPEN):
            services.exception_set_status(exception=exception, status=status, user=request.user)
            count += 1
        self.message_user(request, f"{count} exception(s) marked {status}.", messages.SUCCESS)

    @admin.action(description="Resolve", permissions=["change"])
    def action_resolve(self, request, queryset):
        self._set_status(request, queryset, OpsException.Status.RESOLVED)

    @admin.action(description="Dismiss", permissions=["change"])
    def action_dismiss(self, request, queryset):
        self._set_status(request, queryset, OpsException.Status.DISMISSED)

    @admin.action(description="Re-drive (retry the blocked entities)", permissions=["change"])
    def action_redrive(self, request, queryset):
        self.message_user(request, _redrive(request, queryset), messages.SUCCESS)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [path("<int:pk>/act/<str:action>/", wrap(self.exception_action_view), name="integrations_opsexception_act"),
                path("by-cause/", wrap(self.by_cause_view), name="integrations_opsexception_by_cause"),
                path("by-cause/redrive/", wrap(self.redrive_group_view), name="integrations_opsexception_redrive_group")] + \
            super().get_urls()

    def by_cause_view(self, request):
        """Open exceptions grouped by cause: how many records each cause blocks, in plain words, with its fix and a
        Re-drive per group (3 queries whatever the number of exceptions)."""
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        category = request.GET.get("category", "")
        integration_id = request.GET.get("integration", "")
        groups = selectors.exception_groups(category=category, integration_id=int(integration_id) if integration_id.isdigit() else None)
        for group in groups:
            group["what"], group["fix"] = exception_help.explain(group["code"], group["connector"] or "")
            group["fix_link"] = exception_help.fix_link(code=group["code"], cause_key=group["cause_key"],
                                                        integration_id=group["integration_id"])
            group["queue_url"] = reverse("admin:integrations_opsexception_changelist") + "?" + urlencode(
                {k: v for k, v in (("status__exact", "open"), ("cause_key", group["cause_key"]), ("code__exact", group["code"]),
                                   ("integration__id__exact", group["integration_id"] or "")) if v})
        context = {**self.admin_site.each_context(request), "title": "Open exceptions by cause", "groups": groups,
                   "opts": self.model._meta, "category": category, "categories": OpsException.Category.choices,
                   "can_redrive": self.has_change_permission(request)}
        return TemplateResponse(request, "admin/integrations/opsexception/by_cause.html", context)

    def redrive_group_view(self, request):
        if request.method != "POST" or not self.has_change_permission(request):
            raise PermissionDenied
        queryset = selectors.exception_group_members(cause_key=request.POST.get("cause_key", ""), code=request.POST.get("code", ""),
                                                     integration_id=request.POST.get("integration") or None)
        self.message_user(request, _redrive(request, queryset), messages.SUCCESS)
        return HttpResponseRedirect(_safe_next(request, reverse("admin:integrations_opsexception_by_cause")))

    def exception_action_view(self, request, pk, action):
        """One exception's Re-drive / Resolve / Dismiss from another page (the order page); back to `next`."""
        if request.method != "POST" or action not in ("redrive", "resolve", "dismiss") or not self.has_change_permission(request):
            raise PermissionDenied
        exception = get_object_or_404(OpsException, pk=pk)
        if action == "redrive":
            self.message_user(request, _redrive(request, OpsException.objects.filter(pk=pk)), messages.SUCCESS)
        elif exception.status == OpsException.Status.OPEN:
            status = OpsException.Status.RESOLVED if action == "resolve" else OpsException.Status.DISMISSED
            services.exception_set_status(exception=exception, status=status, user=request.user)
            self.message_user(request, f"Exception {exception.pk} marked {status}.", messages.SUCCESS)
        return HttpResponseRedirect(_safe_next(request, reverse("admin:integrations_opsexception_change", args=[pk])))


def _safe_next(request, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return default


def _redrive(request, queryset) -> str:
    """Re-drive the selected exceptions: the engine retries skipped records / flows, orders retry their entities."""
    selected = list(queryset)
    engine = services.exceptions_redrive_flows(exceptions=selected, user=request.user)
    parts = []
    if engine["records"]:
        parts.append(f"{engine['records']} skipped record(s) queued for a retry run")
    if engine["flows"]:
        parts.append(f"{engine['flows']} flow run(s) queued now")
    try:
        from orders.services import exceptions_redrive
    except ImportError:
        exceptions_redrive = None
    if exceptions_redrive is not None:
        parts.append(f"{exceptions_redrive(exceptions=queryset, user=request.user)} exception(s) resolved")
    return "Re-drive: " + ("; ".join(parts) or "nothing to retry") + ". Exceptions resolve themselves once their cause is gone."


@admin.register(OutboundPush)
class OutboundPushAdmin(admin.ModelAdmin):
    list_display = ["id", "integration", "kind", "idempotency_key", "status", "remote_id", "attempts", "created_at", "sent_at"]
    list_filter = ["status", "kind", "integration"]
    list_select_related = ["integration"]
    search_fields = ["=idempotency_key", "=remote_id"]
    raw_id_fields = ["integration"]
    show_full_result_count = False
    exclude = ["payload", "response"]
    readonly_fields = ["payload_display", "response_display"]

    @admin.display(description="payload")
    def payload_display(self, obj):
        return format_html("<pre>{}</pre>", _json(obj.payload))

    @admin.display(description="response")
    def response_display(self, obj):
        return format_html("<pre>{}</pre>", _json(obj.response))

    def has_add_permission(self, request):
        return False


@admin.register(SettingsChange)
class SettingsChangeAdmin(admin.ModelAdmin):
    list_display = ["at", "integration", "user", "source", "summary"]
    list_filter = ["source", "integration"]
    list_select_related = ["integration", "user"]
    search_fields = ["summary"]
    date_hierarchy = "at"
    show_full_result_count = False
    exclude = ["diff"]
    readonly_fields = ["integration", "user", "source", "at", "summary", "diff_display"]

    @admin.display(description="changes")
    def diff_display(self, obj):
        return format_html("<pre>{}</pre>", "\n".join(_diff_lines(obj.diff)))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False



# --- Bulk imports run in the background ------------------------------------------------------------

@admin.register(BulkImport)
class BulkImportAdmin(admin.ModelAdmin):
    """Progress and outcome of large bulk data imports (integrations/bulk_imports.py); read-only. Users see
    their own imports; superusers see everyone's. The change page refreshes itself while the import runs."""

    change_form_template = "admin/integrations/bulkimport/change_form.html"
    list_display = ["id", "model_label", "file_name", "status", "progress", "user", "created_at", "finished_at"]
    list_filter = ["status", "model_label"]
    list_select_related = ["user"]
    show_full_result_count = False
    fields = ["model_label", "file_name", "user", "status", "phase", "progress", "totals_display", "error_message",
              "row_errors", "created_at", "started_at", "finished_at"]
    readonly_fields = fields

    def get_queryset(self, request):
        qs = super().get_queryset(request).defer("content")
        return qs if request.user.is_superuser else qs.filter(user=request.user)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        active = (BulkImport.Status.QUEUED, BulkImport.Status.RUNNING)
        return request.user.is_superuser and (obj is None or obj.status not in active)

    @admin.display(description="progress")
    def progress(self, obj):
        if obj.status == BulkImport.Status.QUEUED:
            return f"waiting — {obj.rows_total} rows"
        return f"{obj.rows_done} of {obj.rows_total} rows ({obj.percent}%)"

    @admin.display(description="result")
    def totals_display(self, obj):
        if not obj.totals:
            return "—"
        labels = (("new", "new"), ("update", "updated"), ("skip", "skipped"), ("error", "errors"), ("invalid", "invalid rows"))
        return ", ".join(f"{obj.totals.get(key, 0)} {label}" for key, label in labels)

    @admin.display(description="row errors")
    def row_errors(self, obj):
        if not obj.errors:
            return "None"
        rows = format_html_join("", "<tr><td>{}</td><td>{}</td></tr>",
                                ((e.get("row") or "", e.get("message", "")) for e in obj.errors))
        return format_html("<table><thead><tr><th>Row</th><th>Error</th></tr></thead><tbody>{}</tbody></table>", rows)
