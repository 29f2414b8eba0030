"""The pack's settings: `[report]` (currency, invoices finance types in) and `[budgets]`.

Both sections arrive parsed, strictly, with the rest of finops.toml (models/report_settings.py
says their keys); here they become what the pack reads: the invoice month as a Month, an
invoice's currency defaulted to the report's. Shared-cost splitting follows `[allocation]`
(models/allocate.py), like the rest of the product.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from dashboard.report.model import Month
from models.allocate import AllocationSettings
from models.report_settings import InvoiceEntry
from models.settings import IdleSettings, Settings


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
    idle_below: float = IdleSettings().idle_below  # `[idle]`: a training run's idle GPU-hours

    def invoices_for(self, month: Month) -> list[Invoice]:
        return [i for i in self.invoices if i.month == str(month)]


def report_settings(settings: Settings) -> ReportSettings:
    """The pack's settings from the parsed `[report]`, `[budgets]` and `[allocation]`."""
    report = settings.report
    currency = report.currency.upper()
    return ReportSettings(
        currency=currency,
        late_after_days=report.late_after_days,
        invoices=tuple(_invoice(i, currency) for i in report.invoices),
        budgets=tuple(Budget(*entry) for entry in settings.budgets.entries()),
        allocation=settings.allocation,
        idle_below=settings.idle.idle_below,
    )


def _invoice(entry: InvoiceEntry, currency: str) -> Invoice:
    return Invoice(
        source=entry.source,
        account=str(entry.account),
        month=str(Month.parse(entry.month)),
        total=entry.total,
        currency=(entry.currency or currency).upper(),
    )
