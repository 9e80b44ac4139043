"""django-q2 tasks: thin, take ids, call one service."""
from django.contrib.auth import get_user_model

from integrations import services
from integrations.models import FlowState


def flow_run_task(flow_state_id: int, trigger: str = "schedule", user_id: int | None = None, params: dict | None = None) -> str:
    state = FlowState.objects.select_related("integration").filter(pk=flow_state_id).first()
    if state is None:
        return "flow state gone"
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    run = services.flow_run(flow_state=state, trigger=trigger, user=user, params=params or {})
    return f"{run.flow}: {run.status}"


def flows_dispatch_due_task() -> int:
    return len(services.flows_dispatch_due())
