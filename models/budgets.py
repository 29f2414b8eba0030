"""Budgets: how much a scope of spend may cost a month or a year, and where it is heading.

A budget is an amount in one currency for one period (a calendar month or year) over the
spend a filter selects (team, provider, AI class, project, account, a tag, or several of them
at once; none = all spend in the currency), with an owner to tell. `assess` says, for the
period that holds the data's last day: the actual to date, the forecast to the period's end
with its 80% interval (the forecast model of models/forecast.py fitted on the scope's own
complete months) and the first day the spend is expected to cross the amount — already
crossed (a date in the past), expected later in this period or in a coming one, or not within
the horizon. Pure: the caller reads the scope's daily spend; the settings say the budgets
(models/report_settings.py, `[budgets]` of finops.toml). Alerts build on `BudgetStatus`.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from models.errors import ConfigError, did_you_mean

PERIODS = ("monthly", "annual")
# What a budget may filter on: the dimension -> the words a page shows for it.
DIMENSIONS = {
    "team": "team",
    "provider": "provider",
    "ai_class": "AI class",
    "project": "project",
    "account": "account",
    "tag": "tag",
}
HORIZON_MONTHS = 12  # how many months after the last day's month a breach is looked for
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class Budget:
    name: str
    amount: Decimal
    currency: str
    period: str = "monthly"  # one of PERIODS
    where: tuple[tuple[str, str], ...] = ()  # (dimension, value); a tag's value is "key=value"
    owner: str | None = None

    def __post_init__(self) -> None:
        if self.period not in PERIODS:
            raise ConfigError(
                f"budget {self.name!r}: period is not a known period"
                f"{did_you_mean(self.period, PERIODS)}",
                expected=f"one of {', '.join(PERIODS)}",
                found=repr(self.period),
            )
        if self.amount < 0:
            raise ConfigError(
                f"budget {self.name!r}: amount must not be negative",
                expected='an amount such as "20000"',
                found=str(self.amount),
            )
        for dimension, value in self.where:
            if dimension not in DIMENSIONS:
                raise ConfigError(
                    f"budget {self.name!r}: cannot filter on {dimension!r}"
                    f"{did_you_mean(dimension, DIMENSIONS)}",
                    expected=f"one of {', '.join(DIMENSIONS)}",
                    found=repr(dimension),
                )
            if dimension == "tag" and not {d for d, _ in self.where} <= {"tag", "team", "provider"}:
                raise ConfigError(
                    f"budget {self.name!r}: a tag can be budgeted alone or with a team and "
                    "provider only (the tag rollup holds those)",
                    expected="tag, team, provider",
                    found=", ".join(d for d, _ in self.where),
                )
            if dimension == "tag" and "=" not in value:
                raise ConfigError(
                    f"budget {self.name!r}: a tag filter is key=value",
                    expected='e.g. tag = "cost-center=cc-42"',
                    found=repr(value),
                )

    def scope_words(self) -> str:
        """What the budget covers, in words: "team ml-research, provider AWS" or "all spend"."""
        if not self.where:
            return f"all spend in {self.currency}"
        return ", ".join(f"{DIMENSIONS[d]} {v}" for d, v in self.where)


@dataclass(frozen=True)
class BudgetStatus:
    budget: Budget
    period_start: date
    period_end: date  # inclusive
    as_of: date | None  # the last day with spend data (None: no spend in scope at all)
    actual: Decimal  # spend in the period up to as_of
    forecast: Decimal  # expected spend for the whole period
    forecast_low: Decimal | None  # 80% interval of `forecast` (None: too little history)
    forecast_high: Decimal | None
    breach: date | None  # first day the spend crosses the amount (past or expected)
    method: str  # the forecast model used ("complete period" when nothing is left to forecast)

    @property
    def used(self) -> float | None:
        """Actual as a share of the amount (None for a zero budget)."""
        return float(self.actual / self.budget.amount) if self.budget.amount else None

    @property
    def breached(self) -> bool:
        return self.actual > self.budget.amount

    @property
    def expected_over(self) -> bool:
        return self.forecast > self.budget.amount

    def verdict(self) -> str:
        """The status in a few words: over, on course to breach, within."""
        if self.as_of is None:
            return "no spend yet"
        if self.breached:
            return "over budget"
        if self.breach is not None and self.breach <= self.period_end:
            return "expected to breach"
        return "within budget"


def period_of(budget: Budget, day: date) -> tuple[date, date]:
    """The budget's period that holds `day`: its first and last day."""
    if budget.period == "annual":
        return date(day.year, 1, 1), date(day.year, 12, 31)
    last = calendar.monthrange(day.year, day.month)[1]
    return date(day.year, day.month, 1), date(day.year, day.month, last)


def assess(
    budget: Budget, daily: list[tuple[date, Decimal]], as_of: date | None = None
) -> BudgetStatus:
    """The budget's state from its scope's daily spend (every day's spend in the budget's
    currency and scope, any order; a day may repeat) on `as_of`, the last day the data
    covers (default: the scope's own last day; a monthly invoice is dated its first day, so
    the warehouse's last day is the one to give). The forecast's months are fitted on the
    complete months before `as_of`'s, so a partial month does not read as a fall; the part
    of a month still to come is the month's forecast spread over its days."""
    by_day: dict[date, Decimal] = {}
    for day, cost in daily:
        if as_of is None or day <= as_of:
            by_day[day] = by_day.get(day, Decimal(0)) + Decimal(cost)
    if as_of is None and not by_day:
        as_of = date.today()  # nothing to judge: the period of today, empty
    as_of = as_of or max(by_day)
    start, end = period_of(budget, as_of)
    if not by_day:
        zero = Decimal(0)
        return BudgetStatus(budget, start, end, None, zero, zero, None, None, None, "no data")
    actual = sum((c for d, c in by_day.items() if start <= d <= as_of), Decimal(0))
    months = _monthly(by_day, _month(as_of))
    this_month = _month(as_of)
    complete = as_of == _month_end(as_of)
    history = [v for m, v in months if m < this_month or (m == this_month and complete)]
    mean, low, high, method = _forecast_months(history, HORIZON_MONTHS)
    # day by day from the day after as_of: the expected spend of each coming day
    ahead: list[tuple[date, float, float | None, float | None]] = []
    first_month = this_month if not complete else _next_month(this_month)
    month = first_month
    for i in range(len(mean)):
        days_in = calendar.monthrange(month.year, month.month)[1]
        # the month's forecast spread over its days; of the partial month, its days to come
        first = as_of + timedelta(days=1) if month == this_month else month
        left = days_in - (as_of.day if month == this_month else 0)
        lo = low[i] / days_in if low else None
        hi = high[i] / days_in if high else None
        for k in range(left):
            ahead.append((first + timedelta(days=k), mean[i] / days_in, lo, hi))
        month = _next_month(month)
    to_end = [a for a in ahead if a[0] <= end]
    forecast = actual + _cents(sum(a[1] for a in to_end))
    has_interval = bool(to_end) and all(a[2] is not None for a in to_end)
    # the interval of a sum of months is taken as the sum of the months' bounds: wider than
    # the joint interval, never narrower (a budget holder would rather be warned early)
    f_low = actual + _cents(sum(a[2] for a in to_end)) if has_interval else None
    f_high = actual + _cents(sum(a[3] for a in to_end)) if has_interval else None
    if not to_end:
        f_low = f_high = forecast
        method = "complete period"
    breach = _first_breach(budget, by_day, ahead, start, as_of)
    return BudgetStatus(budget, start, end, as_of, actual, forecast, f_low, f_high, breach, method)


def _first_breach(
    budget: Budget,
    by_day: dict[date, Decimal],
    ahead: list[tuple[date, float, float | None, float | None]],
    start: date,
    as_of: date,
) -> date | None:
    """The first day the period's running spend exceeds the amount: a day already past, or
    one expected from the forecast (this period or a coming one, within the horizon)."""
    running = Decimal(0)
    for day in sorted(d for d in by_day if start <= d <= as_of):
        running += by_day[day]
        if running > budget.amount:
            return day
    amount, total, current = float(budget.amount), float(running), start
    for day, per_day, _, _ in ahead:
        p_start, _ = period_of(budget, day)
        if p_start != current:  # a new period starts from nothing
            current, total = p_start, 0.0
        total += per_day
        if total > amount:
            return day
    return None


def _forecast_months(
    history: list[Decimal], horizon: int
) -> tuple[list[float], list[float] | None, list[float] | None, str]:
    """Monthly forecast (mean, 80% low, 80% high) of the series by models/forecast.py."""
    from models.forecast import fit_series

    if not history:
        return [0.0] * horizon, None, None, "no complete month"
    import numpy as np

    fit = fit_series(np.array([float(v) for v in history]), horizon)
    mean = [max(float(x), 0.0) for x in fit.mean]
    if 0.80 not in fit.intervals:
        return mean, None, None, fit.method
    lo, hi = fit.intervals[0.80]
    return mean, [max(float(x), 0.0) for x in lo], [max(float(x), 0.0) for x in hi], fit.method


def _monthly(by_day: dict[date, Decimal], last: date) -> list[tuple[date, Decimal]]:
    """Spend per calendar month from the first month with spend to `last`, months without
    spend as 0."""
    totals: dict[date, Decimal] = {}
    for day, cost in by_day.items():
        totals[_month(day)] = totals.get(_month(day), Decimal(0)) + cost
    out, month = [], min(totals)
    while month <= last:
        out.append((month, totals.get(month, Decimal(0))))
        month = _next_month(month)
    return out


def _month(day: date) -> date:
    return date(day.year, day.month, 1)


def _next_month(d: date) -> date:
    return date(d.year + d.month // 12, d.month % 12 + 1, 1)


def _month_end(d: date) -> date:
    return date(d.year, d.month, calendar.monthrange(d.year, d.month)[1])


def _cents(x: float) -> Decimal:
    return Decimal(repr(float(x))).quantize(_CENT, rounding=ROUND_HALF_EVEN)


def check_currency(budget: Budget, billed_in: list[str]) -> None:
    """Refuse a budget whose scope is billed only in other currencies: its spend would read as
    nothing (money is never converted). `billed_in`: the currencies of the scope's spend."""
    if billed_in and budget.currency not in billed_in:
        raise ConfigError(
            f"budget {budget.name!r} is in {budget.currency}, but the spend it covers "
            f"({budget.scope_words()}) is billed in {', '.join(billed_in)}; money is never "
            "converted, so it would always read as unspent",
            expected=f"currency = {billed_in[0]!r} (or one budget per currency)",
            found=budget.currency,
        )
