"""Property: for ANY interleaving of order events (buyer places, edits and cancels; the hub cancels; OSA accepts,
ships in parts or cancels; polls, webhook-targeted runs, pushes, and workers crashing mid-run), once the world runs
to quiescence every invariant holds. Hypothesis draws the interleavings and shrinks a failing one to its core.

Each example runs inside a savepoint of the seeded world that is rolled back afterwards (seeding once per test)."""
import random as random_module

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations.models import SyncRun
from tests.reliability import invariants
from tests.reliability.remote import Fault
from tests.reliability.world import OSA, US

EVENTS = ("place", "place", "edit", "buyer_cancel", "hub_cancel", "osa_cancel", "poll", "webhook", "release", "push",
          "ship_partial", "ship", "push_tracking", "cancel_push", "crash")
SKUS = ("TEE-BLK-M", "TEE-BLK-L", "CAP-RED", "BUNDLE-TEE-CAP")


class WorkerKilled(Exception):
    pass


def _kill():
    raise WorkerKilled("worker killed mid-run")


class Actors:
    """What each event does in the world; events that have nothing to act on do nothing."""

    def __init__(self, world, rnd: random_module.Random):
        self.world, self.rnd = world, rnd

    def _remote_orders(self, statuses=None):
        from integrations.sandbox.models import EmuOrder

        qs = EmuOrder.objects.filter(shop=self.world.shop).order_by("pk")
        return list(qs.filter(status__in=statuses) if statuses else qs)

    def _osa_orders(self, statuses):
        from integrations.connectors.osa.models import EmuOrder

        return list(EmuOrder.objects.filter(account=self.world.account, status__in=statuses).order_by("pk"))

    def place(self):
        items = [(sku, self.rnd.randint(1, 2)) for sku in self.rnd.sample(SKUS, self.rnd.randint(1, 2))]
        self.world.place_order(*items)

    def edit(self):
        from integrations.sandbox import services as emu

        orders = self._remote_orders(emu.ACTIVE_BEFORE_SHIP)
        if orders:
            order = self.rnd.choice(orders)
            emu._apply_event(order, "edit", emu.now_ts())
            order.save()

    def buyer_cancel(self):
        from integrations.sandbox import services as emu

        orders = self._remote_orders(emu.ACTIVE_BEFORE_SHIP)
        if orders:
            order = self.rnd.choice(orders)
            emu.order_cancel(order=order, role="BUYER", reason="ecom_order_to_ship_canceled_reason_change_of_mind", ts=emu.now_ts())
            order.save()

    def hub_cancel(self):
        from orders.models import Order
        from orders.services import OrderActionError, order_cancel

        orders = list(Order.objects.exclude(status__in=("canceled", "fulfilled", "delivered")).order_by("pk"))
        if orders:
            try:
                order_cancel(order=self.rnd.choice(orders), reason="customer called")
            except OrderActionError:
                pass

    def osa_cancel(self):
        from integrations.connectors.osa import emulator

        orders = self._osa_orders(("waiting", "success"))
        if orders:
            emulator.emulator_cancel_order(domain=self.world.account.domain, reference=self.rnd.choice(orders).reference)

    def poll(self):
        self.world.run(US, "pull_orders")

    def webhook(self):
        orders = self._remote_orders()
        if orders:
            self.world.run(US, "pull_orders", params={"order_ids": [self.rnd.choice(orders).order_id]})

    def release(self):
        self.world.release_holds()

    def push(self):
        self.world.run(OSA, "push_shipping_requests")

    def ship_partial(self):
        from integrations.connectors.osa.models import EmuOrder

        orders = self._osa_orders(("waiting", "success"))
        if orders:
            EmuOrder.objects.filter(pk=self.rnd.choice(orders).pk).update(partial_first=True)
        self.world.run(OSA, "pull_fulfillments")

    def ship(self):
        self.world.run(OSA, "pull_order_statuses")
        self.world.run(OSA, "pull_fulfillments")

    def push_tracking(self):
        self.world.run(US, "push_fulfillments")

    def cancel_push(self):
        self.world.run(OSA, "cancel_shipping_requests")
        self.world.run(US, "push_cancellations")

    def crash(self):
        flow = self.rnd.choice([(US, "pull_orders"), (OSA, "pull_fulfillments"), (OSA, "push_shipping_requests")])
        self.world.remote.inject(Fault("hook", hook=_kill))
        try:
            self.world.run(*flow)
        except WorkerKilled:
            pass
        finally:
            self.world.remote.clear()


@pytest.mark.reliability("interleaving")
@settings(max_examples=12, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(events=st.lists(st.sampled_from(EVENTS), min_size=3, max_size=12), seed=st.integers(0, 2**16))
def test_any_interleaving_of_order_events_keeps_every_invariant(world, events, seed):
    savepoint = transaction.savepoint()
    world.clock.offset = type(world.clock.offset)(0)
    try:
        actors = Actors(world, random_module.Random(seed))
        actors.place()
        for event in events:
            world.clock.tick(1)
            getattr(actors, event)()
        world.settle(rounds=5)
        found = invariants.violations(world)
        assert not found, f"events {events} (seed {seed}):\n- " + "\n- ".join(found)
        assert not SyncRun.objects.filter(status=SyncRun.Status.RUNNING).exists()
    finally:
        transaction.savepoint_rollback(savepoint)
        world.remote.clear()
