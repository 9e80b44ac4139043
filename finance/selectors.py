"""Finance reads."""
from __future__ import annotations

from django.db.models import QuerySet, Sum

from finance.models import Statement, StatementTransaction


def statements_for_integration(*, integration) -> QuerySet[Statement]:
    return Statement.objects.filter(integration=integration).order_by("-statement_time")


def order_settlement_total(*, order) -> dict:
    """Sums of the statement transactions linked to an order."""
    return StatementTransaction.objects.filter(order=order).aggregate(
        revenue=Sum("revenue_amount"), fees=Sum("fee_amount"), shipping=Sum("shipping_cost_amount"),
        settlement=Sum("settlement_amount"))
