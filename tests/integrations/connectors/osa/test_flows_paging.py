"""Incremental pulls are safe against rows moving while we page (#10 defect 2, OSA part): a fixed window per run,
keyset reads, and a cursor that only moves to what is certainly complete."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.connectors.osa import adapter as osa_adapter
from integrations.connectors.osa import emulator as emu
from integrations.connectors.osa.models import EmuAccount, EmuShipment
from integrations.models import FlowState
from orders.models import Fulfillment

from .conftest import DOMAIN, run_flow, settings_set

pytestmark = pytest.mark.django_db


@pytest.fixture
def five_shipments(osa_integration, emulator, channel_order, make_sr, mapped):
    """Five requests sent to OSA and shipped, their shipments updated 5 h … 1 h ago (oldest first)."""
    settings_set(osa_integration, push_shipping_requests=True, pull_fulfillments=True)
    srs = [make_sr(channel_order) for _ in range(5)]
    run_flow(osa_integration, "push_shipping_requests")
    emu.emulator_advance(account=EmuAccount.objects.get(domain=DOMAIN))
    shipments = list(EmuShipment.objects.order_by("id"))
    assert len(shipments) == 5
    now = timezone.now()
    for i, shipment in enumerate(shipments):
        EmuShipment.objects.filter(pk=shipment.pk).update(updated_at=now - timedelta(hours=5 - i))
    return srs, shipments


def test_a_shipment_updated_while_paging_makes_no_other_shipment_vanish(osa_integration, five_shipments, monkeypatch):
    srs, shipments = five_shipments
    # given: two shipments per page, and OSA updates the first shipment right after serving the first page
    monkeypatch.setattr(osa_adapter, "PER_PAGE", 2)
    emu.emulator_update_while_paging(kind="shipments", osa_id=shipments[0].osa_id, after_page=1)
    # when: the pull runs, then runs again
    first = run_flow(osa_integration, "pull_fulfillments")
    second = run_flow(osa_integration, "pull_fulfillments")
    # then: every shipment recorded exactly once (with page numbers the third one slid onto page 1, already read,
    # and the cursor jumped past it to the moved row's new time)
    assert sorted(Fulfillment.objects.values_list("external_id", flat=True)) == sorted(s.osa_id for s in shipments)
    assert first.created + second.created == 5
    assert (first.status, second.status) == ("succeeded", "succeeded")


def test_cursor_stops_at_the_window_upper_bound_and_a_row_updated_later_is_read_next_run(
    osa_integration, five_shipments, monkeypatch
):
    srs, shipments = five_shipments
    monkeypatch.setattr(osa_adapter, "PER_PAGE", 2)
    emu.emulator_update_while_paging(kind="shipments", osa_id=shipments[4].osa_id, after_page=1)
    # when
    started = timezone.now()
    run_flow(osa_integration, "pull_fulfillments")
    # then: the cursor is the window's upper bound (OSA's clock when it answered the first page), not the moved
    # row's later time; the moved row is in the next run's window
    cursor = FlowState.objects.get(integration=osa_integration, flow="pull_fulfillments").cursor
    moved = EmuShipment.objects.get(pk=shipments[4].pk).updated_at
    assert started <= timezone.datetime.fromisoformat(cursor["since"]) < moved
    assert Fulfillment.objects.count() == 4
    run_flow(osa_integration, "pull_fulfillments")
    assert Fulfillment.objects.count() == 5


def test_a_long_window_remembers_only_the_rows_it_can_meet_again(seen_rows_sizes):
    """Memory flat in the size of the work: each request asks for rows updated since the last time read, so the keys
    of earlier rows are forgotten page by page (at most a page and its last update time remembered)."""
    from types import SimpleNamespace

    from integrations.connectors.osa.flows import base

    start = timezone.now() - timedelta(days=1)
    rows = [SimpleNamespace(shipment_id=f"S{i}", updated_at=start + timedelta(seconds=i // 3)) for i in range(3000)]

    def list_method(*, updated_since, page):
        matching = [r for r in rows if updated_since is None or r.updated_at >= updated_since]
        chunk = matching[(page - 1) * 100:page * 100]
        return SimpleNamespace(items=chunk, errors=[], as_of=timezone.now(), next_page=len(matching) > page * 100)

    flow = SimpleNamespace(overlap=timedelta(0), window_lag=timedelta(0))
    # when
    pages = list(base.OsaFlow.pages_updated_since(flow, {"since": (start - timedelta(seconds=1)).isoformat()}, list_method))
    # then: every row once, and never more than a page and the rows of its last second remembered
    ids = [item.shipment_id for page in pages for item in page.items]
    assert sorted(ids) == sorted(r.shipment_id for r in rows) and len(ids) == 3000
    assert max(seen_rows_sizes) <= 100 + 3
