"""`finops query` cannot change the warehouse or read beyond it.

A real small warehouse (cost lines, telemetry, classification, GPU-hours, idle episodes), a
real DuckDB: every kind of statement that can write or open files is refused with one
message, exit 2, and every file under the warehouse is byte-identical afterwards. The
connection itself is sealed too (tested without the statement check in front of it).
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from dashboard.cli.finops import main
from dashboard.cli.query import ALLOWED
from ingest.warehouse import connection as warehouse
from ingest.warehouse import views
from models.settings import Settings
from tests.fixtures.small_warehouse import build, expected_total

REFUSED = "only read-only queries are allowed"
NOT_READABLE = "query failed: it may read only the warehouse views"
SECRET = "7319468250"
TOTAL = "select BillingCurrency, sum(BilledCost) as total from cost_lines group by 1 order by 1"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sealed") / "warehouse"
    build(root)
    outside = root.parent
    # a value no temporary path holds (pytest numbers its folders: pytest-142)
    (outside / "secret.csv").write_text(f"a\n{SECRET}\n")
    (outside / "secret.json").write_text(f'{{"a": {SECRET}}}\n')
    duckdb.execute(
        f"copy (select {SECRET} as a) to $p (format parquet)",
        {"p": str(outside / "secret.parquet")},
    )
    return root


def fingerprint(root: Path) -> dict[str, str]:
    """sha256 of every file under the warehouse (data, Delta logs, staging)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def data_file(root: Path) -> Path:
    """A data file of the current cost_lines snapshot (the one the reported attack emptied)."""
    return Path(warehouse.snapshot_files(DeltaTable(str(root / "cost_lines")))[0])


def run(capsys, root: Path, *args: str) -> tuple[int, str, str]:
    code = main(["--warehouse", str(root), "query", *args])
    out, err = capsys.readouterr()
    return code, out, err


def q(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


# What writes or touches files, as statements; {data} is a data file of the warehouse,
# {out} the folder that holds the warehouse, {wh} the warehouse itself (see _fill).
WRITES = [
    "COPY (SELECT * FROM cost_lines WHERE false) TO {data} (FORMAT parquet)",
    "COPY (SELECT * FROM cost_lines WHERE false) TO {data} (FORMAT parquet, USE_TMP_FILE false)",
    "COPY (SELECT 1 AS a) TO {new_csv}",
    "COPY cost_lines FROM {secret_csv}",
    "EXPORT DATABASE {export}",
    "IMPORT DATABASE {export}",
    "ATTACH {new_db} AS n",
    "ATTACH {wh_db} AS n",
    "DETACH memory",
    "INSTALL httpfs",
    "LOAD httpfs",
    "CREATE SECRET s (TYPE s3, KEY_ID 'a', SECRET 'b')",
    "CREATE PERSISTENT SECRET p (TYPE s3, KEY_ID 'a', SECRET 'b')",
    "SET enable_external_access = true",
    "RESET enable_external_access",
    "SET allowed_directories = ['/']",
    "SET allowed_paths = ['/etc/passwd']",
    "SET lock_configuration = false",
    "SET temp_directory = {wh}",
    "PRAGMA enable_profiling",
    "CALL pragma_version()",
    "CHECKPOINT",
    "CREATE TABLE t AS SELECT 1 AS a",
    "CREATE OR REPLACE VIEW cost_lines AS SELECT 1 AS a",
    "CREATE MACRO m() AS 1",
    "INSERT INTO cost_lines SELECT * FROM cost_lines",
    "UPDATE cost_lines SET BilledCost = 0",
    "DELETE FROM cost_lines",
    "DROP VIEW cost_lines",
    "VACUUM",
]
WRAPPED = [f"EXPLAIN ANALYZE {w}" for w in WRITES] + [
    "/* select */ EXPLAIN /* note */ ANALYZE COPY (SELECT 1) TO {data} (FORMAT parquet)",
    "explain analyse copy (select 1) to {data} (format parquet)",
    "EXPLAIN (ANALYZE) COPY (SELECT 1) TO {data} (FORMAT parquet)",
    "EXPLAIN ANALYZE SELECT * FROM cost_lines",  # ANALYZE runs what it explains: refused whole
    "EXPLAIN COPY (SELECT 1) TO {data} (FORMAT parquet)",
    "select 1; COPY (SELECT * FROM cost_lines WHERE false) TO {data} (FORMAT parquet)",
    "select 1; EXPLAIN ANALYZE COPY (SELECT 1) TO {data} (FORMAT parquet)",
    "select 1; select 2; delete from cost_lines",
]
READS = [
    "select * from read_csv('/etc/passwd')",
    "select * from read_csv({secret_csv})",
    "select * from {secret_csv}",
    "select * from read_parquet({secret_parquet})",
    "select * from read_json({secret_json})",
    "select * from read_text('/etc/hostname')",
    "select * from read_blob({secret_csv})",
    "select * from glob('/etc/*')",
    "select * from glob({wh_all})",
    "select * from sniff_csv('/etc/passwd')",
    "select * from read_json({wh_log})",
]


def _fill(sql: str, root: Path) -> str:
    """`sql` with its {placeholders} as quoted paths."""
    out = root.parent
    paths = {
        "data": data_file(root),
        "wh": root,
        "wh_db": root / "cost_lines" / "new.duckdb",
        "wh_all": root / "**",
        "wh_log": root / "cost_lines" / "_delta_log" / "00000000000000000000.json",
        "out": out,
        "new_csv": out / "new.csv",
        "new_db": out / "new.duckdb",
        "export": out / "export",
        "secret_csv": out / "secret.csv",
        "secret_json": out / "secret.json",
        "secret_parquet": out / "secret.parquet",
    }
    return sql.format(**{k: q(v) for k, v in paths.items()})


@pytest.mark.parametrize("sql", WRITES + WRAPPED)
def test_statements_that_write_are_refused_and_nothing_changes(
    root: Path, capsys, sql: str
) -> None:
    before = fingerprint(root)
    code, out, err = run(capsys, root, _fill(sql, root))
    assert code == 2
    assert out == ""
    assert REFUSED in err or "SQL does not parse" in err  # EXPLAIN ANALYZE EXPORT ... no parse
    assert ALLOWED in err
    assert fingerprint(root) == before
    assert not (root.parent / "new.csv").exists() and not (root.parent / "export").exists()


@pytest.mark.parametrize("sql", READS)
def test_files_beyond_the_views_cannot_be_read(root: Path, capsys, sql: str) -> None:
    before = fingerprint(root)
    code, out, err = run(capsys, root, _fill(sql, root))
    assert code == 2
    assert out == ""
    assert NOT_READABLE in err and "cost_lines, classified_costs" in err
    assert SECRET not in err and "root:" not in err  # nothing of the file is shown
    assert fingerprint(root) == before


def test_a_refused_statement_names_what_it_is(root: Path, capsys) -> None:
    sql = _fill(WRAPPED[0], root)
    code, _, err = run(capsys, root, sql)
    assert code == 2
    assert "found EXPLAIN ANALYZE" in err
    code, _, err = run(capsys, root, "select 1; " + _fill(WRITES[0], root))
    assert "found COPY" in err


def test_after_every_refusal_the_data_files_read_the_same(root: Path, capsys) -> None:
    for sql in WRAPPED[:3]:
        run(capsys, root, _fill(sql, root))
    files = warehouse.snapshot_files(DeltaTable(str(root / "cost_lines")))
    assert sum(pq.read_table(f).num_rows for f in files) == 18  # every line of build()
    code, out, _ = run(capsys, root, TOTAL, "--format", "json")
    assert code == 0
    assert json.loads(out, parse_float=Decimal) == [
        {"BillingCurrency": "USD", "total": expected_total()}
    ]


@pytest.mark.parametrize(
    ("sql", "want"),
    [
        ("select count(*) as n from cost_lines", [{"n": 18}]),
        ("select count(*) as n from classified_costs where x_AiClass = 'gpu_compute'", [{"n": 10}]),
        ("select count(*) as n from gpu_util", [{"n": 64}]),
        ("select sum(idle_cost) as idle from gpu_hours", [{"idle": Decimal("280")}]),
        ("select count(*) > 0 as any from loads", [{"any": True}]),
        ("select count(*) > 0 as any from idle_episodes", [{"any": True}]),
        ("select dataset from finops_snapshot() where dataset = 'cost_lines'",
         [{"dataset": "cost_lines"}]),
        ("explain select * from cost_lines", None),
        ("/* just a look */ EXPLAIN SELECT count(*) FROM gpu_hours", None),
        ("describe cost_lines", None),
        ("summarize select BilledCost from cost_lines", None),
    ],
)  # fmt: skip
def test_plain_selects_over_every_view_keep_working(root: Path, capsys, sql, want) -> None:
    code, out, err = run(capsys, root, sql, "--format", "json")
    assert code == 0, err
    rows = json.loads(out, parse_float=Decimal)
    if want is not None:
        assert rows == want
    else:
        assert rows  # a plan or a description, shown rather than refused


def test_csv_and_time_travel_keep_working(root: Path, capsys) -> None:
    code, out, _ = run(capsys, root, TOTAL, "--format", "csv")
    assert code == 0
    assert out.splitlines() == ["BillingCurrency,total", f"USD,{expected_total():.12f}"]
    first = DeltaTable(str(root / "cost_lines")).history()[-1]["version"]
    then = DeltaTable(str(root / "cost_lines"), version=first)
    lines = sum(pq.read_table(f).num_rows for f in warehouse.snapshot_files(then))
    code, out, _ = run(capsys, root, "select count(*) as n from cost_lines", "--as-of",
                       str(first), "--format", "json")  # fmt: skip
    assert code == 0
    assert json.loads(out) == [{"n": lines}] and 0 < lines < 18


# ---- the connection itself, without the statement check ---------------------------------------


@pytest.fixture
def sealed(root: Path):
    views.register_all(Settings())
    con = warehouse.connect(root)
    yield con
    con.close()


@pytest.mark.parametrize(
    "sql",
    [
        "COPY (SELECT 1 AS a) TO {new_csv}",
        "EXPORT DATABASE {export}",
        "ATTACH {new_db} AS n",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "RESET enable_external_access",
        "SET allowed_directories = ['/']",
        "SET lock_configuration = false",
        "SET temp_directory = {out}",
        "SET autoload_known_extensions = true",
        "select * from read_text('/etc/hostname')",
        "select * from read_csv({secret_csv})",
        "select * from glob({wh_all})",
    ],
)
def test_the_connection_cannot_open_anything_beyond_the_data_files(
    root: Path, sealed: duckdb.DuckDBPyConnection, sql: str
) -> None:
    before = fingerprint(root)
    with pytest.raises(duckdb.Error, match=r"disabled|locked|Permission"):
        sealed.execute(_fill(sql, root)).fetchall()
    assert fingerprint(root) == before
    assert sorted(p.name for p in root.parent.iterdir()) == [
        "secret.csv", "secret.json", "secret.parquet", "warehouse"
    ]  # fmt: skip


def test_the_connection_may_open_exactly_the_snapshot_files(
    root: Path, sealed: duckdb.DuckDBPyConnection
) -> None:
    allowed, dirs, access, locked = sealed.execute(
        "select current_setting('allowed_paths'), current_setting('allowed_directories'), "
        "current_setting('enable_external_access'), current_setting('lock_configuration')"
    ).fetchone()
    snapshot = set()
    from models.rollups import ROLLUPS

    for name in ("cost_lines", "gpu_util", "loads", "line_classes", "class_keys", "gpu_hours",
                 "idle_episodes", "gpu_buckets", "gpu_demand", "gpu_owned_days",
                 "telemetry_monthly", "unit_costs", *(t.name for t in ROLLUPS)):  # fmt: skip
        snapshot.update(warehouse.snapshot_files(DeltaTable(str(root / name))))
    assert set(allowed) == snapshot
    spill = sealed.execute("select current_setting('temp_directory')").fetchone()[0]
    assert [d.rstrip("/") for d in dirs] == [spill.rstrip("/")]  # its private spill folder only
    assert (access, locked) == (False, True)


@pytest.mark.parametrize(
    "sql",
    [
        "COPY (SELECT 1 AS a) TO {data} (FORMAT parquet, USE_TMP_FILE false)",
        "EXPLAIN ANALYZE COPY (SELECT * FROM cost_lines WHERE false) TO {data} (FORMAT parquet)",
        "COPY (SELECT * FROM cost_lines WHERE false) TO {data} (FORMAT csv)",
        "ATTACH {wh_db} AS n",
        "select count(*) from read_parquet({data})",
    ],
)
def test_the_query_connection_cannot_even_touch_the_data_files(root: Path, sql: str) -> None:
    """What `finops query` runs on: pyarrow reads the snapshot, DuckDB may open no file, so
    a statement that slipped past the statement check still could not write (DuckDB writes
    to a file it is allowed to read)."""
    views.register_all(Settings())
    con = warehouse.connect(root, untrusted=True)
    before = fingerprint(root)
    try:
        with pytest.raises(duckdb.Error, match=r"disabled by configuration"):
            con.execute(_fill(sql, root)).fetchall()
        paths, dirs = con.execute(
            "select current_setting('allowed_paths'), current_setting('allowed_directories')"
        ).fetchone()
        assert paths == [] and len(dirs) == 1  # its private spill folder only
        total = con.execute("select sum(BilledCost) from cost_lines").fetchone()[0]
        assert total == expected_total()  # and it reads the warehouse all the same
    finally:
        con.close()
    assert fingerprint(root) == before
