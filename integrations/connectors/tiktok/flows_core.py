"""TikTok flow declarations (FlowSpec) for this half of the connector: orders, cancellations,
fulfillments and buyer messages."""
from datetime import timedelta

from integrations import registry as r

_MOD = "integrations.connectors.tiktok.flows_orders"

FLOWS: tuple = (
    r.FlowSpec("pull_orders", "Pull orders from TikTok", "pull", "orders", f"{_MOD}.PullOrders",
               default_interval=timedelta(minutes=5), enable_setting="pull_orders", target_param="order_ids"),
    r.FlowSpec("push_cancellations", "Push cancellations to TikTok", "push", "cancellations", f"{_MOD}.PushCancellations",
               default_interval=timedelta(minutes=5), enable_setting="cancel_push"),
    r.FlowSpec("push_fulfillments", "Push fulfillment information to TikTok", "push", "fulfillments", f"{_MOD}.PushFulfillments",
               default_interval=timedelta(minutes=5), enable_setting="push_fulfillments"),
    r.FlowSpec("push_buyer_messages", "Send buyer messages", "push", "messages", f"{_MOD}.PushBuyerMessages",
               default_interval=timedelta(minutes=5), enable_setting="buyer_message_send"),
    r.FlowSpec("push_order_cards", "Send order cards", "push", "messages", f"{_MOD}.PushOrderCards",
               default_interval=timedelta(minutes=5), enable_setting="order_card_send"),
)
