"""The flow contract. A connector flow does remote I/O in `pages()` and local writes in
`apply()`; the engine (services.flow_run) does leasing, run records, transactions, cursors and
error classification."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, ClassVar, Iterator

from integrations.exceptions import PayloadError


@dataclass(frozen=True)
class Page:
    items: list[Any]
    # What to persist once this page's writes are committed.
    next_cursor: dict


@dataclass
class FlowResult:
    fetched: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    errors: list[dict] = field(default_factory=list)

    def record_error(self, *, external_id: str = "", field: str = "", message: str, payload: Any = None,
                     exception: bool = True) -> None:
        """A record skipped by this run. In a pull flow the engine opens (or bumps) an exception per
        (integration, flow, external id) keeping `payload` (the raw remote record) for a retry; pass
        exception=False when the flow already raised its own, more specific exception for it."""
        self.failed += 1
        error = {"external_id": str(external_id), "field": field, "message": message}
        if payload is not None:
            error["payload"] = payload
        if not exception:
            error["no_exception"] = True
        self.errors.append(error)

    def record_payload_error(self, exc: PayloadError, *, payload: Any = None) -> None:
        self.record_error(external_id=exc.external_id, field=exc.field, message=exc.message, payload=payload)


@dataclass
class FlowContext:
    """What a flow gets: its integration, settings, a client factory, the run and the clock."""

    integration: Any
    flow_state: Any
    run: Any
    started_at: datetime
    dry_run: bool = False
    force_full: bool = False
    counter: Any = None
    # Targeted runs (webhooks, admin): e.g. {"order_ids": ["576..."]}; flows may narrow their fetch.
    params: dict = field(default_factory=dict)
    # The run's lease on the flow (services.flow_lease_unbroken: has another worker possibly run it meanwhile?).
    lease_token: str = ""

    def setting(self, key: str) -> Any:
        return self.integration.setting(key)


class Flow:
    code: ClassVar[str] = ""
    # Remote systems stamp update times at the start of their own transaction; re-read this far
    # back so rows committed late are not missed. Re-processing is a no-op thanks to bindings.
    overlap: ClassVar[timedelta] = timedelta(minutes=2)

    def __init__(self, ctx: FlowContext) -> None:
        self.ctx = ctx

    def pages(self, cursor: dict) -> Iterator[Page]:
        raise NotImplementedError

    def apply(self, page: Page, result: FlowResult) -> None:
        raise NotImplementedError

    def item_external_id(self, item: Any) -> str:
        """The remote id of one page item; the engine resolves a record's open exception when a page
        carrying it is applied without an error for it. Override when items are not plain dicts."""
        for key in ("id", "return_id", "external_id", "shipment_id"):
            value = item.get(key) if isinstance(item, dict) else getattr(item, key, None)
            if value not in (None, ""):
                return str(value)
        return ""


def payload_hash(payload: Any) -> str:
    """Stable hash of a remote payload (key order independent)."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str, separators=(",", ":")).encode()).hexdigest()


class SeenRows:
    """Rows already yielded by a keyset read in this run (a request for rows updated at or after `t` returns the rows
    at `t` again), kept only from the read's current lower bound on: `forget_before(t)` drops the keys no request can
    meet again, so memory is that of a page and its last update time whatever the window's size. `key(row)` is a
    tuple ending with the row's update time (None: kept for the whole run)."""

    def __init__(self, key: Callable[[Any], tuple]) -> None:
        self.key = key
        self.keys: set[tuple] = set()

    def fresh(self, rows: list) -> list:
        out = []
        for row in rows:
            key = self.key(row)
            if key not in self.keys:
                self.keys.add(key)
                out.append(row)
        return out

    def forget_before(self, updated_at) -> None:
        self.keys = {key for key in self.keys if key[-1] is None or key[-1] >= updated_at}
