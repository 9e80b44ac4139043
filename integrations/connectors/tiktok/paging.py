"""Incremental pulls by update time that lose nothing while rows move during paging.

A pull reads one fixed window per run: `update_time` in [cursor − overlap, end), where `end` is taken once at
run start minus SAFETY_LAG. Rows updated during the run get an update_time ≥ end, so they leave the window (the
next run reads them); with offset-style paging a row leaving makes the row after it slide onto a page already
read. So the window is read in a way that does not depend on what page tokens mean:

- **Sorted searches** (orders §4.1 and returns §8.1 sort by `update_time` ASC): keyset continuation. After each
  page the next search starts again at the page's highest update_time (`update_time_ge = high`, no page token):
  every row still in the window at or after `high` is on the next answer, whatever moved meanwhile. Rows at
  exactly `high` come back and are dropped as already seen. Only when a whole page shares one second (more rows
  in one second than a page holds) are page tokens followed inside that second, with `stable_pages` below.
- **Unsorted searches** (products §6.1 has no sort): `stable_pages` over the whole window. A pass follows the
  page tokens; it proves the window complete when it returned as many distinct rows as the first answer's
  `total_count` (rows only leave a fixed past window, so reading that many means none was skipped); otherwise the
  window is read again (at most MAX_PASSES times).

Each yielded page carries `complete_before`: every row with update_time < that value has been read. Flows store
it as their cursor with the page (mid-run: a killed run resumes there and re-reads from it; after the last page:
`end`), never past it."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Iterator

from integrations.exceptions import TransientError
from integrations.flows import SeenRows

# TikTok stamps update_time in whole seconds: the window ends before the run's current second and one more (small
# clock differences between TikTok and us). Rows that TikTok's search shows late are re-read by the next run,
# whose window starts at this run's end minus the flow's overlap (10 min for orders, 2 min for returns, products).
SAFETY_LAG = timedelta(seconds=1)
# How often a window (or one crowded second) is read again before the run gives up and retries later.
MAX_PASSES = 5

# search(update_time_ge, update_time_lt, page_token) → the answer's `data`
Search = Callable[[int, int, str], dict]


@dataclass(frozen=True)
class WindowPage:
    records: list[dict]  # rows not yet seen in this run (a row updated meanwhile comes again: new update_time)
    complete_before: int  # every row with update_time < this has been read


def window_end(started_at: datetime) -> int:
    return int((started_at - SAFETY_LAG).timestamp())


def window_start(*, cursor_value, overlap: timedelta, first_start: int) -> int:
    """Where a run's window starts: the cursor minus the overlap, or `first_start` on the first run."""
    if cursor_value in (None, ""):
        return first_start
    return int(cursor_value) - int(overlap.total_seconds())


def _seen(*, id_key: str, time_key: str) -> SeenRows:
    """(id, update_time) pairs already returned in this run (integrations.flows.SeenRows)."""
    return SeenRows(lambda row: (str(row.get(id_key)), _time(row, time_key)))


def _time(row: dict, time_key: str) -> int:
    try:
        return int(row.get(time_key) or 0)
    except (TypeError, ValueError):
        return 0


def sorted_window_pages(search: Search, *, start: int, end: int, items_key: str, id_key: str = "id",
                        time_key: str = "update_time") -> Iterator[WindowPage]:
    """Read [start, end) of a search sorted by update_time ascending, by keyset continuation."""
    seen = _seen(id_key=id_key, time_key=time_key)
    ge = start
    while ge < end:
        data = search(ge, end, "")
        rows = data.get(items_key) or []
        if not data.get("next_page_token"):
            yield WindowPage(records=seen.fresh(rows), complete_before=end)
            return
        high = max(_time(row, time_key) for row in rows) if rows else ge
        if high > ge:
            yield WindowPage(records=seen.fresh(rows), complete_before=high)
            ge = high
            seen.forget_before(ge)
            continue
        # A full page inside one second: read that second with page tokens until a pass proves it complete.
        for page in stable_pages(search, start=ge, end=ge + 1, items_key=items_key, seen=seen):
            yield WindowPage(records=page.records, complete_before=ge)
        ge += 1
        seen.forget_before(ge)
    yield WindowPage(records=[], complete_before=end)


def stable_pages(search: Search, *, start: int, end: int, items_key: str, id_key: str = "id",
                 time_key: str = "update_time", seen: SeenRows | None = None) -> Iterator[WindowPage]:
    """Read [start, end) by page tokens, again until one pass is proven complete (see the module doc).
    Without `total_count` in the answers, a pass is trusted when it finds nothing new (so at least two)."""
    seen = seen or _seen(id_key=id_key, time_key=time_key)
    for number in range(1, MAX_PASSES + 1):
        token, total, returned, new_in_pass = "", None, set(), 0
        while True:
            data = search(start, end, token)
            rows = data.get(items_key) or []
            if total is None and data.get("total_count") is not None:
                total = int(data["total_count"])
            returned.update(seen.key(row) for row in rows)
            fresh = seen.fresh(rows)
            new_in_pass += len(fresh)
            token = data.get("next_page_token") or ""
            if not token:
                break
            yield WindowPage(records=fresh, complete_before=start)
        complete = len(returned) >= total if total is not None else (number > 1 and new_in_pass == 0)
        yield WindowPage(records=fresh, complete_before=end if complete else start)
        if complete:
            return
    raise TransientError(f"tiktok: rows kept moving while reading update_time [{start}, {end}) {MAX_PASSES} times; "
                         "retrying later from the same point")
