"""The API-calls benchmark's pure parts (tests/benchmarks/api_calls_metrics.py): minimum formulas, ratio, registry
coverage, endpoint folding, the README table. No database, exact values."""
import pytest

from tests.benchmarks.api_calls_metrics import (
    Term,
    batches,
    coverage,
    endpoint,
    fixed,
    minimum,
    pages,
    per_record,
    ratio,
    table,
)


@pytest.mark.parametrize(("rows", "size", "calls"), [(0, 100, 1), (1, 100, 1), (100, 100, 1), (101, 100, 2), (250, 100, 3),
                                                     (250, 250, 1), (254, 250, 2), (120, 50, 3)],
                         ids=["_case_empty", "_case_one", "_case_full_page", "_case_one_over", "_case_250_by_100",
                              "_case_250_by_250", "_case_254_by_250", "_case_120_by_50"])
def test_pages_is_ceil_rows_over_page_size_and_at_least_one_call(rows, size, calls):
    term = pages(rows, size, "Get Order List", "tiktok_api.md §4.1")
    assert term == Term(calls, f"Get Order List: max(1, ceil({rows}/{size}))={calls}", "tiktok_api.md §4.1")


def test_per_record_and_batches():
    assert per_record(30, "Cancel Order", "§5.4") == Term(30, "Cancel Order: 30 × 1=30", "§5.4")
    assert batches(45, 20, "Activate", "§6.1") == Term(3, "Activate: ceil(45/20)=3", "§6.1")
    assert batches(0, 20, "Activate", "§6.1").calls == 0  # nothing to send: no call


def test_minimum_sums_the_terms_and_lists_each_reference_once():
    terms = [fixed(1, "pending check", "§2.4"), pages(4, 100, "StockItem list", "§2.7"), fixed(2, "PUT + release", "§2.4")]
    assert minimum(terms) == {"calls": 4, "formula": "pending check: 1 + StockItem list: max(1, ceil(4/100))=1 + "
                                                     "PUT + release: 2", "references": ["§2.4", "§2.7"]}


@pytest.mark.parametrize(("calls", "least", "expected"), [(3, 3, 1.0), (756, 506, 1.49), (221, 1, 221.0), (0, 0, 1.0),
                                                          (2, 0, None)],
                         ids=["_case_at_minimum", "_case_above", "_case_far_above", "_case_nothing_to_do",
                              "_case_calls_for_nothing"])
def test_ratio(calls, least, expected):
    assert ratio(calls, least) == expected


def test_coverage_names_the_flows_neither_measured_nor_listed():
    flows = [("tiktok", "pull_orders"), ("osa", "pull_inventory"), ("katana", "push_fbt_orders")]
    assert coverage(flows, [("tiktok", "pull_orders")], {("katana", "push_fbt_orders"): "no FBT orders"}) == [
        ("osa", "pull_inventory")]
    assert coverage(flows, [("tiktok", "pull_orders"), ("osa", "pull_inventory")], {("katana", "push_fbt_orders"): "x"}) == []


def test_coverage_refuses_a_flow_both_measured_and_listed_or_not_in_the_registry():
    flows = [("tiktok", "pull_orders")]
    with pytest.raises(ValueError, match="measured and listed"):
        coverage(flows, [("tiktok", "pull_orders")], {("tiktok", "pull_orders"): "why"})
    with pytest.raises(ValueError, match="not in the registry"):
        coverage(flows, [("tiktok", "pull_order")], {})


@pytest.mark.parametrize(("method", "url", "expected"), [
    ("POST", "http://127.0.0.1:8000/integrations/sandbox/tiktok/order/202309/orders/search?page_size=100",
     "POST /order/{id}/orders/search"),
    ("GET", "http://127.0.0.1:8000/integrations/osa/sandbox/api/v1/orders/OSA-000123/cancel", "GET /orders/{id}/cancel"),
    ("GET", "http://127.0.0.1:8000/integrations/katana/sandbox/v1/sales_orders/1042", "GET /sales_orders/{id}"),
    ("GET", "http://127.0.0.1:8000/integrations/acumatica/sandbox/entity/Default/23.200.001/SalesOrder/CancelSalesOrder/"
            "status/0518a17e-6258-49df-a500-fbab3d31ea44", "GET /SalesOrder/CancelSalesOrder/status/{id}"),
], ids=["_case_tiktok", "_case_osa", "_case_katana", "_case_acumatica"])
def test_endpoint_folds_the_emulator_prefix_and_ids(method, url, expected):
    assert endpoint(method, url) == expected


def test_table_renders_rows_listed_flows_and_the_summary():
    report = {
        "date": "2026-12-02T08:00:00+00:00", "database": "sqlite", "machine": {"host": "vm"},
        "summary": {"measured": 2, "at_minimum": 1},
        "flows": [
            {"connector": "tiktok", "flow": "pull_orders", "workload": "250 new orders", "calls": 3, "ratio": 1.0,
             "minimum": minimum([pages(250, 100, "Get Order List", "tiktok_api.md §4.1")]), "explanation": ""},
            {"connector": "acumatica", "flow": "push_orders", "workload": "250 requests", "calls": 500, "ratio": 2.0,
             "minimum": minimum([per_record(250, "PUT /SalesOrder", "downstream_apis.md §2.4")]),
             "explanation": "post-create look-up"},
        ],
        "not_measured": [{"connector": "osa", "flow": "push_arrivals", "reason": "no arrivals"}],
    }
    assert table(report).split("\n") == [
        "| connector | flow | workload | calls made | theoretical minimum (formula; reference) | ratio | why not 1.00 |",
        "|---|---|---|---|---|---|---|",
        "| tiktok | `pull_orders` | 250 new orders | 3 | 3 (Get Order List: max(1, ceil(250/100))=3; tiktok_api.md §4.1) | "
        "1.00 |  |",
        "| acumatica | `push_orders` | 250 requests | 500 | 250 (PUT /SalesOrder: 250 × 1=250; downstream_apis.md §2.4) | 2.00 | "
        "post-create look-up |",
        "",
        "Not driven in the sandbox (listed, never skipped silently):",
        "",
        "- osa `push_arrivals`: no arrivals",
        "",
        "Measured 2026-12-02T08:00:00+00:00 on vm (sqlite); 1 of 2 measured flows at ratio 1.00.",
    ]
