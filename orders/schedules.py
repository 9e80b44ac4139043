"""Periodic order operations (collected by integrations.schedules)."""
SCHEDULES = [
    # https://crontab.guru/#*_*_*_*_* — every minute: holds end to the minute.
    {"name": "orders.release_due_holds", "func": "orders.tasks.orders_release_due_task", "cron": "* * * * *"},
    # https://crontab.guru/#*/5_*_*_*_* — every 5 minutes: failed / pending routing whose retry time came.
    {"name": "orders.retry_routing", "func": "orders.tasks.orders_retry_routing_task", "cron": "*/5 * * * *"},
    # https://crontab.guru/#*/5_*_*_*_* — every 5 minutes: orders in review whose unknown SKU or bad address was fixed.
    {"name": "orders.retry_blocked", "func": "orders.tasks.orders_retry_blocked_task", "cron": "*/5 * * * *"},
]
