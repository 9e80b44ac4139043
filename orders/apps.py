from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = "Orders"

    def ready(self):
        # Inventory never imports orders: it calls back when stock arrives, so pendingInventory orders route.
        from inventory import hooks
        from orders.services.routing import orders_recheck_pending

        hooks.restock_listener_register(orders_recheck_pending)
