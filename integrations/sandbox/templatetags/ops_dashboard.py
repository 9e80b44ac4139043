"""`{% ops_dashboard %}`: the operations dashboard on the admin index (selectors in integrations.dashboard)."""
from django import template
from django.urls import NoReverseMatch, reverse

from integrations import dashboard

register = template.Library()


def _url(name: str, *args) -> str:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:  # the model is not registered in the admin (yet)
        return ""


@register.inclusion_tag("admin/dashboard/dashboard.html", takes_context=True)
def ops_dashboard(context):
    ctx = dashboard.dashboard_context()
    for row in ctx["integrations_status"]:
        row["url"] = _url("admin:integrations_integration_change", row["integration"].pk)
    return {**ctx, "request": context.get("request"),
            "orders_url": _url("admin:orders_order_changelist"),
            "exceptions_url": _url("admin:integrations_opsexception_changelist"),
            "runs_url": _url("admin:integrations_syncrun_changelist")}
