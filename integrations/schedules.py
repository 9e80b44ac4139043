"""Every periodic task in one place. One dispatcher runs each minute and enqueues due flows."""
from django.utils import timezone
from django_q.models import Schedule

SCHEDULES = [
    # https://crontab.guru/#*_*_*_*_* — every minute
    {"name": "integrations.dispatch_due_flows", "func": "integrations.tasks.flows_dispatch_due_task", "cron": "* * * * *"},
    # https://crontab.guru/#17_3_*_*_* — daily at 03:17: failed task rows and old sync runs past retention.
    {"name": "integrations.housekeeping_prune", "func": "integrations.tasks.housekeeping_prune_task", "cron": "17 3 * * *"},
    # https://crontab.guru/#*/5_*_*_*_* — every 5 minutes: background bulk imports whose worker stopped or
    # whose task never started (integrations/bulk_imports.py).
    {"name": "integrations.bulk_imports_recover", "func": "integrations.tasks.bulk_imports_recover_task", "cron": "*/5 * * * *"},
]
# Other apps append here (orders: hold release, routing retry).
EXTRA_SCHEDULE_MODULES = ["orders.schedules"]


def all_schedules() -> list[dict]:
    from importlib import import_module

    items = list(SCHEDULES)
    for dotted in EXTRA_SCHEDULE_MODULES:
        try:
            items += import_module(dotted).SCHEDULES
        except ModuleNotFoundError as exc:
            if exc.name != dotted:
                raise
    return items


def schedules_ensure() -> list[str]:
    names = []
    for item in all_schedules():
        Schedule.objects.update_or_create(
            name=item["name"],
            defaults={"func": item["func"], "schedule_type": Schedule.CRON, "cron": item["cron"], "repeats": -1,
                      "next_run": timezone.now()},
        )
        names.append(item["name"])
    return names
