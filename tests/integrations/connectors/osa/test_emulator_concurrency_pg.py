"""Real concurrency on PostgreSQL: two requests advancing the same OSA emulator order at once ship it once."""
import threading

import pytest
from django.db import connection, connections
from django.utils import timezone

from integrations.connectors.osa import emulator as emu
from integrations.connectors.osa.models import EmuOrder, EmuShipment, EmuStock

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (DATABASE_URL=postgres://...)"),
]


def test_two_threads_advancing_the_same_order_create_one_shipment():
    # given: an order ready to ship, and two workers holding the same snapshot of it
    account = emu.emulator_seed(domain="race", skus=["A"], quantity=10, accept_delay_seconds=0, ship_delay_seconds=0)
    emu.order_create(account=account, body={"reference": "R1", "shipping_method": "standard", "warehouse_code": "OSA-NJ",
                                            "lines": [{"sku": "A", "quantity": 3}]})
    EmuOrder.objects.filter(reference="R1").update(status="success")
    snapshots = [EmuOrder.objects.get(reference="R1") for _ in range(2)]
    barrier, results, errors = threading.Barrier(2), [], []

    def worker(order):
        try:
            barrier.wait(timeout=10)
            results.append(emu._ship(order, now=timezone.now()))
        except Exception as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    # when
    threads = [threading.Thread(target=worker, args=(s,)) for s in snapshots]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    # then
    assert errors == []
    assert list(EmuShipment.objects.values_list("lines", flat=True)) == [[{"sku": "A", "quantity": 3}]]
    assert sum(1 for r in results if r is not None) == 1
    assert EmuStock.objects.get(sku="A", location_code="OSA-NJ").on_hand == 7
