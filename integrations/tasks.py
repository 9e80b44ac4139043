"""django-q2 tasks: thin, take ids, call one service. Every task is safe to run twice (broker
redelivery, a schedule firing while the last run still works): flow runs hold the flow's lease, the
periodic ones a single-flight task lease."""
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


def flow_run_pending_task(flow_state_id: int, trigger: str = "webhook") -> str:
    state = FlowState.objects.select_related("integration").filter(pk=flow_state_id).first()
    if state is None:
        return "flow state gone"
    run = services.flow_run_pending(flow_state=state, trigger=trigger)
    return f"{run.flow}: {run.status}" if run is not None else "nothing pending or flow busy"


@services.single_flight("integrations.dispatch_due_flows")
def flows_dispatch_due_task() -> int:
    return len(services.flows_dispatch_due())


@services.single_flight("integrations.housekeeping_prune")
def housekeeping_prune_task() -> dict:
    return services.housekeeping_prune()


def bulk_import_run_task(bulk_import_id: int) -> str:
    from integrations import bulk_imports

    job = bulk_imports.bulk_import_run(bulk_import_id=bulk_import_id)
    return f"bulk import {bulk_import_id}: {job.status if job else 'already claimed or gone'}"


@services.single_flight("integrations.bulk_imports_recover")
def bulk_imports_recover_task() -> dict:
    from integrations import bulk_imports

    return bulk_imports.bulk_imports_recover()
