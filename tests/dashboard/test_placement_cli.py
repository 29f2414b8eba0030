"""finops placement over gpu_hours and an egress rollup built in code."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from click.testing import CliRunner

from models.flows import FlowSettings
from models.price_book import default_price_book
from models.recommendation import OwnVsRentSettings
from tests.fixtures.flows_cli import CliApp

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _tables(con) -> None:
    con.execute(
        """create table gpu_hours (hour timestamptz, team varchar, gpu_model varchar,
           provider varchar, deployment varchar, currency varchar, state varchar,
           cost decimal(38,12))"""
    )
    rows = []
    for h in range(24 * 10):  # ten days: 8 H100s on AWS, half the hours useful
        t = T0 + timedelta(hours=h)
        for g in range(8):
            state = "active" if (h + g) % 2 else "hard_idle"
            rows.append((t, "research", "H100", "AWS", "cloud", "USD", state, Decimal("6")))
    con.executemany("insert into gpu_hours values (?,?,?,?,?,?,?,?)", rows)
    con.execute(
        "insert into egress_daily values ('2026-01-05', 'AWS', 'research', 'prod', "
        "'internet', 'us-east-1', 'x', 'i-web', 'USD', 90, 90, 1000)"
    )


def _App(flows: FlowSettings) -> CliApp:
    return CliApp(_tables, flows=flows, own_vs_rent=OwnVsRentSettings())


def test_each_workload_gets_its_best_place_with_the_move_priced():
    from dashboard.cli.placement import command

    app = _App(FlowSettings(datasets={"research": Decimal(2000)}))
    result = CliRunner().invoke(command, ["--format", "json", "--all"], obj=app)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    rows = data["placements"]
    assert {r["team"] for r in rows} == {"research"}
    # 1,920 GPU-hours over 240 hours, a year (x 36.5) at that rate: 8 GPUs x 8,760 h x 6 USD
    assert all(r["annual_cost_today"] == 420480.00 for r in rows)
    by = {r["alternative"]: r for r in rows}
    p = default_price_book().value("rent.H100.gcp_a3_highgpu_on_demand")
    gcp = by["rent.H100.gcp_a3_highgpu_on_demand"]
    assert gcp["annual_cost"] == float(round(Decimal(repr(p)) * 1920 * Decimal("36.5"), 2))
    # leaving AWS moves 2,000 GB at the 0.09 per GB AWS billed for egress
    assert gcp["one_off_data_movement"] == 180.00
    assert by["rent.H100.aws_p5_on_demand"]["one_off_data_movement"] == 0
    savings = [r["first_year_saving"] for r in rows]
    assert savings == sorted(savings, reverse=True)
    assert any("dataset" in a for a in data["assumptions"])


def test_the_table_names_the_best_place_of_each_workload():
    from dashboard.cli.placement import command

    app = _App(FlowSettings())
    result = CliRunner().invoke(command, [], obj=app)
    assert result.exit_code == 0, result.output
    text = " ".join(app.console.export_text().split())
    assert "Workload placement, best alternative first (USD)" in text
    assert "research · H100 · AWS" in text and "dataset size not set" in text
