"""The scale-out benchmark's pure figures (tests/benchmarks/scale_out_metrics.py): no database, exact values."""
from datetime import datetime, timezone

import pytest

from tests.benchmarks.scale_out_metrics import (
    Run,
    cpu_by_label,
    http_responses,
    peak_in_window,
    percentile,
    proc_stat,
    remote_calls,
    schedule_lateness,
    spread,
    summary,
    tick_delays,
    throughput,
    worst,
)


@pytest.mark.parametrize(("q", "expected"), [(0, 1), (50, 5), (95, 10), (100, 10)],
                         ids=["_case_p0", "_case_p50", "_case_p95", "_case_p100"])
def test_percentile_is_the_nearest_rank(q, expected):
    values = [7, 1, 10, 3, 5, 2, 9, 4, 8, 6]
    assert percentile(values, q) == expected


def test_percentile_of_nothing_is_none_and_summary_says_so():
    assert percentile([], 50) is None
    assert summary([]) == {"n": 0, "p50": None, "p95": None, "max": None}


def test_summary_rounds():
    assert summary([1.04, 2.26, 30.55, 4.0]) == {"n": 4, "p50": 2.3, "p95": 30.6, "max": 30.6}


def test_lateness_is_start_minus_previous_finish_plus_interval():
    # given: a 30 s flow; run 2 starts 50 s after run 1 finished (20 s late), run 3 exactly on time
    runs = [Run(started=100, finished=110, status="succeeded", trigger="schedule"),
            Run(started=160, finished=165, status="succeeded", trigger="schedule"),
            Run(started=195, finished=196, status="partial", trigger="schedule")]
    # when
    result = schedule_lateness(runs, interval=30, end=220, due_from=90)
    # then
    assert result.late == [20.0, 0.0]
    assert result.open_wait is None  # due at 226, after the end
    assert result.after_failure == 0
    assert worst(result) == 20.0


def test_lateness_ignores_targeted_and_skipped_runs_and_skips_pairs_after_a_failure():
    runs = [Run(started=0, finished=5, status="succeeded", trigger="schedule"),
            Run(started=10, finished=11, status="succeeded", trigger="webhook", targeted=True),
            Run(started=12, finished=12, status="skipped", trigger="schedule"),
            Run(started=60, finished=61, status="failed", trigger="schedule"),
            Run(started=100, finished=101, status="succeeded", trigger="schedule"),
            Run(started=150, finished=151, status="succeeded", trigger="retry")]
    result = schedule_lateness(runs, interval=30, end=160, due_from=0)
    # 0→60: due 35, 25 s late; 60 (failed)→100: back-off, left out; 100→150 is a retry trigger, not the schedule
    assert result.late == [25.0]
    assert result.after_failure == 1
    assert result.open_wait is None


def test_lateness_since_measures_only_runs_started_from_then():
    runs = [Run(started=0, finished=10, status="succeeded", trigger="schedule"),
            Run(started=100, finished=110, status="succeeded", trigger="schedule"),
            Run(started=145, finished=146, status="succeeded", trigger="schedule")]
    # the run at 100 (60 s late) is before `since`; the one at 145 (5 s late) is measured, due from the run at 100
    assert schedule_lateness(runs, interval=30, end=150, due_from=0, since=120).late == [5.0]


def test_open_wait_names_a_due_flow_that_never_started():
    finished = Run(started=0, finished=10, status="succeeded", trigger="schedule")
    assert schedule_lateness([finished], interval=30, end=100, due_from=0).open_wait == 60.0
    # never ran at all: due since the seed made it due
    assert schedule_lateness([], interval=30, end=100, due_from=20).open_wait == 80.0
    # running now, or the last run failed (back-off unknown): nothing open
    running = Run(started=50, finished=None, status="running", trigger="schedule")
    assert schedule_lateness([finished, running], interval=30, end=100, due_from=0).open_wait is None
    failed = Run(started=50, finished=51, status="failed", trigger="schedule")
    assert schedule_lateness([finished, failed], interval=30, end=200, due_from=0).open_wait is None
    assert worst(schedule_lateness([finished], interval=30, end=100, due_from=0)) == 60.0


def test_lateness_splits_into_the_dispatcher_tick_and_the_queue():
    # given: due at 40 (finish 10 + 30); dispatcher ticks at 0, 60, 120; the run starts at 75
    runs = [Run(started=0, finished=10, status="succeeded", trigger="schedule"),
            Run(started=75, finished=80, status="succeeded", trigger="schedule")]
    # when
    result = schedule_lateness(runs, interval=30, end=90, due_from=0, ticks=[120, 0, 60])
    # then: 35 s late = 20 s until the tick at 60 + 15 s in the queue
    assert result.late == [35.0]
    assert result.tick_wait == [20.0]
    assert result.queue_wait == [15.0]


def test_lateness_split_when_the_first_tick_after_due_came_after_the_start():
    # due at 40, started at 50 (a tick just before the due time claimed it: the dispatcher's clock ran ahead)
    runs = [Run(started=0, finished=10, status="succeeded", trigger="schedule"),
            Run(started=50, finished=51, status="succeeded", trigger="schedule")]
    result = schedule_lateness(runs, interval=30, end=60, due_from=0, ticks=[39.5, 100])
    assert result.late == [10.0]
    assert result.tick_wait == [0.0]
    assert result.queue_wait == [10.0]


def test_spread_over_shops():
    assert spread({"TikTok US": 12, "TikTok UK": 9, "TikTok 03": 12, "TikTok 04": 15}) == {
        "min": 9, "median": 12.0, "max": 15, "min_shop": "TikTok UK", "max_shop": "TikTok 04"}
    assert spread({}) == {"min": None, "median": None, "max": None, "min_shop": None, "max_shop": None}


def test_throughput_over_first_placement_to_last_send():
    placed = [0.0, 1.0, 2.0, 3.0, 4.0]
    sent = [70.0, 71.0, 72.0, 95.0, 100.0]
    assert throughput(placed, sent) == {"orders_per_second": 0.05, "window_s": 100.0, "offered_per_second": 1.25,
                                        "send_rate_per_second": 0.167}
    assert throughput([], []) == {"orders_per_second": None, "window_s": None, "offered_per_second": None,
                                  "send_rate_per_second": None}


def test_tick_delays_after_the_minute():
    assert tick_delays([125.5, 60.25, 241.0]) == [0.25, 5.5, 1.0]


def test_peak_in_window_counts_the_busiest_60_seconds():
    assert peak_in_window([0, 10, 59.9, 60, 61, 62, 200]) == 5  # 10 … 62
    assert peak_in_window([]) == 0


LINES = [
    "2026-12-02 05:10:00,000 INFO integrations.http http.response duration_ms=12 method=GET path=/x role=tiktok status=200",
    "2026-12-02 05:10:30,500 INFO integrations.http http.response duration_ms=3 method=POST path=/o role=osa status=201",
    "2026-12-02 05:10:59,000 INFO integrations.http http.response duration_ms=3 method=POST path=/o role=osa status=429",
    "2026-12-02 05:11:40,000 INFO integrations.http http.response duration_ms=3 method=GET path=/o role=osa status=200",
    "2026-12-02 05:11:41,000 INFO django_q Processed 'integrations.tasks.flow_run_task' (x)",
    "Traceback (most recent call last):",
]


def test_http_responses_reads_the_client_log_lines():
    at = datetime(2026, 12, 2, 5, 10, tzinfo=timezone.utc).timestamp()
    assert http_responses(LINES) == [(at, "tiktok", 200), (at + 30.5, "osa", 201), (at + 59, "osa", 429),
                                     (at + 100, "osa", 200)]


def test_remote_calls_per_role_with_429s_and_the_busiest_minute_against_the_limit():
    assert remote_calls(http_responses(LINES), limits_per_minute={"osa": 120}) == {
        "osa": {"calls": 3, "429": 1, "peak_per_minute": 2, "limit_per_minute": 120, "peak_share_of_limit": 0.02},
        "tiktok": {"calls": 1, "429": 0, "peak_per_minute": 1, "limit_per_minute": None, "peak_share_of_limit": None},
    }


def test_proc_stat_reads_a_command_with_spaces_and_parentheses():
    line = "4242 (python (q) x) S 1 4200 4200 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 1 0 100 0 0"
    assert proc_stat(line) == (4242, "python (q) x", 4200, 300)


def test_cpu_by_label_groups_children_postgres_and_the_rest_of_the_machine():
    before = {10: ("python", 10, 100), 11: ("python", 11, 50), 20: ("postgres", 20, 1000), 30: ("make", 30, 5)}
    after = {10: ("python", 10, 300), 11: ("python", 11, 150), 12: ("python", 11, 40), 20: ("postgres", 20, 1250),
             21: ("postgres", 21, 10), 30: ("make", 30, 5), 31: ("chromium", 31, 500)}
    # web 2.0 s, workers 1.0 + 0.4 s, postgres 2.5 + 0.1 s; the machine was busy 12 s: 6.0 s elsewhere
    assert cpu_by_label(before, after, {10: "web", 11: "workers"}, busy_seconds=12.0) == {
        "other": 6.0, "postgres": 2.6, "web": 2.0, "workers": 1.4}
