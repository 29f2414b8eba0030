"""AppTest on the sample enterprise (the warehouse `make demo` builds): every page runs and the
headline numbers are the warehouse's own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest import views
from ingest.warehouse import connect
from models.settings import Settings
from tests.dashboard.test_app import PAGES, app, helps, metrics, no_errors, page, usd


@pytest.fixture
def sample(sample_warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FINOPS_WAREHOUSE", str(sample_warehouse))
    monkeypatch.delenv("FINOPS_CONFIG", raising=False)
    return sample_warehouse


@pytest.mark.parametrize("name", PAGES)
def test_every_page_runs_on_the_sample_warehouse(sample: Path, name: str) -> None:
    no_errors(page(app(), name))


def test_sample_headlines_equal_the_warehouse(sample: Path) -> None:
    views.register_all(Settings())
    con = connect(sample)
    cur, total = con.execute(
        "SELECT BillingCurrency, sum(EffectiveCost) FROM cost_lines GROUP BY 1 ORDER BY 2 DESC"
    ).fetchall()[0]
    at = app()
    assert cur == "USD"
    # millions as 3.32M and whole dollars from 100,000 up, so no tile is cut off; exact in help
    assert helps(at)["Spend in the period"] == f"{usd(total)} exactly"
    assert metrics(at)["Spend in the period"] == "USD 3.32M"
    top = con.execute(
        "SELECT resource_id, sum(idle_cost) FROM gpu_hours GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1"
    ).fetchall()
    if top and top[0][1]:
        idle = page(at, "idle")
        shown = metrics(idle)
        # the Azure VM's name, its full id beside it
        name = top[0][0].rsplit("/", 1)[-1]
        assert (shown["Top idle resource"], shown["Its idle cost"]) == (name, "USD 100,257")
        assert helps(idle)["Top idle resource"] == top[0][0]
        assert helps(idle)["Its idle cost"] == f"{usd(top[0][1])} exactly"


def test_forecast_charts_the_six_largest_first(sample: Path) -> None:
    at = page(app(), "forecast")
    no_errors(at)
    (table,) = [d.value for d in at.dataframe if "lo80" in d.value.columns]
    totals = table.groupby("key")["spend"].sum().reset_index()
    totals["neg"] = -totals["spend"].astype(float)
    largest = totals.sort_values(["neg", "key"])["key"].to_list()
    assert len(largest) > 6  # the sample has more providers than charts
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    # two columns, filled left, right, left ...: the tree lists the left column's first
    assert titles == [f"{largest[i]}: monthly spend" for i in (0, 2, 4, 1, 3, 5)]
    assert largest[0] == "AWS"
    assert any(f"all {len(largest)} are in the table" in c.value for c in at.caption)
