"""The soak test's checks fail on bad data (duplicates, missing, stock mismatch, overlap, ...) and pass on good data."""
from datetime import datetime, timedelta, timezone

import pytest

from integrations.sandbox import soak_checks as c
from integrations.sandbox.soak import SoakConfig, SoakError

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


# --- orders ---

def test_orders_pass_when_each_order_is_once_on_both_sides():
    result = c.check_orders(emulator=[("US", "1"), ("UK", "2")], hub=[("TikTok US", "1"), ("TikTok UK", "2")])
    assert result.ok
    assert result.figures == "emulator 2 (UK 1, US 1), hub 2, missing 0, extra 0"


def test_orders_fail_on_missing_extra_and_duplicate():
    result = c.check_orders(emulator=[("US", "1"), ("US", "2"), ("US", "2")],
                            hub=[("TikTok US", "1"), ("TikTok US", "1"), ("TikTok US", "9")])
    assert not result.ok
    assert result.problems == ["order 2 2× at the emulator", "order 1 2× in the hub",
                               "order 2 at the emulator, not in the hub", "order 9 in the hub, not at the emulator"]
    assert "missing 1, extra 1" in result.figures


# --- shipping requests ---

def test_shipping_requests_pass_with_one_live_request_per_order():
    result = c.check_shipping_requests(hub_sent=[("SY-1", "o1"), ("SY-2", "o1")],
                                       remote=[("SY-1", "o1", "canceled"), ("SY-2", "o1", "shipped")])
    assert result.ok
    assert result.figures == "hub sent 2, emulator 2 (1 not canceled), missing 0, extra 0"


def test_shipping_requests_fail_on_duplicate_missing_and_unknown():
    result = c.check_shipping_requests(hub_sent=[("SY-1", "o1"), ("SY-2", "o2")],
                                       remote=[("SY-1", "o1", "shipped"), ("SY-1", "o1", "shipped"), ("SY-3", "o3", "waiting")])
    assert result.problems == ["request SY-1 2× at the fulfillment emulator",
                               "request SY-2 sent by the hub, not at the fulfillment emulator",
                               "request SY-3 at the fulfillment emulator, not sent by the hub",
                               "channel order o1 has 2 live requests at the fulfillment emulator"]


def test_shipping_requests_fail_on_two_live_requests_for_one_order():
    result = c.check_shipping_requests(hub_sent=[("SY-1", "o1"), ("SY-2", "o1")],
                                       remote=[("SY-1", "o1", "shipped"), ("SY-2", "o1", "waiting")])
    assert result.problems == ["channel order o1 has 2 live requests at the fulfillment emulator"]


# --- shipments ---

def test_shipments_pass_when_each_is_once_in_hub_and_channel():
    result = c.check_shipments(remote=[("S1", "o1", "T1"), ("S2", "o2", "T2")], hub=[("S1", "o1"), ("S2", "o2")],
                               channel=[("o1", "T1"), ("o2", "T2")])
    assert result.ok
    assert result.figures == "emulator 2, hub 2 (missing 0), channel packages 2 (missing 0)"


def test_shipments_fail_when_missing_in_hub_or_channel():
    result = c.check_shipments(remote=[("S1", "o1", "T1"), ("S2", "o2", "T2")], hub=[("S1", "o1")], channel=[("o1", "T1")])
    assert result.problems == ["shipment S2 (order o2) 0× in the hub", "shipment S2 (order o2, tracking T2) 0× at the channel"]
    assert result.figures == "emulator 2, hub 1 (missing 1), channel packages 1 (missing 1)"


def test_shipments_fail_on_duplicates_and_strays():
    result = c.check_shipments(remote=[("S1", "o1", "T1")], hub=[("S1", "o1"), ("S1", "o1"), ("S9", "o9")],
                               channel=[("o1", "T1"), ("o1", "T1"), ("o8", "T8")])
    assert result.problems == ["shipment S1 (order o1) 2× in the hub", "shipment S1 (order o1, tracking T1) 2× at the channel",
                               "hub fulfillment S9 (order o9) has no shipment at the fulfillment emulator",
                               "channel package of order o8 (tracking T8) matches no shipment"]


# --- cancellations ---

def test_cancellations_pass_when_cancelled_everywhere_and_never_shipped():
    result = c.check_cancellations([("o1", "CANCELLED", "canceled", 0), ("o2", "DELIVERED", "delivered", 1)])
    assert result.ok
    assert result.figures == "1 cancelled at the channel of 2"


def test_cancellations_fail_when_a_cancelled_order_lives_on_or_ships():
    result = c.check_cancellations([("o1", "CANCELLED", "fulfilled", 1), ("o2", "IN_TRANSIT", "canceled", 1),
                                    ("o3", "CANCELLED", "", 0)])
    assert result.problems == ["order o1 cancelled at the channel is fulfilled in the hub",
                               "order o1 cancelled at the channel has 1 shipment(s) at the fulfillment source",
                               "order o2 shipped (1 shipment(s)) but is canceled in the hub",
                               "order o3 cancelled at the channel is missing in the hub"]


# --- stock ---

def row(**kw) -> c.StockRow:
    base = dict(location="osa-nj", sku="TEE", source_on_hand=50, source_committed=4, hub_on_hand=46, hub_committed=2,
                hub_available=44, unsent=2)
    return c.StockRow(**{**base, **kw})


def test_stock_passes_when_available_is_source_fulfillable_minus_unsent():
    result = c.check_stock([row(), row(sku="CAP", source_on_hand=10, source_committed=0, hub_on_hand=10, hub_committed=0,
                                       hub_available=10, unsent=0)])
    assert result.ok
    assert result.figures == "2 SKU×location rows, source fulfillable 56, hub available 54, unsent 2, mismatched 0"


def test_stock_fails_on_counted_twice():
    # The hub subtracted the units the source had already shipped once more (issue 18, item 1).
    result = c.check_stock([row(hub_on_hand=26, hub_committed=0, hub_available=26, unsent=0)])
    assert not result.ok
    assert result.problems == ["TEE @ osa-nj: source on hand 50, committed 4 (fulfillable 46); hub on hand 26, committed 0, "
                               "available 26; hub unsent 0: available 26 ≠ source fulfillable 46 − hub unsent 0 = 46 (off by -20)"]


def test_stock_fails_when_hub_level_is_inconsistent_with_itself():
    result = c.check_stock([row(hub_on_hand=50)])  # available 44 as expected, but on hand − committed is 48
    assert result.problems == ["TEE @ osa-nj: source on hand 50, committed 4 (fulfillable 46); hub on hand 50, committed 2, "
                               "available 44; hub unsent 2: available 44 ≠ hub on hand 50 − committed 2"]


def fulfillable_row(**kw) -> c.StockRow:
    # Source: 50 on hand, 4 committed to requests it has (fulfillable 46); the hub has 2 more units committed to a
    # request not sent yet, so it may promise 44.
    base = dict(reports_fulfillable=True, hub_on_hand=50, hub_committed=6, hub_fulfillable=46, hub_committed_unseen=2,
                hub_available=44, unsent=2)
    return row(**{**base, **kw})


def test_stock_on_a_location_reporting_fulfillable():
    assert c.check_stock([fulfillable_row()]).ok


@pytest.mark.parametrize("kw, expected", [
    (dict(hub_fulfillable=40, hub_available=38), ["available 38 ≠ source fulfillable 46 − hub unsent 2 = 44 (off by -6)",
                                                  "hub fulfillable 40 ≠ source fulfillable 46"]),
    (dict(hub_committed_unseen=0, hub_available=46), ["available 46 ≠ source fulfillable 46 − hub unsent 2 = 44 (off by +2)",
                                                      "hub committed unseen 0 ≠ units of requests not yet sent 2"]),
    (dict(hub_available=43), ["available 43 ≠ source fulfillable 46 − hub unsent 2 = 44 (off by -1)",
                              "available 43 ≠ hub fulfillable 46 − committed unseen 2"]),
])
def test_stock_on_a_location_reporting_fulfillable_fails_on_each_disagreement(kw, expected):
    result = c.check_stock([fulfillable_row(**kw)])
    assert len(result.problems) == 1
    assert result.problems[0].split("hub unsent 2: ", 1)[1] == "; ".join(expected)


def test_ledger_fails_when_a_figure_is_not_the_sum_of_its_entries():
    assert c.check_ledger([("nj", "TEE", "on_hand", 196, 196), ("nj", "TEE", "committed", 0, 0)]).ok
    result = c.check_ledger([("nj", "CAP", "on_hand", 196, 192), ("nj", "CAP", "committed", 0, 0)])
    assert result.problems == ["CAP @ nj: on_hand is 196 but its ledger sums to 192 (off by +4)"]
    assert result.figures == "2 figures, mismatched 1"


# --- overlaps ---

def test_overlaps_pass_for_back_to_back_runs():
    result = c.check_overlaps([("US pull_orders", at(0), at(10)), ("US pull_orders", at(10), at(20)),
                               ("UK pull_orders", at(5), at(15))], now=at(100))
    assert result.ok
    assert result.figures == "3 runs of 2 flows, overlaps 0, unfinished 0"


def test_overlaps_fail_when_a_run_starts_inside_another():
    result = c.check_overlaps([("US pull_orders", at(0), at(30)), ("US pull_orders", at(40), at(50)),
                               ("US pull_orders", at(10), at(20))], now=at(100))
    assert result.problems == [f"US pull_orders: run started {at(10).isoformat()} while the run started {at(0).isoformat()} "
                               f"was still running (until {at(30).isoformat()})"]


def test_overlaps_fail_on_an_unfinished_run_and_count_it_as_running():
    result = c.check_overlaps([("US push_inventory", at(0), None), ("US push_inventory", at(50), at(60))], now=at(100))
    assert len(result.problems) == 2
    assert result.figures == "2 runs of 1 flows, overlaps 1, unfinished 1"


# --- tasks, logs, exceptions, quiet ---

def test_failed_tasks():
    assert c.check_failed_tasks([], total=12).ok
    failure = ("flow_run_task", "Traceback ...\nInsufficientInventory: TEE @ NJ: on_hand would be -1")
    result = c.check_failed_tasks([failure], total=12)
    assert result.problems == ["flow_run_task: InsufficientInventory: TEE @ NJ: on_hand would be -1"]
    assert result.figures == "12 tasks recorded, 1 failed"


def test_logs_fail_on_deadlock_and_traceback():
    clean = "12:00 INFO django-q worker started\n12:01 INFO run 3 succeeded\n"
    assert c.check_logs({"worker-1": clean}).ok
    bad = {"worker-1": clean + "ERROR: deadlock detected\nDETAIL: Process 1 waits for ShareLock\n",
           "worker-2": "Traceback (most recent call last):\n  File \"x.py\", line 1\n    boom()\nValueError: boom\nnext line\n"}
    result = c.check_logs(bad)
    assert result.problems == ["worker-1 line 3: ERROR: deadlock detected", "worker-2 line 1: traceback: ValueError: boom"]
    assert result.figures == "2 logs, 9 lines, deadlocks 1, tracebacks 1"


def test_exceptions_fail_only_when_cause_is_gone():
    still = c.OpenException(code="routing_no_stock", label="order 1", count=2, cause_gone=False,
                            why="order 1 is readyForFulfillment")
    gone = c.OpenException(code="unknown_sku", label="order 2", count=1, cause_gone=True, why="order 2 has settled (delivered)")
    assert c.check_exceptions([still]).ok
    result = c.check_exceptions([still, gone])
    assert result.problems == ["unknown_sku on order 2 (seen 1×) is still open but order 2 has settled (delivered)"]
    assert result.figures == "2 open, cause gone 1, cause still present: routing_no_stock 1"


def test_quiet():
    assert c.check_quiet(reached=True, waited_seconds=42, pending={}).ok
    result = c.check_quiet(reached=False, waited_seconds=600, pending={"hub orders open": 3, "runs in progress": 0})
    assert result.problems == ["still in flight after 600 s: hub orders open 3"]


def test_render_lists_problems_and_marks_failures():
    text = c.CheckResult("x", "1 thing", [f"p{i}" for i in range(c.MAX_LISTED + 2)]).render()
    assert text.startswith("[FAIL] x: 1 thing\n")
    assert "… and 2 more" in text
    assert c.CheckResult("x", "fine").render() == "[PASS] x: fine"


# --- configuration ---

def test_config_from_env_defaults_and_overrides():
    assert (SoakConfig.from_env({}).workers, SoakConfig.from_env({}).traffic_seconds) == (3, 600)
    config = SoakConfig.from_env({"SOAK_WORKERS": "2", "SOAK_MINUTES": "3", "SOAK_QUIET_SECONDS": "60"})
    assert (config.workers, config.traffic_seconds, config.quiet_seconds) == (2, 180, 60)
    assert SoakConfig.from_env({"SOAK_MINUTES": "3", "SOAK_SECONDS": "45"}).traffic_seconds == 45


@pytest.mark.parametrize("env", [{"SOAK_WORKERS": "0"}, {"SOAK_MINUTES": "ten"}, {"SOAK_SECONDS": "-1"}])
def test_config_refuses_bad_values(env):
    with pytest.raises(SoakError):
        SoakConfig.from_env(env)


@pytest.mark.parametrize(("location_types", "compared"), [("warehouse", ["OSA-NJ"]), ("managed_and_warehouse", ["OSA-MANAGED", "OSA-NJ"])])
def test_collect_stock_compares_only_the_locations_the_osa_integration_processes(db, location_types, compared):
    """A location type the integration's "Process inventory information only for these locations types" leaves out is
    not mirrored in the hub: its stock is not compared."""
    from integrations import services
    from integrations.connectors.osa import emulator
    from inventory.models import Location

    emulator.emulator_seed(domain="soak.example", skus=["TEE"], quantity=5)
    osa = services.integration_create(name="OSA", connector="osa", environment="sandbox",
                                      credentials={"api_key": "k", "api_secret": "s", "osa_domain": "soak.example"})
    services.integration_update_settings(integration=osa, values={**osa.settings, "inventory_location_types": location_types},
                                         summary="test")
    for code in ("OSA-NJ", "OSA-MANAGED"):
        Location.objects.create(integration=osa, code=code.lower(), name=code, external_id=code)

    result = c.collect_stock()

    assert result.figures.startswith(f"{len(compared)} SKU×location rows")
