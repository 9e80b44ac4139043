"""Rewrite README's performance tables from artifacts/benchmarks/*.json (never typed by hand).

    .venv/bin/python -m tests.benchmarks.readme_table

Replaces the text between `<!-- bench:ingest:start -->` / `<!-- bench:ingest:end -->`,
`<!-- bench:admin:start -->` / `<!-- bench:admin:end -->`, `<!-- bench:scale:start -->` / `<!-- bench:scale:end -->`
and `<!-- bench:api:start -->` / `<!-- bench:api:end -->` in README.md."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from tests.benchmarks.api_calls_metrics import table as api_table

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "artifacts/benchmarks"


def _load(pattern: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(OUT.glob(pattern))]


def ingest_table(reports: list[dict]) -> str:
    rows = ["| database | workload | orders | runs | orders/s min / median / max | raw orders/s (median) | ingest ÷ raw | "
            "queries per page | API calls ÷ minimum | re-run orders/s (median) | re-run queries per page |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    notes = []
    for rep in reports:
        m = rep["machine"]
        for row in rep["sizes"]:
            f, r = row["first"], row["rerun"]
            o = f["orders_per_second"]
            rows.append(f"| {m.get('database_version', rep['database'])} | {rep['workload']} | {row['orders']:,} | {row['runs']} | "
                        f"{o['min']} / {o['median']} / {o['max']} | {row['raw']['orders_per_second']['median']} | "
                        f"{row['ratio_to_raw']['median']} | {f['queries_per_page']} | {f['api_ratio']} "
                        f"({f['api_calls_total']} for {row['orders']:,}) | {r['orders_per_second']['median']} | {r['queries_per_page']} |")
        memory = ", ".join(f"{x['orders']:,} orders {x['first_peak_mb']} MB" for x in rep.get("memory") or [])
        notes.append(f"- {rep['database']} / {rep['workload']}: measured {rep['date']} on {m.get('host')} ({m.get('cpus')} CPUs, "
                     f"load average {m.get('load_average')}, Python {m.get('python')}, Django {m.get('django')})"
                     + (f"; peak Python memory (own pass): {memory}" if memory else ""))
    return "\n".join(rows + [""] + notes)


def admin_table(reports: list[dict]) -> str:
    rows = []
    for rep in reports:
        m = rep["machine"]
        rows.append(f"{rep['orders']:,} orders on {m.get('database_version', rep['database'])}, measured {rep['date']} on "
                    f"{m.get('host')} ({m.get('cpus')} CPUs, load average {m.get('load_average')}); "
                    f"{rep['runs']} runs per page, median (max):\n")
        rows.append("| page | ms median (max), whole request | of which SQL, ms median | Django CPU, ms median (min) | queries | target |")
        rows.append("|---|---|---|---|---|---|")
        for page in rep["pages"]:
            sql = page.get("sql_ms", {}).get("median", "")
            cpu = f"{page['cpu_ms']['median']} ({page['cpu_ms']['min']})" if "cpu_ms" in page else ""
            rows.append(f"| {page['label']} | {page['ms']['median']} ({page['ms']['max']}) | {sql} | {cpu} | {page['queries']} | "
                        f"{page.get('target', '')} |")
        rows.append("")
    return "\n".join(rows)


def scale_table(report: dict) -> str:
    """The scale-out benchmark (artifacts/benchmarks/scale_out.json): one row per worker count."""
    c, m = report["config"], report.get("machine", {})
    head = (f"{c['shops']} shops, {c['orders_per_second']:g} orders/s for {c['traffic_seconds']} s, flows every "
            f"{c['flow_interval_s']} s, {c['cluster_workers']} worker per qcluster; measured {report['date']} on "
            f"{m.get('host')} ({m.get('cpus')} CPUs, load average {m.get('load_average')} at the end, "
            f"{m.get('database_version', '')}, Redis).\n")
    rows = ["| workers | placed / ingested / sent | orders/s end to end (send rate) | latency, s: p50 / p95 / max | "
            "after hold and ingest, s: p50 / p95 / max | worst lateness of a due flow, s (queue wait p95 / max) | "
            "sent per shop | worst lateness per shop, s | remote calls (429s); OSA busiest minute / limit | machine busy | "
            "binds |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["runs"]:
        t, lat, after, late, f = r["throughput"], r["latency_s"], r["latency_after_hold_s"], r["lateness"], r["fairness"]
        sent, wl = f["sent_per_shop"], f["worst_lateness_per_shop_s"]
        calls = ", ".join(f"{role} {v['calls']:,} ({v['429']})" for role, v in r["remotes"].items())
        osa = r["remotes"].get("osa")
        if osa:
            calls += f"; OSA {osa['peak_per_minute']} / {osa['limit_per_minute']:g}"
        busy = r.get("machine_busy_share")
        rows.append(f"| {r['workers']} | {r['placed']} / {r['ingested']} / {r['sent']}{'' if r['drained'] else ' (not drained)'} | "
                    f"{t['orders_per_second']} ({t['send_rate_per_second']}) | {lat['p50']} / {lat['p95']} / {lat['max']} | "
                    f"{after['p50']} / {after['p95']} / {after['max']} | "
                    f"{late['worst_s']} ({late['queue_wait']['p95']} / {late['queue_wait']['max']}) | "
                    f"{sent['min']:g} / {sent['median']:g} / {sent['max']:g} | {wl['min']} / {wl['median']} / {wl['max']} | "
                    f"{calls} | {'' if busy is None else f'{busy:.0%}'} | {'; '.join(r.get('binds', []))} |")
    return head + "\n" + "\n".join(rows)


def replace(text: str, name: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- bench:{name}:start -->\n).*?(<!-- bench:{name}:end -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"README.md has no bench:{name} markers")
    return pattern.sub(lambda m: m.group(1) + body.rstrip() + "\n" + m.group(2), text)


def main() -> int:
    readme = ROOT / "README.md"
    text = readme.read_text()
    ingest = _load("pull_orders_*.json")
    if ingest:
        text = replace(text, "ingest", ingest_table(ingest))
    admin = _load("admin_*.json")
    if admin:
        text = replace(text, "admin", admin_table(admin))
    scale = _load("scale_out.json")
    if scale:
        text = replace(text, "scale", scale_table(scale[0]))
    api = _load("api_calls.json")
    if api:
        text = replace(text, "api", api_table(api[0]))
    readme.write_text(text)
    print(f"README.md: {len(ingest)} ingest report(s), {len(admin)} admin report(s), {len(scale)} scale-out report(s), "
          f"{len(api)} API-calls report(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
