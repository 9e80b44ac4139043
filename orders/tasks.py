"""django-q2 tasks: thin, call one service. Each holds a single-flight task lease, so a duplicate
delivery or a schedule firing while the previous run still works does nothing."""
from integrations.services import single_flight
from inventory.services import with_deadlock_retry
from orders import services


@single_flight("orders.release_due_holds")
def orders_release_due_task() -> int:
    return with_deadlock_retry(services.orders_release_due, atomic=False)  # a deadlocked pass runs again


@single_flight("orders.retry_routing")
def orders_retry_routing_task() -> int:
    return with_deadlock_retry(services.orders_retry_routing, atomic=False)


@single_flight("orders.retry_blocked")
def orders_retry_blocked_task() -> int:
    return with_deadlock_retry(services.orders_retry_blocked, atomic=False)
