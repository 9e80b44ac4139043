"""push_fulfillments when the outcome of a push is unknown: a request that never left is released, a push whose
answer was lost is read back from TikTok's order (Get Order Detail) before anything is re-sent, and an "already
shipped" answer for a package that is ours marks the push sent instead of rejecting it."""
import pytest
import requests
import urllib3

from integrations.connectors.tiktok import constants as c
from integrations.connectors.tiktok.flows_orders import fulfillment_read_back
from integrations.models import OpsException, OutboundPush
from tests.integrations.connectors.tiktok.conftest import envelope, load_fixture
from tests.integrations.connectors.tiktok.test_flows_pull_orders import raw
from tests.integrations.connectors.tiktok.test_flows_push import MARK, PROVIDERS, order, push, ship  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

TRACKING = "9400111899223856928499"
ALL_IDS = ["576812345678911111", "576812345678911112", "576812345678911113"]


@pytest.fixture(autouse=True)
def three_pl_connector():
    from tests.orders import factories as f
    f.register()
    yield
    f.unregister()


def remote_order(shipped: dict[str, tuple[str, str]]) -> dict:
    """The standard order as TikTok shows it, with {line item id: (package id, tracking)} shipped."""
    detail = raw("standard")
    for line in detail["line_items"]:
        if line["id"] in shipped:
            line["package_id"], line["tracking_number"] = shipped[line["id"]]
    return detail


def read_back_shows(tiktok_api, shipped: dict[str, tuple[str, str]]) -> None:
    tiktok_api.mock.replace("GET", tiktok_api._url(c.PATH_ORDERS_DETAIL), json=envelope({"orders": [remote_order(shipped)]}))


def mark_answers(tiktok_api, **kwargs) -> None:
    tiktok_api.mock.replace("POST", tiktok_api._url(MARK), **kwargs)


def doubt_open() -> list[OpsException]:
    return list(OpsException.objects.filter(code="tiktok_push_in_doubt", status="open"))


@pytest.fixture
def shipped_whole(tiktok_integration, tiktok_api, order):
    tiktok_api.fixture("GET", PROVIDERS, "shipping_providers__us.json")
    tiktok_api.fixture("POST", MARK, "mark_package_shipped__ok.json")
    return ship(order, "F1", [("TEE-BLK-L", 2), ("CAP-RED", 1)])


# --- the request never left ------------------------------------------------------------------

def test_connect_timeout_releases_the_claim_and_the_next_run_sends_it(tiktok_integration, tiktok_api, shipped_whole):
    mark_answers(tiktok_api, body=requests.ConnectTimeout("connect timeout"))
    run = push(tiktok_integration, "push_fulfillments")
    assert (run.status, run.error_class) == ("failed", "NotSentError")
    claim = OutboundPush.objects.get(kind="fulfillment")
    assert (claim.status, claim.attempts) == ("pending", 0)
    assert doubt_open() == []
    mark_answers(tiktok_api, json=load_fixture("mark_package_shipped__ok.json"))
    run = push(tiktok_integration, "push_fulfillments")
    assert (run.status, run.created) == ("succeeded", 1)
    assert len(tiktok_api.calls_to(MARK)) == 2  # the first never reached TikTok
    assert OutboundPush.objects.get(kind="fulfillment").status == "sent"


def test_connection_refused_releases_the_claim(tiktok_integration, tiktok_api, shipped_whole):
    refused = urllib3.exceptions.NewConnectionError(None, "Connection refused")
    mark_answers(tiktok_api, body=requests.ConnectionError(urllib3.exceptions.MaxRetryError(None, "/", reason=refused)))
    run = push(tiktok_integration, "push_fulfillments")
    assert run.error_class == "NotSentError"
    claim = OutboundPush.objects.get(kind="fulfillment")
    assert (claim.status, claim.attempts) == ("pending", 0)
    assert doubt_open() == []


def test_connection_aborted_after_sending_is_in_doubt_not_released(tiktok_integration, tiktok_api, shipped_whole):
    mark_answers(tiktok_api, body=requests.ConnectionError(urllib3.exceptions.ProtocolError("Connection aborted.")))
    run = push(tiktok_integration, "push_fulfillments")
    assert (run.status, run.error_class) == ("failed", "TransientError")
    claim = OutboundPush.objects.get(kind="fulfillment")
    assert (claim.status, claim.attempts) == ("pending", 1) and claim.last_error.startswith("in doubt: ")
    assert len(doubt_open()) == 1


# --- the answer was lost: read back --------------------------------------------------------------

def test_read_timeout_then_tiktok_shows_the_package_marks_sent_without_resending(tiktok_integration, tiktok_api, shipped_whole):
    mark_answers(tiktok_api, body=requests.ReadTimeout("read timeout"))
    push(tiktok_integration, "push_fulfillments")
    assert len(doubt_open()) == 1
    read_back_shows(tiktok_api, {i: ("PKG-77", TRACKING) for i in ALL_IDS})
    run = push(tiktok_integration, "push_fulfillments")
    assert run.status == "succeeded"
    assert len(tiktok_api.calls_to(MARK)) == 1  # never re-sent
    sent = OutboundPush.objects.get(kind="fulfillment")
    assert (sent.status, sent.remote_id, sent.response["package_id"]) == ("sent", "PKG-77", "PKG-77")
    assert doubt_open() == []
    assert OpsException.objects.get(code="tiktok_push_in_doubt").resolution_note.startswith("read back")


def test_read_timeout_then_tiktok_shows_nothing_sends_again_once(tiktok_integration, tiktok_api, shipped_whole):
    mark_answers(tiktok_api, body=requests.ReadTimeout("read timeout"))
    push(tiktok_integration, "push_fulfillments")
    read_back_shows(tiktok_api, {})
    mark_answers(tiktok_api, json=load_fixture("mark_package_shipped__ok.json"))
    run = push(tiktok_integration, "push_fulfillments")
    assert (run.status, run.created) == ("succeeded", 1)
    assert len(tiktok_api.calls_to(MARK)) == 2
    assert tiktok_api.body(tiktok_api.calls_to(MARK)[1])["order_line_item_ids"] == ALL_IDS
    assert OutboundPush.objects.get(kind="fulfillment").status == "sent"
    assert doubt_open() == []
    push(tiktok_integration, "push_fulfillments")
    assert len(tiktok_api.calls_to(MARK)) == 2


def test_read_back_that_cannot_tell_leaves_the_push_in_doubt_for_a_person(tiktok_integration, tiktok_api, shipped_whole):
    mark_answers(tiktok_api, body=requests.ReadTimeout("read timeout"))
    push(tiktok_integration, "push_fulfillments")
    # someone shipped one item in Seller Center with another tracking number
    read_back_shows(tiktok_api, {ALL_IDS[0]: ("PKG-9", "OTHER-TRACKING")})
    push(tiktok_integration, "push_fulfillments")
    assert len(tiktok_api.calls_to(MARK)) == 1
    claim = OutboundPush.objects.get(kind="fulfillment")
    assert (claim.status, claim.attempts) == ("pending", 1)
    [doubt] = doubt_open()
    assert "PKG-9" in doubt.message and "OTHER-TRACKING" in doubt.message


def test_unreadable_answer_to_a_push_is_in_doubt_not_resent(tiktok_integration, tiktok_api, shipped_whole):
    mark_answers(tiktok_api, body=b'{"code": 0, "data": {"package_id"<html>', status=200)
    run = push(tiktok_integration, "push_fulfillments")
    assert run.status == "failed"
    claim = OutboundPush.objects.get(kind="fulfillment")
    assert (claim.status, claim.attempts) == ("pending", 1) and claim.last_error.startswith("in doubt: ")
    read_back_shows(tiktok_api, {i: ("PKG-77", TRACKING) for i in ALL_IDS})
    push(tiktok_integration, "push_fulfillments")
    assert len(tiktok_api.calls_to(MARK)) == 1
    assert OutboundPush.objects.get(kind="fulfillment").remote_id == "PKG-77"


def test_dry_run_reads_back_but_settles_nothing(tiktok_integration, tiktok_api, shipped_whole):
    from integrations import services
    mark_answers(tiktok_api, body=requests.ReadTimeout("read timeout"))
    push(tiktok_integration, "push_fulfillments")
    read_back_shows(tiktok_api, {i: ("PKG-77", TRACKING) for i in ALL_IDS})
    services.flow_run(flow_state=tiktok_integration.flow_states.get(flow="push_fulfillments"), dry_run=True)
    claim = OutboundPush.objects.get(kind="fulfillment")
    assert (claim.status, claim.attempts) == ("pending", 1)
    assert len(doubt_open()) == 1


# --- "already shipped" ---------------------------------------------------------------------------

def test_already_shipped_answer_for_our_package_marks_the_push_sent(tiktok_integration, tiktok_api, shipped_whole):
    tiktok_api.mock.replace("POST", tiktok_api._url(MARK), json=envelope(None, code=21011003, message="already shipped"))
    read_back_shows(tiktok_api, {i: ("PKG-77", TRACKING) for i in ALL_IDS})
    run = push(tiktok_integration, "push_fulfillments")
    assert (run.status, run.created) == ("succeeded", 1)
    sent = OutboundPush.objects.get(kind="fulfillment")
    assert (sent.status, sent.remote_id) == ("sent", "PKG-77")
    assert not OpsException.objects.filter(code="tiktok_fulfillment_rejected").exists()


def test_already_shipped_answer_for_a_package_not_ours_is_rejected(tiktok_integration, tiktok_api, shipped_whole):
    tiktok_api.mock.replace("POST", tiktok_api._url(MARK), json=envelope(None, code=21011003, message="already shipped"))
    read_back_shows(tiktok_api, {i: ("PKG-9", "OTHER-TRACKING") for i in ALL_IDS})
    push(tiktok_integration, "push_fulfillments")
    assert OutboundPush.objects.get(kind="fulfillment").status == "failed"
    assert "already shipped" in OpsException.objects.get(code="tiktok_fulfillment_rejected", status="open").message


# --- the read-back rule (pure) -------------------------------------------------------------------

MARK_PAYLOAD = {"order_id": "576812345678901234", "action": "mark_shipped", "tracking_number": TRACKING,
                "order_line_item_ids": ALL_IDS[:2]}


@pytest.mark.parametrize("shipped,expected", [
    ({i: ("P1", TRACKING) for i in ALL_IDS[:2]}, True),
    ({}, False),
    ({ALL_IDS[2]: ("P1", TRACKING)}, False),  # another item's package says nothing about ours
    ({ALL_IDS[0]: ("P1", TRACKING)}, None),  # half shown
    ({i: ("P1", "OTHER") for i in ALL_IDS[:2]}, None),  # shipped, but not with our tracking
])
def test_read_back_of_mark_shipped(shipped, expected):
    shown, response, note = fulfillment_read_back(MARK_PAYLOAD, remote_order(shipped))
    assert shown is expected
    assert (response.get("package_id") == "P1") is (expected is True)
    assert bool(note) is (expected is None)


def test_read_back_of_a_missing_order_cannot_tell():
    assert fulfillment_read_back(MARK_PAYLOAD, None) == (None, {}, "the order is not found at TikTok")


@pytest.mark.parametrize("tracking,expected", [(TRACKING, True), ("OLD", False)])
def test_read_back_of_update_tracking(tracking, expected):
    payload = {"order_id": "576812345678901234", "action": "update_tracking", "package_id": "P1", "tracking_number": TRACKING}
    shown, response, _ = fulfillment_read_back(payload, remote_order({ALL_IDS[0]: ("P1", tracking)}))
    assert shown is expected and response == ({"package_id": "P1", "read_back": True} if expected else {})


# --- cancellations -------------------------------------------------------------------------------

@pytest.fixture
def hub_cancellation(tiktok_integration, tiktok_api, order):
    from orders.models import Cancellation
    from tests.integrations.connectors.tiktok.test_flows_pull_orders import configure
    configure(tiktok_integration, cancel_push=True)
    tiktok_api.fixture("POST", c.PATH_CANCEL_ORDER, "cancel_order__ok.json")
    return Cancellation.objects.create(order=order, integration=tiktok_integration, source="user", is_full=True)


def read_back_status(tiktok_api, status: str) -> None:
    detail = raw("standard")
    detail["status"] = status
    if status == "CANCELLED":
        for line in detail["line_items"]:
            line["display_status"] = "CANCELLED"
    tiktok_api.mock.replace("GET", tiktok_api._url(c.PATH_ORDERS_DETAIL), json=envelope({"orders": [detail]}))


def test_cancellation_read_timeout_then_tiktok_shows_it_cancelled_marks_sent(tiktok_integration, tiktok_api, hub_cancellation):
    tiktok_api.mock.replace("POST", tiktok_api._url(c.PATH_CANCEL_ORDER), body=requests.ReadTimeout("read timeout"))
    push(tiktok_integration, "push_cancellations")
    assert len(doubt_open()) == 1
    read_back_status(tiktok_api, "CANCELLED")
    run = push(tiktok_integration, "push_cancellations")
    assert run.status == "succeeded"
    assert len(tiktok_api.calls_to(c.PATH_CANCEL_ORDER)) == 1
    assert OutboundPush.objects.get(kind="cancellation").status == "sent"
    assert doubt_open() == []


def test_cancellation_read_timeout_then_tiktok_shows_it_open_sends_again_once(tiktok_integration, tiktok_api, hub_cancellation):
    tiktok_api.mock.replace("POST", tiktok_api._url(c.PATH_CANCEL_ORDER), body=requests.ReadTimeout("read timeout"))
    push(tiktok_integration, "push_cancellations")
    read_back_status(tiktok_api, "AWAITING_SHIPMENT")
    tiktok_api.mock.replace("POST", tiktok_api._url(c.PATH_CANCEL_ORDER), json=load_fixture("cancel_order__ok.json"))
    push(tiktok_integration, "push_cancellations")
    push(tiktok_integration, "push_cancellations")
    assert len(tiktok_api.calls_to(c.PATH_CANCEL_ORDER)) == 2
    assert OutboundPush.objects.get(kind="cancellation").status == "sent"
    assert doubt_open() == []


def test_cancellation_connect_timeout_is_released(tiktok_integration, tiktok_api, hub_cancellation):
    tiktok_api.mock.replace("POST", tiktok_api._url(c.PATH_CANCEL_ORDER), body=requests.ConnectTimeout("connect timeout"))
    push(tiktok_integration, "push_cancellations")
    claim = OutboundPush.objects.get(kind="cancellation")
    assert (claim.status, claim.attempts) == ("pending", 0) and doubt_open() == []


def test_not_cancellable_answer_for_an_order_tiktok_shows_cancelled_marks_sent(tiktok_integration, tiktok_api, hub_cancellation):
    tiktok_api.mock.replace("POST", tiktok_api._url(c.PATH_CANCEL_ORDER), json=envelope(None, code=25001002, message="cannot be cancelled"))
    read_back_status(tiktok_api, "CANCELLED")
    push(tiktok_integration, "push_cancellations")
    assert OutboundPush.objects.get(kind="cancellation").status == "sent"
    assert not OpsException.objects.filter(code="tiktok_cancellation_rejected").exists()


def test_not_cancellable_answer_for_a_shipped_order_is_rejected(tiktok_integration, tiktok_api, hub_cancellation):
    tiktok_api.mock.replace("POST", tiktok_api._url(c.PATH_CANCEL_ORDER), json=envelope(None, code=25001002, message="cannot be cancelled"))
    read_back_status(tiktok_api, "IN_TRANSIT")
    push(tiktok_integration, "push_cancellations")
    assert OutboundPush.objects.get(kind="cancellation").status == "failed"
    assert OpsException.objects.filter(code="tiktok_cancellation_rejected", status="open").count() == 1


@pytest.mark.parametrize("status,cancelled,ids,expected", [
    ("CANCELLED", [], [], True),
    ("AWAITING_SHIPMENT", [], [], False),
    ("AWAITING_SHIPMENT", [ALL_IDS[2]], [ALL_IDS[2]], True),
    ("AWAITING_SHIPMENT", [], [ALL_IDS[2]], False),
    ("AWAITING_SHIPMENT", [ALL_IDS[0]], [ALL_IDS[0], ALL_IDS[1]], None),
    ("AWAITING_SHIPMENT", [ALL_IDS[0]], [], None),  # full cancel asked, one line cancelled: cannot tell
])
def test_read_back_of_cancellations(status, cancelled, ids, expected):
    from integrations.connectors.tiktok.flows_orders import cancellation_read_back
    detail = raw("standard")
    detail["status"] = status
    for line in detail["line_items"]:
        if line["id"] in cancelled:
            line["display_status"] = "CANCELLED"
    shown, _, note = cancellation_read_back({"order_id": detail["id"], "order_line_item_ids": ids}, detail)
    assert shown is expected and bool(note) is (expected is None)


# --- the claim itself --------------------------------------------------------------------------

def test_claim_is_compare_and_set_so_a_claim_taken_meanwhile_is_not_taken_twice(tiktok_integration, monkeypatch):
    from integrations.connectors.tiktok import flows_orders
    released = OutboundPush.objects.create(integration=tiktok_integration, kind="fulfillment", idempotency_key="fulfillment:1")
    stale = OutboundPush.objects.get(pk=released.pk)  # what the second worker read: released (attempts 0)
    OutboundPush.objects.filter(pk=released.pk).update(attempts=1)  # the first worker claimed it in between
    monkeypatch.setattr(OutboundPush.objects, "get_or_create", lambda **kwargs: (stale, False))
    assert flows_orders.push_claim(integration=tiktok_integration, kind="fulfillment", key="fulfillment:1") is None
    assert OutboundPush.objects.get(pk=released.pk).attempts == 1
