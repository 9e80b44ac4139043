"""Order operations, split by concern (Zulip's zerver/actions pattern). Modules are layered, each importing
only the ones above it: lifecycle → checks → shipping_requests → routing → cancellations → holds →
fulfillments → ingestion → returns → redrive → edits. Connectors and the admin import from here
(orders/CONTRACT.md); every public name is re-exported below."""
from orders.services.lifecycle import (  # noqa: F401
    S, SR, TRANSITIONS, SR_ACTIVE, SR_CANCELED, SR_UNSENT, CHANNEL_DONE, FULFILLMENT_CANCEL_STATUSES, ROUTING_RETRY,
    RETURN_DONE_STATUSES, REFUND_DONE_STATUSES, InvalidTransition, StaleTransition, OrderActionError, order_transition,
    order_can_transition, order_lock, sr_lock, order_sync_fulfillment_status, _user_actor,
)
from orders.services.checks import (  # noqa: F401
    address_problems, order_resolve_skus,
)
from orders.services.shipping_requests import (  # noqa: F401
    shipping_request_cancel, shipping_request_mark_sent, shipping_request_mark_rejected, shipping_request_retry,
    shipping_requests_mark_sent,
)
from orders.services.routing import (  # noqa: F401
    ROUTABLE, ROUTING_FAILURES, routing_rule_for, routing_exception_keys, order_route, orders_recheck_pending, orders_retry_routing, order_reroute,
)
from orders.services.cancellations import (  # noqa: F401
    shipping_request_canceled_by_fulfillment, shipping_request_cancel_confirmed, shipping_requests_cancel_confirmed,
    cancel_too_late_keys, order_cancel_from_channel,
    order_cancel,
)
from orders.services.holds import (  # noqa: F401
    hold_rule_for, hold_until_for, orders_release_due, order_release_hold, order_rehold,
)
from orders.services.fulfillments import (  # noqa: F401
    fulfillment_record,
)
from orders.services.ingestion import (  # noqa: F401
    ORDER_FIELDS, orders_upsert_from_channel, order_retry, orders_retry_blocked,
)
from orders.services.returns import (  # noqa: F401
    returns_upsert, refunds_upsert, refund_bind_external_id,
)
from orders.services.redrive import (  # noqa: F401
    exceptions_redrive,
)
from orders.services.edits import (  # noqa: F401
    ADDRESS_FIELDS, order_address_editable, order_update_address, order_set_tags, order_set_hold,
)

__all__ = [
    "S",
    "SR",
    "TRANSITIONS",
    "SR_ACTIVE",
    "SR_CANCELED",
    "SR_UNSENT",
    "CHANNEL_DONE",
    "FULFILLMENT_CANCEL_STATUSES",
    "ROUTING_RETRY",
    "RETURN_DONE_STATUSES",
    "REFUND_DONE_STATUSES",
    "InvalidTransition",
    "StaleTransition",
    "OrderActionError",
    "order_transition",
    "order_can_transition",
    "order_lock",
    "sr_lock",
    "order_sync_fulfillment_status",
    "_user_actor",
    "address_problems",
    "order_resolve_skus",
    "shipping_request_cancel",
    "shipping_request_mark_sent",
    "shipping_requests_mark_sent",
    "shipping_request_mark_rejected",
    "shipping_request_retry",
    "ROUTABLE",
    "ROUTING_FAILURES",
    "routing_rule_for",
    "routing_exception_keys",
    "order_route",
    "orders_recheck_pending",
    "orders_retry_routing",
    "order_reroute",
    "shipping_request_canceled_by_fulfillment",
    "shipping_request_cancel_confirmed",
    "shipping_requests_cancel_confirmed",
    "cancel_too_late_keys",
    "order_cancel_from_channel",
    "order_cancel",
    "hold_rule_for",
    "hold_until_for",
    "orders_release_due",
    "order_release_hold",
    "order_rehold",
    "fulfillment_record",
    "ORDER_FIELDS",
    "orders_upsert_from_channel",
    "order_retry",
    "orders_retry_blocked",
    "returns_upsert",
    "refunds_upsert",
    "refund_bind_external_id",
    "exceptions_redrive",
    "ADDRESS_FIELDS",
    "order_address_editable",
    "order_update_address",
    "order_set_tags",
    "order_set_hold",
]
