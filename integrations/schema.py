"""Settings schema → Django form fields, and validation of stored/imported settings.

Stored values are JSON: bool, str, list[str], int, or an ISO-8601 datetime string."""
from __future__ import annotations

from datetime import datetime, timezone as dt_timezone
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from integrations import registry as r
from integrations.exceptions import SettingsError


class TextListField(forms.CharField):
    """A free-text list: one item per line or comma-separated; stored as a list of strings."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 60})

    def prepare_value(self, value):
        if isinstance(value, (list, tuple)):
            return "\n".join(value)
        return value

    def to_python(self, value):
        if isinstance(value, (list, tuple)):
            items = [str(v).strip() for v in value]
        else:
            text = super().to_python(value) or ""
            items = [part.strip() for line in text.splitlines() for part in line.split(",")]
        return [i for i in items if i]


def form_field(spec: r.SettingSpec, *, location_choices: list[tuple[str, str]] | None = None) -> forms.Field:
    common = {"label": spec.label, "help_text": spec.help, "required": False, "initial": spec.default}
    if spec.type == r.BOOL:
        return forms.BooleanField(**common)
    if spec.type == r.TEXT:
        widget = forms.Textarea(attrs={"rows": 3, "cols": 60}) if (spec.max_length or 0) > 255 else None
        return forms.CharField(max_length=spec.max_length, widget=widget, **common)
    if spec.type == r.URL:
        return forms.URLField(assume_scheme="https", **common)
    if spec.type == r.INT:
        return forms.IntegerField(**common)
    if spec.type == r.TEXT_LIST:
        return TextListField(**common)
    if spec.type == r.CHOICE:
        choices = list(spec.choices)
        if spec.default in (None, ""):
            choices = [("", "---------")] + choices
        return forms.ChoiceField(choices=choices, **common)
    if spec.type == r.MULTI_CHOICE:
        return forms.MultipleChoiceField(choices=spec.choices, widget=forms.CheckboxSelectMultiple, **common)
    if spec.type == r.DATETIME:
        return forms.DateTimeField(**common)
    if spec.type == r.LOCATION:
        return forms.ChoiceField(choices=[("", "---------")] + list(location_choices or []), **common)
    raise ValueError(f"Unknown setting type {spec.type!r} for {spec.key}")


def to_json(spec: r.SettingSpec, value: Any) -> Any:
    """Normalise a cleaned form value into its stored JSON shape."""
    if spec.type == r.DATETIME:
        if value in (None, ""):
            return None
        if isinstance(value, datetime):
            if timezone.is_naive(value):
                value = timezone.make_aware(value, dt_timezone.utc)
            return value.isoformat()
        return value
    if spec.type in (r.TEXT_LIST, r.MULTI_CHOICE):
        return list(value or [])
    if spec.type == r.BOOL:
        return bool(value)
    if spec.type in (r.TEXT, r.URL, r.CHOICE, r.LOCATION):
        return "" if value is None else str(value)
    return value


def validate_settings(connector: r.ConnectorSpec, data: dict[str, Any], *, partial: bool = False,
                      location_ids: set[str] | None = None) -> dict[str, Any]:
    """Check every key, type and option strictly; return the full settings dict with defaults.

    Stricter than a form: a wrong JSON type is an error, not coerced ("yes" is not a boolean)."""
    errors: dict[str, list[str]] = {}
    known = {s.key: s for s in connector.settings}
    for key in data:
        if key not in known:
            errors.setdefault(key, []).append(f"unknown setting for connector {connector.code}")
    result = connector.defaults()
    for key, spec in known.items():
        if key not in data:
            continue
        value = data[key]
        problem = _type_problem(spec, value, location_ids)
        if problem:
            errors.setdefault(key, []).append(problem)
        else:
            result[key] = _normalise(spec, value)
    if errors:
        raise SettingsError(errors)
    return result


def _type_problem(spec: r.SettingSpec, value: Any, location_ids: set[str] | None) -> str | None:
    t = spec.type
    if t == r.BOOL:
        return None if isinstance(value, bool) else f"expected true or false, got {value!r}"
    if t in (r.TEXT, r.URL):
        if value is None:
            return None
        if not isinstance(value, str):
            return f"expected text, got {type(value).__name__}"
        if spec.max_length and len(value) > spec.max_length:
            return f"at most {spec.max_length} characters (got {len(value)})"
        if t == r.URL and value and not value.startswith(("http://", "https://")):
            return f"expected an http(s) URL, got {value!r}"
        return None
    if t == r.INT:
        return None if isinstance(value, int) and not isinstance(value, bool) else f"expected an integer, got {value!r}"
    if t == r.TEXT_LIST:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return "expected a list of text values"
        return None
    if t == r.CHOICE:
        allowed = {c for c, _ in spec.choices}
        if value in ("", None) and spec.default in ("", None):
            return None
        return None if value in allowed else f"{value!r} is not one of: {', '.join(sorted(allowed))}"
    if t == r.MULTI_CHOICE:
        allowed = {c for c, _ in spec.choices}
        if not isinstance(value, list):
            return "expected a list of options"
        bad = [v for v in value if v not in allowed]
        return f"not valid options: {', '.join(map(str, bad))}; allowed: {', '.join(sorted(allowed))}" if bad else None
    if t == r.DATETIME:
        if value in (None, ""):
            return None
        if not isinstance(value, str) or parse_datetime(value) is None:
            return f"expected an ISO-8601 date and time, got {value!r}"
        return None
    if t == r.LOCATION:
        if value in (None, ""):
            return None
        if not isinstance(value, str):
            return "expected a location code"
        if location_ids is not None and value not in location_ids:
            return f"no location {value!r} for this integration"
        return None
    return f"unknown setting type {t}"


def values_equal(a: Any, b: Any) -> bool:
    """Whether two stored setting values mean the same: lists (multi-choice, text lists) compare as sets
    of values, whatever their order."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return sorted(map(str, a)) == sorted(map(str, b))
    return a == b


def _normalise(spec: r.SettingSpec, value: Any) -> Any:
    if spec.type == r.DATETIME and value:
        parsed = parse_datetime(value)
        if timezone.is_naive(parsed):
            parsed = timezone.make_aware(parsed, dt_timezone.utc)
        return parsed.isoformat()
    if spec.type in (r.TEXT, r.URL, r.CHOICE, r.LOCATION) and value is None:
        return ""
    return list(value) if isinstance(value, list) else value
