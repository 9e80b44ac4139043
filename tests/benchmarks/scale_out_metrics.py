"""Pure figures of the scale-out benchmark (tests/benchmarks/bench_scale_out.py): percentiles, the lateness of
scheduled flow runs from the run log, fairness across shops, throughput, and remote calls read from the workers'
`http.response` log lines. No Django, no database: times are seconds since the epoch (floats).

Lateness, by the engine's own rules (integrations/services.py): a run that succeeds sets the flow's
`next_run_at = finish + interval` (`_finish_run`), so the flow is *due* then; the dispatcher (two django-q2 schedules,
a tick every 30 s) claims flows due by the next half tick and enqueues them; a worker starts the run. The engine records neither the due time
nor the claim, so both are rebuilt: due = the previous untargeted run's finish + interval (only after a success or
partial: a failure's back-off is random and not recorded, so that pair is left out and counted), and the claiming
dispatcher tick = the first dispatcher task start at or after the due time (sampled from django-q2's task rows).
lateness = run start − due (0 for a run started before its due time: the nearest tick may come up to 15 s early) =
(tick − due: waiting for the tick, 0–15 s by design, plus the dispatcher's own queue wait) + (start − tick: waiting in
the queue for a free worker). A flow that is due and has not started when the
measurement ends has an *open* wait (end − due): a starving flow shows there, not among the finished pairs."""
from __future__ import annotations

import bisect
import math
import re
import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone

SUCCESS = ("succeeded", "partial")


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100): the smallest value with at least q % of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summary(values: list[float], *, digits: int = 1) -> dict:
    """n, p50, p95 and max, rounded; None figures when there are no values."""
    def r(x):
        return None if x is None else round(x, digits)

    return {"n": len(values), "p50": r(percentile(values, 50)), "p95": r(percentile(values, 95)),
            "max": r(max(values) if values else None)}


@dataclass(frozen=True)
class Run:
    """One recorded run of a flow (SyncRun): targeted runs (webhook or outbox drains) do not move the schedule."""

    started: float
    finished: float | None
    status: str
    trigger: str
    targeted: bool = False


@dataclass(frozen=True)
class Lateness:
    late: list[float]  # per scheduled run after a successful one: start − due
    tick_wait: list[float]  # the part spent waiting for the dispatcher's tick (same order as `late`)
    queue_wait: list[float]  # the part spent in the queue after the tick
    open_wait: float | None  # due and not started at the end: end − due; None when nothing was waiting
    after_failure: int  # scheduled runs after a failed one (back-off: due unknown, left out)


def schedule_lateness(runs: list[Run], *, interval: float, end: float, due_from: float,
                      ticks: list[float] | None = None, since: float | None = None) -> Lateness:
    """Lateness of a flow's scheduled runs (see the module docstring). `runs`: the flow's runs in any order;
    `interval`: its schedule interval (s); `end`: when the measurement stopped; `due_from`: when every flow was made
    due (the seed sets next_run_at = now), the due time of a flow that has not run at all; `ticks`: dispatcher start
    times (sorted or not), for splitting each lateness into tick wait and queue wait; `since`: only runs started at or
    after it are measured (the runs before still set the due time of the first one measured)."""
    ticks = sorted(ticks or [])
    polls = sorted((r for r in runs if not r.targeted and r.status != "skipped"), key=lambda r: r.started)
    late, tick_wait, queue_wait = [], [], []
    after_failure = 0
    for previous, run in zip(polls, polls[1:]):
        if run.trigger != "schedule" or (since is not None and run.started < since):
            continue
        if previous.status not in SUCCESS or previous.finished is None:
            after_failure += 1
            continue
        due = previous.finished + interval
        wait = max(0.0, run.started - due)
        late.append(wait)
        tick = _tick_for(ticks, due=due, started=run.started)
        if tick is None:
            tick_wait.append(wait)
            queue_wait.append(0.0)
        else:
            tick_wait.append(min(wait, max(0.0, tick - due)))
            queue_wait.append(wait - tick_wait[-1])
    open_wait = None
    if not polls:
        open_wait = max(0.0, end - due_from)
    else:
        last = polls[-1]
        if last.finished is not None and last.status in SUCCESS and end > last.finished + interval:
            open_wait = end - (last.finished + interval)
    return Lateness(late=late, tick_wait=tick_wait, queue_wait=queue_wait, open_wait=open_wait, after_failure=after_failure)


def _tick_for(ticks: list[float], *, due: float, started: float) -> float | None:
    """The dispatcher tick that claimed a run due at `due` and started at `started`: the first tick at or after the
    due time; if that one came after the start (clock skew between processes, a re-run), the last tick before it."""
    if not ticks:
        return None
    i = bisect.bisect_left(ticks, due)
    if i < len(ticks) and ticks[i] <= started:
        return ticks[i]
    j = bisect.bisect_right(ticks, started) - 1
    return ticks[j] if j >= 0 else None


def worst(lateness: Lateness) -> float:
    """The longest wait of the flow: its latest finished pair or its open wait, whichever is longer."""
    return max(lateness.late + ([lateness.open_wait] if lateness.open_wait is not None else []), default=0.0)


def spread(per_shop: dict[str, float], *, digits: int = 1) -> dict:
    """min / median / max of a figure over the shops, and which shop has the min and the max."""
    if not per_shop:
        return {"min": None, "median": None, "max": None, "min_shop": None, "max_shop": None}
    low = min(per_shop, key=lambda k: (per_shop[k], k))
    high = max(per_shop, key=lambda k: (per_shop[k], k))
    return {"min": round(per_shop[low], digits), "median": round(statistics.median(per_shop.values()), digits),
            "max": round(per_shop[high], digits), "min_shop": low, "max_shop": high}


def throughput(placed: list[float], sent: list[float]) -> dict:
    """End to end: orders sent per second over first placement → last send; also the offered rate (placed per
    second over first → last placement) and the send rate over first → last send (the pipeline's own pace)."""
    def rate(count: int, start: float, stop: float) -> float | None:
        return round(count / (stop - start), 3) if count and stop > start else None

    if not placed or not sent:
        return {"orders_per_second": None, "window_s": None, "offered_per_second": None, "send_rate_per_second": None}
    return {"orders_per_second": rate(len(sent), min(placed), max(sent)), "window_s": round(max(sent) - min(placed), 1),
            "offered_per_second": rate(len(placed), min(placed), max(placed)),
            "send_rate_per_second": rate(len(sent), min(sent), max(sent))}


def tick_delays(ticks: list[float], *, period: float = 60.0) -> list[float]:
    """How long after its minute each dispatcher tick started (the cron fires on the minute; the django-q2 scheduler
    that enqueues it checks periodically, and then the task waits in the queue like any other)."""
    return [t - math.floor(t / period) * period for t in sorted(ticks)]


def peak_in_window(times: list[float], *, window: float = 60.0) -> int:
    """The most events inside any `window` seconds (a sliding window starting at each event)."""
    ordered = sorted(times)
    best = 0
    for i, start in enumerate(ordered):
        best = max(best, bisect.bisect_left(ordered, start + window, lo=i) - i)
    return best


_HTTP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \w+ \S+ http\.response\b(.*)$")
_ROLE = re.compile(r"\brole=(\S+)")
_STATUS = re.compile(r"\bstatus=(\d+)")


def http_responses(lines: list[str]) -> list[tuple[float, str, int]]:
    """(time, role, status) of every `http.response` line the HTTP client logs (integrations/http.py), one per
    remote call answered; the log's times are UTC (the workers run with TZ unset: the container's UTC)."""
    out = []
    for line in lines:
        m = _HTTP.match(line)
        if not m:
            continue
        role, status = _ROLE.search(m.group(2)), _STATUS.search(m.group(2))
        if not role or not status:
            continue
        at = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").replace(tzinfo=timezone.utc).timestamp()
        out.append((at, role.group(1), int(status.group(1))))
    return out


def remote_calls(responses: list[tuple[float, str, int]], *, limits_per_minute: dict[str, float]) -> dict:
    """Per remote (client role): calls, 429 answers, the busiest minute and its share of the client's own limit
    (`limits_per_minute`, the shared outbound limiter's rate for that remote; 1.0 = the limiter is the pace)."""
    out = {}
    for role in sorted({r for _, r, _ in responses}):
        times = [t for t, r, _ in responses if r == role]
        peak = peak_in_window(times)
        limit = limits_per_minute.get(role)
        out[role] = {"calls": len(times), "429": sum(1 for _, r, s in responses if r == role and s == 429),
                     "peak_per_minute": peak, "limit_per_minute": limit,
                     "peak_share_of_limit": round(peak / limit, 2) if limit else None}
    return out


def proc_stat(line: str) -> tuple[int, str, int, int]:
    """(pid, command, process group, CPU jiffies: user + system of the process itself) of one /proc/<pid>/stat line;
    the command may hold spaces and parentheses, so the fields are read after the last ")". Children's times
    (cutime, cstime) are left out: a reaped child brings its whole life's CPU, from before the measurement too."""
    head, _, rest = line.rpartition(")")
    pid, _, comm = head.partition(" (")
    fields = rest.split()
    # After the command: state(0) ppid(1) pgrp(2) … utime(11) stime(12)
    return int(pid), comm, int(fields[2]), int(fields[11]) + int(fields[12])


def cpu_by_label(before: dict[int, tuple[str, int, int]], after: dict[int, tuple[str, int, int]],
                 groups: dict[int, str], *, busy_seconds: float, ticks_per_second: float = 100.0) -> dict[str, float]:
    """CPU seconds spent between two snapshots ({pid: (command, process group, jiffies)}), per label: a child process
    group of the benchmark (`groups`: group id → label, e.g. "web", "workers"), "postgres" for the database's
    processes, and "other": the machine's busy time (`busy_seconds`, from /proc/stat) minus all of those, i.e. every
    other process and any process that ended in between (a recycled worker, a closed connection's backend). A process
    that started in between counts from zero."""
    out: dict[str, float] = defaultdict(float)
    for pid, (comm, group, jiffies) in after.items():
        label = groups.get(group) or ("postgres" if comm == "postgres" else None)
        if label is None:
            continue
        spent = jiffies - (before[pid][2] if pid in before and before[pid][0] == comm else 0)
        out[label] += max(0, spent) / ticks_per_second
    out["other"] = max(0.0, busy_seconds - sum(out.values()))
    return {k: round(v, 1) for k, v in sorted(out.items())}
