"""seed_scale (orders/seeding.py): the admin benchmark's data, appended in bulk."""
import pytest
from django.core.management import call_command

from integrations.models import Integration, OpsException, SyncRun
from orders.models import Order, OrderEvent, OrderLine
from orders.seeding import OPEN

pytestmark = pytest.mark.django_db


def test_seed_scale_appends_orders_with_lines_events_exceptions_and_runs():
    call_command("seed_scale", orders=200, shops=2, exceptions=5, runs=7, stdout=open("/dev/null", "w"))
    assert Integration.objects.filter(name__startswith="Scale shop ").count() == 2
    assert (Order.objects.count(), OrderLine.objects.count(), OrderEvent.objects.count()) == (200, 400, 200)
    assert (OpsException.objects.filter(status="open").count(), SyncRun.objects.count()) == (5, 7)
    # only the last two weeks of the two-year history are still open
    oldest_open = Order.objects.filter(status__in=OPEN).order_by("created_at").first()
    assert oldest_open is None or (Order.objects.latest("created_at").created_at - oldest_open.created_at).days <= 14
    # appending again adds, never collides
    call_command("seed_scale", orders=10, shops=2, exceptions=1, runs=1, stdout=open("/dev/null", "w"))
    assert Order.objects.count() == 210 and Integration.objects.filter(name__startswith="Scale shop ").count() == 2


def test_seed_scale_refuses_a_non_positive_size():
    with pytest.raises(SystemExit):
        call_command("seed_scale", orders=0, stderr=open("/dev/null", "w"))
    assert Order.objects.count() == 0
