"""The one escaping rule for every CSV/XLSX cell the product writes (OWASP "CSV injection"): a text cell
starting with = + - @ TAB or CR — or with the escaping ' itself, so the rule round-trips — gets a leading
'. Importers drop one leading ' again (`cell_unescape`). Used by the bulk-data resources (every format
django-import-export writes, XLSX included), configuration bundles and "Export Incomplete Products"."""
from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")


def cell_escape(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def cell_unescape(value):
    return value[1:] if isinstance(value, str) and value.startswith("'") else value


def row_escape(row) -> list[str]:
    return [cell_escape(cell) for cell in row]
