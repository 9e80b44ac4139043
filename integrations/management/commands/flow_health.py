"""List integrations with each flow's health (table, or --json)."""
import json

from django.core.management.base import BaseCommand

from integrations import selectors


class Command(BaseCommand):
    help = "Integrations with connector, status and each flow's enabled flag, last success, failures, next run and last error."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Machine-readable output.")

    def handle(self, *args, json: bool = False, **options):
        rows = selectors.flow_health_rows()
        if json:
            self.stdout.write(_dumps(rows))
            return
        if not rows:
            self.stdout.write("No integrations.")
            return
        for row in rows:
            state = row["status"] + ("" if row["active"] else ", inactive") + (f", paused: {row['paused_reason']}" if row["paused_reason"] else "")
            self.stdout.write(f"{row['integration']} (#{row['id']}, {row['connector']}) — {state}")
            if row["last_error"]:
                self.stdout.write(f"  last error: {row['last_error'][:200]}")
            self.stdout.write(f"  {'flow':<28} {'enabled':<8} {'last success':<26} {'failures':<9} {'next run':<26} last error")
            for flow in row["flows"]:
                self.stdout.write(
                    f"  {flow['flow']:<28} {('yes' if flow['enabled'] else 'no'):<8} {flow['last_success'] or '-':<26} "
                    f"{flow['failures']:<9} {flow['next_run'] or '-':<26} {(flow['last_error'] or '')[:120]}")


def _dumps(rows) -> str:
    return json.dumps(rows, indent=2, sort_keys=True)
