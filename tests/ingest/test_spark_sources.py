"""Source normalisation on Spark (`finops --engine spark ingest aws|focus`): each file of the
export normalised by a Spark task running the reader's own normaliser, staged by Spark, then
validated, reconciled and committed by the store. The same inputs give the same cost_lines
as the default engine, every column but the load's id, and bad input the same message.
A local Spark session starts a JVM: `heavy`."""

from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path

import duckdb
import pytest

from dashboard.cli.finops import main
from ingest.engines import spark_sources
from ingest.warehouse.connection import table_select
from models.schema import COST_LINES
from tests.fixtures.cur import write_cur2
from tests.fixtures.inputs import FOCUS, GOOD
from tests.fixtures.paths import SAMPLE_DATA

pytest.importorskip("pyspark")
pytestmark = [pytest.mark.heavy, pytest.mark.timeout(1800)]

COMPARED = [c for c in COST_LINES.names if c != "x_LoadId"]
MONEY = ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost")


def _finops(*args: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue() + err.getvalue()


def _inputs(root: Path) -> list[tuple[str, Path]]:
    """CUR 2.0 (the sample's month, and two months split over several files), legacy CUR
    CSV, and FOCUS split over two files: (source, path) in the order they are ingested."""
    sample = SAMPLE_DATA / "aws" / "acme-cur2"
    export = root / "sample" / sample.name
    for kind in ("data", "metadata"):
        shutil.copytree(sample / kind / "BILLING_PERIOD=2026-03",
                        export / kind / "BILLING_PERIOD=2026-03")  # fmt: skip
    parts = root / "parts"
    write_cur2(parts, "2026-09", parts=3)
    write_cur2(parts, "2026-10", parts=2, scale=1.5)
    focus = root / "focus"
    focus.mkdir()
    header, *lines = FOCUS.read_text(encoding="utf-8").splitlines(keepends=True)
    half = len(lines) // 2
    (focus / "focus-1.csv").write_text(header + "".join(lines[:half]), encoding="utf-8")
    (focus / "focus-2.csv").write_text(header + "".join(lines[half:]), encoding="utf-8")
    return [("aws", export), ("aws", parts), ("aws", GOOD), ("focus", focus)]


def _lines(con: duckdb.DuckDBPyConnection, warehouse: Path) -> str:
    select = table_select(con, warehouse / "cost_lines", COST_LINES)
    assert select is not None, warehouse
    return select


def test_spark_normalises_the_large_sources_to_the_default_engines_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs: list[int] = []
    run = spark_sources._run

    def counted(spark, loads, folder):  # the files really went through Spark
        jobs.append(sum(len(load.by_file or []) for load in loads))
        return run(spark, loads, folder)

    monkeypatch.setattr(spark_sources, "_run", counted)
    default, spark = tmp_path / "default", tmp_path / "spark"
    for source, path in _inputs(tmp_path / "in"):
        for warehouse, engine in ((default, "duckdb"), (spark, "spark")):
            code, said = _finops("--warehouse", str(warehouse), "--engine", engine,
                                 "ingest", source, str(path))  # fmt: skip
            assert code == 0, said
            assert "status committed" in said, said
    # sample month 1 file, 2026-09 3 files + 2026-10 2, legacy CUR 1; FOCUS: each of its
    # (account, period) loads has a task for each of the 2 files holding its lines
    assert jobs[:3] == [1, 5, 1] and len(jobs) == 4 and jobs[3] >= 2, jobs

    con = duckdb.connect()
    a, b = _lines(con, default), _lines(con, spark)
    cols = ", ".join(f'"{c}"' for c in COMPARED)
    only = con.execute(
        f"SELECT (SELECT count(*) FROM ({a})), (SELECT count(*) FROM ({b})), "
        f"(SELECT count(*) FROM (SELECT {cols} FROM ({a}) EXCEPT ALL SELECT {cols} FROM ({b}))), "
        f"(SELECT count(*) FROM (SELECT {cols} FROM ({b}) EXCEPT ALL SELECT {cols} FROM ({a})))"
    ).fetchone()
    assert only is not None
    assert only[0] > 10_390 and only[1:] == (only[0], 0, 0), only

    sums = ", ".join(f"sum({m})" for m in MONEY)
    totals = [
        con.execute(
            f"SELECT x_Source, BillingCurrency, count(*), {sums} FROM ({t}) GROUP BY ALL "
            "ORDER BY ALL"
        ).fetchall()
        for t in (a, b)
    ]
    assert totals[0] == totals[1]
    assert {(s, c) for s, c, *_ in totals[0]} >= {("aws-cur2", "USD"), ("focus", "USD")}
    sample = [t for t in totals[0] if t[0] == "aws-cur2"]
    assert any(round(t[3], 2) >= 156_580.17 for t in sample), sample


def test_bad_input_on_spark_is_the_default_engines_message(tmp_path: Path) -> None:
    """A FOCUS line whose ChargeCategory is not FOCUS's passes the reader's checks and is
    refused by the store's contract after normalisation: on Spark, after the tasks."""
    bad = tmp_path / "focus.csv"
    header, *lines = FOCUS.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[2] = lines[2].replace('"Usage",NULL', '"Usagee",NULL', 1)
    bad.write_text(header + "".join(lines), encoding="utf-8")
    said = {}
    for engine in ("duckdb", "spark"):
        warehouse = tmp_path / engine
        code, said[engine] = _finops("--warehouse", str(warehouse), "--engine", engine,
                                     "ingest", "focus", str(bad))  # fmt: skip
        assert code == 2, said[engine]
        assert not (warehouse / "cost_lines").exists()  # nothing stored
        assert not [p for p in (warehouse / "_staging").rglob("*") if p.is_file()]
    assert said["spark"] == said["duckdb"]
    assert said["spark"].startswith(f"Bad input: {bad}: 1 contract violation(s): ChargeCategory")
    assert "'ChargeCategory': 'Usagee'" in said["spark"] and "first at row 2" in said["spark"]
