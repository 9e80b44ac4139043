"""Faults while paging: a failed page never moves the cursor, committed pages stay, re-runs add nothing twice."""

import pytest

from catalog.models import Product
from integrations.models import SyncRun

from .conftest import run_flow

pytestmark = pytest.mark.django_db


def _variant(i: int) -> dict:
    return {"id": 20000 + i, "sku": f"F-{i:03d}", "type": "product", "sales_price": "1.00",
            "product_or_material": {"name": f"Thing {i}"}}


def test_products_pull_5xx_on_page_two_keeps_page_one_and_the_cursor(katana_integration, katana_api):
    from responses import matchers

    first = [_variant(i) for i in range(250)]
    katana_api.listing("/variants", first, page=1, total_pages=2,
                       match=[matchers.query_param_matcher({"page": "1"}, strict_match=False)])
    katana_api.error("GET", "/variants", status=503)
    run = run_flow(katana_integration, "pull_products")
    assert run.status == SyncRun.Status.FAILED and run.error_class == "TransientError"
    assert Product.objects.count() == 250  # page 1 committed
    state = katana_integration.flow_states.get(flow="pull_products")
    assert state.cursor == {} and state.consecutive_failures == 1
    # when: Katana answers again; everything is read, nothing created twice, the cursor moves
    katana_api.mock.reset()
    katana_api.listing("/variants", first, page=1, total_pages=2,
                       match=[matchers.query_param_matcher({"page": "1"}, strict_match=False)])
    katana_api.listing("/variants", [_variant(i) for i in range(250, 300)], page=2, total_pages=2,
                       match=[matchers.query_param_matcher({"page": "2"}, strict_match=False)])
    state.next_run_at = None
    state.save()
    run = run_flow(katana_integration, "pull_products")
    assert run.status == SyncRun.Status.SUCCEEDED and run.created == 50 and run.unchanged == 250
    assert Product.objects.count() == 300
    state.refresh_from_db()
    assert "since" in state.cursor


def test_malformed_list_answer_fails_the_run_transiently(katana_integration, katana_api):
    katana_api.ok("GET", "/variants", {"items": []})
    run = run_flow(katana_integration, "pull_products")
    assert run.status == SyncRun.Status.FAILED and "no data array" in run.error_message


def test_unmappable_variant_is_a_record_exception_and_the_rest_applies(katana_integration, katana_api):
    from integrations.models import OpsException

    katana_api.listing("/variants", [_variant(1), {"id": 5, "sku": ""}, _variant(2)])
    run = run_flow(katana_integration, "pull_products")
    assert run.status == SyncRun.Status.PARTIAL and run.created == 2 and run.failed == 1
    exc = OpsException.objects.get(code="record_skipped")
    assert "variant without a SKU" in exc.message and exc.details["external_id"] == "5"
