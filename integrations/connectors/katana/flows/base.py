"""Shared base of the Katana flows: the client (dry run answers writes locally), SKU ↔ variant resolution,
the incremental window, and one-shot settings."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone as dt_timezone
from typing import ClassVar, Iterable, Iterator

from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from integrations.connectors.katana.client import KatanaClient, Listing, make_client
from integrations.flows import Flow, Page
from integrations.models import ExternalRef, Integration, SettingsChange

VARIANT_REF = "variant"  # ExternalRef kind: Katana variant id ↔ Switchyard product
BATCH = 25


class DryRunClient:
    """A dry run reads from Katana but never writes: write methods answer as Katana would, without a call."""

    def __init__(self, real: KatanaClient) -> None:
        self._real = real

    def __getattr__(self, name: str):
        return getattr(self._real, name)

    def sales_order_create(self, *, body: dict) -> dict:
        rows = [{"id": -(i + 1), "variant_id": r["variant_id"]} for i, r in enumerate(body.get("sales_order_rows", []))]
        return {"id": 0, "status": body.get("status", "NOT_SHIPPED"), "sales_order_rows": rows}

    def sales_order_update(self, *, sales_order_id: int, body: dict) -> dict:
        return {"id": sales_order_id, **body}

    def sales_order_delete(self, *, sales_order_id: int) -> None:
        return None

    def sales_order_shipping_fee_create(self, *, body: dict) -> dict:
        return {}

    def customer_create(self, *, body: dict) -> dict:
        return {"id": 0, **body}


def katana_skus(*, integration: Integration, products: Iterable) -> dict[int, str]:
    """product pk → SKU at Katana: the Katana row's Channel SKU (exact, case and whitespace kept), else the master SKU."""
    from catalog.models import ChannelOption

    result = {p.pk: p.sku for p in products}
    for pid, channel_sku in (
        ChannelOption.objects.filter(integration=integration, product_id__in=list(result)).exclude(channel_sku="")
        .values_list("product_id", "channel_sku")
    ):
        result[pid] = channel_sku
    return result


def variant_ids_bound(*, integration: Integration, product_ids: Iterable[int]) -> dict[int, int]:
    """product pk → Katana variant id, from the bindings products pull (or an earlier lookup) made."""
    from catalog.models import Product

    ct = ContentType.objects.get_for_model(Product)
    out = {}
    for external_id, object_id in ExternalRef.objects.filter(
        integration=integration, kind=VARIANT_REF, content_type=ct, object_id__in=list(product_ids)
    ).values_list("external_id", "object_id"):
        if external_id.isdigit():
            out[object_id] = int(external_id)
    return out


def setting_switch_off(*, integration: Integration, key: str) -> None:
    """ "Force … resync" settings are one-shot: switched off once the forced run has finished."""
    settings = {**integration.settings, key: False}
    Integration.objects.filter(pk=integration.pk).update(settings=settings)
    integration.settings = settings
    SettingsChange.objects.create(integration=integration, source=SettingsChange.Source.SYSTEM,
                                  summary=f"{integration.spec.setting(key).label}: done, switched off",
                                  diff={"settings": {key: [True, False]}})


def note(ctx, text: str) -> None:
    ctx.run.note = (f"{ctx.run.note}; {text}" if ctx.run.note else text)[:255]


def iso_z(value: datetime) -> str:
    return value.astimezone(dt_timezone.utc).isoformat().replace("+00:00", "Z")


class KatanaFlow(Flow):
    # Katana stamps updated_at when its transaction starts; a row committed late carries an older stamp. Re-read
    # this far back (bindings make re-processing a no-op).
    overlap: ClassVar[timedelta] = timedelta(minutes=2)
    # The window's upper bound is taken this long before the first request (rows stamped later are re-read).
    window_lag: ClassVar[timedelta] = timedelta(seconds=5)

    @property
    def integration(self) -> Integration:
        return self.ctx.integration

    @property
    def client(self) -> KatanaClient:
        if not hasattr(self, "_client"):
            real = make_client(self.integration, counter=self.ctx.counter)
            self._client = DryRunClient(real) if self.ctx.dry_run else real
        return self._client

    def pages_updated_since(self, cursor: dict, list_method, **filters) -> Iterator[tuple[Listing, dict]]:
        """Incremental pull by `updated_at_min` over Katana's offset pages, safe against rows moving meanwhile.

        Katana pages by offset (page/limit), so the result set must never shrink while we page: we ask for
        `updated_at_min` only (a row updated meanwhile stays in the set: its updated_at only grows) and include
        deleted rows (a deletion does not remove a row from the set either). A row joining the set meanwhile can
        only push others forward: one row is then read twice (harmless), none is skipped. The cursor stays where
        it was while paging and moves, with the last page, to the instant taken before the first request (minus
        `window_lag`): everything updated since then is re-read next run."""
        since = datetime.fromisoformat(cursor["since"]) - self.overlap if cursor.get("since") else None
        upper = timezone.now() - self.window_lag
        query = dict(filters)
        if since is not None:
            query["updated_at_min"] = iso_z(since)
        page_no, listing = 1, None
        while True:
            listing = list_method(page=page_no, **query)
            done = listing.last or not listing.items
            yield listing, ({"since": upper.isoformat()} if done else dict(cursor))
            if done:
                return
            page_no += 1

    def page(self, items: list, next_cursor: dict) -> Page:
        return Page(items=items, next_cursor=next_cursor)
