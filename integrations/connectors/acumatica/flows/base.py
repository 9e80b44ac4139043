"""Shared base of the Acumatica flows: the client (dry-run aware), SKU resolution, order-source scoping, the
order-type entries and the incremental window. No wire knowledge here."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import ClassVar, Iterable

from django.utils import timezone

from integrations.connectors.acumatica import mappers as m
from integrations.connectors.acumatica.client import AcumaticaClient
from integrations.connectors.acumatica.connection import acumatica_client
from integrations.connectors.acumatica.settings import DEFAULT_ORDER_TYPE
from integrations.flows import Flow
from integrations.models import Integration, SettingsChange

BATCH = 25


def acumatica_skus(*, integration: Integration, product_ids: Iterable[int]) -> dict[int, str]:
    """product id → InventoryID: the Acumatica row's Channel SKU, else the master SKU (exact, case and spaces kept)."""
    from catalog.models import ChannelOption, Product

    ids = list(product_ids)
    result = dict(Product.objects.filter(pk__in=ids).values_list("pk", "sku"))
    for pid, channel_sku in (ChannelOption.objects.filter(integration=integration, product_id__in=ids)
                             .exclude(channel_sku="").values_list("product_id", "channel_sku")):
        result[pid] = channel_sku
    return result


def source_names(channel: Integration) -> set[str]:
    """What an order source entry may name: the channel integration's name or its connector code."""
    return {channel.name.strip().lower(), channel.connector.lower()}


def source_in_scope(entries: Iterable[str], channel: Integration) -> bool:
    wanted = {e.strip().lower() for e in entries if e and e.strip()}
    return not wanted or bool(wanted & source_names(channel))


class OrderTypeEntryError(ValueError):
    pass


def order_type_for(entries: Iterable[str], channel: Integration) -> str:
    """The order type of the first "channel:orderType" entry naming this channel, else SO. A malformed entry is an
    error (never silently SO): the setting says the orders of that channel go elsewhere."""
    names = source_names(channel)
    for entry in entries or []:
        if not entry or not entry.strip():
            continue
        channel_part, sep, order_type = entry.partition(":")
        if not sep or not channel_part.strip() or not order_type.strip() or " " in order_type.strip():
            raise OrderTypeEntryError(f"“{entry}” is not channel:orderType (e.g. tiktok:TT)")
        if channel_part.strip().lower() in names:
            return order_type.strip().upper()
    return DEFAULT_ORDER_TYPE


def setting_switch_off(*, integration: Integration, key: str) -> None:
    """One-shot "Force … resync" settings switch themselves off once the forced run has finished."""
    settings = {**integration.settings, key: False}
    Integration.objects.filter(pk=integration.pk).update(settings=settings)
    integration.settings = settings
    SettingsChange.objects.create(integration=integration, source=SettingsChange.Source.SYSTEM,
                                  summary=f"{integration.spec.setting(key).label}: done, switched off",
                                  diff={"settings": {key: [True, False]}})


def note(ctx, text: str) -> None:
    ctx.run.note = (f"{ctx.run.note}; {text}" if ctx.run.note else text)[:255]


class DryRunClient:
    """A dry run reads from Acumatica but never writes: write methods answer as Acumatica would, without a call."""

    def __init__(self, real: AcumaticaClient) -> None:
        self._real = real

    def __getattr__(self, name: str):
        return getattr(self._real, name)

    def sales_order_create(self, *, order: m.SalesOrderOut) -> m.RemoteSalesOrder:
        return m.RemoteSalesOrder(order.order_type, f"dry-run:{order.external_ref}", "Open", order.customer_order, order.external_ref)

    def return_order_create(self, *, ret: m.ReturnOrderOut) -> m.RemoteSalesOrder:
        return m.RemoteSalesOrder(ret.order_type, f"dry-run:{ret.external_ref}", "Open", ret.customer_order, ret.external_ref)

    def sales_order_cancel(self, *, order_type: str, order_nbr: str) -> None:
        return None

    def warehouse_create(self, *, warehouse_id: str, description: str) -> m.RemoteWarehouse:
        return m.RemoteWarehouse(warehouse_id, description)


class AcumaticaFlow(Flow):
    # Acumatica stamps LastModified when its transaction starts; rows committed up to this long before "now" may
    # still be invisible, so the window stops here and the next run's overlap re-reads the edge.
    window_lag: ClassVar[timedelta] = timedelta(seconds=5)

    @property
    def client(self) -> AcumaticaClient:
        if not hasattr(self, "_client"):
            real = acumatica_client(self.ctx.integration, counter=self.ctx.counter)
            self._client = DryRunClient(real) if self.ctx.dry_run else real
        return self._client

    @property
    def integration(self) -> Integration:
        return self.ctx.integration

    def window(self, cursor: dict, *, force: bool = False) -> tuple[datetime | None, datetime]:
        """(since, until) of an incremental pull: from the cursor minus the overlap up to now minus the lag."""
        until = timezone.now() - self.window_lag
        raw = None if (force or self.ctx.force_full) else cursor.get("since")
        since = datetime.fromisoformat(raw) - self.overlap if raw else None
        return since, until
