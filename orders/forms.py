"""Rule forms: list fields as comma-separated text with validation (unknown SKUs, bad country codes, bad tags are
refused with a clear message), SKU suggestions from the catalog (an HTML datalist, no JavaScript framework)."""
from __future__ import annotations

from django import forms
from django.utils.html import format_html, format_html_join

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


def _clean_countries(values: list[str]) -> list[str]:
    for value in values:
        if not value.replace(" ", "").isalpha():
            raise forms.ValidationError(f"“{value}” is not a country: use two-letter codes such as US, GB (or the name).")
    return values


class RoutingRuleForm(forms.ModelForm):
    skus = ListField(help_text="Only orders containing any of these SKUs, comma-separated (empty: any). Must be catalog SKUs.",
                     widget=_SkuDatalist(attrs={"size": 60}))
    tags = ListField(help_text="Only orders with any of these tags, comma-separated (empty: any).")
    countries = ListField(upper=True, help_text="Ship-to countries, comma-separated two-letter codes, e.g. US, CA (empty: any).")
    regions = ListField(upper=True, help_text="Ship-to states / regions, comma-separated, e.g. CA, NY (empty: any).")

    class Meta:
        model = RoutingRule
        exclude = ["locations"]  # ranked candidates: the inline

    def clean_skus(self):
        skus = self.cleaned_data["skus"]
        unknown = _unknown_skus(skus)
        if unknown:
            raise forms.ValidationError(f"Unknown SKU(s): {', '.join(unknown)}. Create the products first or fix the spelling.")
        return skus

    def clean_countries(self):
        return _clean_countries(self.cleaned_data["countries"])


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
