"""TikTok flow declarations (FlowSpec) for the catalog half: locations, products, inventory, returns,
refunds, statements."""
from datetime import timedelta

from integrations import registry as r

_PKG = "integrations.connectors.tiktok"

FLOWS: tuple = (
    r.FlowSpec("pull_locations", "Pull locations (warehouses) from TikTok", "pull", "locations",
               f"{_PKG}.flows_locations.PullLocations", default_interval=timedelta(hours=6), enable_setting="pull_locations"),
    r.FlowSpec("pull_products", "Pull products from TikTok (match SKUs)", "pull", "products",
               f"{_PKG}.flows_products.PullProducts", default_interval=timedelta(hours=1), enable_setting="pull_products"),
    r.FlowSpec("push_products", "Push products to TikTok", "push", "products",
               f"{_PKG}.flows_products.PushProducts", default_interval=timedelta(minutes=30), enable_setting="push_products"),
    r.FlowSpec("prepare_products", "Prepare products for push to TikTok (readiness check only)", "push", "products",
               f"{_PKG}.flows_products.PrepareProducts", default_interval=timedelta(hours=1),
               enable_setting="prepare_product_push"),
    r.FlowSpec("push_inventory", "Push inventory to TikTok", "push", "inventory",
               f"{_PKG}.flows_inventory.PushInventory", default_interval=timedelta(minutes=5), enable_setting="push_inventory",
               stock_sources=f"{_PKG}.flows_inventory.stock_source_ids"),
    r.FlowSpec("pull_returns", "Pull returns from TikTok", "pull", "returns",
               f"{_PKG}.flows_returns.PullReturns", default_interval=timedelta(minutes=15), enable_setting="pull_returns",
               target_param="return_ids"),
    r.FlowSpec("pull_refunds", "Pull refunds from TikTok", "pull", "refunds",
               f"{_PKG}.flows_returns.PullRefunds", default_interval=timedelta(minutes=15), enable_setting="pull_refunds",
               target_param="return_ids"),
    r.FlowSpec("push_refunds", "Push refunds to TikTok", "push", "refunds",
               f"{_PKG}.flows_returns.PushRefunds", default_interval=timedelta(minutes=15), enable_setting="push_refunds"),
    r.FlowSpec("pull_statements", "Pull statements and statement transactions from TikTok", "pull", "statements",
               f"{_PKG}.flows_finance.PullStatements", default_interval=timedelta(hours=6), enable_setting="pull_statements"),
)
