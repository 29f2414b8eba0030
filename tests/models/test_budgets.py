"""Budgets judged from a scope's daily spend: actual to date, forecast to the period's end,
the first breach (past or expected), and `[budgets]` read strictly from finops.toml."""

from __future__ import annotations

import tomllib
from datetime import date, timedelta
from decimal import Decimal

import pytest

from models.budgets import Budget, assess
from models.errors import ConfigError
from models.settings import parse_settings


def days(first: date, last: date, per_day: str) -> list[tuple[date, Decimal]]:
    out, day = [], first
    while day <= last:
        out.append((day, Decimal(per_day)))
        day += timedelta(days=1)
    return out


def test_a_month_over_budget_names_the_day_it_crossed() -> None:
    """USD 100.10 a day in October against USD 3,000: the running total passes it on the
    30th (29 days are USD 2,902.90, 30 are USD 3,003.00)."""
    budget = Budget("Research", Decimal("3000"), "USD", where=(("team", "research"),))
    s = assess(budget, days(date(2026, 9, 1), date(2026, 10, 31), "100.10"))
    assert (s.period_start, s.period_end, s.as_of) == (
        date(2026, 10, 1),
        date(2026, 10, 31),
        date(2026, 10, 31),
    )
    assert s.actual == Decimal("3103.10")
    assert s.forecast == s.actual  # nothing of October is left to forecast
    assert s.breach == date(2026, 10, 30)
    assert (s.breached, s.verdict()) == (True, "over budget")


def test_a_partial_month_is_forecast_to_its_end_and_the_breach_is_expected() -> None:
    """A flat USD 3,000 a month (USD 100 a day in November's 30 days): half of
    November spent, the rest forecast at the month's level; the budget of USD 2,850 is
    crossed on the 29th."""
    history = days(date(2026, 6, 1), date(2026, 10, 31), "0")
    history += [(date(2026, m, 1), Decimal("3000")) for m in range(6, 11)]  # a charge a month
    history += days(date(2026, 11, 1), date(2026, 11, 15), "100")
    s = assess(Budget("Flat", Decimal("2850"), "USD"), history, as_of=date(2026, 11, 15))
    assert s.actual == Decimal("1500")
    assert s.forecast == Decimal("3000.00")  # 1,500 spent + 15 days of 3,000 / 30
    assert s.forecast_low == s.forecast_high == Decimal("3000.00")  # a constant series
    assert s.breach == date(2026, 11, 29)  # 2,800 by the 28th, 2,900 by the 29th
    assert s.verdict() == "expected to breach"


def test_an_annual_budget_adds_the_year_to_date_and_the_months_to_come() -> None:
    history = [(date(2026, m, 1), Decimal("1000")) for m in range(1, 11)]  # Jan..Oct
    s = assess(
        Budget("Year", Decimal("11500"), "USD", period="annual"),
        history,
        as_of=date(2026, 10, 31),
    )
    assert (s.period_start, s.period_end) == (date(2026, 1, 1), date(2026, 12, 31))
    assert s.actual == Decimal("10000")
    assert s.forecast == Decimal("12000.00")  # November and December at 1,000 each
    assert s.breach is not None and s.breach.month == 12  # 11,500 passed mid-December
    assert s.verdict() == "expected to breach"


def test_within_budget_and_no_spend() -> None:
    s = assess(
        Budget("Big", Decimal("1000000"), "EUR"), days(date(2026, 10, 1), date(2026, 10, 31), "1")
    )
    assert (s.breach, s.verdict()) == (None, "within budget")
    empty = assess(Budget("None yet", Decimal("10"), "EUR"), [], as_of=date(2026, 10, 31))
    assert (empty.actual, empty.as_of, empty.verdict()) == (Decimal(0), None, "no spend yet")


def test_both_forms_of_budgets_read_from_finops_toml() -> None:
    text = """
[report]
currency = "usd"
[budgets]
team = { research = "20000" }
[[budgets.budget]]
name = "Research GPUs"
amount = "240000.50"
period = "annual"
owner = "maria@example.com"
team = "research"
ai_class = "gpu_compute"
[[budgets.budget]]
name = "Labels"
amount = 900
currency = "EUR"
tag = "cost-center=cc-42"
"""
    s = parse_settings(tomllib.loads(text), origin="finops.toml")
    assert s.budgets.entries() == [("team", "research", Decimal("20000"))]  # the pack's
    assert s.budgets.budgets(s.report.currency) == [
        Budget("team research", Decimal("20000"), "USD", "monthly", (("team", "research"),)),
        Budget(
            "Research GPUs",
            Decimal("240000.50"),
            "USD",
            "annual",
            (("team", "research"), ("ai_class", "gpu_compute")),
            "maria@example.com",
        ),
        Budget("Labels", Decimal("900"), "EUR", "monthly", (("tag", "cost-center=cc-42"),)),
    ]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('name = "a"\namount = "1"\nperiod = "weekly"',
         "budget 'a': period is not a known period"),
        ('name = "a"\namount = "-5"', "budget 'a': amount must not be negative"),
        ('name = "a"\namount = "1"\ntag = "cost-center"',
         "budget 'a': a tag filter is key=value"),
        ('name = "a"\namount = "1"\ntag = "k=v"\nproject = "p"',
         "budget 'a': a tag can be budgeted alone or with a team and provider only"),
        ('name = "a"\namount = "1"\nteams = "x"',
         "unknown key 'teams' in [[budgets.budget]] #1 (did you mean \"team\"?)"),
        ('amount = "1"', "[[budgets.budget]] #1 has no name"),
    ],
)  # fmt: skip
def test_a_bad_budget_is_one_clear_error_naming_the_file(entry: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_settings(tomllib.loads(f"[[budgets.budget]]\n{entry}\n"), origin="finops.toml")
    assert err.value.message.startswith(message), err.value.message
    assert err.value.file == "finops.toml"
    assert "[[budgets.budget]] #1" in (err.value.location or err.value.message)
