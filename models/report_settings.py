"""`[report]` and `[budgets]` of finops.toml: what the finance pack is reconciled and compared to.

    [report]
    currency = "USD"
    late_after_days = 5            # a load this much later than the month's others is "late"

    [[report.invoices]]            # expected invoice totals: "reconciled to the invoices"
    source = "aws-cur2"
    account = "111122223333"
    month = "2026-09"
    total = "12345.67"
    currency = "USD"               # optional, default [report] currency

    [budgets]                      # monthly budgets in the report currency
    total = "50000"
    team = { ml-research = "20000", platform = "8000" }
    provider = { AWS = "30000" }
    ai_class = { gpu_compute = "25000" }

Amounts are decimals (a string keeps every digit). dashboard/report/config.py resolves these
into the pack's settings (the month read as a Month, an invoice's currency defaulted).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from decimal import Decimal

from models.errors import ConfigError


def _non_empty(prefix: str, entry: object, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(entry, name)
        if value is not None and not value:
            raise ConfigError(
                f"{prefix}{name} must be a non-empty string",
                expected="a non-empty string",
                found=repr(value),
            )


@dataclass(frozen=True)
class InvoiceEntry:
    """One `[[report.invoices]]`: the total an invoice says, for one source, account, month."""

    source: str
    account: str | int  # a number in TOML is the same account id
    month: str  # YYYY-MM
    total: Decimal
    currency: str | None = None  # default: [report] currency

    def __post_init__(self) -> None:
        _non_empty("", self, ("source", "month", "currency"))


@dataclass(frozen=True)
class ReportSection:
    currency: str = "USD"
    late_after_days: int = 5
    invoices: tuple[InvoiceEntry, ...] = ()

    def __post_init__(self) -> None:
        _non_empty("[report] ", self, ("currency",))
        if self.late_after_days < 0:
            raise ConfigError(
                "[report] late_after_days must be a whole number of days",
                expected="an integer >= 0",
                found=repr(self.late_after_days),
            )


@dataclass(frozen=True)
class BudgetSettings:
    """Monthly budgets in the report currency: the whole, and per team, provider, AI class."""

    total: Decimal | None = None
    team: dict[str, Decimal] = field(default_factory=dict)
    provider: dict[str, Decimal] = field(default_factory=dict)
    ai_class: dict[str, Decimal] = field(default_factory=dict)

    def entries(self) -> list[tuple[str, str, Decimal]]:
        """(scope, name, amount) for every budget: total first, then by scope as listed."""
        out = [("total", "total", self.total)] if self.total is not None else []
        for f in fields(self):
            if f.name != "total":
                out += [(f.name, name, amount) for name, amount in getattr(self, f.name).items()]
        return out
