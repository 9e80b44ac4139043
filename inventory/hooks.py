"""Callbacks other apps register with inventory, so inventory never imports them.

The orders app registers its "stock arrived: route the orders waiting for it" step in OrdersConfig.ready;
inventory calls every registered listener when available stock of products goes up (after the stock change commits)."""
from __future__ import annotations

from typing import Callable, Iterable

RestockListener = Callable[..., object]

_restock_listeners: list[RestockListener] = []


def restock_listener_register(listener: RestockListener) -> None:
    """Call `listener(product_ids=[...])` whenever stock of those products arrives (registering twice is a no-op)."""
    if listener not in _restock_listeners:
        _restock_listeners.append(listener)


def restock_notify(*, product_ids: Iterable[int]) -> None:
    ids = list(product_ids)
    for listener in list(_restock_listeners):
        listener(product_ids=ids)


AvailabilityListener = Callable[..., object]

_availability_listeners: list[AvailabilityListener] = []


def availability_listener_register(listener: AvailabilityListener) -> None:
    """Call `listener(location_id=..., product_ids=[...])` whenever a remote-reported figure moved the available
    quantity of those products at that location, up or down (registering twice is a no-op)."""
    if listener not in _availability_listeners:
        _availability_listeners.append(listener)


def availability_notify(*, location_id: int, product_ids: Iterable[int]) -> None:
    ids = list(product_ids)
    for listener in list(_availability_listeners):
        listener(location_id=location_id, product_ids=ids)
