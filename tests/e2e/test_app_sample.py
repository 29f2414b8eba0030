"""AppTest on the sample enterprise (the warehouse `make demo` builds): every page runs and the
headline numbers are the warehouse's own."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from ingest.warehouse import views
from ingest.warehouse.connection import connect
from models.currency import to_minor_units
from models.settings import Settings
from tests.fixtures.app_pages import PAGES, app, formats, helps, metrics, no_errors, page, usd
from tests.fixtures.warehouse_state import serve

pytestmark = pytest.mark.slow  # needs the built sample warehouse


@pytest.fixture
def sample(sample_warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    serve(monkeypatch, sample_warehouse)
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
    # millions as 3.36M and whole dollars from 100,000 up, so no tile is cut off; exact in help
    assert helps(at)["Spend in the period"] == f"{usd(total)} exactly"
    assert metrics(at)["Spend in the period"] == "USD 3.36M"
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
        # the ranking leads with the short name and the money; the full id comes last
        (ranking,) = [d.value for d in idle.dataframe if "resource_id" in d.value.columns]
        assert [*ranking.columns[:2], ranking.columns[-1]] == [
            "resource", "idle_cost", "resource_id"
        ]  # fmt: skip
        assert (ranking.iloc[0]["resource"], ranking.iloc[0]["resource_id"]) == (name, top[0][0])
        box = idle.selectbox(key="idle_resource")
        assert (box.options[0], box.value) == (name, top[0][0])


def test_forecast_charts_the_six_largest_first(sample: Path) -> None:
    at = page(app(), "forecast")
    no_errors(at)
    (table,) = [d.value for d in at.dataframe if "lo80" in d.value.columns]
    # headed by what it forecasts ("Provider", not "key"), at the cent
    totals = table.groupby("Provider")["spend"].sum().reset_index()
    totals["neg"] = -totals["spend"].astype(float)
    largest = totals.sort_values(["neg", "Provider"])["Provider"].to_list()
    assert len(largest) > 6  # the sample has more providers than charts
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    # two columns, filled left, right, left ...: the tree lists the left column's first
    assert titles == [
        f"{largest[i]}: monthly spend — Amortised cost (USD)" for i in (0, 2, 4, 1, 3, 5)
    ]
    assert largest[0] == "AWS"
    assert any(f"all {len(largest)} are in the table" in c.value for c in at.caption)


def test_forecast_reads_an_anomalys_drivers_when_one_is_chosen(sample: Path, sample_truth) -> None:
    """The drivers read line items (seconds on a large warehouse): not on the first render;
    choosing the planted egress spike names its resource first."""
    at = page(app(), "forecast")
    no_errors(at)
    assert at.selectbox(key="fc_anomaly").value is None
    assert any("Choose an anomaly above" in c.value for c in at.caption)
    assert not [d for d in at.dataframe if "baseline_per_day" in d.value.columns]
    spike = next(e for e in sample_truth["events"] if e.get("kind") == "egress_spike")
    box = at.selectbox(key="fc_anomaly")
    (pick,) = [
        i
        for i, label in enumerate(box.options)
        if label.startswith("AI class Egress:")
        and spike["start"] <= label.split(": ")[1][:10]
        and label.split(" to ")[1][:10] <= spike["end"]
    ][:1]
    box.set_value(int(pick)).run()
    no_errors(at)
    (drivers,) = [d.value for d in at.dataframe if "baseline_per_day" in d.value.columns]
    assert drivers.iloc[0]["resource"] == spike["resource_id"]


def test_overview_anomalies_lead_with_the_excess_and_show_days(sample: Path) -> None:
    at = app()
    no_errors(at)
    (table,) = [d for d in at.dataframe if "excess" in d.value.columns]
    # what it is in, then the amount before the dates, which show as days, not time stamps
    assert list(table.value.columns) == ["anomaly", "excess", "start", "end"]
    assert formats(table) == {"excess": "%,.2f", "start": "YYYY-MM-DD", "end": "YYYY-MM-DD"}
    top = table.value.iloc[0]
    assert (top["anomaly"], str(top["start"])[:10]) == ("Team: research", "2026-01-01")


def _sums(sample: Path, sql: str):
    """The warehouse's connection and `sql`'s (key, sum) rows as a dict."""
    views.register_all(Settings())
    con = connect(sample)
    return con, dict(con.execute(sql).fetchall())


def test_tools_total_one_currency_at_a_time(sample: Path) -> None:
    _, totals = _sums(
        sample,
        "SELECT BillingCurrency, sum(EffectiveCost) FROM classified_costs "
        "WHERE x_AiClass = 'saas_tool' OR x_ToolFamily IS NOT NULL OR x_Source = 'saas' GROUP BY 1",
    )
    assert set(totals) == {"USD", "EUR"}  # the sample bills one tool in EUR
    at = page(app(), "tools")
    no_errors(at)
    # the EUR invoices used to be added to the USD total
    assert helps(at)["Tool spend"] == f"{usd(totals['USD'])} exactly"
    at.selectbox(key="f_currency").set_value("EUR").run()
    no_errors(at)
    assert helps(at)["Tool spend"] == f"EUR {totals['EUR']:,.2f} exactly"
    (tools,) = [d.value for d in at.dataframe if "seats" in d.value.columns]
    assert sum(tools["Amortised cost (EUR)"]) == totals["EUR"]
    assert at.query_params["cur"] == "EUR"  # a link keeps the currency, as other filters
    again = page(app(cur="EUR"), "tools")
    assert helps(again)["Tool spend"] == f"EUR {totals['EUR']:,.2f} exactly"


def test_egress_counts_gigabytes_not_hours(sample: Path) -> None:
    con, units = _sums(
        sample,
        "SELECT ConsumedUnit, sum(ConsumedQuantity) FROM classified_costs "
        "WHERE x_AiClass = 'egress' GROUP BY 1",
    )
    assert set(units) == {"GB", "1 GB", "gibibyte", "Hrs"}  # AWS, Azure, GCP, NAT gateways
    gb = float(units["GB"] + units["1 GB"]) + float(units["gibibyte"]) * 2**30 / 1e9
    at = page(app(), "movement")
    no_errors(at)
    (table,) = [d.value for d in at.dataframe if "cost_per_gb" in d.value.columns]
    assert table.columns[0] == "kind"
    # the NAT hours are not GB; each row's GB shown to one decimal
    assert sum(table["gb"]) == pytest.approx(gb, abs=0.05 * len(table))
    assert all(round(v, 1) == v for v in table["gb"])
    by_volume = con.execute(
        "SELECT sum(EffectiveCost) FROM classified_costs WHERE x_AiClass = 'egress' "
        "AND x_EgressKind = 'internet' AND ConsumedUnit <> 'Hrs'"
    ).fetchall()[0][0]
    internet = table[table["kind"] == "internet"].iloc[0]
    # to the cent, as the table shows it
    assert internet["cost_per_gb"] == pytest.approx(float(by_volume) / internet["gb"], abs=0.005)


def test_workloads_table_names_its_columns_and_shows_months(sample: Path) -> None:
    _, training = _sums(
        sample,
        "SELECT x_Team, sum(EffectiveCost) FROM classified_costs WHERE BillingCurrency = 'USD' "
        "AND x_Workload = 'training' AND x_AiClass NOT IN ('other') GROUP BY 1",
    )
    at = page(app(), "workloads")
    no_errors(at)
    (frame,) = [d for d in at.dataframe if "workload" in d.value.columns]
    table = frame.value
    cost = "Amortised cost (USD)"  # the money column says its basis
    assert list(table.columns) == ["month", "team", "workload", cost]
    assert formats(frame) == {"month": "YYYY-MM", cost: "%,.2f"}
    research = table[(table["team"] == "research") & (table["workload"] == "Training")]
    # each month shown to the cent (half-even), so their sum is the lines' within half a cent
    # a month
    months = list(research[cost])
    assert all(to_minor_units(v, "USD") == v for v in months)
    assert abs(sum(months) - training["research"]) <= Decimal("0.005") * len(months)


def test_the_finance_pack_is_built_in_the_chosen_currency(sample: Path) -> None:
    at = page(app(), "reports")
    at.selectbox(key="f_currency").set_value("EUR").run()
    at.button(key="rep_build").click().run()
    no_errors(at)
    labels = {b.proto.label for b in at.get("download_button")}
    assert "Download finops-2026-10-EUR.xlsx" in labels
    assert not any(label.endswith("finops-2026-10.xlsx") for label in labels)


def test_money_is_labelled_with_its_own_currency(sample: Path) -> None:
    con, billed = _sums(
        sample, "SELECT BillingCurrency, sum(EffectiveCost) FROM cost_lines GROUP BY 1"
    )
    idle = f"USD {con.execute('SELECT sum(idle_cost) FROM gpu_hours').fetchall()[0][0]:,.0f}"
    at = app(cur="EUR")
    no_errors(at)
    assert helps(at)["Spend in the period"] == f"EUR {billed['EUR']:,.2f} exactly"
    # GPU-hours cost what the GPU lines were billed: USD, whatever the page totals in
    assert metrics(at)["Idle GPU cost"] == idle
    layouts = {
        json.loads(c.proto.spec)["layout"]["title"]["text"]: json.loads(c.proto.spec)["layout"]
        for c in at.get("plotly_chart")
    }
    assert layouts["Spend by provider — Amortised cost (EUR)"]["yaxis"]["title"]["text"] == "EUR"
    idle_page = page(at, "idle")
    assert metrics(idle_page)["Idle GPU cost"] == idle
    assert "No GPU compute is billed in EUR: GPU-hours are in USD." in [
        c.value for c in idle_page.caption
    ]
