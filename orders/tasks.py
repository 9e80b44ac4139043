"""django-q2 tasks: thin, call one service."""
from orders import services


def orders_release_due_task() -> int:
    return services.orders_release_due()


def orders_retry_routing_task() -> int:
    return services.orders_retry_routing()
