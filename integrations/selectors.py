"""Read-side queries for integrations (admin, commands)."""
from __future__ import annotations

from integrations.models import FlowState, Integration, OpsException


def integration_get_by_name_or_id(*, value: str) -> Integration | None:
    """An integration by exact name, else by numeric id."""
    found = Integration.objects.filter(name=value).first()
    if found is None and str(value).isdigit():
        found = Integration.objects.filter(pk=int(value)).first()
    return found


def flow_health_rows() -> list[dict]:
    """One row per integration with its flows' health; two queries whatever the size."""
    integrations = list(Integration.objects.order_by("name"))
    states: dict[int, list[FlowState]] = {}
    for state in FlowState.objects.order_by("flow"):
        states.setdefault(state.integration_id, []).append(state)
    rows = []
    for integration in integrations:
        rows.append({
            "integration": integration.name,
            "id": integration.pk,
            "connector": integration.connector,
            "status": integration.status,
            "active": integration.is_active,
            "last_error": integration.last_error,
            "paused_reason": integration.paused_reason,
            "flows": [{
                "flow": s.flow,
                "enabled": s.enabled,
                "last_success": s.last_succeeded_at.isoformat() if s.last_succeeded_at else None,
                "failures": s.consecutive_failures,
                "next_run": s.next_run_at.isoformat() if s.next_run_at else None,
                "running": s.is_running,
                "last_error": s.last_error,
            } for s in states.get(integration.pk, [])],
        })
    return rows


EXCEPTION_GROUPS_MAX = 200


def exception_groups(*, category: str = "", integration_id: int | None = None) -> list[dict]:
    """Open exceptions grouped by cause (cause key, or code when there is none) per integration and record kind: how
    many, the latest, and the latest message. Two queries whatever the number of exceptions."""
    from django.apps import apps
    from django.db.models import Count, Max

    open_ = OpsException.objects.filter(status=OpsException.Status.OPEN)
    if category:
        open_ = open_.filter(category=category)
    if integration_id:
        open_ = open_.filter(integration_id=integration_id)
    rows = list(open_.values("category", "code", "cause_key", "integration_id", "integration__name", "integration__connector",
                             "content_type__app_label", "content_type__model")
                .annotate(n=Count("id"), last=Max("last_seen_at"), sample=Max("id")).order_by("-n", "-last")[:EXCEPTION_GROUPS_MAX])
    messages = dict(OpsException.objects.filter(pk__in=[r["sample"] for r in rows]).values_list("pk", "message"))
    labels = dict(OpsException.Category.choices)
    groups = []
    for r in rows:
        kind = "records"
        if r["content_type__model"]:
            try:
                model = apps.get_model(r["content_type__app_label"], r["content_type__model"])
                kind = str(model._meta.verbose_name_plural if r["n"] != 1 else model._meta.verbose_name)
            except LookupError:
                pass
        groups.append({"category": r["category"], "category_label": labels.get(r["category"], r["category"]), "code": r["code"],
                       "cause_key": r["cause_key"], "integration_id": r["integration_id"], "integration": r["integration__name"] or "",
                       "connector": r["integration__connector"] or "", "count": r["n"], "last_seen_at": r["last"],
                       "kind": kind, "message": messages.get(r["sample"], "")})
    return groups


def exception_group_members(*, cause_key: str, code: str, integration_id=None):
    """The open exceptions of one group of exception_groups (cause key, else code, per integration)."""
    queryset = OpsException.objects.filter(status=OpsException.Status.OPEN, code=code)
    queryset = queryset.filter(cause_key=cause_key) if cause_key else queryset.filter(cause_key="")
    if integration_id and str(integration_id).isdigit():
        queryset = queryset.filter(integration_id=int(integration_id))
    elif not integration_id:
        queryset = queryset.filter(integration__isnull=True)
    return queryset


def integration_health(*, integration: Integration, now=None) -> dict:
    """The integration page's health header: status computed from the connection and the latest runs, token expiry,
    per flow its last run and last success, the push backlog and open exceptions (4 queries)."""
    from datetime import timedelta

    from django.db.models import OuterRef, Subquery
    from django.utils import timezone

    from integrations.models import OutboundPush, SyncRun

    now = now or timezone.now()
    latest = SyncRun.objects.filter(flow_state=OuterRef("pk")).exclude(status=SyncRun.Status.SKIPPED).order_by("-pk")
    states = list(FlowState.objects.filter(integration=integration).order_by("flow").annotate(
        last_run_id=Subquery(latest.values("pk")[:1]), last_run_status=Subquery(latest.values("status")[:1])))
    backlog = OutboundPush.objects.filter(integration=integration, status__in=("pending", "failed")).count()
    exceptions = OpsException.objects.filter(integration=integration, status=OpsException.Status.OPEN).count()
    code, label, reason = health_status(integration=integration, states=states)
    expires = integration.auth_expires_at
    return {"status": code, "status_label": label, "reason": reason, "states": states, "backlog": backlog,
            "exceptions": exceptions, "token_expires_at": expires,
            "token_expiring": bool(expires and expires - now < timedelta(days=2)),
            "last_success": max((s.last_succeeded_at for s in states if s.last_succeeded_at), default=None)}


def health_status(*, integration: Integration, states) -> tuple[str, str, str]:
    """(code, label, why) from the connection and the flows' latest outcomes, not the stored status alone: an
    integration whose flows succeed is working even if nobody pressed Test connection."""
    if not integration.is_active:
        return "inactive", "Inactive", "switched off: no flow runs"
    if integration.paused_reason:
        return "paused", "Paused", integration.paused_reason
    if integration.status == Integration.Status.ERROR:
        return "error", "Error", integration.last_error[:200] or "the connection failed"
    enabled = [s for s in states if s.enabled]
    failing = [s for s in enabled if s.consecutive_failures]
    if failing:
        names = ", ".join(s.flow for s in failing[:3])
        return "degraded", "Failing", f"{len(failing)} of {len(enabled)} enabled flow(s) failing: {names}"
    if any(s.last_succeeded_at for s in enabled) or integration.status == Integration.Status.CONNECTED:
        return "ok", "Working", f"{len(enabled)} flow(s) enabled, none failing" if enabled else "connected; no flow enabled"
    return "not_configured", "Not configured", "no successful connection or run yet"


def flow_states_with_last_run(queryset):
    """Flow states annotated with their latest run that was not skipped: last_run_id, last_run_status,
    last_run_started, last_run_finished, last_run_pages, last_run_fetched, last_run_error (one query)."""
    from django.db.models import OuterRef, Subquery

    from integrations.models import SyncRun

    latest = SyncRun.objects.filter(flow_state=OuterRef("pk")).exclude(status=SyncRun.Status.SKIPPED).order_by("-pk")
    return queryset.annotate(
        last_run_id=Subquery(latest.values("pk")[:1]), last_run_status=Subquery(latest.values("status")[:1]),
        last_run_started=Subquery(latest.values("started_at")[:1]), last_run_finished=Subquery(latest.values("finished_at")[:1]),
        last_run_pages=Subquery(latest.values("pages")[:1]), last_run_fetched=Subquery(latest.values("fetched")[:1]),
        last_run_error=Subquery(latest.values("error_message")[:1]))
