"""Finance admin: statements and their transactions (read-mostly, large tables)."""
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from finance.models import Statement, StatementTransaction


@admin.register(Statement)
class StatementAdmin(admin.ModelAdmin):
    list_display = ["external_id", "integration", "statement_time", "currency", "revenue_amount", "fee_amount",
                    "adjustment_amount", "settlement_amount", "payment_status"]
    list_filter = ["integration", "payment_status", "currency"]
    list_select_related = ["integration"]
    search_fields = ["=external_id", "=payment_id"]
    raw_id_fields = ["integration"]
    readonly_fields = ["transactions_link", "created_at"]
    date_hierarchy = "statement_time"
    show_full_result_count = False

    @admin.display(description="transactions")
    def transactions_link(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        url = reverse("admin:finance_statementtransaction_changelist") + f"?statement__id__exact={obj.pk}"
        return format_html('<a href="{}">Transactions of this statement</a>', url)


@admin.register(StatementTransaction)
class StatementTransactionAdmin(admin.ModelAdmin):
    list_display = ["external_id", "statement", "integration", "transaction_type", "order_external_id", "order",
                    "currency", "revenue_amount", "fee_amount", "settlement_amount", "remote_created_at"]
    list_filter = ["integration", "transaction_type", "currency"]
    list_select_related = ["statement", "statement__integration", "integration", "order__integration"]
    search_fields = ["=external_id", "=order_external_id", "=statement__external_id"]
    raw_id_fields = ["statement", "integration", "order"]
    show_full_result_count = False
