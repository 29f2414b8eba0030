"""Words and numbers for people (dashboard/labels.py) and one colour per provider and AI class
(dashboard/palette.py): each rule on its own, then as a page draws it."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from streamlit.proto.Metric_pb2 import Metric

from dashboard import labels, palette
from dashboard.labels import Kind
from tests.fixtures.app_pages import app, no_errors, page


@pytest.mark.parametrize(
    ("name", "cur", "heading"),
    [
        ("idle_hours", "USD", "Idle GPU-hours"),
        ("cost_per_gb", "USD", "Cost per GB (USD)"),
        ("idle_cost", "EUR", "Idle cost (EUR)"),
        ("x_Team", "USD", "Team"),
        ("x_AiClass", None, "AI class"),
        ("BilledCost", "JPY", "Billed cost (JPY)"),
        ("mean_activity", "USD", "Mean GPU activity (%)"),
        ("gb", "USD", "Data moved (GB)"),
        ("unmonitored_hours", "USD", "Unmonitored GPU-hours"),
        ("Amortised cost (USD)", "USD", "Amortised cost (USD)"),  # already words
        ("some_new_count", None, "Some new count"),  # not listed: still words
    ],
)
def test_headings_are_words_with_units(name: str, cur: str | None, heading: str) -> None:
    assert labels.label(name, cur) == heading


def test_codes_read_as_words_and_ids_do_not() -> None:
    assert labels.value_words("gpu_compute") == "GPU compute"
    assert labels.value_words("saas_tool") == "SaaS tool"
    assert labels.value_words("hard_idle") == "Hard idle"
    assert labels.value_words("Standard_ND96asr_v4") == "Standard_ND96asr_v4"  # not a code
    assert labels.value_words("research") == "research"
    assert labels.kind_of("resource_id", pl.String) is Kind.ID
    frame = pl.DataFrame({"x_AiClass": ["managed_ai", None], "ResourceId": ["vol_a_b", None]})
    assert labels.shown(frame, "USD").rows() == [("Managed AI", "vol_a_b"), ("–", "–")]
    # an empty cell reads as a dash on screen, and stays an empty field in a CSV
    assert labels.csv_frame(frame, "USD").rows() == [("Managed AI", "vol_a_b"), (None, None)]


def test_money_at_the_currencys_minor_units_half_even() -> None:
    frame = pl.DataFrame(
        {"cost": [Decimal("100256.904148"), Decimal("0.125"), Decimal("0.135")]},
        schema_overrides={"cost": pl.Decimal(38, 12)},
    )
    assert labels.shown(frame, "USD")["cost"].to_list() == [
        Decimal("100256.90"), Decimal("0.12"), Decimal("0.14")
    ]  # fmt: skip
    assert labels.shown(frame, "JPY")["cost"].to_list() == [Decimal(100257), 0, 0]
    assert labels.shown(frame, "KWD")["cost"].to_list() == [
        Decimal("100256.904"), Decimal("0.125"), Decimal("0.135")
    ]  # fmt: skip


def test_shares_one_decimal_counts_whole_gigabytes_one_decimal() -> None:
    frame = pl.DataFrame(
        {"utilisation": [0.58123], "gpu_hours": [1234.6], "gb": [98765.4321], "peak_z": [15.5472]}
    )
    assert labels.shown(frame, "USD").row(0) == (58.1, 1235.0, 98765.4, 15.55)


def test_times_at_midnight_are_days_unless_their_hour_matters() -> None:
    midnight = pl.Series([datetime(2026, 10, 1), datetime(2026, 10, 2)])
    assert labels.as_days("ChargePeriodStart", midnight)
    assert not labels.as_days("start", midnight)  # an idle episode starting at 00:00
    assert not labels.as_days("ChargePeriodStart", pl.Series([datetime(2026, 10, 1, 13)]))
    assert labels.as_days("day", pl.Series([date(2026, 10, 1)]))


def _csv(frame: pl.DataFrame, cur: str | None, exact: bool = False) -> list[dict[str, str]]:
    text = labels.csv_bytes(frame, cur, exact=exact).decode("utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def test_a_csv_says_its_currency_and_heads_in_words() -> None:
    frame = pl.DataFrame(
        {"resource_id": ["i-1"], "idle_cost": [Decimal("12.345000000000")], "coverage": [0.5]},
        schema_overrides={"idle_cost": pl.Decimal(38, 12)},
    )
    assert _csv(frame, "USD") == [
        {"Resource ID": "i-1", "Idle cost (USD)": "12.34", "Coverage (%)": "50.0",
         "Currency": "USD"}
    ]  # fmt: skip
    # line items keep every digit (a request can cost USD 0.0000004), never 12 decimals of 0
    lines = pl.DataFrame(
        {"x_LineId": ["a"], "EffectiveCost": [Decimal("0.000000400000")]},
        schema_overrides={"EffectiveCost": pl.Decimal(38, 12)},
    )
    assert _csv(lines, "USD", exact=True)[0]["Amortised cost (USD)"] == "0.0000004"


def test_palette_is_stable_and_never_repeats_in_a_chart() -> None:
    clouds = palette.colours(["AWS", "Microsoft", "Google Cloud", palette.SAAS])
    assert clouds == {
        "AWS": "#E69F00", "Microsoft": "#0072B2", "Google Cloud": "#009E73",
        palette.SAAS: "#56B4E9",
    }  # fmt: skip
    # the same provider, the same colour, whatever else the chart holds and in what order
    assert palette.colours(["Weights & Biases", "OpenAI", "AWS"])["AWS"] == "#E69F00"
    # an on-prem site takes on-prem's colour; AI classes theirs, by code or by words
    assert palette.colours(["Acme IAD1"], {"Acme IAD1": palette.ON_PREM}) == {
        "Acme IAD1": "#CC79A7"
    }
    assert palette.colours(["gpu_compute"]) == {"gpu_compute": "#0072B2"}
    assert palette.colours(["GPU compute"]) == {"GPU compute": "#0072B2"}
    many = [f"vendor {i}" for i in range(len(palette.COLOURS) - 2)] + ["AWS", "Microsoft"]
    drawn = palette.colours(many)
    assert len(set(drawn.values())) == len(drawn) == 17  # 17 series, 17 colours
    assert palette.colours(many) == drawn  # the same names, the same colours, every time
    assert drawn["AWS"] == "#E69F00"
    assert palette.colours([*many, "one more"])["one more"] == palette.OTHER_GREY  # the tail


def test_the_provider_chart_groups_saas_and_drills_down(small_warehouse: Path) -> None:
    """AWS and the small warehouse's SaaS vendor: one series each, SaaS as "SaaS & tools",
    the vendors one click below; every series in its own colour."""
    at = app()
    no_errors(at)
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    by_title = {s["layout"]["title"]["text"].split(" — ")[0]: s for s in specs}
    providers = by_title["Spend by provider"]["data"]
    names = [t["name"] for t in providers]
    colours = [t["marker"]["color"] for t in providers]
    assert len(set(colours)) == len(colours)
    assert dict(zip(names, colours, strict=True))["AWS"] == "#E69F00"
    vendors = by_title.get("SaaS & tools by vendor")
    if palette.SAAS in names:
        assert vendors is not None and palette.SAAS not in [t["name"] for t in vendors["data"]]
    classes = [t["name"] for t in by_title["Spend by AI class"]["data"]]
    assert all("_" not in n for n in classes), classes  # "GPU compute", not gpu_compute


def test_spend_increase_is_drawn_as_bad_and_shares_carry_no_arrow(small_warehouse: Path) -> None:
    at = app()
    no_errors(at)
    tiles = {m.label: m for m in at.metric}
    month = next(m for label, m in tiles.items() if label.startswith("This month"))
    assert month.proto.delta.startswith("+")  # the small warehouse's October is up
    assert month.proto.color == Metric.MetricColor.RED  # an increase is bad: "inverse"
    for label in ("Untagged spend", "Idle GPU cost", "Spend in the period", "Last month"):
        assert tiles[label].proto.delta == "", label  # not a change: no arrow
    idle = page(at, "idle")
    assert {m.label: m.proto.delta for m in idle.metric}["Its idle cost"] == ""
