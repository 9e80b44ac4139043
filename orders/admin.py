"""Order operations back office. Actions are one call deep into orders.services."""
from django.contrib import admin, messages
from django.db import transaction

from orders import services
from orders.admin_list import OrderChangelistMixin
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
    readonly_fields = ("integration", "external_id", "status", "channel_status", "hold_until", "held_by_rule", "channel_hold",
                       "review_reason", "routing_state", "routing_attempts", "routing_next_at", "cancel_requested_at",
                       "created_at", "updated_at", "payload_hash")
    inlines = (OrderLineInline, ShippingRequestInline, OrderEventInline)
    actions = ("release_hold", "rehold", "cancel_orders", "reroute")

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
    list_display = ("name", "enabled", "priority", "integration", "connector", "minutes", "clock", "next_status")
    list_editable = ("enabled", "priority", "minutes")
    list_filter = ("enabled", "integration", "clock", "next_status")
    list_select_related = ("integration",)
    search_fields = ("name",)
    raw_id_fields = ("integration",)


class RoutingRuleLocationInline(admin.TabularInline):
    model = RoutingRuleLocation
    extra = 1
    raw_id_fields = ("location",)
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
