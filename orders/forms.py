"""Rule forms: list fields as comma-separated text with validation (unknown SKUs, bad country codes, bad tags are
refused with a clear message), SKU suggestions from the catalog (an HTML datalist, no JavaScript framework)."""
from __future__ import annotations

from django import forms
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.utils.html import format_html, format_html_join

from orders.countries import COUNTRIES, COUNTRY_NAMES
from orders.models import HoldRule, RoutingRule

SKU_SUGGESTIONS = 500


class ListField(forms.CharField):
    """A JSON list of strings edited as "a, b, c" (commas or new lines)."""

    def __init__(self, *, upper: bool = False, **kwargs):
        self.upper = upper
        kwargs.setdefault("required", False)
        kwargs.setdefault("widget", forms.TextInput(attrs={"size": 60}))
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, (list, tuple)):
            return ", ".join(str(v) for v in value)
        return value

    def to_python(self, value):
        if isinstance(value, (list, tuple)):
            items = [str(v) for v in value]
        else:
            items = str(value or "").replace("\n", ",").split(",")
        out = []
        for item in items:
            item = item.strip()
            if self.upper:
                item = item.upper()
            if item and item not in out:
                out.append(item)
        return out

    def validate(self, value):
        if self.required and not value:
            raise forms.ValidationError(self.error_messages["required"], code="required")
        for item in value:
            if len(item) > 100 or not item.isprintable() or any(ch in item for ch in "<>\"'"):
                raise forms.ValidationError(f"“{item[:40]}” is not a valid entry.")

    def run_validators(self, value):
        pass  # the max_length of a CharField does not apply to a list


class _SkuDatalist(forms.TextInput):
    """Suggests catalog SKUs as one types (the last entry of the comma-separated list is not completed: a plain
    datalist completes the whole value, so it serves the first SKU and shows what exists)."""

    def render(self, name, value, attrs=None, renderer=None):
        from catalog.models import Product

        attrs = {**(attrs or {}), "list": f"{name}-skus"}
        skus = Product.objects.order_by("sku").values_list("sku", flat=True)[:SKU_SUGGESTIONS]
        options = format_html_join("", '<option value="{}">', ((s,) for s in skus))
        return format_html('{}<datalist id="{}-skus">{}</datalist>', super().render(name, value, attrs, renderer), name, options)


def _unknown_skus(skus: list[str]) -> list[str]:
    from catalog.models import Product

    known = set(Product.objects.filter(sku__in=skus).values_list("sku", flat=True))
    return [s for s in skus if s not in known]


class RoutingRuleForm(forms.ModelForm):
    skus = ListField(help_text="Only orders containing any of these SKUs, comma-separated (empty: any). Must be catalog SKUs.",
                     widget=_SkuDatalist(attrs={"size": 60}))
    tags = ListField(help_text="Only orders with any of these tags, comma-separated (empty: any).")
    countries = forms.MultipleChoiceField(
        required=False, choices=COUNTRIES, widget=FilteredSelectMultiple("countries", is_stacked=False),
        help_text="Ship-to countries (ISO 3166 codes; none chosen: any).")
    regions = ListField(upper=True, help_text="Ship-to states / regions, comma-separated, e.g. CA, NY (empty: any).")

    class Meta:
        model = RoutingRule
        exclude = ["locations"]  # ranked candidates: the inline

    class Media:
        js = ("orders/rule_preview.js",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A value saved before the codes were a list (e.g. a country name) stays choosable rather than silently dropped.
        legacy = [c for c in (self.instance.countries or []) if c not in COUNTRY_NAMES]
        self.fields["countries"].choices = [(c, f"{COUNTRY_NAMES.get(c, c)} ({c})") for c, _ in COUNTRIES] + [(c, c) for c in legacy]

    def clean_skus(self):
        skus = self.cleaned_data["skus"]
        unknown = _unknown_skus(skus)
        if unknown:
            raise forms.ValidationError(f"Unknown SKU(s): {', '.join(unknown)}. Create the products first or fix the spelling.")
        return skus


PREVIEW_FIELDS = ("integration", "skus", "tags", "countries", "regions", "position", "enabled")


def routing_rule_with_edits(data, *, instance: RoutingRule | None = None) -> tuple[RoutingRule | None, dict[str, list[str]]]:
    """The rule with the values being edited applied, unsaved (for the preview), or the errors of the fields the
    preview depends on. Errors elsewhere (e.g. a duplicate name) do not stop a preview."""
    form = RoutingRuleForm(data=data, instance=instance)
    form.is_valid()  # fills form.instance from the fields that validated; nothing is saved
    errors = {name: list(messages) for name, messages in form.errors.items() if name in PREVIEW_FIELDS}
    return (None, errors) if errors else (form.instance, {})


class HoldRuleForm(forms.ModelForm):
    skus = ListField(help_text="Only orders containing any of these SKUs, comma-separated (empty: any).",
                     widget=_SkuDatalist(attrs={"size": 60}))
    tags = ListField(help_text="Only orders with any of these tags, comma-separated (empty: any).")
    order_types = ListField(help_text="Only orders of these order types, comma-separated (empty: any).")

    class Meta:
        model = HoldRule
        fields = "__all__"

    def clean_skus(self):
        skus = self.cleaned_data["skus"]
        unknown = _unknown_skus(skus)
        if unknown:
            raise forms.ValidationError(f"Unknown SKU(s): {', '.join(unknown)}. Create the products first or fix the spelling.")
        return skus
