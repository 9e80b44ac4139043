"""The pure parts of the API-calls benchmark (bench_api_calls.py): theoretical minimum terms, ratio, registry
coverage, endpoint folding and the README table. No Django here: tests/benchmarks/test_api_calls.py imports it."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Term:
    """One part of a minimum: `calls` calls for `what`, as `formula` says, per `reference`."""

    calls: int
    formula: str
    reference: str


def pages(rows: int, page_size: int, what: str, reference: str) -> Term:
    """A list read in pages of the API's maximum size: ceil(rows / page size), and at least one call (an empty answer
    is how a reader learns there is nothing)."""
    calls = max(1, math.ceil(rows / page_size))
    return Term(calls, f"{what}: max(1, ceil({rows}/{page_size}))={calls}", reference)


def per_record(records: int, what: str, reference: str) -> Term:
    """An API without a batch endpoint: one call per record is the minimum."""
    return Term(records, f"{what}: {records} × 1={records}", reference)


def batches(records: int, batch_size: int, what: str, reference: str) -> Term:
    """A batch endpoint: ceil(records / batch size), none when there is nothing to send."""
    calls = math.ceil(records / batch_size) if records else 0
    return Term(calls, f"{what}: ceil({records}/{batch_size})={calls}", reference)


def fixed(calls: int, what: str, reference: str) -> Term:
    return Term(calls, f"{what}: {calls}", reference)


def minimum(terms: list[Term]) -> dict:
    return {"calls": sum(t.calls for t in terms), "formula": " + ".join(t.formula for t in terms),
            "references": sorted({t.reference for t in terms})}


def ratio(calls: int, least: int) -> float | None:
    """Calls made ÷ minimum (None when the minimum is 0: then any call is waste, shown as calls made)."""
    return round(calls / least, 2) if least else (1.0 if calls == 0 else None)


def coverage(registry_flows: list[tuple[str, str]], measured: list[tuple[str, str]], listed: dict) -> list[tuple[str, str]]:
    """Flows of the registry neither measured nor listed with a reason (must be empty); raises on a flow that is both
    or on a measured/listed flow the registry does not have."""
    known = set(registry_flows)
    both = set(measured) & set(listed)
    if both:
        raise ValueError(f"measured and listed as not measured: {sorted(both)}")
    unknown = (set(measured) | set(listed)) - known
    if unknown:
        raise ValueError(f"not in the registry: {sorted(unknown)}")
    return [f for f in registry_flows if f not in set(measured) and f not in listed]


def endpoint(method: str, url: str) -> str:
    """`GET /order/202309/orders/{id}`: a call's method and path with ids (runs of digits, OSA/Katana/Acumatica keys)
    folded, for the per-endpoint breakdown."""
    path = urlsplit(url).path
    path = re.sub(r"^/integrations/(sandbox/tiktok|\w+/sandbox(/api)?(/v\d+)?(/entity/\w+/[\d.]+)?)", "", path)
    path = re.sub(r"/[A-Z]{2,4}-?\d[\w-]*|/\d+(?=/|$)|/[0-9a-f]{16,}(?=/|$)|/[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", "/{id}",
                  path)
    return f"{method} {path}"


def table(report: dict) -> str:
    """The README table (markdown) from the JSON report."""
    rows = ["| connector | flow | workload | calls made | theoretical minimum (formula; reference) | ratio | why not 1.00 |",
            "|---|---|---|---|---|---|---|"]
    for r in report["flows"]:
        m = r["minimum"]
        shown = "—" if r["ratio"] is None else f"{r['ratio']:.2f}"
        refs = "; ".join(m["references"])
        rows.append(f"| {r['connector']} | `{r['flow']}` | {r['workload']} | {r['calls']} | {m['calls']} "
                    f"({m['formula']}; {refs}) | {shown} | {r.get('explanation', '')} |")
    lines = ["\n".join(rows)]
    if report.get("not_measured"):
        lines.append("\nNot driven in the sandbox (listed, never skipped silently):\n")
        lines.extend(f"- {n['connector']} `{n['flow']}`: {n['reason']}" for n in report["not_measured"])
    m = report.get("machine", {})
    lines.append(f"\nMeasured {report['date']} on {m.get('host')} ({report['database']}); "
                 f"{report['summary']['at_minimum']} of {report['summary']['measured']} measured flows at ratio 1.00.")
    return "\n".join(lines)
