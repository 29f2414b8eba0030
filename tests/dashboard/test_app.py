"""AppTest: every page runs, and the headline numbers on screen are the warehouse's numbers."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from ingest.warehouse import views
from ingest.warehouse.connection import connect
from models.settings import Settings
from tests.fixtures.app_pages import (
    PAGES,
    app,
    episodes_shown,
    formats,
    metrics,
    no_errors,
    page,
    usd,
)
from tests.fixtures.small_warehouse import expected_total
from tests.fixtures.warehouse_state import serve

AMORTISED = "Amortised cost (USD)"  # how a table heads its money on the default basis


# ---- a warehouse built in code, before the derived views exist -------------------------------

NOT_YET = {
    "idle": "GPU-hours",
    "movement": "Egress",
    "workloads": "Workloads",
    "own_vs_rent": "Own vs rent",
    "tools": "SaaS tools",
}


@pytest.mark.parametrize("name", PAGES)
def test_pages_without_rollups_say_what_to_run(lines_only: Path, name: str) -> None:
    at = page(app(), name)
    no_errors(at)
    infos = " ".join(i.value for i in at.info)
    assert "**Spend rollups** is not available yet" in infos
    assert "`finops vacuum`" in infos
    assert not at.metric  # no figure from empty rollups


@pytest.mark.parametrize("name", PAGES)
def test_pages_without_derived_views_say_what_to_run(rollups_only: Path, name: str) -> None:
    at = page(app(), name)
    no_errors(at)
    if name in NOT_YET:
        infos = " ".join(i.value for i in at.info)
        assert f"**{NOT_YET[name]}** is not available yet" in infos
        assert "finops " in infos  # names the command to run


def test_overview_totals_without_classification(rollups_only: Path) -> None:
    shown = metrics(app())
    assert shown["Spend in the period"] == usd(expected_total()) == "USD 1,787.45"
    assert shown["This month (October 2026)"] == "USD 1,458.30"
    assert shown["Last month"] == "USD 329.15"
    # The storage bucket and one egress line carry no team tag: (99.15 + 30) x 3.
    assert shown["Untagged spend"] == "USD 387.45"
    assert shown["AI spend"] == "–"


def test_empty_warehouse_shows_how_to_ingest(warehouse: Path, monkeypatch) -> None:
    monkeypatch.setenv("FINOPS_WAREHOUSE", str(warehouse))
    for name in ("overview", "idle", "health"):
        at = page(app(), name)
        no_errors(at)
        text = " ".join(i.value for i in at.info)
        assert "finops ingest aws" in text and "finops demo" in text


# ---- with classified_costs and gpu_hours -----------------------------------------------------


@pytest.fixture
def full(small_warehouse: Path) -> Path:
    return small_warehouse


@pytest.mark.parametrize("name", PAGES)
def test_every_page_runs_with_derived_views(full: Path, name: str) -> None:
    at = page(app(), name)
    no_errors(at)
    assert at.title[0].value


def test_headline_numbers_equal_the_warehouse(full: Path) -> None:
    views.register_all(Settings())
    con = connect(full)
    total, this_month = con.execute(
        "SELECT sum(EffectiveCost), sum(EffectiveCost) FILTER (WHERE ChargePeriodStart >= "
        "TIMESTAMPTZ '2026-10-01') FROM classified_costs"
    ).fetchall()[0]
    egress, ai = con.execute(
        "SELECT sum(EffectiveCost) FILTER (WHERE x_AiClass = 'egress'), sum(EffectiveCost) "
        "FILTER (WHERE x_AiClass NOT IN ('cpu_compute', 'other')) FROM classified_costs"
    ).fetchall()[0]
    top, top_cost, top_hours = con.execute(
        "SELECT resource_id, sum(idle_cost), count(*) FILTER (WHERE state IN "
        "('allocated_idle', 'hard_idle')) FROM gpu_hours GROUP BY 1 ORDER BY 2 DESC LIMIT 1"
    ).fetchall()[0]
    at = app()
    shown = metrics(at)
    assert shown["Spend in the period"] == usd(total) == "USD 1,787.45"
    assert shown["This month (October 2026)"] == usd(this_month) == "USD 1,458.30"
    assert shown["Egress share of AI spend"] == f"{egress / ai:.1%}" == "12.6%"  # 225 / 1787.45
    assert shown["Idle GPU cost"] == "USD 280.00"  # 12 + 16 idle GPU-hours x USD 10

    idle = metrics(page(at, "idle"))
    assert (idle["Top idle resource"], idle["Its idle cost"]) == (top, usd(top_cost))
    assert (top, top_cost, top_hours) == ("i-gpu2", Decimal("160"), 16)

    assert metrics(page(at, "movement"))["Egress share of AI spend"] == f"{egress / ai:.1%}"

    from dashboard.cli.own_vs_rent import load_gpu_hours
    from models.recommendation import OwnVsRentSettings, recommend, to_dict

    frame, end = load_gpu_hours(con, "H100", 12)
    direct = to_dict(recommend(frame, OwnVsRentSettings().price_book(), "H100", 12, end=end))
    u_star = direct["recommendation"]["break_even_utilisation"]
    shown = metrics(page(at, "own_vs_rent"))
    assert shown["Break-even utilisation"] == ("never" if u_star is None else f"{u_star:.1%}")
    # 36 useful (20 active + 16 underutilised) of 64 monitored cloud GPU-hours
    assert direct["measured"]["u_r"] == 36 / 64
    assert shown["Measured utilisation, cloud"] == f"{36 / 64:.1%}"


def test_idle_threshold_slider_recomputes(full: Path) -> None:
    at = page(app(), "idle")
    assert metrics(at)["Top idle resource"] == "i-gpu2"
    at.slider(key="idle_thr").set_value(0.25).run()
    shown = metrics(at)
    # At 25% the 20%-busy hours of i-gpu2 count too: 32 idle GPU-hours x USD 10.
    assert (shown["Top idle resource"], shown["Its idle cost"]) == ("i-gpu2", "USD 320.00")
    assert shown["Idle GPU cost"] == "USD 440.00"
    no_errors(at)


def test_idle_cost_covers_resources_beyond_the_ranking(full: Path, monkeypatch) -> None:
    """The tile totals every idle resource, not the rows the ranking lists (it once summed a
    200-row table: USD 12.69M of 12.93M on a 100M-line warehouse)."""
    from dashboard.app import session
    from dashboard.queries import gpu as queries_gpu

    monkeypatch.setattr(queries_gpu, "RANKED", 1)
    session._answer.clear()  # answers are kept per snapshot and arguments, not per limit
    try:
        at = page(app(), "idle")
    finally:
        session._answer.clear()
    no_errors(at)
    assert at.dataframe[0].value["resource"].to_list() == ["i-gpu2"]  # one row listed
    shown = metrics(at)
    # i-gpu2's 16 + i-gpu1's 12 idle GPU-hours x USD 10, as the Overview shows
    assert shown["Idle GPU cost"] == "USD 280.00"
    assert shown["Its idle cost"] == "USD 160.00"
    assert any("The 1 with the most idle cost of 2 resources" in c.value for c in at.caption)


def test_idle_resource_drilldown_and_unmonitored_hours(full: Path) -> None:
    at = page(app(), "idle")
    at.selectbox(key="idle_resource").set_value("i-gpu1").run()
    no_errors(at)
    assert len(at.get("plotly_chart")) == 1
    unmonitored = at.dataframe[-1].value
    assert unmonitored["gpu_hours"].to_list() == [16]  # i-gpu3: 2 hours x 8 GPUs
    assert unmonitored["cost"].sum() == Decimal("160")
    # money as 1,234.56 and counts as 1,234, not the stored 160.000000000000
    assert formats(at.dataframe[-1]) == {"gpu_hours": "%,d", "cost": "%,.2f", "resources": "%,d"}


def test_idle_episodes_of_the_selected_resource(full: Path) -> None:
    at = page(app(), "idle")  # the top resource is selected first
    # i-gpu2: all 8 GPUs at 3% for the first 2 hours of 2 October, then 20%
    assert episodes_shown(at) == [
        ("0, 1, 2, 3, 4, 5, 6, 7", "2026-10-02T00:00:00+00:00", 2, 16, Decimal("160"),
         "allocated_idle"),
    ]  # fmt: skip
    (table,) = [d for d in at.dataframe if "gpus" in d.value.columns]
    assert formats(table)["start"] == formats(table)["end"] == "YYYY-MM-DD HH:mm"
    at.selectbox(key="idle_resource").set_value("i-gpu1").run()
    # i-gpu1: GPUs 0-2 at 0% with free memory for all 4 hours
    assert episodes_shown(at) == [
        ("0, 1, 2", "2026-10-02T00:00:00+00:00", 4, 12, Decimal("120"), "hard_idle"),
    ]
    at.selectbox(key="idle_resource").set_value("i-gpu2").run()
    at.slider(key="idle_thr").set_value(0.25).run()  # derived again: the 20% hours are idle too
    assert episodes_shown(at) == [
        ("0, 1, 2, 3, 4, 5, 6, 7", "2026-10-02T00:00:00+00:00", 4, 32, Decimal("320"),
         "allocated_idle"),
    ]  # fmt: skip
    no_errors(at)


def test_global_filters_come_from_and_go_to_the_url(full: Path) -> None:
    at = app(provider="Microsoft")
    assert metrics(at)["Spend in the period"] == "USD 465.00"  # Azure only: 155 + 310
    at.multiselect(key="f_provider").set_value(["AWS"]).run()
    assert at.query_params == {"provider": "AWS"}  # a copied link reproduces the view
    assert metrics(at)["Spend in the period"] == usd(expected_total() - Decimal("465"))
    # The filter holds on the next page too.
    shown = metrics(page(at, "movement"))
    assert shown["Egress"] == "USD 225.00"  # (45 + 30) x 3, all AWS


def test_date_filter_from_the_url(full: Path) -> None:
    at = app(**{"from": "2026-10-01", "to": "2026-10-31"})
    assert metrics(at)["Spend in the period"] == "USD 1,458.30"


def test_explorer_breakdown_drilldown_and_csv(full: Path) -> None:
    at = page(app(), "explorer")
    at.selectbox(key="ex_by").set_value("service").run()
    table = at.dataframe[0].value
    assert dict(zip(table["service"], (float(c) for c in table[AMORTISED]), strict=True))[
        "Amazon Elastic Compute Cloud"
    ] == pytest.approx(800)
    at.selectbox(key="ex_key").set_value("Azure OpenAI").run()
    lines = at.dataframe[1].value
    assert len(lines) == 2 and sorted(float(c) for c in lines["EffectiveCost"]) == [155, 310]
    # the page's lines carry their classification, joined after the page was chosen
    # codes read as words: managed_ai is "Managed AI"
    assert set(lines["x_AiClass"]) == {"Managed AI"} and set(lines["x_Team"]) == {"nlp"}
    # money to the cent on screen, the breakdown's and the line items' (the line items' CSV
    # keeps every digit: a request can cost USD 0.0000004; tests/dashboard/test_labels.py)
    assert formats(at.dataframe[0])[AMORTISED] == "%,.2f"
    assert formats(at.dataframe[1])["EffectiveCost"] == "%,.2f"
    no_errors(at)


@pytest.mark.parametrize(
    "tag_key", ["team' OR 1=1 --", 'x"); DROP TABLE cost_lines; --', "$.team", "../../etc"]
)
def test_hostile_tag_keys_reach_duckdb_only_as_parameters(full: Path, tag_key: str) -> None:
    at = page(app(), "explorer")
    at.selectbox(key="ex_by").set_value("tag key ...").run()
    at.text_input(key="ex_tag").input(tag_key).run()
    no_errors(at)
    table = at.dataframe[0].value
    assert table[tag_key].to_list() == ["(not set)"]  # the column is headed by the tag key
    assert table[AMORTISED].sum() == expected_total()
    assert metrics(page(at, "overview"))["Spend in the period"] == "USD 1,787.45"


def test_a_typed_tag_key_makes_a_plain_file_name() -> None:
    from dashboard.app.session import file_name

    assert file_name("spend_by_../../etc", ".csv") == "spend_by__etc.csv"
    assert file_name("spend_by_team' OR 1=1 --", ".csv") == "spend_by_team_OR_1_1_--.csv"


def test_forecast_and_reports_pages_show_their_tables(full: Path) -> None:
    at = page(app(), "reports")
    no_errors(at)
    assert at.selectbox(key="rep_month").options == ["2026-10", "2026-09"]
    assert len(at.dataframe[0].value) == 2  # one row per source account: AWS and Azure


def test_tools_page_points_to_the_currency_that_has_tools(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fixtures.report_world import shared

    # the small world bills one EUR account, with no tools in it; its tools are in USD
    serve(monkeypatch, shared(tmp_path_factory))
    at = page(app(cur="EUR"), "tools")
    no_errors(at)
    assert [i.value for i in at.info] == [
        "No tool or SaaS spend is billed in EUR in this period; there is some in USD "
        "(Filters: Currency)."
    ]


def test_gpu_hours_billed_in_two_currencies_are_never_added(eur_gpu_warehouse: Path) -> None:
    at = app()
    no_errors(at)
    # the page's title first, the note that another currency is totalled apart under it
    shown = [(e.type, getattr(e, "value", "")) for e in at.main.children.values()]
    assert shown[0] == ("title", "Overview")
    assert (
        "caption",
        "Totals in USD; spend in EUR is totalled on its own (Filters: Currency).",
    ) in shown
    # USD, the larger spend: the USD GPUs alone (EUR 160 used to be added in as dollars)
    assert metrics(at)["Idle GPU cost"] == "USD 280.00"
    idle = page(at, "idle")
    assert idle.dataframe[0].value["resource"].to_list() == ["i-gpu2", "i-gpu1"]
    assert any("those billed in EUR are totalled on their own" in c.value for c in idle.caption)
    at = app(cur="EUR")
    no_errors(at)
    assert metrics(at)["Idle GPU cost"] == "EUR 160.00"  # 32 idle GPU-hours x EUR 5
    idle = page(at, "idle")
    assert idle.dataframe[0].value["resource"].to_list() == ["i-gpu-eu"]
    assert metrics(idle)["Its idle cost"] == "EUR 160.00"
    assert any("those billed in USD are totalled on their own" in c.value for c in idle.caption)


def test_own_vs_rent_prices_cloud_gpu_hours_in_the_price_books_currency(
    eur_gpu_warehouse: Path,
) -> None:
    at = page(app(), "own_vs_rent")
    no_errors(at)
    caption = next(c.value for c in at.caption if c.value.startswith("Burst price"))
    # 80 USD-billed paid GPU-hours at USD 10: the EUR instance's 32 hours are left out
    assert caption.startswith("Burst price USD 10.00/GPU-hour (measured")
    assert "32 cloud GPU-hours billed in another currency are not in the measured price" in caption


def test_a_damaged_warehouse_is_one_message_not_a_traceback(
    built_warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    root = tmp_path / "warehouse"
    shutil.copytree(built_warehouse, root)
    log = sorted((root / "cost_lines" / "_delta_log").glob("*.json"))[-1]
    log.write_bytes(log.read_bytes()[:300])  # a commit cut short by a sync tool
    serve(monkeypatch, root)
    at = app()
    assert not at.exception
    (error,) = at.error
    assert "cost_lines" in error.value and "finops check" in error.value
