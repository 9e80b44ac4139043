"""orders.money.allocate: largest-remainder allocation of a bundle's money across its components."""
from decimal import Decimal

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from orders.money import allocate


@pytest.mark.parametrize("total, weights, expected", [
    ("30.00", [1, 2], ["10.00", "20.00"]),
    ("29.99", [1, 1, 1], ["10.00", "10.00", "9.99"]),
    ("0.02", [1, 1, 1], ["0.01", "0.01", "0.00"]),
    ("10.00", [1, 2], ["3.33", "6.67"]),
    ("-1.00", [1, 1, 1], ["-0.34", "-0.33", "-0.33"]),
    ("5.00", [0, 0], ["2.50", "2.50"]),
    ("7.77", [0, 3], ["0.00", "7.77"]),
], ids=["even_case", "odd_cent_to_first_case", "fewer_cents_than_parts_case", "uneven_weights_case", "negative_case",
        "zero_weights_case", "one_zero_weight_case"])
def test_allocate_exact_values(total, weights, expected):
    assert allocate(Decimal(total), weights) == [Decimal(e) for e in expected]


def test_allocate_refuses_bad_input():
    with pytest.raises(ValueError):
        allocate(Decimal("1.00"), [])
    with pytest.raises(ValueError):
        allocate(Decimal("1.00"), [1, -1])
    with pytest.raises(ValueError):
        allocate(Decimal("1.005"), [1])


@hsettings(max_examples=300, deadline=None)
@given(cents=st.integers(min_value=0, max_value=10_000_000), weights=st.lists(st.integers(min_value=0, max_value=50), min_size=1,
                                                                              max_size=12))
def test_property_parts_sum_to_the_whole_non_negative_deterministic_and_fair(cents, weights):
    total = Decimal(cents) / 100
    parts = allocate(total, weights)
    assert sum(parts) == total
    assert all(p >= 0 and p == p.quantize(Decimal("0.01")) for p in parts)
    assert parts == allocate(total, list(weights))
    effective = weights if any(weights) else [1] * len(weights)
    for part, w in zip(parts, effective):
        # each part is within one cent of its exact proportional share
        assert abs(part - total * w / sum(effective)) < Decimal("0.01")
