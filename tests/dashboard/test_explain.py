"""The classification commands: query over the derived views, explain, rules check, classify."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from dashboard.cli.finops import main
from ingest.warehouse.store import Store
from tests.fixtures.classified import EGRESS, OCT, SEPT, H, gpu_rows, load, telemetry


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("explain") / "warehouse"
    store = Store(root)
    telemetry(store, OCT - 2 * H, 4, idle={0, 1, 3})
    load(store, SEPT, [*gpu_rows(OCT - 2 * H, 2), *EGRESS], "a")
    load(store, OCT, gpu_rows(OCT, 2), "c")
    return root


@pytest.fixture
def wh(built: Path, warehouse: Path) -> Path:
    """Built once per module; each test gets its own copy (classify and loads change it)."""
    shutil.copytree(built, warehouse)
    return warehouse


def query(wh: Path, sql: str, capsys: pytest.CaptureFixture[str]) -> list[dict]:
    capsys.readouterr()
    assert main(["--warehouse", str(wh), "query", sql, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out, parse_float=Decimal)


def test_query_over_classified_costs_gpu_hours_and_idle_episodes(
    wh: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = query(
        wh, "select x_AiClass, sum(EffectiveCost) as cost from classified_costs group by 1 "
        "order by 1", capsys,
    )  # fmt: skip
    assert rows == [{"x_AiClass": "egress", "cost": 75}, {"x_AiClass": "gpu_compute", "cost": 320}]
    rows = query(wh, "select state, count(*) as n from gpu_hours group by 1 order by 1", capsys)
    assert rows == [{"state": "active", "n": 23}, {"state": "hard_idle", "n": 9}]
    rows = query(wh, "select sum(hours) as h, sum(cost) as c from idle_episodes", capsys)
    assert rows == [{"h": 9, "c": 90}]


def test_explain_shows_the_rule_and_its_conditions(
    wh: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (row,) = query(
        wh, "select x_LineId from classified_costs where x_EgressKind = 'internet'", capsys
    )
    assert main(["--warehouse", str(wh), "explain", str(row["x_LineId"]), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    cls, workload, team = out["decisions"]
    assert (cls["decides"], cls["value"], cls["rule"]) == (
        "x_AiClass",
        "egress",
        "aws.egress.internet",
    )
    assert cls["conditions"] == [
        {"field": "x_UsageType", "op": "regex", "value": "(^|-)DataTransfer-Out-Bytes$"}
    ]
    assert out["classes"]["x_EgressKind"] == "internet"
    assert (workload["value"], workload["rule"]) == ("unknown", "workload.fallback")
    assert (team["value"], team["rule"]) == ("recsys", "tag:team")
    assert main(["--warehouse", str(wh), "explain", str(row["x_LineId"])]) == 0
    text = capsys.readouterr().out
    assert "aws.egress.internet" in text and "line has: DataTransfer-Out-Bytes" in text


def test_explain_shows_the_derived_values_the_rules_tested(
    wh: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (row,) = query(
        wh, "select min(x_LineId) as x_LineId from classified_costs "
        "where x_AiClass = 'gpu_compute'", capsys,
    )  # fmt: skip
    assert main(["--warehouse", str(wh), "explain", str(row["x_LineId"]), "--json"]) == 0
    cls, workload, _ = json.loads(capsys.readouterr().out)["decisions"]
    assert (cls["rule"], cls["conditions"]) == (
        "gpu.instance_family",
        [{"field": "accelerator", "op": "eq", "value": "yes", "line_has": "yes"}],
    )
    assert [(c["field"], c["line_has"]) for c in workload["conditions"]] == [
        ("workload_tag", "training")
    ]
    assert main(["--warehouse", str(wh), "explain", str(row["x_LineId"])]) == 0
    assert "accelerator eq 'yes'   line has: yes (derived)" in capsys.readouterr().out


def test_explain_of_an_unknown_line_is_one_clear_error(
    wh: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    [ids] = query(
        wh, "select count(*) as n, min(x_LineId) as lo, max(x_LineId) as hi from cost_lines", capsys
    )
    assert main(["--warehouse", str(wh), "explain", "12345"]) == 2
    err = capsys.readouterr().err
    assert "no cost line has x_LineId 12345 — expected one of the " in err
    assert f"{ids['n']} ids between {ids['lo']} and {ids['hi']}" in err


MINE = """
[[rules]]
id = "acme.replication_link"
priority = 800
description = "replication to us-west-2 runs over our Direct Connect"
match.x_UsageType = { regex = '^USE1-USW2-AWS-Out-Bytes$' }
set = { ai_class = "egress", egress_kind = "interconnect" }
"""


def test_rules_check_validates_without_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "mine.toml"
    good.write_text(MINE)
    assert main(["--warehouse", str(tmp_path / "none"), "rules", "check", str(good)]) == 0
    assert "1 rule(s) OK" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text(MINE.replace("egress_kind", "egres_kind"))
    assert main(["rules", "check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and 'did you mean "egress_kind"' in err
    assert main(["rules", "check", str(tmp_path / "missing.toml")]) == 2


def test_classify_with_user_rules_reclassifies_everything(
    wh: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = tmp_path / "mine.toml"
    mine.write_text(MINE)
    assert main(["--warehouse", str(wh), "classify", "--rules", str(mine)]) == 0
    rows = query(
        wh, "select x_EgressKind, x_AiClassRule, sum(EffectiveCost) as c from classified_costs "
        "where x_AiClass = 'egress' group by all order by 1", capsys,
    )  # fmt: skip
    assert rows == [
        {"x_EgressKind": "interconnect", "x_AiClassRule": "acme.replication_link", "c": 30},
        {"x_EgressKind": "internet", "x_AiClassRule": "aws.egress.internet", "c": 45},
    ]
    # the same rule from finops.toml [classify]
    config = tmp_path / "finops.toml"
    config.write_text(f'[classify]\nrules = ["{mine}"]\nteam_aliases = {{ recsys = "ranking" }}\n')
    assert main(["--warehouse", str(wh), "--config", str(config), "classify"]) == 0
    rows = query(
        wh, "select x_Team, count(*) as n from classified_costs group by 1 order by 1", capsys
    )
    assert rows == [
        {"x_Team": "ranking", "n": 1},
        {"x_Team": "research", "n": 4},
        {"x_Team": "unallocated", "n": 1},
    ]


def test_classify_summary_totals_each_currency_apart(
    wh: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import polars as pl

    from ingest.derive import refresh as derived
    from ingest.warehouse.load_contract import PeriodLoad, SourceFile
    from models.settings import Settings
    from tests.fixtures.classified import cost_lines

    store = Store(wh)
    eur = [{**EGRESS[0], "cost": "12.50"}]
    batch = PeriodLoad(
        source="aws-cur2", billing_account="999999999999", billing_period="2026-09",
        currency="EUR", files=[SourceFile("cur-eur.parquet", "e" * 64, 1)],
        lines=cost_lines(SEPT, eur).with_columns(
            BillingCurrency=pl.lit("EUR"), BillingAccountId=pl.lit("999999999999")
        ),
        source_total=Decimal("12.50"),
    )  # fmt: skip
    derived.refresh(store, Settings(), store.load_cost_lines([batch]))
    capsys.readouterr()
    assert main(["--warehouse", str(wh), "classify"]) == 0
    rows = [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("│")
    ]
    assert rows == [
        ["Egress", "1", "EUR 12.50"],
        ["GPU compute", "4", "USD 320.00"],
        ["Egress", "2", "USD 75.00"],
    ]
