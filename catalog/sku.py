"""SKU normalisation: one rule wherever a SKU enters (model save/clean, admin, bulk imports, the connector
contract in orders/interface.py). NFKC (full-width letters and digits become ASCII), every invisible or
control character removed (Unicode categories Cc, Cf, Co, Cs, Zl, Zp: NUL, zero-width spaces, BOM, RTL/LTR
marks and overrides, tabs), surrounding spaces stripped. Letter case is kept, but two SKUs that differ only
by case are refused (Product.validate_unique, the import resource and a database constraint on lower(sku))."""
from __future__ import annotations

import unicodedata

_INVISIBLE = {"Cc", "Cf", "Co", "Cs", "Zl", "Zp"}


def sku_normalize(value) -> str:
    if value is None:
        return ""
    text = unicodedata.normalize("NFKC", str(value))
    return "".join(ch for ch in text if unicodedata.category(ch) not in _INVISIBLE).strip()


def sku_key(value) -> str:
    """The case-insensitive identity of a SKU (normalised, case-folded)."""
    return sku_normalize(value).casefold()
