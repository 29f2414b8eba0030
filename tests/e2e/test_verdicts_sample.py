"""The pages' verdict sentences on the sample enterprise, each held against the page's own
tiles and tables and against a query of the warehouse that shares no code with the page
(cost lines and their classes, the CLI's own-vs-rent, the forecast model on the lines), and
the demo's budgets against direct DuckDB sums: actual, budget, forecast and the planted
breach's date."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from streamlit.proto.Metric_pb2 import Metric

from dashboard.app import session
from ingest.warehouse import views
from ingest.warehouse.connection import connect
from models.forecast import fit_series, forecast_spend
from models.settings import Settings
from tests.fixtures.app_pages import app, metrics, no_errors, page
from tests.fixtures.own_vs_rent_cli import run_own_vs_rent
from tests.fixtures.sample_views import sample_app
from tests.fixtures.warehouse_state import serve

pytestmark = pytest.mark.slow  # needs the built sample warehouse

CENT = Decimal("0.01")
# every line of the classified warehouse with its day (UTC) and the AI spend rule spelled
# out again: what is neither CPU compute nor unclassified ("other")
LINES = """(SELECT *, CAST(timezone('UTC', ChargePeriodStart) AS DATE) AS day
             FROM classified_costs WHERE BillingCurrency = 'USD')"""
AI = "x_AiClass NOT IN ('cpu_compute', 'other')"


@pytest.fixture
def demo(sample_warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The sample warehouse served with the settings `finops demo` wrote beside it."""
    config = sample_warehouse.parent / "finops-demo.toml"
    assert config.exists(), "finops demo writes its budgets beside a local warehouse"
    serve(monkeypatch, sample_warehouse)
    monkeypatch.setenv("FINOPS_CONFIG", str(config))
    session.settings.clear()  # read once per server: this file, not an earlier test's
    yield sample_warehouse
    session.settings.clear()


@pytest.fixture(scope="module")
def con(sample_warehouse: Path):
    views.register_all(Settings())
    return connect(sample_warehouse)


def one(con, sql: str, *params) -> Decimal:
    return Decimal(con.execute(sql, list(params)).fetchall()[0][0])


def tile(value: Decimal) -> str:
    """Money as a tile and a sentence show it (dashboard: money_tile)."""
    if abs(value) >= 1_000_000:
        return f"USD {value / 1_000_000:,.2f}M"
    if abs(value) >= 100_000:
        return f"USD {value:,.0f}"
    return f"USD {value.quantize(CENT, ROUND_HALF_EVEN):,}"


def markdown(at) -> list[str]:
    return [m.value for m in at.markdown]


def sentence(at, starts: str) -> str:
    (found,) = [m for m in markdown(at) if m.startswith(starts)]
    return found.replace("**", "")


# ---- Overview ---------------------------------------------------------------------------------


def test_overview_story_is_the_tiles_and_the_lines(demo: Path, con) -> None:
    at = app()
    no_errors(at)
    story = sentence(at, "**AI spend")
    shown = metrics(at)
    ai = one(con, f"SELECT sum(EffectiveCost) FROM {LINES} WHERE {AI}")
    month = {
        m: one(con, f"SELECT sum(EffectiveCost) FROM {LINES} WHERE day >= ? AND day < ?", a, b)
        for m, a, b in (
            ("this", date(2026, 10, 1), date(2026, 11, 1)),
            ("last", date(2026, 9, 1), date(2026, 10, 1)),
        )
    }
    change = f"{float(month['this']) / float(month['last']) - 1:+.1%}"
    idle = one(con, "SELECT sum(cost) FROM idle_episodes WHERE currency = 'USD'")
    gpu = one(con, "SELECT sum(cost) FROM gpu_hours WHERE currency = 'USD'")
    mover = con.execute(
        f"""SELECT ServiceName, sum(EffectiveCost) FILTER (WHERE day >= DATE '2026-10-01')
                  - coalesce(sum(EffectiveCost) FILTER (WHERE day < DATE '2026-10-01'), 0) AS d
            FROM {LINES} WHERE day >= DATE '2026-09-01' GROUP BY 1
            ORDER BY abs(d) DESC LIMIT 1"""
    ).fetchall()[0]
    assert story == (
        f"AI spend {tile(ai)} in the period; this month {tile(month['this'])}, {change} on "
        f"last month; idle GPUs {tile(idle)} = {float(idle) / float(gpu):.1%} of GPU cost; "
        f"biggest mover: {mover[0]}, +{tile(Decimal(mover[1]))} on last month."
    )
    assert story.startswith("AI spend USD 3.36M in the period; this month USD 250,714, +1.0%")
    # the page's own figures say the same
    assert shown["AI spend"] == tile(ai)
    assert shown["This month (October 2026)"] == tile(month["this"])
    assert shown["Idle GPU cost"] == tile(idle)
    (this_month,) = [m for m in at.metric if m.label.startswith("This month")]
    assert this_month.delta == f"{change} on last month"
    assert this_month.proto.color == Metric.MetricColor.RED  # more spend is bad: "inverse"


def test_overview_answer_tiles_link_to_their_pages(demo: Path) -> None:
    at = app()
    no_errors(at)
    assert metrics(at)["Tool consolidation savings"] == "USD 12,078.00"
    # on the first render, from the GPU demand rollups
    (told,) = [m for m in markdown(at) if m.startswith("**Own vs rent**: ")]
    assert told.startswith("**Own vs rent**: **Own 32 H100** (16 more than today")


# ---- Own vs rent ------------------------------------------------------------------------------


def _cli(warehouse: Path, months: int) -> dict:
    return json.loads(
        run_own_vs_rent(sample_app(warehouse), "--format", "json", "--gpu", "H100",
                        "--months", str(months))
    )  # fmt: skip


def _expected_verdict(out: dict) -> str:
    r, m = out["recommendation"], out["measured"]
    more = r["owned_baseline_gpus"] - m["owned_gpus"]
    book = out["assumptions"]  # a node's capex is its server and its share of the fabric
    per_node = sum(
        Decimal(str(book[f"node.H100.{k}_capex"]["value"])) for k in ("server", "fabric")
    )
    capex = per_node * more / 8
    return (
        f"Own {r['owned_baseline_gpus']} H100 ({more} more than today, capex USD "
        f"{capex.quantize(CENT):,}): saves USD "
        f"{Decimal(str(r['annual_saving'])).quantize(CENT, ROUND_HALF_EVEN):,} a year against "
        f"renting at your measured USD {float(r['burst_price_per_gpu_hour']):,.2f}/GPU-hour; "
        f"break-even {r['break_even_utilisation']:.1%}, your utilisation {m['u']:.1%}."
    )


def test_own_vs_rent_verdict_is_the_cli_and_the_tiles(demo: Path) -> None:
    at = page(app(), "own_vs_rent")
    no_errors(at)
    told = sentence(at, "**Own ")
    out = _cli(demo, 12)
    assert told == _expected_verdict(out)
    assert told.startswith("Own 32 H100 (16 more than today, capex USD ")
    assert "your measured USD 4.65/GPU-hour; break-even 23.6%, your utilisation 74.7%." in told
    shown = metrics(at)
    assert shown["Recommended owned baseline"] == "32 GPUs"
    assert shown["Owned today"] == "16 GPUs"
    assert f"break-even {shown['Break-even utilisation']}" in told
    assert f"your utilisation {shown['Measured utilisation, owned']}" in told
    captions = " ".join(c.value for c in at.caption)
    assert "with renting all of the demand at that price" in captions
    assert "GPU-hours unmonitored" in captions and "estimated from billing alone" in captions


def test_own_vs_rent_honours_the_date_filter(demo: Path) -> None:
    """Six months of the filter are the CLI's six trailing months (the data ends 31 October)."""
    at = page(app(**{"from": "2026-05-01", "to": "2026-10-31"}), "own_vs_rent")
    no_errors(at)
    told = sentence(at, "**Own ")
    assert told == _expected_verdict(_cli(demo, 6))
    assert told != _expected_verdict(_cli(demo, 12))


# ---- Workloads --------------------------------------------------------------------------------


def test_workloads_split_is_the_tiles_and_the_lines(demo: Path, con) -> None:
    at = page(app(), "workloads")
    no_errors(at)
    told = sentence(at, "**AI spend")
    rows = dict(
        con.execute(
            f"SELECT x_Workload, sum(EffectiveCost) FROM {LINES} WHERE {AI} GROUP BY 1"
        ).fetchall()
    )
    total = sum(rows.values())

    def part(key: str, words: str) -> str:
        return f"{words} {tile(rows[key])} ({float(rows[key]) / float(total):.1%})"

    assert told == (
        f"AI spend {tile(total)}: {part('training', 'training')}; "
        f"{part('inference', 'inference')}; {part('experimentation', 'experimentation')}; "
        f"{part('data_prep', 'data prep')}; {part('unknown', 'unknown')}."
    )
    shown = metrics(at)
    assert shown["Training"] == f"{float(rows['training']) / float(total):.1%}"
    assert shown["Unknown"] == f"{float(rows['unknown']) / float(total):.1%}"
    assert tile(rows["training"]) in [c.value for c in at.caption]
    # what unknown is, its largest services, how to teach a rule
    top = con.execute(
        f"SELECT ServiceName FROM {LINES} WHERE {AI} AND x_Workload = 'unknown' "
        "GROUP BY 1 ORDER BY sum(EffectiveCost) DESC LIMIT 1"
    ).fetchall()[0][0]
    (unknown,) = [d.value for d in at.dataframe if "service" in d.value.columns]
    assert unknown["service"][0] == top == "Scale Data Engine"
    assert any(f'match.ServiceName = "{top}"' in m for m in markdown(at))
    assert any("[classify]" in m and "workload_tags" in m for m in markdown(at))


# ---- Forecast ---------------------------------------------------------------------------------


def test_forecast_sentence_is_the_model_on_the_lines(demo: Path, con) -> None:
    at = page(app(), "forecast")
    no_errors(at)
    told = sentence(at, "**Spend forecast")
    lines = con.sql(
        f"SELECT ChargePeriodStart, 'all' AS ProviderName, EffectiveCost FROM {LINES}"
    ).pl()
    fc = forecast_spend(lines.lazy(), by="provider", horizon=6).filter(pl.col("kind") == "forecast")
    nov = fc.row(0, named=True)
    assert told.startswith(
        f"Spend forecast for November 2026: {tile(nov['spend'])} (80% interval "
        f"{tile(nov['lo80'])} to {tile(nov['hi80'])}); {tile(fc['spend'].sum())} over the 6 "
        "months to April 2027"
    )
    crossed = sentence(at, "Budgets: ")
    assert "Research team crossed its USD 100,000 in October 2026" in crossed
    assert "All USD spend 2026 is expected to cross its USD 3.35M in December 2026" in crossed


# ---- Budgets ----------------------------------------------------------------------------------

SCOPES = {  # the demo's budgets (dashboard/cli/serve.py) as direct SQL conditions
    "Research team": ("USD", "x_Team = 'research'", "monthly", "100000"),
    "GPU compute": ("USD", "x_AiClass = 'gpu_compute'", "monthly", "170000"),
    "All USD spend 2026": ("USD", "true", "annual", "3350000"),
    "AWS 2026": ("USD", "ProviderName = 'AWS'", "annual", "1800000"),
    "SaaS in euros": ("EUR", "true", "monthly", "2000"),
}


def _daily(con, currency: str, where: str) -> list[tuple[date, Decimal]]:
    return con.execute(
        f"""SELECT CAST(timezone('UTC', ChargePeriodStart) AS DATE) AS day, sum(EffectiveCost)
            FROM classified_costs WHERE BillingCurrency = ? AND {where}
            GROUP BY 1 ORDER BY 1""",
        [currency],
    ).fetchall()


def _expected(con, currency: str, where: str, period: str) -> tuple[Decimal, Decimal]:
    """Actual to 31 October 2026 and the forecast to the period's end, summed here: the
    year's November and December at the model's monthly means."""
    daily = _daily(con, currency, where)
    start = date(2026, 1, 1) if period == "annual" else date(2026, 10, 1)
    actual = sum((c for d, c in daily if d >= start), Decimal(0))
    if period == "monthly":
        return actual, actual  # October is complete
    months: dict[date, Decimal] = {}
    for d, c in daily:
        months[d.replace(day=1)] = months.get(d.replace(day=1), Decimal(0)) + c
    fit = fit_series(np.array([float(months[m]) for m in sorted(months)]), 2)
    return actual, actual + Decimal(repr(float(sum(max(x, 0) for x in fit.mean))))


def test_budgets_are_direct_sums_and_the_planted_breach_shows_its_date(demo: Path, con) -> None:
    at = page(app(), "budgets")
    no_errors(at)
    tables = [d.value for d in at.dataframe if "budget_name" in d.value.columns]
    shown = {r["budget_name"]: r for t in tables for r in t.to_dict("records")}
    assert set(shown) == set(SCOPES)
    for name, (currency, where, period, amount) in SCOPES.items():
        actual, forecast = _expected(con, currency, where, period)
        row = shown[name]
        assert Decimal(str(row["budget"])) == Decimal(amount), name
        assert Decimal(str(row["actual"])) == actual.quantize(CENT, ROUND_HALF_EVEN), name
        assert abs(Decimal(str(row["forecast"])) - forecast) <= CENT, name
    # the planted breach: Research's running October total passes USD 100,000 on this day
    running, breach = Decimal(0), None
    for day, cost in _daily(con, "USD", SCOPES["Research team"][1]):
        if day >= date(2026, 10, 1):
            running += cost
            if breach is None and running > Decimal("100000"):
                breach = day
    assert breach == date(2026, 10, 27)
    assert str(shown["Research team"]["first_breach"])[:10] == "2026-10-27"
    assert shown["Research team"]["status"] == "Over budget"
    told = sentence(at, "**Research team**")
    assert told == (
        f"Research team (team research; October 2026; owner research-lead@example.com): "
        f"USD {_daily_sum(con, SCOPES['Research team'][1]):,} of USD 100,000.00 spent by "
        "31 October 2026 (115.2%); the period is complete — breached on 27 October 2026."
    )
    assert metrics(at) == {
        "Budgets": "5",
        "Over budget": "1",
        "Expected to breach this period": "1",
    }
    assert re.search(r"All USD spend 2026 .* expected to breach on \d+ December 2026", "\n".join(
        m.replace("**", "") for m in markdown(at)))  # fmt: skip


def _daily_sum(con, where: str) -> Decimal:
    october = [c for d, c in _daily(con, "USD", where) if d >= date(2026, 10, 1)]
    return sum(october, Decimal(0)).quantize(CENT, ROUND_HALF_EVEN)
