"""The pack's settings: `[report]` (currency, invoices finance types in) and `[budgets]`.

Both sections arrive as plain tables from finops.toml and are checked here, strictly: an
unknown key names the valid ones, a total that is not a decimal names the entry. Shared-cost
splitting follows `[allocation]` (models/allocate.py), like the rest of the product.

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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from dashboard.report_model import Month
from models.allocate import AllocationSettings, parse_allocation
from models.errors import ConfigError, did_you_mean
from models.settings import Settings


@dataclass(frozen=True)
class Invoice:
    source: str
    account: str
    month: str
    total: Decimal
    currency: str


@dataclass(frozen=True)
class Budget:
    scope: str  # total | team | provider | ai_class
    name: str
    amount: Decimal


@dataclass(frozen=True)
class ReportSettings:
    currency: str = "USD"
    late_after_days: int = 5
    invoices: tuple[Invoice, ...] = ()
    budgets: tuple[Budget, ...] = field(default=())
    allocation: AllocationSettings = field(default_factory=AllocationSettings)

    def invoices_for(self, month: Month) -> list[Invoice]:
        return [i for i in self.invoices if i.month == str(month)]


_REPORT_KEYS = ("currency", "late_after_days", "invoices")
_INVOICE_KEYS = ("source", "account", "month", "total", "currency")
_BUDGET_SCOPES = ("total", "team", "provider", "ai_class")


def _unknown(key: str, valid: tuple[str, ...], section: str) -> ConfigError:
    return ConfigError(
        f"unknown key {key!r} in [{section}]{did_you_mean(key, valid)}",
        file="finops.toml",
        expected=f"one of {sorted(valid)}",
        found=key,
    )


def _decimal(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ConfigError(
            f"{where} must be an amount",
            file="finops.toml",
            expected='a decimal such as "1234.56"',
            found=repr(value),
        )
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite():
        raise ConfigError(
            f"{where} is not a number",
            file="finops.toml",
            expected='a decimal such as "1234.56"',
            found=repr(value),
        )
    return amount


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(
            f"{where} must be a non-empty string", file="finops.toml", found=repr(value)
        )
    return value


def report_settings(settings: Settings) -> ReportSettings:
    """Parse `[report]` and `[budgets]` of `settings` strictly."""
    raw = dict(settings.report)
    for key in raw:
        if key not in _REPORT_KEYS:
            raise _unknown(key, _REPORT_KEYS, "report")
    currency = _string(raw.get("currency", "USD"), "[report] currency").upper()
    late = raw.get("late_after_days", 5)
    if isinstance(late, bool) or not isinstance(late, int) or late < 0:
        raise ConfigError(
            "[report] late_after_days must be a whole number of days",
            file="finops.toml",
            expected="an integer >= 0",
            found=repr(late),
        )
    invoices = raw.get("invoices", [])
    if not isinstance(invoices, list):
        raise ConfigError(
            "[report] invoices must be an array of tables",
            file="finops.toml",
            expected="[[report.invoices]] entries",
            found=repr(invoices),
        )
    return ReportSettings(
        currency=currency,
        late_after_days=late,
        invoices=tuple(_invoice(i, n, currency) for n, i in enumerate(invoices, 1)),
        budgets=tuple(_budgets(settings.budgets)),
        allocation=parse_allocation(settings.allocation),
    )


def _invoice(raw: Any, n: int, currency: str) -> Invoice:
    where = f"[[report.invoices]] #{n}"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a table", file="finops.toml", found=repr(raw))
    for key in raw:
        if key not in _INVOICE_KEYS:
            raise _unknown(key, _INVOICE_KEYS, f"report.invoices #{n}")
    for key in ("source", "account", "month", "total"):
        if key not in raw:
            raise ConfigError(
                f"{where} has no {key}",
                file="finops.toml",
                expected=f"keys {list(_INVOICE_KEYS[:4])}",
                found=", ".join(sorted(raw)) or "nothing",
            )
    month = str(Month.parse(_string(raw["month"], f"{where} month")))
    return Invoice(
        source=_string(raw["source"], f"{where} source"),
        account=str(raw["account"]),
        month=month,
        total=_decimal(raw["total"], f"{where} total"),
        currency=_string(raw.get("currency", currency), f"{where} currency").upper(),
    )


def _budgets(raw: dict[str, Any]) -> list[Budget]:
    out: list[Budget] = []
    for scope, value in raw.items():
        if scope not in _BUDGET_SCOPES:
            raise _unknown(scope, _BUDGET_SCOPES, "budgets")
        if scope == "total":
            out.append(Budget("total", "total", _decimal(value, "[budgets] total")))
            continue
        if not isinstance(value, dict):
            raise ConfigError(
                f"[budgets] {scope} must be a table of name = amount",
                file="finops.toml",
                found=repr(value),
            )
        for name, amount in value.items():
            out.append(Budget(scope, name, _decimal(amount, f"[budgets.{scope}] {name}")))
    return out
