"""On-prem inventory -> assets + daily owned-cost lines priced by gpu_economics.md §A4."""

from __future__ import annotations

import csv
import json
from datetime import UTC, date
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import pytest

from dashboard.cli.finops import main
from ingest.warehouse.connection import connect, versions
from models.onprem_cost import (
    Server,
    annual_capital,
    day_cost,
    day_gpu_hour_rate,
    gpu_hour_rate,
    server_from_asset,
)

HEADER = (
    "asset_id,site,hostnames,gpu_model,gpus,purchase_date,server_capex,network_capex,"
    "life_years,residual_fraction,power_idle_kw,power_load_kw,provisioned_kw,pue,usd_per_kwh,"
    "colo_usd_per_kw_month,ops_usd_per_year,team,currency"
)
H100 = {
    "asset_id": "IAD1-H100-01", "site": "Acme Colo IAD1",
    "hostnames": "gpu-h100-01.iad1;gpu-h100-01-bmc.iad1", "gpu_model": "NVIDIA H100 80GB HBM3",
    "gpus": "8", "purchase_date": "2025-03-14", "server_capex": "310000",
    "network_capex": "34000", "life_years": "5", "residual_fraction": "0.10",
    "power_idle_kw": "2.5", "power_load_kw": "7.5", "provisioned_kw": "10.2", "pue": "1.4",
    "usd_per_kwh": "0.09", "colo_usd_per_kw_month": "184.06", "ops_usd_per_year": "15000",
    "team": "research", "currency": "USD",
}  # fmt: skip
Q12 = Decimal("1E-12")
CENT = Decimal("0.01")


def q(x: Decimal) -> Decimal:
    return x.quantize(Q12, rounding=ROUND_HALF_EVEN)


def write_inventory(path: Path, *rows: dict) -> Path:
    cols = HEADER.split(",")
    cols += sorted({k for r in rows for k in r} - set(cols))
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh, lineterminator="\n")  # quotes a JSON tags cell as a CSV needs
        out.writerow(cols)
        out.writerows([r.get(c, "") for c in cols] for r in rows)
    return path


def ingest(root: Path, *args: str) -> int:
    return main(["--warehouse", str(root), "ingest", "onprem", *args])


def cost_by_day(root: Path) -> dict[date, Decimal]:
    rows = (
        connect(root)
        .execute("select ChargePeriodStart, EffectiveCost from cost_lines order by 1")
        .fetchall()
    )
    return {t.astimezone(UTC).date(): c for t, c in rows}


# The §A4 formulas written out by hand for the H100 server (per day = 24/8760 of a year).
A = Decimal(344000) * (1 - Decimal("0.10")) / 5  # 61,920 a year, straight line
COLO = 12 * Decimal("184.06") * Decimal("10.2")  # 22,528.944 a year
OPS = Decimal(15000)
IDLE_POWER_DAY = Decimal("2.5") * Decimal("1.4") * Decimal("0.09") * 24  # 7.56
ENERGY_DAY_AT_LOAD = (Decimal("7.5") - Decimal("2.5")) * Decimal("1.4") * Decimal("0.09") * 24
DAY = (
    q(A * 24 / 8760)
    + q(COLO * 24 / 8760)
    + q(OPS * 24 / 8760)
    + q(IDLE_POWER_DAY)
    + q(ENERGY_DAY_AT_LOAD)
)


def test_hand_computed_server_daily_and_monthly_totals(warehouse: Path, tmp_path: Path) -> None:
    inv = write_inventory(tmp_path / "inventory.csv", H100)
    assert ingest(warehouse, str(inv), "--start", "2026-09", "--end", "2026-10") == 0
    assert Decimal(61920) == A and Decimal("22528.944") == COLO
    assert DAY.quantize(CENT) == Decimal("295.14")  # 169.64 + 61.72 + 41.10 + 7.56 + 15.12
    days = cost_by_day(warehouse)
    assert len(days) == 30 + 31
    assert set(days.values()) == {DAY}
    con = connect(warehouse)
    months = dict(
        con.execute(
            "select strftime(BillingPeriodStart, '%Y-%m'), sum(EffectiveCost) from cost_lines "
            "group by 1"
        ).fetchall()
    )
    assert months["2026-09"].quantize(CENT) == (30 * DAY).quantize(CENT) == Decimal("8854.29")
    assert months["2026-10"].quantize(CENT) == Decimal("9149.43")
    # a month from its length: (F x 24 x days / 8760) + energy at load, to the cent
    F = A + COLO + OPS + Decimal("2.5") * Decimal("1.4") * 8760 * Decimal("0.09")
    assert (F * 24 * 31 / 8760 + ENERGY_DAY_AT_LOAD * 31).quantize(CENT) == Decimal("9149.43")
    line = con.execute(
        "select ConsumedQuantity, ConsumedUnit, PricingUnit, ProviderName, BillingAccountId, "
        "x_Source, ServiceCategory, SkuPriceDetails, x_CostModel, ResourceId, Tags "
        "from cost_lines limit 1"
    ).fetchall()[0]
    assert line[:7] == (Decimal(192), "GPU-Hours", "GPU-Hours", "Acme Colo IAD1",
                        "Acme Colo IAD1", "onprem", "Compute")  # fmt: skip
    assert json.loads(line[7]) == {"GpuCount": 8, "x_GpuModel": "NVIDIA H100 80GB HBM3"}
    model = json.loads(line[8])
    assert Decimal(model["capex"]) == q(A * 24 / 8760)
    assert model["energy_basis"] == "load_estimate" and model["method"] == "straight_line"
    assert line[9] == "IAD1-H100-01" and json.loads(line[10]) == {"team": "research"}
    loads = con.execute(
        "select billing_period, source_total, warehouse_total from loads "
        "where dataset = 'cost_lines' order by 1"
    ).fetchall()
    assert [(p, s == w) for p, s, w in loads] == [("2026-09", True), ("2026-10", True)]
    (rate,) = con.execute("select gpu_hour_rate from assets").fetchall()[0]
    assert rate == q(F / (8 * 8760)) == Decimal("1.458452397260")
    # the idle model prices an owned GPU-hour from the assets row with the same function
    cur = con.execute("select * from assets")
    names = [d[0] for d in cur.description]
    asset = dict(zip(names, cur.fetchall()[0], strict=True))
    server = server_from_asset(asset)
    assert gpu_hour_rate(server) == rate == day_gpu_hour_rate(server, date(2026, 10, 1))


def test_cost_of_capital_when_wacc_is_given() -> None:
    d = Decimal
    s = Server("x", 8, date(2025, 1, 1), d(310000), d(34000), d(5), d("0.1"), d("2.5"), d("7.5"),
               d("10.2"), d("1.4"), d("0.09"), d("184.06"), d(15000), wacc=d("0.10"))  # fmt: skip
    growth = Decimal("1.1") ** 5
    crf = Decimal("0.1") * growth / (growth - 1)
    expected = 344000 * crf - 344000 * Decimal("0.1") * Decimal("0.1") / (growth - 1)
    assert annual_capital(s) == expected
    assert expected.quantize(CENT) == Decimal("85111.70")
    # the same equation as the own-vs-rent model's (float) implementation
    from models.own_vs_rent import OwnedNode, annualised_capex

    node = OwnedNode(8, 344000, 5, 0.1, 184.06, 10.2, 2.5, 7.5, 1.4, 0.09, 15000, wacc=0.10)
    assert float(expected) == pytest.approx(annualised_capex(node), rel=1e-12)


def test_life_purchase_and_retirement_bound_the_lines() -> None:
    s = Server("x", 4, date(2020, 6, 1), Decimal(100000), Decimal(0), Decimal(3), Decimal(0),
               Decimal(1), Decimal(2), Decimal(3), Decimal("1.2"), Decimal("0.1"), Decimal(100),
               Decimal(1000), retired_date=date(2024, 1, 1))  # fmt: skip
    assert day_cost(s, date(2020, 5, 31)) is None and day_cost(s, date(2024, 1, 1)) is None
    in_life, after = day_cost(s, date(2023, 5, 31)), day_cost(s, date(2023, 6, 1))
    assert in_life and after and in_life.capex > 0 and after.capex == 0
    assert after.colo == in_life.colo and after.idle_power == in_life.idle_power
    assert day_gpu_hour_rate(s, date(2023, 6, 1)) < gpu_hour_rate(s)
    assert day_gpu_hour_rate(s, date(2024, 1, 1)) == 0


def test_measured_power_replaces_the_load_estimate(warehouse: Path, tmp_path: Path) -> None:
    inv = write_inventory(tmp_path / "inventory.csv", H100)
    log = tmp_path / "gpu-h100-01.iad1.csv"
    # GPU 0 draws 350 W (half of the H100's 700 W) for all 24 hours of 2026-10-01; 7 GPUs silent
    lines = ["timestamp, index, utilization.gpu [%], power.draw [W]"]
    lines += [f"2026-10-01T{h:02d}:30:00Z, 0, 50 %, 350.00 W" for h in range(24)]
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert ingest(warehouse, str(inv), "--start", "2026-10", "--end", "2026-10") == 0
    assert main(["--warehouse", str(warehouse), "ingest", "telemetry", "nvidia-smi", str(log)]) == 0
    # telemetry changes the inputs, so running the inventory again commits a refined month
    assert ingest(warehouse, str(inv), "--start", "2026-10", "--end", "2026-10") == 0
    days = cost_by_day(warehouse)
    kwh_per_gpu_hour = (Decimal("7.5") - Decimal("2.5")) / 8
    # 24 measured GPU-hours at fraction 0.5 + 168 unmeasured GPU-hours at the load estimate
    energy = q(kwh_per_gpu_hour * (24 * Decimal("0.5") + 168) * Decimal("1.4") * Decimal("0.09"))
    assert days[date(2026, 10, 1)] == DAY - q(ENERGY_DAY_AT_LOAD) + energy
    assert days[date(2026, 10, 2)] == DAY
    model = json.loads(
        connect(warehouse)
        .execute("select x_CostModel from cost_lines where ChargePeriodStart = '2026-10-01'")
        .fetchall()[0][0]
    )
    assert model["energy_basis"] == "mixed" and model["measured_gpu_hours"] == 24
    # an identical third run commits nothing
    before = versions(warehouse)["cost_lines"]
    assert ingest(warehouse, str(inv), "--start", "2026-10", "--end", "2026-10") == 0
    assert versions(warehouse)["cost_lines"] == before


def test_toml_inventory_and_unknown_gpu_model_flagged(
    warehouse: Path, tmp_path: Path, capsys
) -> None:
    toml = tmp_path / "inventory.toml"
    body = "\n".join(f'{k} = "{v}"' for k, v in {**H100, "gpu_model": "Acme TPU-9"}.items())
    toml.write_text("[[server]]\n" + body + '\nwacc = "0.08"\n', encoding="utf-8")
    assert ingest(warehouse, str(toml), "--start", "2026-10", "--end", "2026-10") == 0
    assert "not in the catalogue" in capsys.readouterr().err
    (known, hosts) = (
        connect(warehouse).execute("select gpu_model_known, hostnames from assets").fetchall()[0]
    )
    assert known is False and hosts == "gpu-h100-01.iad1;gpu-h100-01-bmc.iad1"


@pytest.mark.parametrize(
    "tags",
    [
        "workload=training; project=llm-pretrain",
        '{"workload": "training", "project": "llm-pretrain"}',
        '{"workload": "training", "project": "llm-pretrain", "team": "research"}',
    ],
)
def test_inventory_tags_reach_every_cost_line(warehouse: Path, tmp_path: Path, tags: str) -> None:
    other = {**H100, "asset_id": "IAD1-H100-02", "team": "", "tags": "team=vision"}
    inv = write_inventory(tmp_path / "inventory.csv", {**H100, "tags": tags}, other)
    assert ingest(warehouse, str(inv), "--start", "2026-10", "--end", "2026-10") == 0
    con = connect(warehouse)
    got = con.execute(
        "select ResourceId, any_value(Tags), count(distinct Tags), count(*), sum(EffectiveCost) "
        "from cost_lines group by 1 order by 1"
    ).fetchall()
    assert [(r, json.loads(t), n, d, c.quantize(CENT)) for r, t, n, d, c in got] == [
        ("IAD1-H100-01", {"team": "research", "workload": "training", "project": "llm-pretrain"},
         1, 31, Decimal("9149.43")),
        ("IAD1-H100-02", {"team": "vision"}, 1, 31, Decimal("9149.43")),
    ]  # fmt: skip
    # a team tag stands in for an empty team column, in assets too
    assert con.execute("select asset_id, team from assets order by 1").fetchall() == [
        ("IAD1-H100-01", "research"),
        ("IAD1-H100-02", "vision"),
    ]


def test_toml_inline_table_tags(warehouse: Path, tmp_path: Path) -> None:
    toml = tmp_path / "inventory.toml"
    body = "\n".join(f'{k} = "{v}"' for k, v in H100.items())
    toml.write_text(
        f'[[server]]\n{body}\ntags = {{ workload = "inference", tier = 1 }}\n', encoding="utf-8"
    )
    assert ingest(warehouse, str(toml), "--start", "2026-10", "--end", "2026-10") == 0
    tags = connect(warehouse).execute("select distinct Tags from cost_lines").fetchall()
    assert [json.loads(t) for (t,) in tags] == [
        {"team": "research", "workload": "inference", "tier": "1"}
    ]


def test_default_months_follow_the_cloud_bills(warehouse: Path, tmp_path: Path) -> None:
    from ingest.warehouse.store import Store
    from tests.fixtures.batches import batch

    Store(warehouse).load_cost_lines([batch("2026-08", ["1"]), batch("2026-09", ["2"])])
    inv = write_inventory(tmp_path / "inventory.csv", H100)
    assert ingest(warehouse, str(inv)) == 0
    months = (
        connect(warehouse)
        .execute(
            "select distinct strftime(BillingPeriodStart, '%Y-%m') from cost_lines "
            "where x_Source = 'onprem' order by 1"
        )
        .fetchall()
    )
    assert [m for (m,) in months] == ["2026-08", "2026-09"]


BAD = [
    ({"retired_date": "2024-01-01"}, "retired_date", "after purchase_date 2025-03-14"),
    ({"server_capex": "-310000"}, "server_capex", "a number >= 0"),
    ({"gpus": "0"}, "gpus", "a whole number of GPUs >= 1"),
    ({"gpus": "eight"}, "gpus", "a whole number of GPUs >= 1"),
    ({"purchase_date": "14/03/2025"}, "purchase_date", "a date YYYY-MM-DD"),
    ({"currency": "DOLLARS"}, "currency", "ISO 4217"),
    ({"pue": "0.9"}, "pue", "a number >= 1"),
    ({"residual_fraction": "1.5"}, "residual_fraction", "a number below 1"),
    ({"power_load_kw": "1.0"}, "power_load_kw", "at least power_idle_kw"),
    ({"life_years": "0"}, "life_years", "a life greater than 0 years"),
    ({"wacc": "abc"}, "wacc", "a number"),
    ({"usd_per_kwh": ""}, "usd_per_kwh", "a value"),
    ({"tags": "workload"}, "tags", "'workload' is not key=value"),
    ({"tags": "workload=training;workload=inference"}, "tags", "'workload' appears twice"),
    ({"tags": '{"workload": "training"'}, "tags", "JSON: Expecting ',' delimiter"),
    ({"tags": '{"workload": {"kind": "training"}}'}, "tags", "text or number values"),
    ({"tags": "team=vision"}, "tags", "a team tag equal to the team column ('research')"),
]


@pytest.mark.parametrize(("change", "column", "expected"), BAD)
def test_bad_inventory_rows_give_one_message_and_store_nothing(
    change: dict, column: str, expected: str, warehouse: Path, tmp_path: Path, capsys
) -> None:
    good = write_inventory(tmp_path / "good.csv", H100)
    assert ingest(warehouse, str(good), "--start", "2026-10", "--end", "2026-10") == 0
    before = versions(warehouse)
    second = {**H100, "asset_id": "IAD1-H100-02"}
    bad = write_inventory(tmp_path / "bad.csv", H100, {**second, **change})
    capsys.readouterr()
    assert ingest(warehouse, str(bad), "--start", "2026-10", "--end", "2026-10") == 2
    err = capsys.readouterr().err
    assert "bad.csv" in err and f"row 2 (line 3), column {column}" in err and expected in err
    assert versions(warehouse) == {**before, "load_errors": versions(warehouse)["load_errors"]}


def test_structural_problems(warehouse: Path, tmp_path: Path, capsys) -> None:
    dup = write_inventory(tmp_path / "dup.csv", H100, H100)
    assert ingest(warehouse, str(dup)) == 2
    assert "appears twice" in capsys.readouterr().err
    (tmp_path / "cols.csv").write_text("asset_id,site,gpu_modle\nA,B,C\n", encoding="utf-8")
    assert ingest(warehouse, str(tmp_path / "cols.csv")) == 2
    err = capsys.readouterr().err
    assert "did you mean" in err and "missing" in err
    mixed = write_inventory(
        tmp_path / "mixed.csv", H100, {**H100, "asset_id": "B", "currency": "EUR"}
    )
    assert ingest(warehouse, str(mixed), "--start", "2026-10", "--end", "2026-10") == 2
    assert "more than one currency" in capsys.readouterr().err
    assert versions(warehouse)["cost_lines"] is None
