"""The world the reliability suite runs in: the sandbox demo (TikTok US shop + OSA account, catalog, locations,
stock, hold and routing rules) seeded in-process, every flow of every registered connector switched on, and
helpers to place orders, run flows through the real engine and run everything to quiescence."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.utils import timezone

from integrations import registry, services
from integrations.models import FlowState, Integration, SyncRun
from tests.reliability.remote import Remote

US, OSA, KATANA, UK = "TikTok US", "OSA (sandbox)", "Katana (sandbox)", "TikTok UK"
ACU, WHOLESALE = "Acumatica (sandbox)", "TikTok US Wholesale"
# Which integration of the world runs the flows of each connector.
INTEGRATION_OF = {"tiktok": US, "osa": OSA, "katana": KATANA, "acumatica": ACU}


def registry_flows() -> list[tuple[str, str]]:
    """(connector, flow) for every flow of every registered connector (the suite enumerates these)."""
    registry.load_connectors()
    return sorted((code, f.code) for code, spec in registry.CONNECTORS.items() if code != "fake" for f in spec.flows)


@dataclass
class World:
    remote: Remote
    clock: object = None
    runs: list[SyncRun] = field(default_factory=list)
    started: dict = field(default_factory=dict)  # run pk -> the world's clock when the run began
    katana: bool = False  # enable_katana(): the UK shop and Katana join the world and its rounds
    acumatica: bool = False  # enable_acumatica(): the US Wholesale shop and Acumatica join the world and its rounds

    # --- setup ---

    def seed(self) -> "World":
        from integrations.connectors.osa.models import EmuAccount
        from integrations.sandbox.demo import demo_seed
        from integrations.sandbox.models import EmuOrder, EmuShop
        from tests.snapshot import seeded

        seeded("reliability-world", demo_seed)  # seeded once per test process, replayed per scenario (tests/snapshot.py)
        EmuAccount.objects.update(accept_delay_seconds=0, ship_delay_seconds=0, rate_limit_per_minute=100000)
        Integration.objects.update(created_at=timezone.now() - timedelta(days=2))  # orders placed hours ago are in scope
        EmuOrder.objects.all().delete()  # the demo's generated traffic: this suite places its own orders
        EmuShop.objects.update(webhooks_enabled=False, pay_after_seconds=0, remorse_seconds=0, qps=100000)
        # One channel is enough here; Katana serves the UK shop only (its flows: tests/integrations/connectors/katana).
        Integration.objects.filter(name__in=["TikTok UK", KATANA, WHOLESALE, ACU]).update(is_active=False)
        for integration in (self.us, self.osa):
            services.flow_states_ensure(integration=integration)
        return self

    def enable_katana(self) -> "World":
        """The UK shop's pipeline joins the world: TikTok UK orders are routed to Katana (the demo's routing rule),
        Katana's emulator delivers what it is sent, Katana stock reaches TikTok UK. The inventory buffer is 0 so
        every round takes Katana's figures (the buffer itself is covered by tests/integrations/connectors/katana)."""
        from integrations.connectors.katana.models import EmuAccount as KatanaAccount
        from integrations.sandbox.demo import _settings_apply

        if self.katana:
            return self
        Integration.objects.filter(name__in=[UK, KATANA]).update(is_active=True)
        KatanaAccount.objects.filter(pk=self.katana_account.pk).update(deliver_after_seconds=0, rate_limit=100000)
        _settings_apply(self.katana_integration, {"inventory_buffer_minutes": 0})
        for integration in (self.uk, self.katana_integration):
            services.flow_states_ensure(integration=integration)
        self.katana = True
        return self

    def enable_acumatica(self) -> "World":
        """The US Wholesale shop's pipeline joins the world: its orders are routed to Acumatica's MAIN warehouse (the
        demo's routing rule), with the Ship Via mapping the demo asks the operator to add (Standard shipping →
        UPSGROUND). Acumatica's warehouse ships only when the world says so (`acumatica_ships`, each round), and its
        stock reaches the Wholesale shop through pull_inventory."""
        from integrations.connectors.acumatica.models import EmuInstance
        from integrations.models import Mapping

        if self.acumatica:
            return self
        Integration.objects.filter(name__in=[WHOLESALE, ACU]).update(is_active=True)
        EmuInstance.objects.filter(pk=self.acu_instance.pk).update(ship_delay_seconds=10 ** 6, rate_limit_per_minute=100000)
        Mapping.objects.get_or_create(integration=self.acu_integration, kind=Mapping.Kind.SHIPPING_METHOD,
                                      source="Standard shipping", defaults={"target": "UPSGROUND"})
        for integration in (self.wholesale, self.acu_integration):
            services.flow_states_ensure(integration=integration)
        self.acumatica = True
        return self

    @property
    def wholesale(self) -> Integration:
        return Integration.objects.get(name=WHOLESALE)

    @property
    def acu_integration(self) -> Integration:
        return Integration.objects.get(name=ACU)

    @property
    def wholesale_shop(self):
        from integrations.sandbox.demo import ACU_SHOP_NAME
        from integrations.sandbox.models import EmuShop

        return EmuShop.objects.get(name=ACU_SHOP_NAME)

    @property
    def acu_instance(self):
        from integrations.connectors.acumatica.models import EmuInstance

        return EmuInstance.objects.get(name="sandbox-demo")

    def place_wholesale_order(self, *items: tuple[str, int]):
        """A buyer places and pays an order in the emulated TikTok US Wholesale shop (routed to Acumatica)."""
        return self._place(self.wholesale_shop, items)

    def acumatica_ships(self) -> None:
        """Acumatica's warehouse ships and confirms every open sales order of type SO (one package, tracking)."""
        from integrations.connectors.acumatica import emulator as acu_emulator
        from integrations.connectors.acumatica.models import EmuRecord

        instance = self.acu_instance
        for order in EmuRecord.objects.filter(instance=instance, entity="SalesOrder", data__Status="Open",
                                              data__OrderType="SO").order_by("pk"):
            acu_emulator.emulator_ship(instance=instance, order_nbr=order.data["OrderNbr"])

    @property
    def uk(self) -> Integration:
        return Integration.objects.get(name=UK)

    @property
    def katana_integration(self) -> Integration:
        return Integration.objects.get(name=KATANA)

    @property
    def uk_shop(self):
        from integrations.sandbox.models import EmuShop

        return EmuShop.objects.get(name="Sandbox Shop UK")

    @property
    def katana_account(self):
        from integrations.connectors.katana.models import EmuAccount as KatanaAccount
        from integrations.sandbox.demo import KATANA_ACCOUNT

        return KatanaAccount.objects.get(name=KATANA_ACCOUNT)

    @property
    def us(self) -> Integration:
        return Integration.objects.get(name=US)

    @property
    def osa(self) -> Integration:
        return Integration.objects.get(name=OSA)

    @property
    def shop(self):
        from integrations.sandbox.models import EmuShop

        return EmuShop.objects.get(name="Sandbox Shop US")

    @property
    def account(self):
        from integrations.connectors.osa.models import EmuAccount

        return EmuAccount.objects.get(domain="sandbox-demo")

    def sku(self, seller_sku: str, shop=None):
        from integrations.sandbox.models import EmuSku

        return EmuSku.objects.get(product__shop=shop or self.shop, seller_sku=seller_sku)

    # --- remote actors ---

    def place_order(self, *items: tuple[str, int]):
        """A buyer places and pays an order in the emulated TikTok shop."""
        from integrations.sandbox import services as emu

        order = emu.order_create(shop=self.shop, items=[(self.sku(s), q) for s, q in items], at=emu.now_ts() - 5)
        emu.shop_advance(shop=self.shop)
        order.refresh_from_db()
        return order

    def place_uk_order(self, *items: tuple[str, int]):
        """A buyer places and pays an order in the emulated TikTok UK shop (routed to Katana)."""
        return self._place(self.uk_shop, items)

    def _place(self, shop, items):
        from integrations.sandbox import services as emu

        order = emu.order_create(shop=shop, items=[(self.sku(s, shop), q) for s, q in items], at=emu.now_ts() - 5)
        emu.shop_advance(shop=shop)
        order.refresh_from_db()
        return order

    def katana_ships(self) -> None:
        """Katana's warehouse delivers every open sales order (with tracking): what its users do in Katana."""
        from integrations.connectors.katana import emulator as katana_emulator

        account = self.katana_account
        for obj in account.emu_objects.filter(kind="sales_order", deleted=False):
            if obj.data.get("status") in ("NOT_SHIPPED", "PENDING", "PARTIALLY_DELIVERED"):
                katana_emulator.emulator_deliver(account=account, sales_order_id=obj.data["id"])

    # --- running ---

    def state(self, integration_name: str, flow: str) -> FlowState:
        return FlowState.objects.select_related("integration").get(integration__name=integration_name, flow=flow)

    def run(self, integration_name: str, flow: str, **kwargs) -> SyncRun:
        began = timezone.now()
        run = services.flow_run(flow_state=self.state(integration_name, flow), trigger="command", **kwargs)
        self.started[run.pk] = began
        self.runs.append(run)
        return run

    def run_connector_flow(self, connector: str, flow: str, **kwargs) -> SyncRun:
        return self.run(INTEGRATION_OF[connector], flow, **kwargs)

    def release_holds(self) -> None:
        from orders.services import orders_release_due

        orders_release_due(now=timezone.now() + timedelta(hours=2))

    # The order the flows run in one round: what a busy worker would do in one minute.
    ROUND = (
        (US, "pull_orders"), ("*", "release"), (OSA, "push_shipping_requests"), (OSA, "cancel_shipping_requests"),
        (OSA, "pull_order_statuses"), (OSA, "pull_fulfillments"), (US, "push_fulfillments"), (US, "push_cancellations"),
        (OSA, "pull_inventory"), (US, "push_inventory"),
    )
    # With enable_katana(): the UK shop's pipeline through Katana, after the US one.
    KATANA_ROUND = (
        (UK, "pull_orders"), ("*", "release"), (KATANA, "push_orders"), (KATANA, "cancel_orders"), ("*", "katana_ships"),
        (KATANA, "pull_fulfillments"), (UK, "push_fulfillments"), (UK, "push_cancellations"), (KATANA, "pull_products"),
        (KATANA, "pull_locations"), (KATANA, "pull_inventory"), (UK, "push_inventory"),
    )

    # With enable_acumatica(): the US Wholesale shop's pipeline through Acumatica.
    ACUMATICA_ROUND = (
        (WHOLESALE, "pull_orders"), ("*", "release"), (ACU, "push_orders"), (ACU, "cancel_orders"), ("*", "acumatica_ships"),
        (ACU, "pull_shipping_requests"), (ACU, "pull_fulfillments"), (WHOLESALE, "push_fulfillments"),
        (WHOLESALE, "push_cancellations"), (ACU, "push_refunds"), (ACU, "pull_products"), (ACU, "pull_locations"),
        (ACU, "push_locations"), (ACU, "pull_inventory"), (ACU, "push_inventory"), (WHOLESALE, "push_inventory"),
    )
    # Flows a setting switches (dropdown directions, refunds off by default): a round runs only those switched on.
    SWITCHED = {(ACU, "push_refunds"), (ACU, "pull_locations"), (ACU, "push_locations"), (ACU, "pull_inventory"),
                (ACU, "push_inventory")}

    def settle(self, rounds: int = 4) -> list[SyncRun]:
        """Run the order pipeline until nothing changes any more (quiescence); returns the last round's runs."""
        last: list[SyncRun] = []
        for _ in range(rounds):
            if self.clock is not None:
                self.clock.tick(2)  # the next round runs a little later
            fingerprint = self.fingerprint()
            last = self.drain_outboxes()
            flows = self.ROUND + (self.KATANA_ROUND if self.katana else ()) + (self.ACUMATICA_ROUND if self.acumatica else ())
            for name, flow in flows:
                if flow == "release":
                    self.release_holds()
                elif flow in ("katana_ships", "acumatica_ships"):
                    getattr(self, flow)()
                elif (name, flow) in self.SWITCHED and not self.state(name, flow).enabled:
                    continue
                else:
                    last.append(self.run(name, flow))
            if self.fingerprint() == fingerprint:
                return last
        return last

    def drain_outboxes(self) -> list[SyncRun]:
        """What the dispatcher does for targeted work left on a flow's outbox (webhooks received while the flow
        was running, or whose enqueue was lost)."""
        runs = []
        pending = FlowState.objects.select_related("integration").exclude(pending_params={}, pending_inflight={})
        for state in pending:
            run = services.flow_run_pending(flow_state=state)
            if run is not None:
                self.runs.append(run)
                runs.append(run)
        return runs

    def fingerprint(self) -> tuple:
        from integrations.connectors.osa.models import EmuOrder as OsaOrder, EmuShipment
        from integrations.models import OutboundPush
        from integrations.sandbox.models import EmuOrder, EmuPackage
        from orders.models import Fulfillment, Order, ShippingRequest

        return (
            tuple(Order.objects.order_by("pk").values_list("pk", "status")),
            tuple(ShippingRequest.objects.order_by("pk").values_list("pk", "status", "cancel_state")),
            Fulfillment.objects.count(),
            tuple(OutboundPush.objects.order_by("pk").values_list("pk", "status")),
            tuple(EmuOrder.objects.order_by("pk").values_list("pk", "status")),
            EmuPackage.objects.count(),
            tuple(OsaOrder.objects.order_by("pk").values_list("pk", "status")),
            EmuShipment.objects.count(),
        ) + (self._katana_fingerprint() if self.katana else ()) + (self._acumatica_fingerprint() if self.acumatica else ())

    def _katana_fingerprint(self) -> tuple:
        from integrations.connectors.katana.models import EmuObject

        return (tuple(EmuObject.objects.filter(account=self.katana_account).exclude(kind="inventory").order_by("pk")
                      .values_list("pk", "deleted", "updated_at")),)

    def _acumatica_fingerprint(self) -> tuple:
        from integrations.connectors.acumatica.models import EmuRecord

        return (tuple(EmuRecord.objects.filter(instance=self.acu_instance).exclude(entity__in=("Action", "Stock"))
                      .order_by("pk").values_list("pk", "updated_at")),)
