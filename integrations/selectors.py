"""Read-side queries for integrations (admin, commands)."""
from __future__ import annotations

from integrations.models import FlowState, Integration


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
