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
            table = [("flow", "enabled", "last success", "failures", "next run", "last error")]
            for flow in row["flows"]:
                table.append((flow["flow"], "yes" if flow["enabled"] else "no", _when(flow["last_success"]), str(flow["failures"]),
                              _when(flow["next_run"]) if flow["enabled"] else "- (off)",
                              " ".join((flow["last_error"] or "").split())[:120]))
            for line in _aligned(table):
                self.stdout.write(f"  {line}")


def _when(iso: str | None) -> str:
    """Local time to the second (the JSON output keeps the full ISO value)."""
    if not iso:
        return "-"
    from django.utils import timezone
    from django.utils.dateparse import parse_datetime

    moment = parse_datetime(iso)
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S") if moment else iso


def _aligned(rows: list[tuple[str, ...]]) -> list[str]:
    """Columns padded to their widest cell (the last one is not padded)."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return [" ".join([*(cell.ljust(w) for cell, w in zip(r, widths)), r[-1]]).rstrip() for r in rows]


def _dumps(rows) -> str:
    return json.dumps(rows, indent=2, sort_keys=True)
