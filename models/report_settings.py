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

    [[budgets.budget]]             # a budget with an owner, a period, a currency, any filter
    name = "Research GPUs on AWS"
    amount = "240000"
    period = "annual"              # or "monthly" (the default)
    currency = "USD"               # optional, default [report] currency
    owner = "maria.lopez@example.com"
    team = "ml-research"           # any of team, provider, ai_class, project, account,
    provider = "AWS"               # tag ("key=value"); together they all apply

Amounts are decimals (a string keeps every digit). dashboard/report/config.py resolves these
into the pack's settings (the month read as a Month, an invoice's currency defaulted).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from decimal import Decimal

from models.budgets import DIMENSIONS, Budget
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
class BudgetEntry:
    """One `[[budgets.budget]]`: a named budget with its period, currency, owner and filter."""

    name: str
    amount: Decimal
    period: str = "monthly"
    currency: str | None = None  # default: [report] currency
    owner: str | None = None
    team: str | None = None
    provider: str | None = None
    ai_class: str | None = None
    project: str | None = None
    account: str | int | None = None  # a number in TOML is the same account id
    tag: str | None = None  # "key=value"

    def __post_init__(self) -> None:
        _non_empty("[[budgets.budget]] ", self, ("name", "currency", "owner"))
        self.budget("USD")  # a bad period or filter is told with the entry's number

    def budget(self, currency: str) -> Budget:
        where = tuple(
            (dimension, str(getattr(self, dimension)))
            for dimension in ("team", "provider", "ai_class", "project", "account", "tag")
            if getattr(self, dimension) is not None
        )
        return Budget(
            name=self.name,
            amount=self.amount,
            currency=(self.currency or currency).upper(),
            period=self.period,
            where=where,
            owner=self.owner,
        )


# The short form's scopes: the whole, and per team, provider, AI class (monthly amounts).
_SCOPES = ("team", "provider", "ai_class")


@dataclass(frozen=True)
class BudgetSettings:
    """Monthly budgets in the report currency (the whole, and per team, provider, AI class),
    and `[[budgets.budget]]` entries with a period, currency, owner and any filter."""

    total: Decimal | None = None
    team: dict[str, Decimal] = field(default_factory=dict)
    provider: dict[str, Decimal] = field(default_factory=dict)
    ai_class: dict[str, Decimal] = field(default_factory=dict)
    budget: tuple[BudgetEntry, ...] = ()

    def __post_init__(self) -> None:
        for scope, name, amount in self.entries():  # a negative amount is told on reading
            Budget(name, amount, "USD", where=() if scope == "total" else ((scope, name),))

    def entries(self) -> list[tuple[str, str, Decimal]]:
        """(scope, name, amount) of the short form's budgets (the finance pack's monthly
        comparison): total first, then by scope as listed."""
        out = [("total", "total", self.total)] if self.total is not None else []
        for f in fields(self):
            if f.name in _SCOPES:
                out += [(f.name, name, amount) for name, amount in getattr(self, f.name).items()]
        return out

    def budgets(self, currency: str) -> list[Budget]:
        """Every budget, both forms, as models.budgets reads them; `currency` is the
        [report] currency (the short form's, and an entry's default)."""
        out = []
        for scope, name, amount in self.entries():
            where = () if scope == "total" else ((scope, name),)
            label = "All spend" if scope == "total" else f"{DIMENSIONS[scope]} {name}"
            out.append(Budget(label, amount, currency.upper(), "monthly", where))
        return out + [entry.budget(currency) for entry in self.budget]
