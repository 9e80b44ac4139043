"""The emulator's advance is idempotent under concurrency: a request working from a stale snapshot of an order
(another request shipped it meanwhile) ships nothing, so OSA never reports a second, empty shipment."""

import pytest
from django.utils import timezone

from integrations.connectors.osa import emulator as emu
from integrations.connectors.osa.models import EmuOrder, EmuShipment, EmuStock

pytestmark = pytest.mark.django_db


@pytest.fixture
def order():
    account = emu.emulator_seed(domain="demo", skus=["A", "B"], quantity=10, accept_delay_seconds=0, ship_delay_seconds=0)
    body = {"reference": "R1", "shipping_method": "standard", "warehouse_code": "OSA-NJ",
            "lines": [{"sku": "A", "quantity": 2}, {"sku": "B", "quantity": 1}]}
    emu.order_create(account=account, body=body)
    EmuOrder.objects.filter(reference="R1").update(status="success")
    return EmuOrder.objects.get(reference="R1")


def test_two_advances_on_the_same_snapshot_ship_once(order):
    # given: two requests both loaded the order while it was still "success"
    first_view, second_view = EmuOrder.objects.get(pk=order.pk), EmuOrder.objects.get(pk=order.pk)
    now = timezone.now()
    # when
    shipped = emu._ship(first_view, now=now)
    again = emu._ship(second_view, now=now)
    # then: one shipment with every line, the stale request created nothing and moved no stock twice
    assert again is None and shipped is not None
    assert list(EmuShipment.objects.filter(order=order).values_list("lines", flat=True)) == [
        [{"sku": "A", "quantity": 2}, {"sku": "B", "quantity": 1}]
    ]
    order.refresh_from_db()
    assert order.status == "shipped"
    stock = dict(EmuStock.objects.filter(location_code="OSA-NJ").values_list("sku", "on_hand"))
    assert stock == {"A": 8, "B": 9}


def test_advance_twice_creates_no_empty_shipment(order):
    # given
    account = order.account
    # when
    emu.emulator_advance(account=account)
    emu.emulator_advance(account=account)
    # then
    assert EmuShipment.objects.filter(order=order).count() == 1
    assert all(s.lines for s in EmuShipment.objects.all())


def test_partial_first_then_rest_with_a_stale_second_request(order):
    # given: OSA ships one unit first, the rest on the next advance
    EmuOrder.objects.filter(pk=order.pk).update(partial_first=True)
    order.refresh_from_db()
    stale = EmuOrder.objects.get(pk=order.pk)
    # when
    emu._ship(order, now=timezone.now())
    lost_race = emu._ship(stale, now=timezone.now())
    emu.emulator_advance(account=order.account)
    # then
    assert lost_race is None
    assert list(EmuShipment.objects.filter(order=order).order_by("pk").values_list("lines", flat=True)) == [
        [{"sku": "A", "quantity": 1}],
        [{"sku": "A", "quantity": 1}, {"sku": "B", "quantity": 1}],
    ]
    order.refresh_from_db()
    assert order.status == "shipped"


def test_a_second_request_interleaved_inside_the_first_ships_nothing(order, monkeypatch):
    # given: the second request runs while the first is between deciding and writing its shipment
    stale = EmuOrder.objects.get(pk=order.pk)
    real_next_id, results = emu._next_id, []

    def next_id_with_race(account, prefix):
        if prefix == "SHP" and not results:
            results.append(emu._ship(stale, now=timezone.now()))
        return real_next_id(account, prefix)

    monkeypatch.setattr(emu, "_next_id", next_id_with_race)
    # when
    emu._ship(order, now=timezone.now())
    # then
    assert results == [None]
    assert EmuShipment.objects.filter(order=order).count() == 1
