"""The orders changelist at a million orders: searches that use indexes, no DISTINCT, no date-hierarchy scan, and
a bounded count. Mixed into OrderAdmin (orders/admin.py); measured by tests/benchmarks/bench_admin.py.

- Search, per term: the exact channel order id (indexed); else orders with a line of that exact SKU (pk IN the
  SKU's order ids, read from the (sku, order_id) index alone, or an `Exists` subquery for a SKU on more than
  COUNT_CAP orders: no join, no DISTINCT); else a buyer e-mail: a whole address ("@" in it) matches exactly, case-insensitively (indexed on
  UPPER); anything else is a fragment (`icontains`), which no index serves: searched in the orders of the last
  FRAGMENT_DAYS days only (an indexed range; the search box's help text says so).
- Count: the unfiltered list shows PostgreSQL's estimate of the table size (pg_class.reltuples, constant time);
  any filtered list counts at most COUNT_CAP rows ("10,000+" beyond), so a broad filter costs at most that.
- Dates: the `created_at` date hierarchy (a MIN/MAX and a DISTINCT over the filtered rows per level) is replaced by
  Django's date-range filter (today / past 7 days / this month / this year: one indexed range condition)."""
from __future__ import annotations

from datetime import timedelta

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Exists, OuterRef
from django.db.models.functions import Upper
from django.utils import timezone
from django.utils.functional import cached_property

from orders.models import OrderLine

COUNT_CAP = 10_000
FRAGMENT_DAYS = 30


class CappedCountPaginator(Paginator):
    """`count` is an estimate for the whole table (PostgreSQL), else an exact count capped at COUNT_CAP."""

    @cached_property
    def count(self) -> int:
        qs = self.object_list
        if not qs.query.where and connection.vendor == "postgresql":
            estimate = table_estimate(qs.model._meta.db_table)
            if estimate >= COUNT_CAP:
                return estimate
        return qs.order_by()[:COUNT_CAP + 1].count()


def table_estimate(table: str) -> int:
    """PostgreSQL's row estimate for a table (kept by autovacuum / ANALYZE); -1 when never analyzed."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [table])
        row = cursor.fetchone()
    return int(row[0]) if row else -1


def search_condition(queryset, term: str):
    """The queryset narrowed by one search term (see the module doc)."""
    if queryset.filter(external_id=term).exists():
        return queryset.filter(external_id=term)
    # The SKU's lines are counted (up to COUNT_CAP + 1) in the (sku, order_id) index alone. Up to COUNT_CAP of them:
    # the orders whose pk is IN the SKU's order ids, read from that same index inside the query (a semi-join driven
    # by the SKU's few lines; no id list through Python, no join, no DISTINCT); a SKU on more orders than that is
    # common enough for EXISTS over the newest orders to find a page at once.
    lines = OrderLine.objects.filter(sku=term)
    on_lines = lines.values("order_id")[:COUNT_CAP + 1].count()
    if on_lines:
        if on_lines <= COUNT_CAP:
            return queryset.filter(pk__in=lines.values("order_id"))
        return queryset.filter(Exists(OrderLine.objects.filter(order=OuterRef("pk"), sku=term)))
    if "@" in term:
        return queryset.alias(email_upper=Upper("buyer_email")).filter(email_upper=term.upper())
    # A fragment cannot use an index: bounded to the orders of the last FRAGMENT_DAYS days (an indexed range).
    since = timezone.now() - timedelta(days=FRAGMENT_DAYS)
    return queryset.filter(created_at__gte=since, buyer_email__icontains=term)


class OrderChangelistMixin:
    """Put first in OrderAdmin's bases."""

    paginator = CappedCountPaginator
    show_full_result_count = False
    search_help_text = (f"Order id, SKU or whole e-mail address: exact match, any age. Part of an e-mail address: "
                        f"orders of the last {FRAGMENT_DAYS} days.")

    def get_list_filter(self, request):
        return (*super().get_list_filter(request), ("created_at", admin.DateFieldListFilter))

    def get_search_results(self, request, queryset, search_term):
        """No DISTINCT: every condition is on the order row itself (lines through EXISTS)."""
        for term in search_term.split():
            queryset = search_condition(queryset, term.strip("\"'"))
        return queryset, False
