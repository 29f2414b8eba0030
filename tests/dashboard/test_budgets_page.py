"""The Budgets page over the small warehouse with budgets of both forms in finops.toml: the
short form the finance pack reads, and a named budget on a tag; each row is its scope's sum
of the warehouse's rollups, and a breach shows the day it happened."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from dashboard.app import session
from tests.fixtures.app_pages import app, metrics, no_errors, page

CONFIG = """
[budgets]
total = "1000"
team = { nlp = "700" }

[[budgets.budget]]
name = "Training on AWS"
amount = "1000"
owner = "ml-lead@example.com"
provider = "AWS"
tag = "workload=training"
"""


@pytest.fixture
def budgeted(small_warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    config = tmp_path / "finops.toml"
    config.write_text(CONFIG, encoding="utf-8")
    monkeypatch.setenv("FINOPS_CONFIG", str(config))
    session.settings.clear()  # read once per server: this file, not an earlier test's
    yield config
    session.settings.clear()


def test_budgets_show_actual_forecast_and_breach_day(budgeted: Path) -> None:
    at = page(app(), "budgets")
    no_errors(at)
    (table,) = [d.value for d in at.dataframe if "budget_name" in d.value.columns]
    rows = {r["budget_name"]: r for r in table.to_dict("records")}
    # October to the data's last day (2 October): every USD line, nlp's, the tagged training
    assert {k: Decimal(str(r["actual"])) for k, r in rows.items()} == {
        "All spend": Decimal("1458.30"),  # 90 + 60 + 198.30 + 310 on the 1st, 320 + 480 on the 2nd
        "team nlp": Decimal("790.00"),  # 310 on the 1st, 480 on the 2nd
        "Training on AWS": Decimal("800.00"),  # vision's 320 and nlp's 480 GPU-hours
    }
    assert {k: str(r["first_breach"])[:10] for k, r in rows.items()} == {
        "All spend": "2026-10-02",  # 658.30 on the 1st is within 1,000
        "team nlp": "2026-10-02",
        "Training on AWS": "–",
    }
    assert rows["Training on AWS"]["status"] == "Within budget"
    assert metrics(at) == {
        "Budgets": "3",
        "Over budget": "2",
        "Expected to breach this period": "0",
    }
    told = [m.value for m in at.markdown if m.value.startswith("**team nlp**")]
    assert told and "USD 790.00 of USD 700.00 spent by 02 October 2026 (112.9%)" in told[0]
    assert "**breached on 02 October 2026**" in told[0]


def test_the_forecast_page_names_the_month_each_budget_was_crossed(budgeted: Path) -> None:
    at = page(app(), "forecast")
    no_errors(at)
    (crossed,) = [m.value for m in at.markdown if m.value.startswith("Budgets: ")]
    assert crossed == (
        "Budgets: All spend crossed its USD 1,000.00 in October 2026; team nlp crossed its "
        "USD 700.00 in October 2026; Training on AWS stays within its USD 1,000.00."
    )


def test_without_budgets_the_page_says_how_to_set_one(small_warehouse: Path) -> None:
    session.settings.clear()
    at = page(app(), "budgets")
    no_errors(at)
    assert [i.value for i in at.info] == ["No budget is configured yet."]
    assert any("[[budgets.budget]]" in m.value for m in at.markdown)


def test_a_budget_in_a_currency_its_spend_is_not_billed_in_is_refused_not_shown_unspent(
    small_warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "finops.toml"
    config.write_text(
        CONFIG + '\n[[budgets.budget]]\nname = "NLP in yen"\namount = "100000"\n'
        'currency = "JPY"\nteam = "nlp"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("FINOPS_CONFIG", str(config))
    session.settings.clear()
    try:
        at = page(app(), "budgets")
    finally:
        session.settings.clear()
    (refused,) = [e.value for e in at.error]
    assert "budget 'NLP in yen' is in JPY" in refused and "billed in USD" in refused, refused
    assert "expected currency = 'USD'" in refused and "found JPY" in refused, refused
    (table,) = [d.value for d in at.dataframe if "budget_name" in d.value.columns]
    assert sorted(table["budget_name"]) == ["All spend", "Training on AWS", "team nlp"]
    assert metrics(at)["Budgets"] == "3"
