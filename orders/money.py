"""Money helpers shared by connectors and the orders core (pure, no ORM)."""
from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

CENT = Decimal("0.01")


def allocate(total: Decimal, weights: list[int] | tuple[int, ...], *, quantum: Decimal = CENT) -> list[Decimal]:
    """Split ``total`` into ``len(weights)`` parts proportional to ``weights`` that sum to ``total`` exactly
    (largest-remainder method): each part is first rounded down to the quantum, then the cents left over go
    one each to the parts with the largest remainders (ties: the earlier part). Deterministic; parts keep
    the sign of ``total``; all-zero weights split equally. ``total`` must be a whole number of quanta."""
    if not weights:
        raise ValueError("allocate needs at least one weight")
    if any(w < 0 for w in weights):
        raise ValueError("weights must not be negative")
    units = Fraction(Decimal(total)) / Fraction(quantum)
    if units.denominator != 1:
        raise ValueError(f"{total} is not a whole number of {quantum}")
    sign = -1 if units < 0 else 1
    whole = abs(units.numerator)
    shares = [Fraction(w) for w in weights] if any(weights) else [Fraction(1)] * len(weights)
    weight_sum = sum(shares)
    ideal = [whole * s / weight_sum for s in shares]
    parts = [int(i) for i in ideal]  # floor: ideal is never negative
    left = whole - sum(parts)
    by_remainder = sorted(range(len(parts)), key=lambda n: (-(ideal[n] - parts[n]), n))
    for n in by_remainder[:left]:
        parts[n] += 1
    return [Decimal(sign * p) * quantum for p in parts]
