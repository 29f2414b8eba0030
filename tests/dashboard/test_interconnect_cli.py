"""finops interconnect: verdicts per pair of sites over an egress rollup built in code."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
from click.testing import CliRunner

from models.flows import FlowSettings
from tests.fixtures.flows_cli import CliApp

SYNC, COPY = "i-sync", "bucket-copy"
ADDRESSES = {SYNC: "Colo A", COPY: "Google Cloud us-central1"}


def _egress(con) -> None:
    rows = []
    for i in range(60):  # 1 May to 29 June 2026: 3,000 GB a day at 0.07 to the colo
        day = date(2026, 5, 1) + timedelta(days=i)
        rows.append((day, "AWS", "t", "e", "internet", "us-east-1", "x", SYNC, "USD",
                     Decimal("210"), Decimal("210"), 3000.0))  # fmt: skip
        rows.append((day, "AWS", "t", "e", "internet", "us-east-1", "x", "i-web", "USD",
                     Decimal("9"), Decimal("9"), 100.0))  # fmt: skip
    rows.append((date(2026, 6, 3), "AWS", "t", "e", "internet", "us-east-1", "x", COPY,
                 "USD", Decimal("6000"), Decimal("6000"), 120000.0))  # fmt: skip
    con.executemany("insert into egress_daily values (?,?,?,?,?,?,?,?,?,?,?,?)", rows)


def _run(args, settings=None):
    from dashboard.cli.interconnect import command

    app = CliApp(_egress, flows=settings or FlowSettings(addresses=ADDRESSES))
    result = CliRunner().invoke(command, args, obj=app, catch_exceptions=False)
    return result, app


def test_json_gives_each_path_its_monthly_figures_to_the_cent():
    result, _ = _run(["--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["link_gbps"] == 10 and data["prices_as_of"] == "2026-09-20"
    paths = {tuple(p["between"]): p for p in data["paths"]}
    colo = paths[("AWS us-east-1", "Colo A")]
    # 60 days over 2 months: 90,000 GB and 6,300.00 USD a month on average
    assert colo["gb_per_month"] == 90000 and colo["cost_per_month_today"] == 6300.00
    ten = next(x for x in colo["links"] if x["gbps"] == 10)
    # 2.25 x 730 = 1,642.50 port-hours + 90,000 x 0.02 = 1,800.00 transfer
    assert (ten["fixed_per_month"], ten["transfer_per_month"]) == (1642.5, 1800.0)
    assert ten["saving_per_month"] == 2857.50 and ten["pays_off"] is True
    assert ten["prices"][0]["url"] == "https://aws.amazon.com/directconnect/pricing/"
    copy = paths[("AWS us-east-1", "Google Cloud us-central1")]
    assert copy["gb_per_month"] == 60000 and copy["cost_per_month_today"] == 3000.00
    assert copy["verdict"].startswith(
        "A 10 Gbps AWS Direct Connect and Google Cloud Dedicated Interconnect between "
        "AWS us-east-1 and Google Cloud us-central1 would cost USD"
    )


def test_from_and_to_pick_one_path_and_the_table_says_the_verdict():
    result, app = _run(["--from", "Colo A", "--to", "AWS us-east-1"])
    assert result.exit_code == 0
    text = app.console.export_text()
    assert "AWS us-east-1 ↔ Colo A" in text and "Google Cloud" not in text
    assert (
        "A 10 Gbps AWS Direct Connect between AWS us-east-1 and Colo A would save "
        "USD 2,857.50 a month" in " ".join(text.split())
    )
    assert "Link prices as of 2026-09-20" in text


def test_fees_from_the_settings_give_the_payback():
    fees = FlowSettings(
        addresses=ADDRESSES,
        cross_connect_usd_per_month=Decimal("300"),
        one_off_usd=Decimal("10000"),
    )
    result, _ = _run(["--from", "Colo A", "--format", "json"], fees)
    [path] = json.loads(result.output)["paths"]
    ten = next(x for x in path["links"] if x["gbps"] == 10)
    assert ten["saving_per_month"] == 2557.50  # 2,857.50 - 300 cross-connect
    assert ten["payback_months"] == 4.0  # 10,000 / 2,557.50 = 3.91, rounded up a tenth


def test_an_unknown_place_names_the_places_measured():
    from models.errors import InputError

    with pytest.raises(InputError) as err:
        _run(["--from", "Colo B"])
    text = str(err.value)
    assert "Colo B" in text and "'AWS us-east-1', 'Colo A'" in text
