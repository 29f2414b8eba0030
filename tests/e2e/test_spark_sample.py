"""`finops --engine spark classify` on a copy of the sample warehouse: the classification
Spark writes is the default engine's, row for row, every column (compared by DuckDB over both
snapshots). And `finops --engine spark demo --no-serve` built once: every derived table equals
the default engine's sample warehouse, row for row and per currency to the cent. A local Spark
session starts a JVM: these tests are `heavy`."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from dashboard.cli.finops import main
from ingest.warehouse.connection import table_select
from models.classify import CLASS_KEYS, CLASSIFICATIONS, LINE_CLASSES

pytest.importorskip("pyspark")
# the first test pays for the sample warehouse and a JVM: minutes on a busy machine
pytestmark = [pytest.mark.slow, pytest.mark.heavy, pytest.mark.timeout(1800)]

REPO = Path(__file__).resolve().parents[2]


def _finops(*args: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue() + err.getvalue()


@pytest.fixture(scope="module")
def copies(sample_warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sample warehouse classified by the default engine (as built) and by Spark."""
    base = tmp_path_factory.mktemp("spark")
    spark = base / "spark"
    shutil.copytree(sample_warehouse, spark)
    code, said = _finops("--warehouse", str(spark), "--engine", "spark", "classify")
    assert code == 0, said
    return {"duckdb": sample_warehouse, "spark": spark, "said": Path(said)}


def _rows(con: duckdb.DuckDBPyConnection, root: Path, decl) -> str:
    select = table_select(con, root / decl.name, decl)
    assert select is not None, f"{decl.name} missing in {root}"
    return select


def _same(root_a: Path, root_b: Path, decl) -> tuple[int, int, int, int]:
    """(rows a, rows b, rows of a not in b, rows of b not in a), duplicates counted."""
    con = duckdb.connect()
    a, b = _rows(con, root_a, decl), _rows(con, root_b, decl)
    cols = ", ".join(f'"{c}"' for c in decl.names)
    counts = con.execute(
        f"SELECT (SELECT count(*) FROM ({a})), (SELECT count(*) FROM ({b})), "
        f"(SELECT count(*) FROM (SELECT {cols} FROM ({a}) EXCEPT ALL SELECT {cols} FROM ({b}))), "
        f"(SELECT count(*) FROM (SELECT {cols} FROM ({b}) EXCEPT ALL SELECT {cols} FROM ({a})))"
    ).fetchone()
    assert counts is not None
    return counts


def test_line_classes_are_the_default_engines_row_for_row(copies: dict[str, Path]) -> None:
    rows_a, rows_b, only_a, only_b = _same(copies["duckdb"], copies["spark"], LINE_CLASSES)
    assert rows_a == 125_021  # every line of the sample enterprise
    assert (rows_b, only_a, only_b) == (rows_a, 0, 0)


def test_class_keys_are_the_default_engines(copies: dict[str, Path]) -> None:
    rows_a, rows_b, only_a, only_b = _same(copies["duckdb"], copies["spark"], CLASS_KEYS)
    assert rows_a > 10
    assert (rows_b, only_a, only_b) == (rows_a, 0, 0)


def test_classified_cost_per_class_and_currency_to_the_cent(copies: dict[str, Path]) -> None:
    def per_class(root: Path) -> list[tuple]:
        con = duckdb.connect()
        lines = _rows(con, root, LINE_CLASSES)
        keys = _rows(con, root, CLASS_KEYS)
        from models.schema import COST_LINES

        costs = _rows(con, root, COST_LINES)
        return con.execute(
            f"SELECT k.x_AiClass, c.BillingCurrency, count(*), sum(c.EffectiveCost) "
            f"FROM ({costs}) c JOIN ({lines}) l USING (x_LineId) JOIN ({keys}) k "
            "USING (x_ClassKey) GROUP BY ALL ORDER BY ALL"
        ).fetchall()

    duck, spark = per_class(copies["duckdb"]), per_class(copies["spark"])
    assert spark == duck
    assert {cur for _, cur, _, _ in duck} == {"USD", "EUR"}
    assert {c for c, *_ in duck} >= {"gpu_compute", "egress"}
    assert CLASSIFICATIONS.names[0] == "x_LineId"


def test_the_command_says_what_it_classified(copies: dict[str, Path]) -> None:
    said = str(copies["said"])
    assert "125,021 line(s) classified" in said


def test_the_local_session_listens_on_loopback_only(copies: dict[str, Path]) -> None:
    from pyspark.sql import SparkSession

    spark = SparkSession.getActiveSession()
    assert spark is not None, "the classify above ran in this process"
    assert spark.conf.get("spark.driver.bindAddress") == "127.0.0.1"
    assert spark.conf.get("spark.driver.host") == "127.0.0.1"
    assert spark.conf.get("spark.ui.enabled") == "false"
    pid = spark.sparkContext._gateway.proc.pid  # the JVM pyspark started
    listening = _listening(pid)
    assert listening, "the JVM listens on no port: the check would prove nothing"
    assert {addr for addr, _ in listening} <= {"127.0.0.1", "::ffff:127.0.0.1", "::1"}


def _listening(pid: int) -> list[tuple[str, int]]:
    """(address, port) of the TCP sockets process `pid` listens on, from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            link = os.readlink(fd)
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    out = []
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            f = line.split()
            if f[3] != "0A" or f[9] not in inodes:  # 0A: LISTEN
                continue
            raw, port = f[1].split(":")
            packed = bytes.fromhex(raw)
            if family == socket.AF_INET:
                packed = packed[::-1]
            else:  # four little-endian 32-bit words
                packed = b"".join(packed[i : i + 4][::-1] for i in range(0, 16, 4))
            out.append((socket.inet_ntop(family, packed), int(port, 16)))
    return out


def test_an_ingest_classifies_on_spark_as_on_duckdb(tmp_path: Path) -> None:
    """The refresh after an ingest classifies with the engine the command was given."""
    from tests.fixtures.paths import SAMPLE_DATA

    export = str(SAMPLE_DATA / "gcp" / "parquet")
    for engine in ("duckdb", "spark"):
        code, said = _finops("--warehouse", str(tmp_path / engine), "--engine", engine,
                             "ingest", "gcp", export)  # fmt: skip
        assert code == 0, said
    rows_a, rows_b, only_a, only_b = _same(tmp_path / "duckdb", tmp_path / "spark", LINE_CLASSES)
    assert rows_a == 4_932  # the sample's GCP lines
    assert (rows_b, only_a, only_b) == (rows_a, 0, 0)
    assert _same(tmp_path / "duckdb", tmp_path / "spark", CLASS_KEYS)[2:] == (0, 0)


def test_an_unreachable_spark_remote_is_one_message(copies: dict[str, Path]) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    remote = f"sc://127.0.0.1:{port}/;token=planted-secret-123"
    code, said = _finops("--warehouse", str(copies["spark"]), "--spark-remote", remote, "classify")
    assert code == 5, said
    assert f"the Spark Connect server sc://127.0.0.1:{port} cannot be reached" in said
    assert "planted-secret-123" not in said
    assert "Traceback" not in said


def test_without_java_the_message_says_how_to_install(copies: dict[str, Path]) -> None:
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env["PATH"] = str(Path(sys.executable).parent)  # python and finops, no java
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        [sys.executable, "-m", "dashboard.cli", "--warehouse", str(copies["spark"]),
         "--engine", "spark", "classify"],
        capture_output=True, text=True, timeout=300, env=env, cwd=copies["spark"].parent,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "--engine spark needs a Java runtime" in done.stderr
    assert "pip install 'hybrid-finops[spark]'" in done.stderr
    assert "openjdk-17-jre-headless" in done.stderr


def test_the_gpu_line_digests_are_the_default_engines(copies: dict[str, Path]) -> None:
    """What a month's GPU data is built from (ingest/derive/gpu_digest.py) is recorded the
    same whichever engine classified: switching engines rebuilds no GPU month."""
    from ingest.derive import lineage
    from ingest.warehouse.location import open_delta

    recorded = [
        lineage.recorded(open_delta(copies[name] / "line_classes"), lineage.GPU_LINES)
        for name in ("duckdb", "spark")
    ]
    assert recorded[0] and sum(len(months) for months in recorded[0].values()) >= 12
    assert recorded[0] == recorded[1]


# --- the whole sample warehouse built with --engine spark (issue 22, acceptance 1) ---

# Columns that differ from one build to the next whatever the engine: each load's id is new.
RUN_DEPENDENT = {"cost_lines": {"x_LoadId"}}


SPARK_STEPS = {  # the heavy steps' Spark versions, counted as the demo calls them
    "rollups": ("ingest.engines.spark_rollups", "stage"),
    "gpu_hours": ("ingest.engines.spark_gpu_hours", "write_gpu_hours"),
    "classification": ("ingest.engines.spark_classify", "classify_lines"),
    "normalisation": ("ingest.engines.spark_sources", "_run"),  # a job per ingest of CUR
}
CALLS: dict[str, int] = {}


@pytest.fixture(scope="module")
def spark_demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """`finops --engine spark demo --no-serve` on the sample data, as a user runs it."""
    import importlib

    from tests.fixtures.paths import SAMPLE_DATA

    root = tmp_path_factory.mktemp("spark-demo") / "warehouse"
    with pytest.MonkeyPatch.context() as patch:
        for step, (module, name) in SPARK_STEPS.items():
            found = importlib.import_module(module)
            patch.setattr(found, name, _counted(step, getattr(found, name)))
        code, said = _finops("--warehouse", str(root), "--engine", "spark", "demo",
                             "--no-serve", "--data", str(SAMPLE_DATA))  # fmt: skip
    assert code == 0, said
    return root, said


def _counted(step: str, func):
    def counted(*args, **kwargs):
        CALLS[step] = CALLS.get(step, 0) + 1
        return func(*args, **kwargs)

    return counted


def test_the_heavy_steps_ran_on_spark(spark_demo: tuple[Path, str]) -> None:
    """One call per refresh that had lines to read: the demo's ingests and its first build;
    the AWS export's files normalised in one job."""
    assert set(CALLS) == set(SPARK_STEPS)
    assert all(n >= 3 for step, n in CALLS.items() if step != "normalisation"), CALLS
    assert CALLS["normalisation"] >= 1, CALLS


def _table(root: Path, name: str):
    """The Delta table `name`'s current rows as Arrow (None: the warehouse has no such table)."""
    from deltalake import DeltaTable

    if not (root / name / "_delta_log").is_dir():
        return None
    return DeltaTable(str(root / name)).to_pyarrow_table()


def _compared_columns(table, name: str) -> list[str]:
    """Every column but the run-dependent ones; a float (a sum of readings, whose last bits
    follow the order it was summed in, on either engine) to 9 significant digits."""
    import pyarrow as pa

    out = []
    for field in table.schema:
        if field.name in RUN_DEPENDENT.get(name, set()):
            continue
        col = f'"{field.name}"'
        if pa.types.is_floating(field.type):
            col = f"round({col} / 10 ^ (floor(log10(abs({col}) + 1e-300)) - 8)) AS {col}"
        out.append(col)
    return out


def _derived_names() -> tuple[str, ...]:
    from ingest.warehouse.delta_log import DERIVED_TABLES

    return ("cost_lines", *DERIVED_TABLES)


@pytest.mark.parametrize("name", _derived_names())
def test_every_derived_table_is_the_default_engines_row_for_row(
    name: str, spark_demo: tuple[Path, str], sample_warehouse: Path
) -> None:
    default, spark = _table(sample_warehouse, name), _table(spark_demo[0], name)
    if default is None:  # an older name the demo no longer writes
        assert spark is None, f"only Spark wrote {name}"
        pytest.skip(f"{name} is not written by the demo")
    assert spark is not None, f"the Spark demo wrote no {name}"
    assert spark.schema == default.schema
    assert default.num_rows > 0, f"{name} is empty: the comparison would prove nothing"
    con = duckdb.connect()
    con.register("a", default)
    con.register("b", spark)
    cols = ", ".join(_compared_columns(default, name))
    only_a, only_b = con.execute(
        f"SELECT (SELECT count(*) FROM (SELECT {cols} FROM a EXCEPT ALL SELECT {cols} FROM b)), "
        f"(SELECT count(*) FROM (SELECT {cols} FROM b EXCEPT ALL SELECT {cols} FROM a))"
    ).fetchall()[0]
    assert (spark.num_rows, only_a, only_b) == (default.num_rows, 0, 0)


@pytest.mark.parametrize("name", _derived_names())
def test_every_derived_tables_money_per_currency_to_the_cent(
    name: str, spark_demo: tuple[Path, str], sample_warehouse: Path
) -> None:
    """Each money column (one per cost basis, and the other decimal sums) summed per currency:
    the figures a page or the finance pack shows."""
    import pyarrow as pa

    default, spark = _table(sample_warehouse, name), _table(spark_demo[0], name)
    if default is None:
        pytest.skip(f"{name} is not written by the demo")
    assert spark is not None
    money = [f.name for f in default.schema if pa.types.is_decimal(f.type)]
    currency = next((c for c in ("currency", "BillingCurrency") if c in default.column_names), None)
    if not money:
        pytest.skip(f"{name} holds no money")

    def sums(table) -> list[tuple]:
        con = duckdb.connect()
        con.register("t", table)
        by = f'"{currency}"' if currency else "'-'"
        cents = ", ".join(f'round(sum("{m}"), 2)' for m in money)
        return con.execute(
            f"SELECT {by}, count(*), {cents} FROM t GROUP BY 1 ORDER BY 1"
        ).fetchall()

    assert sums(spark) == sums(default)


def test_the_spark_demo_says_the_sample_totals(spark_demo: tuple[Path, str]) -> None:
    said = spark_demo[1]
    assert "125,021 cost lines" in said
    assert "billed USD 3,357,046.40, EUR 15,359.45" in said
    assert "4,474 episodes costing USD 432,238.86" in said


def test_the_spark_demo_s_cost_lines_per_currency_and_basis(spark_demo: tuple[Path, str]) -> None:
    lines = _table(spark_demo[0], "cost_lines")
    con = duckdb.connect()
    con.register("t", lines)
    got = con.execute(
        "SELECT BillingCurrency, count(*), sum(BilledCost), sum(EffectiveCost) FROM t "
        "GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert [(c, n, str(round(b, 2))) for c, n, b, _ in got] == [
        ("EUR", 12, "15359.45"), ("USD", 125_009, "3357046.40"),
    ]  # fmt: skip
