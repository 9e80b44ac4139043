"""Admin forms for integrations: the add form (name + connector) and the change form built from
the connector's ConnectorSpec (settings grouped by section, write-only credentials)."""
from __future__ import annotations

from typing import Any

from django import forms
from django.utils.dateparse import parse_datetime

from integrations import registry, schema
from integrations.crypto import DecryptionError
from integrations.exceptions import SettingsError
from integrations.models import Integration

SETTING_PREFIX = "setting__"
CREDENTIAL_PREFIX = "credential__"


class IntegrationAddForm(forms.ModelForm):
    """Step one: a name and the connector (and environment when the connector has several)."""

    connector = forms.ChoiceField(choices=(), help_text="The remote system this integration connects to.")
    environment = forms.ChoiceField(choices=(), required=False,
                                    help_text="Only for connectors with several environments (e.g. sandbox / production).")

    class Meta:
        model = Integration
        fields = ["name", "connector", "environment"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["connector"].choices = [("", "---------")] + registry.connector_choices()
        env_choices = [("", "(connector default)")]
        for spec in registry.CONNECTORS.values():
            env_choices += [(code, f"{spec.label}: {label}") for code, label in spec.environments]
        self.fields["environment"].choices = list(dict.fromkeys(env_choices))

    def clean(self):
        data = super().clean()
        code, environment = data.get("connector"), data.get("environment") or ""
        if code:
            spec = registry.get_connector(code)
            allowed = [c for c, _ in spec.environments]
            if environment and environment not in allowed:
                self.add_error("environment", f"{spec.label} has no environment {environment!r}"
                               + (f"; choose one of: {', '.join(allowed)}." if allowed else "."))
        return data


class IntegrationChangeForm(forms.ModelForm):
    """Base of the per-connector change form; `integration_change_form_class` adds the fields."""

    connector_spec: registry.ConnectorSpec
    location_codes: set[str] = set()

    class Meta:
        model = Integration
        fields = ["name", "is_active", "environment"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # One environment control: a connector's own environment setting (ConnectorSpec.extra["environment_setting"])
        # is shown through the Environment field, starting from the value in effect; saving clears the setting.
        env_setting = self.connector_spec.extra.get("environment_setting", "")
        chosen = (self.instance.settings or {}).get(env_setting) if env_setting and self.instance.pk else ""
        if chosen and "environment" in self.fields and not self.is_bound:
            self.initial["environment"] = chosen

    def clean(self):
        data = super().clean()
        spec = self.connector_spec
        values: dict[str, Any] = {}
        for setting in spec.settings:
            name = SETTING_PREFIX + setting.key
            if name not in data:  # the field itself failed validation; its error is already shown
                continue
            value = schema.to_json(setting, data[name])
            if setting.type == registry.INT and value is None:
                value = setting.default
            values[setting.key] = value
        try:
            self.settings_values = schema.validate_settings(spec, values, location_ids=self.location_codes)
        except SettingsError as exc:
            for key, messages in exc.errors.items():
                field = SETTING_PREFIX + key
                for message in messages:
                    self.add_error(field if field in self.fields else None, message)
        self.credential_values = {c.key: data.get(CREDENTIAL_PREFIX + c.key) or "" for c in spec.credentials}
        return data


def credential_status(integration: Integration) -> dict[str, bool] | None:
    """Which credential keys are set; None when the stored token cannot be decrypted."""
    try:
        stored = integration.get_credentials()
    except DecryptionError:
        return None
    return {k: bool(v) for k, v in stored.items()}


def integration_change_form_class(integration: Integration) -> tuple[type[IntegrationChangeForm], list]:
    """Build the change form class and its fieldsets for one integration's connector."""
    spec = integration.spec
    locations = _location_choices(integration) if any(s.type == registry.LOCATION for s in spec.settings) else []
    attrs: dict[str, Any] = {"connector_spec": spec, "location_codes": {code for code, _ in locations}}
    by_section: dict[str, list[str]] = {name: [] for name in spec.section_names()}
    changed: dict[str, int] = {name: 0 for name in by_section}
    env_setting = spec.extra.get("environment_setting", "")
    for setting in spec.settings:
        if setting.key == env_setting:
            continue  # one environment control: the Environment field below stands for it
        field = schema.form_field(setting, location_choices=locations)
        field.initial = _initial(setting, integration.setting(setting.key))
        field.short_description = setting.label  # the label when shown read-only (view-only users)
        if setting.default not in (None, "", [], ()) and setting.type != registry.BOOL:
            field.help_text = (field.help_text + " " if field.help_text else "") + f"Default: {_show_default(setting)}."
        if setting.key in (integration.settings or {}) and not schema.values_equal(integration.settings[setting.key], setting.default):
            field.help_text = f"● Changed from the default ({_show_default(setting) or 'blank'}). " + (field.help_text or "")
            changed[setting.section] += 1
        attrs[SETTING_PREFIX + setting.key] = field
        by_section[setting.section].append(SETTING_PREFIX + setting.key)
    status = credential_status(integration)
    cred_fields = []
    for cred in spec.credentials:
        if status is None:
            state = "cannot be decrypted with the configured keys — enter it again"
        else:
            state = "set" if status.get(cred.key) else "not set"
        help_text = f"Currently: {state}. Leave blank to keep the stored value."
        if cred.help:
            help_text = f"{cred.help} {help_text}"
        attrs[CREDENTIAL_PREFIX + cred.key] = forms.CharField(
            label=cred.label, required=False, help_text=help_text, strip=True,
            widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        )
        attrs[CREDENTIAL_PREFIX + cred.key].short_description = cred.label
        cred_fields.append(CREDENTIAL_PREFIX + cred.key)
    general = ["name", "is_active"]
    if len(spec.environments) > 1:
        label, help_text = "Environment", ""
        if env_setting:
            env_spec = spec.setting(env_setting)
            label, help_text = env_spec.label, env_spec.help
        attrs["environment"] = forms.ChoiceField(choices=list(spec.environments), required=True, label=label, help_text=help_text,
                                                 initial=(integration.settings or {}).get(env_setting) or integration.environment)
        general.append("environment")
    form_class = type(f"{spec.code.title()}IntegrationChangeForm", (IntegrationChangeForm,), attrs)
    fieldsets = [
        (None, {"fields": general + ["connector_links"]}),
        ("Status details", {"fields": ["connector_label", "role", "status", "last_error", "auth_expires_at", "paused_reason",
                                       "remote_account_id"], "classes": ["collapse"]}),
    ]
    fieldsets += [(f"{section} — {changed[section]} changed from default" if changed[section] else section,
                   {"fields": fields, "classes": ["collapse"]}) for section, fields in by_section.items() if fields]
    if cred_fields:
        fieldsets.append(("Credentials", {"fields": cred_fields, "classes": ["collapse"],
                                          "description": "Write-only: stored encrypted and never shown back."}))
    return form_class, fieldsets


def read_only_values(integration: Integration) -> dict[str, object]:
    """Display values of every setting and credential state, for the read-only (view permission) page."""
    spec = integration.spec
    values: dict[str, object] = {}
    for setting in spec.settings:
        value = integration.setting(setting.key)
        if setting.type in (registry.CHOICE, registry.MULTI_CHOICE):
            labels = dict(setting.choices)
            value = ", ".join(str(labels.get(v, v)) for v in (value if isinstance(value, list) else [value]) if v not in (None, ""))
        elif isinstance(value, list):
            value = ", ".join(map(str, value))
        values[SETTING_PREFIX + setting.key] = value
    status = credential_status(integration)
    for cred in spec.credentials:
        values[CREDENTIAL_PREFIX + cred.key] = ("cannot be decrypted" if status is None
                                                else "set" if status.get(cred.key) else "not set")
    return values


def _location_choices(integration: Integration) -> list[tuple[str, str]]:
    from inventory.models import Location

    return [(code, f"{name} ({code})") for code, name in
            Location.objects.filter(integration=integration).order_by("name").values_list("code", "name")]


def _initial(setting: registry.SettingSpec, value: Any) -> Any:
    if setting.type == registry.DATETIME and isinstance(value, str) and value:
        return parse_datetime(value) or value
    return value


def _show_default(setting: registry.SettingSpec) -> str:
    value = setting.default
    if setting.type in (registry.CHOICE, registry.MULTI_CHOICE):
        labels = dict(setting.choices)
        values = value if isinstance(value, (list, tuple)) else [value]
        return ", ".join(str(labels.get(v, v)) for v in values)
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return str(value)


# --- mappings --------------------------------------------------------------------------------

MAPPING_KIND_HELP = {
    "carrier": "Source: the carrier name the fulfillment side reports (e.g. USPS). Target: the carrier the channel accepts "
               "(TikTok: one of its shipping providers for the order's delivery option, by name or id).",
    "shipping_method": "Source: the channel's shipping method / delivery option as the order carries it. Target: the "
                       "fulfillment system's code (OSA ship method, Acumatica Ship Via).",
    "payment_method": "Source: the channel's payment method. Target: the value the receiving system expects.",
    "order_type": "Source: the channel's order type. Target: the receiving system's order type.",
    "attribute": "Source: the attribute name here. Target: the remote attribute name.",
    "sku": "Source: the SKU the remote system uses. Target: the master SKU of an existing product.",
}


def mapping_target_choices(integration: Integration | None, kind: str) -> list[tuple[str, str]]:
    """Valid targets the connector knows without calling the remote (ConnectorSpec.extra["mapping_targets"]: a dotted
    path to fn(integration, kind) -> [(value, label)]), e.g. providers or Ship Via codes it has stored."""
    if integration is None or integration.connector not in registry.CONNECTORS:
        return []
    dotted = integration.spec.extra.get("mapping_targets", "")
    if not dotted:
        return []
    try:
        return list(registry.import_string(dotted)(integration, kind) or [])
    except Exception:  # noqa: BLE001 - suggestions only: a broken hook must not break the form
        return []


class MappingForm(forms.ModelForm):
    """Kinds limited to the connector's, text stripped and required, SKU targets checked against the catalog, targets
    the connector knows suggested (datalist) and, when it declares them strict, enforced."""

    class Meta:
        from integrations.models import Mapping

        model = Mapping
        fields = ["integration", "kind", "source", "target", "notes"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        integration = self._integration()
        kind = self.data.get("kind") or self.initial.get("kind") or (self.instance.kind if self.instance.pk else "")
        if "kind" in self.fields:
            self.fields["kind"].help_text = " ".join(f"{k}: {v}" for k, v in MAPPING_KIND_HELP.items() if k == kind) or \
                "What is mapped; the help below the target explains the values."
        if "target" in self.fields:
            help_text = MAPPING_KIND_HELP.get(kind, "")
            if integration is not None and integration.connector in registry.CONNECTORS:
                extra_help = (integration.spec.extra.get("mapping_help") or {}).get(kind, "")
                help_text = f"{help_text} {extra_help}".strip()
            choices = mapping_target_choices(integration, kind) if kind else []
            self._target_choices = choices
            if choices:
                self.fields["target"].widget = _DatalistInput(choices)
                help_text += f" {len(choices)} known value(s) are suggested."
            self.fields["target"].help_text = help_text

    def _integration(self):
        raw = self.data.get("integration") or self.initial.get("integration") or (self.instance.integration_id if self.instance.pk else None)
        if isinstance(raw, Integration):
            return raw
        return Integration.objects.filter(pk=raw).first() if str(raw or "").isdigit() else None

    def clean(self):
        data = super().clean()
        integration, kind = data.get("integration"), data.get("kind")
        for name in ("source", "target"):
            if name in data and isinstance(data[name], str):
                if kind == "sku":
                    from catalog.sku import sku_normalize

                    data[name] = sku_normalize(data[name])
                data[name] = data[name].strip()
                if not data[name]:
                    self.add_error(name, f"The {name} cannot be blank.")
        if integration is not None and kind and integration.connector in registry.CONNECTORS:
            kinds = integration.spec.mapping_kinds
            if kinds and kind not in kinds:
                self.add_error("kind", f"{integration.spec.label} uses no {kind} mappings; it uses: {', '.join(kinds)}.")
            strict = kind in (integration.spec.extra.get("mapping_targets_strict") or ())
            choices = {v for v, _ in mapping_target_choices(integration, kind)}
            if strict and choices and data.get("target") and data["target"] not in choices:
                self.add_error("target", f"“{data['target']}” is not one of the values {integration.spec.label} accepts.")
        if kind == "sku" and data.get("target"):
            from catalog.models import Product

            if not Product.objects.filter(sku=data["target"]).exists():
                self.add_error("target", f"No product has the master SKU “{data['target']}”.")
        return data


class _DatalistInput(forms.TextInput):
    def __init__(self, choices, attrs=None):
        super().__init__(attrs)
        self.choices = choices

    def render(self, name, value, attrs=None, renderer=None):
        from django.utils.html import format_html, format_html_join

        attrs = {**(attrs or {}), "list": f"{name}-choices"}
        options = format_html_join("", '<option value="{}">{}</option>', self.choices)
        return format_html('{}<datalist id="{}-choices">{}</datalist>', super().render(name, value, attrs, renderer), name, options)
