"""Arrivals and receipts services: a 3PL accepting an arrival (inbound counted), then what it physically
received (Receipt rows upserted on (integration, external id), received quantities, partial/received status,
inbound recomputed through the ledger). Re-running with the same receipts changes nothing."""
from datetime import datetime, timezone as dt_timezone

import pytest

from inventory import services
from inventory.models import Arrival, ArrivalLine, InventoryLedgerEntry, InventoryLevel, Receipt, ReceiptLine

pytestmark = pytest.mark.django_db
AT = datetime(2026, 11, 1, 9, 30, tzinfo=dt_timezone.utc)


@pytest.fixture
def arrival(tpl, wh, sku_a, sku_b):
    arrival = Arrival.objects.create(integration=tpl, location=wh, reference="ASN-1", status=Arrival.Status.EXPECTED)
    ArrivalLine.objects.create(arrival=arrival, product=sku_a, quantity_expected=10)
    ArrivalLine.objects.create(arrival=arrival, product=sku_b, quantity_expected=4)
    return arrival


def _inbound(location):
    return dict(InventoryLevel.objects.filter(location=location).values_list("product__sku", "inbound"))


def _received(arrival):
    return dict(ArrivalLine.objects.filter(arrival=arrival).values_list("product__sku", "quantity_received"))


def test_mark_sent_sets_id_status_and_inbound(arrival, wh):
    # when
    services.arrival_mark_sent(arrival=arrival, external_id="OSA-ASN-7", reason="osa_arrivals")
    services.arrival_mark_sent(arrival=arrival, external_id="OSA-ASN-7", reason="osa_arrivals")  # re-run
    # then
    arrival.refresh_from_db()
    assert (arrival.external_id, arrival.status) == ("OSA-ASN-7", "sent")
    assert _inbound(wh) == {"A": 10, "B": 4}
    assert sorted(InventoryLedgerEntry.objects.filter(field="inbound").values_list("product__sku", "delta", "reason")) == [
        ("A", 10, "osa_arrivals"), ("B", 4, "osa_arrivals")]


def test_mark_sent_without_id_changes_nothing(arrival, wh):
    with pytest.raises(ValueError):
        services.arrival_mark_sent(arrival=arrival, external_id=" ")
    arrival.refresh_from_db()
    assert (arrival.external_id, arrival.status) == ("", "expected") and _inbound(wh) == {}


def test_partial_then_full_receipt_and_idempotent_rerun(tpl, arrival, wh):
    # given
    services.arrival_mark_sent(arrival=arrival, external_id="OSA-ASN-7")
    first = {"external_id": "RCV-1", "arrival_reference": "ASN-1", "received_at": AT, "lines": [{"sku": "A", "quantity": 6}]}
    second = {"external_id": "RCV-2", "arrival_reference": "ASN-1", "received_at": AT,
              "lines": [{"sku": "A", "quantity": 4}, {"sku": "B", "quantity": 4}]}
    # when: a partial receipt
    partial = services.receipts_record(integration=tpl, receipts=[first])
    # then
    arrival.refresh_from_db()
    assert partial == {"created": 1, "updated": 0, "unchanged": 0, "errors": []}
    assert arrival.status == "partial" and _received(arrival) == {"A": 6, "B": 0} and _inbound(wh) == {"A": 4, "B": 4}
    # when: the rest, then the same page again
    rest = services.receipts_record(integration=tpl, receipts=[first, second])
    ledger_count = InventoryLedgerEntry.objects.count()
    again = services.receipts_record(integration=tpl, receipts=[first, second])
    # then
    arrival.refresh_from_db()
    assert rest == {"created": 1, "updated": 0, "unchanged": 1, "errors": []}
    assert again == {"created": 0, "updated": 0, "unchanged": 2, "errors": []}
    assert arrival.status == "received" and _received(arrival) == {"A": 10, "B": 4}
    assert _inbound(wh) == {"A": 0, "B": 0}  # a received arrival is no longer inbound
    assert InventoryLedgerEntry.objects.count() == ledger_count
    assert Receipt.objects.filter(integration=tpl).count() == 2
    assert sorted(ReceiptLine.objects.values_list("receipt__external_id", "sku", "quantity")) == [
        ("RCV-1", "A", 6), ("RCV-2", "A", 4), ("RCV-2", "B", 4)]


def test_a_corrected_receipt_is_updated_not_duplicated(tpl, arrival, wh):
    # given
    services.arrival_mark_sent(arrival=arrival, external_id="OSA-ASN-7")
    services.receipts_record(integration=tpl, receipts=[
        {"external_id": "RCV-1", "arrival_reference": "ASN-1", "received_at": AT, "lines": [{"sku": "A", "quantity": 6}]}])
    # when: OSA corrects the count
    out = services.receipts_record(integration=tpl, receipts=[
        {"external_id": "RCV-1", "arrival_reference": "ASN-1", "received_at": AT, "lines": [{"sku": "A", "quantity": 5}]}])
    # then
    assert out == {"created": 0, "updated": 1, "unchanged": 0, "errors": []}
    assert list(ReceiptLine.objects.values_list("sku", "quantity")) == [("A", 5)]
    assert _received(arrival) == {"A": 5, "B": 0} and _inbound(wh) == {"A": 5, "B": 4}


def test_receipt_for_unknown_arrival_is_kept_and_reported(tpl, arrival, wh):
    # when
    out = services.receipts_record(integration=tpl, receipts=[
        {"external_id": "RCV-9", "arrival_reference": "NOPE", "received_at": None, "lines": [{"sku": "A", "quantity": 1}]}])
    # then
    assert out["created"] == 1 and out["errors"] == [{"external_id": "RCV-9", "field": "arrival_reference",
                                                      "message": "receipt for unknown arrival NOPE recorded without an arrival"}]
    assert Receipt.objects.get(external_id="RCV-9").arrival is None
    assert _received(arrival) == {"A": 0, "B": 0} and _inbound(wh) == {}


def test_malformed_receipts_write_nothing(tpl, arrival, wh):
    # when
    out = services.receipts_record(integration=tpl, receipts=[
        {"external_id": "", "arrival_reference": "ASN-1", "lines": [{"sku": "A", "quantity": 1}]},
        {"external_id": "RCV-3", "arrival_reference": "ASN-1", "lines": [{"sku": "A", "quantity": -2}]},
        {"external_id": "RCV-4", "arrival_reference": "ASN-1", "lines": "A"},
    ])
    # then
    assert (out["created"], out["updated"], len(out["errors"])) == (0, 0, 3)
    assert not Receipt.objects.exists() and _received(arrival) == {"A": 0, "B": 0}
    assert not InventoryLedgerEntry.objects.exists()


def test_another_integrations_arrival_is_not_touched(tpl, arrival, wh):
    # given: a second 3PL reports a receipt naming this arrival's reference
    from tests.orders import factories as f

    other = f.three_pl(name="Other 3PL")
    # when
    out = services.receipts_record(integration=other, receipts=[
        {"external_id": "RCV-1", "arrival_reference": "ASN-1", "received_at": AT, "lines": [{"sku": "A", "quantity": 10}]}])
    # then
    assert out["errors"][0]["field"] == "arrival_reference"
    arrival.refresh_from_db()
    assert arrival.status == "expected" and _received(arrival) == {"A": 0, "B": 0}
