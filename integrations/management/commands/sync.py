"""Run a flow now and print its run summary; or run every due flow inline (--all-due)."""
import json

from django.core.management.base import BaseCommand, CommandError

from integrations import selectors, services
from integrations.models import FlowState, SyncRun


class Command(BaseCommand):
    help = "Run one flow of one integration now (`sync <integration> <flow> [--dry-run]`) or every due flow (`sync --all-due`)."

    def add_arguments(self, parser):
        parser.add_argument("integration", nargs="?", help="Integration name or id.")
        parser.add_argument("flow", nargs="?", help="Flow code, e.g. pull_orders.")
        parser.add_argument("--dry-run", action="store_true", help="Fetch and map everything, then roll every write back.")
        parser.add_argument("--all-due", action="store_true", help="Run every enabled flow that is due, inline.")

    def handle(self, *args, integration=None, flow=None, dry_run=False, all_due=False, **options):
        if all_due:
            if integration or flow:
                raise CommandError("--all-due takes no integration or flow.")
            return self._all_due()
        if not integration or not flow:
            raise CommandError("Usage: sync <integration-name-or-id> <flow> [--dry-run]  or  sync --all-due")
        found = selectors.integration_get_by_name_or_id(value=integration)
        if found is None:
            raise CommandError(f"No integration named or numbered {integration!r}.")
        try:
            found.spec.flow(flow)
        except KeyError:
            known = ", ".join(f.code for f in found.spec.flows) or "(none)"
            raise CommandError(f"{found.name} ({found.connector}) has no flow {flow!r}; its flows: {known}.") from None
        services.flow_states_ensure(integration=found)
        state = FlowState.objects.select_related("integration").get(integration=found, flow=flow)
        try:
            run = services.flow_run(flow_state=state, trigger=SyncRun.Trigger.COMMAND, dry_run=dry_run)
        except Exception:  # recorded as a failed run (and logged with its traceback) before it was raised
            run = SyncRun.objects.filter(flow_state=state).order_by("-pk").first()
        self._summary(run)
        if run.status == SyncRun.Status.FAILED:
            raise CommandError(f"{found.name} · {flow}: run #{run.pk} failed: {run.error_class}: {run.error_message}")
        return None

    def _all_due(self):
        ids = services.flows_dispatch_due(enqueue=False)
        failed = 0
        states = FlowState.objects.select_related("integration").in_bulk(ids)  # in the dispatcher's order: longest due first
        for state in (states[pk] for pk in ids):
            try:
                run = services.flow_run(flow_state=state, trigger=SyncRun.Trigger.COMMAND)
            except Exception:  # recorded as failed and logged; go on with the other flows
                run = SyncRun.objects.filter(flow_state=state).order_by("-pk").first()
            self._summary(run)
            failed += run.status == SyncRun.Status.FAILED
        self.stdout.write(f"{len(ids)} due flow(s) run, {failed} failed.")
        if failed:
            raise CommandError(f"{failed} flow run(s) failed.")

    def _summary(self, run: SyncRun) -> None:
        style = {SyncRun.Status.FAILED: self.style.ERROR, SyncRun.Status.SKIPPED: self.style.WARNING}.get(run.status, self.style.SUCCESS)
        lines = [
            style(f"{run.integration.name} · {run.flow}: {run.status}{' (dry run, rolled back)' if run.dry_run else ''}"
                  f"{f' — {run.note}' if run.note else ''}"),
            f"  run #{run.pk}  pages {run.pages}  fetched {run.fetched}  created {run.created}  updated {run.updated}  "
            f"unchanged {run.unchanged}  failed {run.failed}  api calls {run.api_calls}",
            f"  cursor before {json.dumps(run.cursor_before, sort_keys=True, default=str)}  "
            f"after {json.dumps(run.cursor_after, sort_keys=True, default=str)}",
        ]
        if run.error_class:
            lines.append(f"  error: {run.error_class}: {run.error_message}")
        for error in run.errors[:20]:
            lines.append(f"  record {error.get('external_id', '')} {error.get('field', '')}: {error.get('message', '')}")
        if len(run.errors) > 20:
            lines.append(f"  … {len(run.errors) - 20} more record errors (see the run in the admin)")
        self.stdout.write("\n".join(lines))
