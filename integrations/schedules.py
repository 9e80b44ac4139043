"""Every periodic task in one place. One dispatcher runs every 30 seconds and enqueues due flows."""
from datetime import timedelta

from django.utils import timezone
from django_q.models import Schedule

SCHEDULES = [
    # https://crontab.guru/#*_*_*_*_* — every minute, at :00
    {"name": "integrations.dispatch_due_flows", "func": "integrations.tasks.flows_dispatch_due_task", "cron": "* * * * *"},
    # …and at :30 of every minute (services.DISPATCH_TICK). django-q2's cron resolution is a minute and its scheduler
    # looks every 30 s or a little more, so each look finds one of the two due: a tick every ~30 s. A MINUTES
    # schedule keeps its phase (next run = previous + 1 minute); the task is single-flight, so a look that finds
    # both due runs one dispatch.
    {"name": "integrations.dispatch_due_flows_half", "func": "integrations.tasks.flows_dispatch_due_task",
     "minutes": 1, "second": 30},
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
        if "cron" in item:
            timing = {"schedule_type": Schedule.CRON, "cron": item["cron"], "next_run": timezone.now()}
        else:
            timing = {"schedule_type": Schedule.MINUTES, "minutes": item["minutes"], "cron": None,
                      "next_run": _next_at_second(item["second"])}
        Schedule.objects.update_or_create(
            name=item["name"], defaults={"func": item["func"], "repeats": -1, **timing})
        names.append(item["name"])
    return names


def _next_at_second(second: int):
    """The next instant at `second` past a minute."""
    now = timezone.now()
    at = now.replace(second=second, microsecond=0)
    return at if at > now else at + timedelta(minutes=1)
