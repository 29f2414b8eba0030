"""A reload that shrinks a committed billing period: the sign of a truncated export.

A cut export reconciles with itself (its own total is read from the same cut file), so the
store compares a reload with what the period already holds. Lines or a currency's total
falling by more than `max_shrink` of the committed value, a total changing sign, or a nonzero
total becoming zero, is a shrink; the user confirms a real restatement with --allow-shrink.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

DEFAULT_MAX_SHRINK = 0.5


@dataclass(frozen=True)
class PeriodSize:
    """Lines and the sum of BilledCost per currency of one (source, account, period)."""

    lines: int
    totals: dict[str, Decimal]

    def shown(self) -> str:
        money = ", ".join(f"{c} {t:,.2f}" for c, t in sorted(self.totals.items())) or "no cost"
        return f"{self.lines:,} line{'s' if self.lines != 1 else ''} ({money})"


def _shrinks(old: Decimal | int, new: Decimal | int, max_shrink: float) -> bool:
    if old == 0:
        return False
    if new == 0 or (old > 0) != (new > 0):
        return True  # gone or flipped: beyond any share
    return abs(Decimal(new)) < abs(Decimal(old)) * (1 - Decimal(str(max_shrink)))


def shrink(old: PeriodSize, new: PeriodSize, max_shrink: float) -> bool:
    """True when `new` would replace `old` with a period shrunk beyond `max_shrink`."""
    if _shrinks(old.lines, new.lines, max_shrink):
        return True
    return any(
        _shrinks(total, new.totals.get(currency, Decimal(0)), max_shrink)
        for currency, total in old.totals.items()
    )


def shrink_message(period: str, old: PeriodSize, new: PeriodSize) -> str:
    return (
        f"{period} would shrink from {old.shown()} to {new.shown()} — a truncated export? "
        "Download it again, or pass --allow-shrink if the provider really restated it"
    )
