"""paging.py against a remote that pages by OFFSET (the worst case): rows updated while a window is read
leave it and the rows after them slide onto pages already read. Nothing may be lost."""
import pytest

from integrations.connectors.tiktok import paging
from integrations.exceptions import TransientError


class OffsetSearch:
    """A search over `rows` ({id, update_time}) filtered to [ge, lt), sorted by (update_time, id) when `sort`,
    paged by offset (the page token is the offset). `before_call[n]` runs before the n-th call (1-based)."""

    def __init__(self, rows, *, page_size, sort=True, with_total=True, before_call=None):
        self.rows = {r["id"]: dict(r) for r in rows}
        self.page_size, self.sort, self.with_total = page_size, sort, with_total
        self.before_call = before_call or {}
        self.calls: list[tuple[int, int, str]] = []

    def update(self, row_id, update_time):
        self.rows[row_id]["update_time"] = update_time

    def __call__(self, ge, lt, token):
        self.calls.append((ge, lt, token))
        if len(self.calls) in self.before_call:
            self.before_call[len(self.calls)](self)
        matching = [r for r in self.rows.values() if ge <= r["update_time"] < lt]
        matching.sort(key=(lambda r: (r["update_time"], r["id"])) if self.sort else (lambda r: r["id"]))
        offset = int(token or 0)
        page = [dict(r) for r in matching[offset:offset + self.page_size]]
        more = offset + self.page_size < len(matching)
        data = {"items": page, "next_page_token": str(offset + self.page_size) if more else ""}
        if self.with_total:
            data["total_count"] = len(matching)
        return data


def _read(pages):
    ids, cursors = [], []
    for page in pages:
        ids += [r["id"] for r in page.records]
        cursors.append(page.complete_before)
    return ids, cursors


ROWS = [{"id": f"o{i}", "update_time": 1000 + 10 * i} for i in range(7)]  # o0 … o6, one every 10 s
END = 2000


def test_offset_paging_with_a_row_updated_between_pages_loses_nothing():
    # given: page size 2; after page 1 was read, o1 (on page 1) is updated: it leaves the window and o2
    # slides onto page 1's offsets — a page-token reader would jump over o2 for good
    search = OffsetSearch(ROWS, page_size=2, before_call={2: lambda s: s.update("o1", END + 5)})
    # when
    ids, cursors = _read(paging.sorted_window_pages(search, start=900, end=END, items_key="items"))
    # then: every order read once (o1 in its old version; its new one belongs to the next window)
    assert sorted(ids) == [f"o{i}" for i in range(7)] and len(ids) == 7
    assert cursors == sorted(cursors) and cursors[-1] == END
    assert all(token == "" for _, _, token in search.calls)  # keyset continuation, not offsets


def test_the_same_reader_with_page_tokens_would_lose_a_row():
    """The failure the keyset continuation prevents, shown on the same fake (documents the hazard)."""
    search = OffsetSearch(ROWS, page_size=2, before_call={2: lambda s: s.update("o1", END + 5)})
    ids, token = [], ""
    while True:
        data = search(900, END, token)
        ids += [r["id"] for r in data["items"]]
        token = data["next_page_token"]
        if not token:
            break
    assert "o2" not in ids


def test_mid_run_cursor_never_passes_an_unread_row():
    # given: rows move on every call
    moves = {n: (lambda s, n=n: s.update(f"o{n - 1}", END + n)) for n in range(2, 6)}
    search = OffsetSearch(ROWS, page_size=2, before_call=moves)
    read, unread_below_cursor = set(), []
    for page in paging.sorted_window_pages(search, start=900, end=END, items_key="items"):
        read |= {r["id"] for r in page.records}
        # then: every row that is still in the window below the page's cursor has been read
        unread_below_cursor += [r["id"] for r in search.rows.values()
                                if r["update_time"] < page.complete_before and r["id"] not in read]
    assert unread_below_cursor == []
    assert read == {f"o{i}" for i in range(7)}


def test_more_rows_in_one_second_than_a_page_are_read_with_tokens_until_a_pass_is_complete():
    # given: five rows share second 1500; page size 2; one of them (already read) moves during the first pass
    crowd = [{"id": f"c{i}", "update_time": 1500} for i in range(5)] + [{"id": "late", "update_time": 1600}]
    search = OffsetSearch(crowd, page_size=2, before_call={3: lambda s: s.update("c0", END + 1)})
    # when
    pages = list(paging.sorted_window_pages(search, start=1400, end=END, items_key="items"))
    ids, cursors = _read(pages)
    # then: all read once; the cursor does not pass second 1500 until it was proven complete
    assert sorted(ids) == ["c0", "c1", "c2", "c3", "c4", "late"]
    assert cursors[-1] == END and max(c for c in cursors[:-1]) <= 1501
    assert any(ge == 1500 and lt == 1501 and token for ge, lt, token in search.calls)


def test_unsorted_window_is_read_again_until_a_pass_returns_total_count():
    # given: no sort (Search Products); a product read on page 1 is updated before page 2
    search = OffsetSearch(ROWS, page_size=3, sort=False, before_call={2: lambda s: s.update("o0", END + 5)})
    # when
    ids, cursors = _read(paging.stable_pages(search, start=900, end=END, items_key="items"))
    # then: the second pass finds the product that slid; the window completes only then
    assert sorted(ids) == [f"o{i}" for i in range(7)] and len(ids) == 7
    assert cursors[-1] == END and all(c == 900 for c in cursors[:-1])


def test_unsorted_window_without_total_count_needs_a_pass_that_finds_nothing_new():
    search = OffsetSearch(ROWS, page_size=3, sort=False, with_total=False)
    ids, cursors = _read(paging.stable_pages(search, start=900, end=END, items_key="items"))
    assert sorted(ids) == [f"o{i}" for i in range(7)]
    assert len(search.calls) == 6 and cursors[-1] == END  # two full passes


def test_rows_that_never_settle_fail_the_run_without_moving_the_cursor():
    search = OffsetSearch(ROWS, page_size=3, sort=False)
    search.before_call = {n: (lambda s, n=n: s.update("o6", 900 + n)) for n in range(1, 40)}  # o6 keeps moving
    original = search.__call__

    def shrinking_total(ge, lt, token):  # a remote whose total_count never matches what it returns
        data = original(ge, lt, token)
        data["total_count"] = 99
        return data

    cursors = []
    with pytest.raises(TransientError, match="kept moving"):
        for page in paging.stable_pages(shrinking_total, start=900, end=END, items_key="items"):
            cursors.append(page.complete_before)
    assert set(cursors) == {900}


def test_empty_window_moves_nothing_but_reports_its_end():
    search = OffsetSearch([], page_size=2)
    assert _read(paging.sorted_window_pages(search, start=2000, end=END, items_key="items")) == ([], [END])
    assert search.calls == []


def test_a_long_window_remembers_only_the_rows_it_can_meet_again(seen_rows_sizes):
    """Memory flat in the size of the work: keyset continuation asks for update_time >= the last page's highest time,
    so only rows at that time or later can come back; the keys of earlier rows are forgotten page by page."""
    rows = [{"id": f"o{i}", "update_time": 1000 + i // 3} for i in range(3000)]  # three rows per second
    search = OffsetSearch(rows, page_size=100, with_total=False)
    # when
    ids, cursors = _read(paging.sorted_window_pages(search, start=900, end=5000, items_key="items"))
    # then: every row once, and never more than a page and the rows of its last second remembered
    assert sorted(ids) == sorted(r["id"] for r in rows) and len(ids) == 3000
    assert max(seen_rows_sizes) <= 100 + 3
