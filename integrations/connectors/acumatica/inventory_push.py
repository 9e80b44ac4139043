"""Inventory push to Acumatica: the ASSUMED contract, kept in this one adapter (see README "Inventory push").

The reference names no entity for setting stock from outside. We use the Default endpoint's InventoryAdjustment
(screen IN303000; fields Date, Description, ExternalRef, Hold, Status, ReferenceNbr, Details[InventoryID,
WarehouseID, LocationID, Qty, ReasonCode] in Acumatica's client, Default_23.200.001 Model/InventoryAdjustment.cs and
InventoryAdjustmentDetail.cs) and its ReleaseAdjustment action (Model/Actions/ReleaseAdjustment.cs): an adjustment
moves QtyOnHand by Qty (signed), so the push sends target − current per item, current read from
InventorySummaryInquiry (the same inquiry the pull uses). What is assumed: that a released adjustment is how a
tenant wants external stock applied (some keep Acumatica as the stock master and never push), that Qty may be
negative on one adjustment, and the status string "Released". If a tenant prefers physical counts, replace this
module (PhysicalInventoryCount) and nothing else changes.

Never twice: every adjustment carries ExternalRef "SY-INV-<integration pk>-…". Before reading quantities, our own
adjustments Acumatica holds unreleased (a lost answer, a failed release) are released first, so a quantity is
never adjusted twice for one change."""
from __future__ import annotations

from dataclasses import dataclass

from integrations.connectors.acumatica import mappers as m
from integrations.connectors.acumatica.client import AcumaticaClient

RELEASED = "released"


@dataclass(frozen=True)
class AdjustmentLine:
    inventory_id: str
    warehouse_id: str
    delta: int


def reference_prefix(integration_pk: int) -> str:
    return f"SY-INV-{integration_pk}-"


class InventoryPushAdapter:
    def __init__(self, client: AcumaticaClient, *, integration_pk: int):
        self.client = client
        self.prefix = reference_prefix(integration_pk)

    def release_pending(self) -> int:
        """Release our adjustments still unreleased (an earlier run lost the answer or failed to release)."""
        rows = self.client._list("InventoryAdjustment", params={
            "$filter": f"startswith(ExternalRef,{m.odata_quote(self.prefix)}) and Status ne 'Released'",
            "$select": "ReferenceNbr,ExternalRef,Status"})
        count = 0
        for row in rows:
            plain = m.unwrap_entity(row)
            if str(plain.get("Status") or "").lower() == RELEASED or not plain.get("ReferenceNbr"):
                continue
            self.client.action("InventoryAdjustment", "ReleaseAdjustment", entity_keys={"ReferenceNbr": plain["ReferenceNbr"]})
            count += 1
        return count

    def on_hand(self, *, inventory_id: str) -> dict[str, int]:
        """warehouse → QtyOnHand (summed over its locations)."""
        return {f.warehouse_id: f.on_hand for f in self.client.inventory_summary(inventory_id=inventory_id)}

    def adjust(self, *, reference: str, lines: list[AdjustmentLine], description: str) -> str:
        """One adjustment (insert only) holding every delta, then released. Returns its ReferenceNbr."""
        body = m.wrap_entity({
            "ExternalRef": f"{self.prefix}{reference}"[:40], "Description": description[:250], "Hold": False,
            "Details": [{"InventoryID": ln.inventory_id, "WarehouseID": ln.warehouse_id, "Qty": ln.delta} for ln in lines],
        })
        data = self.client.request("PUT", "/InventoryAdjustment", json=body,
                                   headers={"If-None-Match": "*", "Content-Type": "application/json"})
        nbr = str(m.unwrap_entity(data or {}).get("ReferenceNbr") or "")
        if nbr:
            self.client.action("InventoryAdjustment", "ReleaseAdjustment", entity_keys={"ReferenceNbr": nbr})
        return nbr
