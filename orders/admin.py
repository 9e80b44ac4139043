"""Order operations back office. Actions are one call deep into orders.services."""
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from orders import selectors, services
from orders.admin_list import OrderChangelistMixin
from orders.forms import HoldRuleForm, RoutingRuleForm, routing_rule_with_edits
from orders.models import (
    Cancellation, CancellationLine, Fulfillment, FulfillmentLine, HoldRule, Order, OrderEvent, OrderLine, Refund, RefundLine,
    Return, ReturnLine, RoutingRule, RoutingRuleLocation, ShippingRequest, ShippingRequestLine,
)


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class OrderLineInline(ReadOnlyInline):
    model = OrderLine
    fields = ("sku", "product", "name", "quantity", "canceled_quantity", "unit_price", "total", "is_bundle", "bundle_line")
    readonly_fields = fields


class OrderEventInline(ReadOnlyInline):
    model = OrderEvent
    verbose_name_plural = "timeline"
    fields = ("at", "kind", "from_status", "to_status", "actor", "message")
    readonly_fields = fields


class ShippingRequestInline(ReadOnlyInline):
    model = ShippingRequest
    fields = ("reference", "integration", "location", "status", "cancel_state", "external_id", "sent_at")
    readonly_fields = fields
    show_change_link = True


class HeldFilter(admin.SimpleListFilter):
    title = "held"
    parameter_name = "held"

    def lookups(self, request, model_admin):
        return (("rule", "By a hold rule / user"), ("channel", "By the channel"))

    def queryset(self, request, queryset):
        if self.value() == "rule":
            return queryset.filter(status="onHold", channel_hold=False)
        if self.value() == "channel":
            return queryset.filter(status="onHold", channel_hold=True)
        return queryset


def _each(request, queryset, func, done: str, **kwargs):
    ok = 0
    for obj in queryset:
        try:
            with transaction.atomic():
                func(obj, **kwargs)
            ok += 1
        except (services.OrderActionError, services.InvalidTransition) as exc:
            messages.error(request, str(exc))
    if ok:
        messages.success(request, f"{ok} {done}.")


@admin.register(Order)
class OrderAdmin(OrderChangelistMixin, admin.ModelAdmin):
    list_display = ("external_id", "integration", "status", "routing_state", "hold_until", "total", "currency", "ordered_at", "created_at")
    list_filter = ("status", HeldFilter, "routing_state", "integration", "fulfillment_type")
    search_fields = ("=external_id", "=lines__sku", "buyer_email")
    list_select_related = ("integration",)
    raw_id_fields = ("integration", "held_by_rule")
    # The change page is a read-only story (templates/admin/orders/order/change_form.html, data from
    # orders.selectors.order_page); the few things ops staff change go through the edit views below.
    change_form_template = "admin/orders/order/change_form.html"
    inlines = ()
    actions = ("release_hold", "rehold", "cancel_orders", "reroute")

    def has_add_permission(self, request):
        return False

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/action/<str:action>/", wrap(self.order_action_view), name="orders_order_action"),
            path("<int:pk>/edit/<str:what>/", wrap(self.order_edit_view), name="orders_order_edit"),
        ] + super().get_urls()

    def get_fieldsets(self, request, obj=None):
        return [(None, {"fields": ()})]  # no model form fields: nothing on the page saves the whole row

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method == "POST":  # a full-row save would overwrite concurrent state changes; edits have their views
            return HttpResponseRedirect(reverse("admin:orders_order_change", args=[object_id]))
        order = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if order is not None:
            extra.update(order_page_context(request, order))
        extra.update({"show_save": False, "show_save_and_continue": False, "show_save_and_add_another": False,
                      "show_delete": False})
        return super().change_view(request, object_id, form_url, extra_context=extra)

    def get_object(self, request, object_id, from_field=None):
        queryset = self.get_queryset(request).select_related("integration", "held_by_rule")
        try:
            return queryset.get(pk=int(object_id))
        except (Order.DoesNotExist, ValueError, TypeError):
            return None

    def order_action_view(self, request, pk, action):
        if request.method != "POST" or not self.has_change_permission(request):
            raise PermissionDenied
        spec = ORDER_ACTIONS.get(action)
        if spec is None:
            raise Http404("unknown order action")
        if not request.user.has_perm(spec["perm"]):
            raise PermissionDenied
        order = get_object_or_404(Order.objects.select_related("integration"), pk=pk)
        back = reverse("admin:orders_order_change", args=[order.pk])
        if action == "cancel" and request.POST.get("confirmed") != "yes":
            context = {**self.admin_site.each_context(request), "title": f"Cancel order {order.external_id}?", "order": order,
                       "opts": self.model._meta, "original": order, "action_url": request.path, "back": back}
            return TemplateResponse(request, "admin/orders/order/confirm_cancel.html", context)
        try:
            with transaction.atomic():
                result = spec["call"](order, request.user, request.POST)
        except (services.OrderActionError, services.InvalidTransition) as exc:
            messages.error(request, str(exc))
        else:
            if result is False:
                messages.warning(request, f"Order {order.external_id}: nothing to retry, it is not blocked.")
            else:
                messages.success(request, f"Order {order.external_id}: {spec['done']}.")
        return HttpResponseRedirect(back)

    def order_edit_view(self, request, pk, what):
        if not self.has_change_permission(request):
            raise PermissionDenied
        spec = ORDER_EDITS.get(what)
        if spec is None:
            raise Http404("unknown order edit")
        if not request.user.has_perm(spec["perm"]):
            raise PermissionDenied
        order = get_object_or_404(Order.objects.select_related("integration"), pk=pk)
        back = reverse("admin:orders_order_change", args=[order.pk])
        form = spec["form"](request.POST or None, initial=spec["initial"](order))
        if request.method == "POST" and form.is_valid():
            try:
                spec["call"](order, request.user, form.cleaned_data)
            except services.OrderActionError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"Order {order.external_id}: {spec['done']}.")
                return HttpResponseRedirect(back)
        context = {**self.admin_site.each_context(request), "title": f"{spec['title']}: order {order.external_id}",
                   "form": form, "order": order, "opts": self.model._meta, "original": order, "back": back,
                   "note": spec["note"](order)}
        return TemplateResponse(request, "admin/orders/order/edit_form.html", context)

    def has_release_hold_permission(self, request):
        return request.user.has_perm("orders.release_hold")

    @admin.action(description="Release hold (and route)", permissions=["release_hold"])
    def release_hold(self, request, queryset):
        _each(request, queryset, lambda o: services.order_release_hold(order=o, user=request.user), "order(s) released")

    @admin.action(description="Re-hold until released", permissions=["release_hold"])
    def rehold(self, request, queryset):
        _each(request, queryset, lambda o: services.order_rehold(order=o, user=request.user), "order(s) held")

    @admin.action(description="Cancel orders", permissions=["change"])
    def cancel_orders(self, request, queryset):
        _each(request, queryset, lambda o: services.order_cancel(order=o, reason="canceled in Switchyard", user=request.user),
              "order(s) canceled")

    @admin.action(description="Re-route (cancel unsent shipping requests with restock, route again)", permissions=["change"])
    def reroute(self, request, queryset):
        _each(request, queryset, lambda o: services.order_reroute(order=o, user=request.user), "order(s) re-routed")


@admin.register(HoldRule)
class HoldRuleAdmin(admin.ModelAdmin):
    form = HoldRuleForm
    list_display = ("name", "enabled", "priority", "integration", "connector", "minutes", "clock", "next_status")
    list_editable = ("enabled", "priority", "minutes")
    list_filter = ("enabled", "integration", "clock", "next_status")
    list_select_related = ("integration",)
    search_fields = ("name",)
    raw_id_fields = ("integration",)


class RoutingRuleLocationInline(admin.TabularInline):
    model = RoutingRuleLocation
    extra = 1
    autocomplete_fields = ("location",)
    fields = ("rank", "location")


@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin):
    list_display = ("position", "name", "enabled", "integration", "check_inventory", "allow_split")
    list_display_links = ("name",)
    list_editable = ("position", "enabled", "check_inventory", "allow_split")
    list_filter = ("enabled", "integration")
    list_select_related = ("integration",)
    search_fields = ("name",)
    ordering = ("position", "name")
    raw_id_fields = ("integration",)
    inlines = (RoutingRuleLocationInline,)
    form = RoutingRuleForm
    readonly_fields = ("preview",)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [path("preview/", wrap(self.preview_view), name="orders_routingrule_preview"),
                path("<int:pk>/preview/", wrap(self.preview_view), name="orders_routingrule_preview")] + super().get_urls()

    @admin.display(description="preview")
    def preview(self, obj):
        """How the saved filters fare on the latest orders, and a button previewing the values being edited."""
        url = reverse("admin:orders_routingrule_preview", args=[obj.pk] if obj is not None and obj.pk else [])
        text = self.preview_text(obj) if obj is not None and obj.pk else "Not saved yet."
        return format_html('<span id="rule-preview">{}</span> <button type="button" class="button" id="rule-preview-button" '
                           'data-url="{}">Preview the values being edited</button>', text, url)

    def preview_text(self, rule) -> str:
        p = selectors.routing_rule_preview(rule=rule)
        if not p["orders"]:
            return "No orders yet to preview against."
        text = f"This rule would have matched {p['matched']} of the last {p['orders']} orders"
        if p["taken_earlier"]:
            text += f" ({p['taken_earlier']} of them are taken by an earlier rule first)"
        return text + ("." if rule.enabled else ". It is disabled: it matches nothing until enabled.")

    def preview_view(self, request, pk=None):
        """POST the rule form's fields: the preview of those values, nothing saved (JSON {text} or {errors})."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        # The permission first: who may not change rules learns nothing, not even whether the rule exists.
        if not (self.has_change_permission(request) if pk is not None else self.has_add_permission(request)):
            raise PermissionDenied
        obj = get_object_or_404(RoutingRule, pk=pk) if pk is not None else None
        if obj is not None and not self.has_change_permission(request, obj):
            raise PermissionDenied
        rule, errors = routing_rule_with_edits(request.POST, instance=obj)
        if errors:
            return JsonResponse({"errors": errors})
        return JsonResponse({"text": self.preview_text(rule)})

    def response_change(self, request, obj):
        messages.info(request, self.preview_text(obj))
        return super().response_change(request, obj)

    def response_add(self, request, obj, post_url_continue=None):
        messages.info(request, self.preview_text(obj))
        return super().response_add(request, obj, post_url_continue)


class ShippingRequestLineInline(ReadOnlyInline):
    model = ShippingRequestLine
    fields = ("sku", "product", "quantity", "units", "shipped_quantity", "order_line")
    readonly_fields = fields


@admin.register(ShippingRequest)
class ShippingRequestAdmin(admin.ModelAdmin):
    """Shipping requests are never edited: change = cancel (with or without restock) and re-route."""

    list_display = ("reference", "order", "integration", "location", "status", "cancel_state", "managed_routing", "external_id", "sent_at")
    list_filter = ("status", "cancel_state", "integration", "managed_routing")
    search_fields = ("=reference", "=external_id", "=order__external_id")
    list_select_related = ("order__integration", "integration", "location")
    show_full_result_count = False
    inlines = (ShippingRequestLineInline,)
    actions = ("cancel_restock", "cancel_no_restock")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_cancel_permission(self, request):
        return request.user.has_perm("orders.change_shippingrequest")

    def _cancel(self, request, queryset, restock):
        _each(request, queryset, lambda sr: services.shipping_request_cancel(
            shipping_request=sr, restock=restock, actor=services._user_actor(request.user), user=request.user), "shipping request(s) canceled")

    @admin.action(description="Cancel with restock", permissions=["cancel"])
    def cancel_restock(self, request, queryset):
        self._cancel(request, queryset, True)

    @admin.action(description="Cancel without restock", permissions=["cancel"])
    def cancel_no_restock(self, request, queryset):
        self._cancel(request, queryset, False)


class FulfillmentLineInline(ReadOnlyInline):
    model = FulfillmentLine
    fields = ("sku", "quantity", "order_line")
    readonly_fields = fields


class ReadOnlyAdmin(admin.ModelAdmin):
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Fulfillment)
class FulfillmentAdmin(ReadOnlyAdmin):
    list_display = ("external_id", "order", "shipping_request", "integration", "carrier", "shipped_at")
    list_filter = ("integration", "carrier")
    search_fields = ("=external_id", "=order__external_id", "tracking_numbers")
    list_select_related = ("order__integration", "shipping_request", "integration")
    inlines = (FulfillmentLineInline,)


class CancellationLineInline(ReadOnlyInline):
    model = CancellationLine
    fields = ("sku", "quantity")
    readonly_fields = fields


@admin.register(Cancellation)
class CancellationAdmin(ReadOnlyAdmin):
    list_display = ("order", "source", "status", "is_full", "reason", "external_id", "created_at")
    list_filter = ("source", "status", "is_full")
    search_fields = ("=order__external_id", "=external_id")
    list_select_related = ("order__integration",)
    inlines = (CancellationLineInline,)


class ReturnLineInline(ReadOnlyInline):
    model = ReturnLine
    fields = ("sku", "quantity", "external_line_id")
    readonly_fields = fields


@admin.register(Return)
class ReturnAdmin(ReadOnlyAdmin):
    list_display = ("external_id", "order_external_id", "integration", "status", "return_type", "refund_total", "created_at")
    list_filter = ("status", "integration")
    search_fields = ("=external_id", "=order_external_id")
    list_select_related = ("integration",)
    inlines = (ReturnLineInline,)


class RefundLineInline(ReadOnlyInline):
    model = RefundLine
    fields = ("sku", "quantity", "amount")
    readonly_fields = fields


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    list_display = ("external_id", "order", "integration", "status", "amount", "currency", "created_at")
    list_filter = ("status", "integration")
    search_fields = ("=external_id", "=order__external_id")
    list_select_related = ("order__integration", "integration")
    inlines = (RefundLineInline,)


# --- the order page: actions and edits -----------------------------------------------------------

def _retry(order, user, data):
    return services.order_retry(order=order, actor=services._user_actor(user), user=user)


ORDER_ACTIONS = {
    "release_hold": {"label": "Release hold", "perm": "orders.release_hold", "done": "hold released",
                     "when": lambda o: o.status in ("onHold", "reviewRequired") and not o.channel_hold,
                     "call": lambda o, u, d: services.order_release_hold(order=o, user=u)},
    "rehold": {"label": "Re-hold until released", "perm": "orders.release_hold", "done": "held until released",
               "when": lambda o: o.status in ("readyForFulfillment", "reviewRequired"),
               "call": lambda o, u, d: services.order_rehold(order=o, user=u)},
    "reroute": {"label": "Re-route", "perm": "orders.change_order", "done": "re-routed",
                "when": lambda o: o.status == "readyForFulfillment",
                "call": lambda o, u, d: services.order_reroute(order=o, user=u)},
    "retry": {"label": "Retry", "perm": "orders.change_order", "done": "retried, it moved on",
              "when": lambda o: o.status == "reviewRequired" or (o.status == "readyForFulfillment" and o.routing_state != "routed"),
              "call": _retry},
    "cancel": {"label": "Cancel order…", "perm": "orders.change_order", "done": "canceled",
               "when": lambda o: o.status not in ("canceled", "fulfilled", "inTransit", "delivered", "closed", "returned", "refunded"),
               "call": lambda o, u, d: services.order_cancel(order=o, reason=(d.get("reason") or "canceled in Switchyard")[:255], user=u)},
}


class AddressForm(forms.Form):
    name = forms.CharField(max_length=120, required=False)
    phone = forms.CharField(max_length=40, required=False)
    address1 = forms.CharField(label="Street address", max_length=255)
    address2 = forms.CharField(label="Address line 2", max_length=255, required=False)
    city = forms.CharField(max_length=120, required=False)
    state = forms.CharField(label="State / region", max_length=120, required=False)
    postal_code = forms.CharField(max_length=20, required=False)
    country_code = forms.CharField(label="Country code", max_length=2, min_length=2, help_text="Two letters, e.g. US, GB.")

    def clean_country_code(self):
        value = self.cleaned_data["country_code"].strip().upper()
        if not value.isalpha():
            raise forms.ValidationError("Two letters, e.g. US.")
        return value

    def clean(self):
        data = super().clean()
        if not self.errors and not (data.get("postal_code") or data.get("city")):
            raise forms.ValidationError("Give a postal code or a city.")
        return data


class TagsForm(forms.Form):
    tags = forms.CharField(required=False, max_length=1000, help_text="Comma-separated, e.g. vip, gift.")


class HoldForm(forms.Form):
    until = forms.DateTimeField(required=False, label="Hold until",
                                help_text="Date and time (YYYY-MM-DD HH:MM); leave blank to hold until a person releases it.")


def _address_initial(order):
    return {k: (order.shipping_address or {}).get(k, "") for k in services.ADDRESS_FIELDS}


ORDER_EDITS = {
    "address": {"title": "Correct the shipping address", "perm": "orders.change_order", "form": AddressForm,
                "initial": _address_initial, "done": "shipping address corrected",
                "note": lambda o: services.order_address_editable(order=o),
                "call": lambda o, u, d: services.order_update_address(order=o, address=d, user=u)},
    "tags": {"title": "Edit tags", "perm": "orders.change_order", "form": TagsForm,
             "initial": lambda o: {"tags": ", ".join(o.tags or [])}, "done": "tags saved", "note": lambda o: "",
             "call": lambda o, u, d: services.order_set_tags(order=o, tags=d["tags"], user=u)},
    "hold": {"title": "Hold", "perm": "orders.release_hold", "form": HoldForm,
             "initial": lambda o: {"until": o.hold_until}, "done": "hold saved", "note": lambda o: "",
             "call": lambda o, u, d: services.order_set_hold(order=o, until=d["until"], user=u)},
}


def order_page_context(request, order) -> dict:
    """The order page's data (orders.selectors.order_page) plus what this user may do on it."""
    data = selectors.order_page(order=order)
    actions = [{"key": key, "label": spec["label"], "url": reverse("admin:orders_order_action", args=[order.pk, key])}
               for key, spec in ORDER_ACTIONS.items() if spec["when"](order) and request.user.has_perm(spec["perm"])]
    edits = {key: reverse("admin:orders_order_edit", args=[order.pk, key])
             for key, spec in ORDER_EDITS.items() if request.user.has_perm(spec["perm"])}
    if "address" in edits and services.order_address_editable(order=order):
        edits.pop("address")
    can_act_on_exceptions = request.user.has_perm("integrations.change_opsexception")
    return {"order": order, "page": data, "order_actions": actions, "order_edits": edits,
            "channel_url": channel_order_url(order), "can_act_on_exceptions": can_act_on_exceptions,
            "address_lines": address_lines(order.shipping_address)}


def channel_order_url(order) -> str:
    """The order at its channel when the connector declares a URL (ConnectorSpec.extra["order_url"]: a template
    formatted with external_id, or a dotted path to fn(order) -> url) and the integration talks to the real system
    (production)."""
    try:
        template = order.integration.spec.extra.get("order_url", "")
    except KeyError:
        return ""
    if not template or order.integration.environment not in ("", "production"):
        return ""
    if "{" not in template:
        from integrations.registry import import_string

        return import_string(template)(order)
    return template.format(external_id=order.external_id)


def address_lines(address: dict) -> list[str]:
    a = address or {}
    name = a.get("name") or " ".join(x for x in (a.get("first_name", ""), a.get("last_name", "")) if x)
    city_line = " ".join(x for x in (a.get("city", ""), a.get("state", ""), a.get("postal_code", "")) if x)
    lines = [name, a.get("address1", ""), a.get("address2", ""), a.get("address3", ""), a.get("address4", ""), city_line,
             a.get("country_code", "") or a.get("country", "")]
    lines = [str(x) for x in lines if x]
    if len(lines) <= 1 and a.get("full_address"):
        lines.append(a["full_address"])
    return lines
