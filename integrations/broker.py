"""django-q2 delivery policy: acknowledge a task when it starts.

django-q2 (1.8 to 1.11: worker.py, monitor.py, cluster.Sentinel.reincarnate) only acknowledges a task
in the monitor, after the worker reported a result. A worker killed by the timeout guard (or by the
OOM killer) reports nothing, so `max_attempts` never counts that attempt and the ORM broker hands the
task out again every `retry` seconds — for ever. This project never relies on broker redelivery:
scheduled flows are re-dispatched from FlowState.next_run_at, targeted work waits in the flow's
outbox until a run succeeds, periodic tasks run again on their schedule. So the message is deleted
as soon as a worker starts it; a crash loses only a task whose work is still recorded in the database.
"""
from __future__ import annotations

import logging

logger = logging.getLogger("integrations.broker")


def acknowledge_on_start(sender, func=None, task=None, **kwargs) -> None:
    """pre_execute receiver (runs in the worker just before the task's function)."""
    ack_id = (task or {}).get("ack_id")
    if not ack_id:
        return
    from django_q.brokers import get_broker

    try:
        get_broker().acknowledge(ack_id)
    except Exception:  # noqa: BLE001 — never stop a task from running because the early ack failed
        logger.warning("broker.ack_on_start_failed", exc_info=True)
