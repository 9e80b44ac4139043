"""Statements and statement transactions (line-level financial records)."""
from django.db import models
from django.utils import timezone

MONEY = {"max_digits": 14, "decimal_places": 2}


class Statement(models.Model):
    integration = models.ForeignKey("integrations.Integration", on_delete=models.PROTECT, related_name="statements")
    external_id = models.CharField(max_length=64)
    statement_time = models.DateTimeField(null=True, blank=True, db_index=True)
    currency = models.CharField(max_length=3, default="USD")
    revenue_amount = models.DecimalField(default=0, **MONEY)
    fee_amount = models.DecimalField(default=0, **MONEY)
    adjustment_amount = models.DecimalField(default=0, **MONEY)
    shipping_cost_amount = models.DecimalField(default=0, **MONEY)
    settlement_amount = models.DecimalField(default=0, **MONEY)
    payment_status = models.CharField(max_length=40, blank=True)
    payment_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-statement_time"]
        constraints = [models.UniqueConstraint(fields=["integration", "external_id"], name="uniq_statement")]

    def __str__(self) -> str:
        return f"{self.integration} statement {self.external_id}"


class StatementTransaction(models.Model):
    statement = models.ForeignKey(Statement, on_delete=models.CASCADE, related_name="transactions")
    integration = models.ForeignKey("integrations.Integration", on_delete=models.PROTECT, related_name="statement_transactions")
    external_id = models.CharField(max_length=64)
    transaction_type = models.CharField(max_length=40, blank=True)
    order = models.ForeignKey("orders.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="statement_transactions")
    order_external_id = models.CharField(max_length=64, blank=True, db_index=True)
    currency = models.CharField(max_length=3, default="USD")
    revenue_amount = models.DecimalField(default=0, **MONEY)
    fee_amount = models.DecimalField(default=0, **MONEY)
    shipping_cost_amount = models.DecimalField(default=0, **MONEY)
    adjustment_amount = models.DecimalField(default=0, **MONEY)
    settlement_amount = models.DecimalField(default=0, **MONEY)
    details = models.JSONField(default=dict, blank=True)
    remote_created_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-remote_created_at"]
        constraints = [models.UniqueConstraint(fields=["integration", "external_id"], name="uniq_statement_transaction")]
