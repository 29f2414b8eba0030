"""`finops query`: read-only SQL, exact decimals in every format."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path

import pytest

import ingest.warehouse.connection
from dashboard.cli.finops import main
from ingest.warehouse.store import Store
from tests.fixtures.batches import batch


@pytest.fixture
def loaded(warehouse: Path) -> Path:
    Store(warehouse).load_cost_lines([batch("2026-09", ["0.0000008", "12.5"])])
    return warehouse


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


SQL = "select ProviderName as p, sum(BilledCost) as total from cost_lines group by 1"


def test_json_is_a_list_of_objects_with_exact_numbers(loaded: Path, capsys) -> None:
    code, out, _ = run(capsys, "--warehouse", str(loaded), "query", SQL, "--format", "json")
    assert code == 0
    assert out.strip() == '[{"p": "AWS", "total": 12.5000008}]'
    assert json.loads(out) == [{"p": "AWS", "total": 12.5000008}]


def test_csv_has_a_header_row(loaded: Path, capsys) -> None:
    code, out, _ = run(capsys, "--warehouse", str(loaded), "query", SQL, "--format", "csv")
    assert code == 0
    assert list(csv.reader(io.StringIO(out))) == [["p", "total"], ["AWS", "12.500000800000"]]


@pytest.mark.parametrize(
    "sql",
    [
        "delete from cost_lines",
        "create table t as select 1",
        "select 1; drop view cost_lines",
        "copy (select 1) to 'out.csv'",
        "attach 'other.db'",
    ],
)
def test_write_statements_are_refused(loaded: Path, capsys, sql: str) -> None:
    code, _, err = run(capsys, "--warehouse", str(loaded), "query", sql)
    assert code == 2
    assert "only read-only queries are allowed" in err


def test_reading_other_files_is_refused(loaded: Path, capsys, tmp_path: Path) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    code, _, err = run(capsys, "--warehouse", str(loaded), "query", f"select * from '{secret}'")
    assert code == 2
    assert "query failed" in err


def test_unknown_config_key_is_named_with_a_suggestion(tmp_path: Path, capsys) -> None:
    cfg = tmp_path / "finops.toml"
    cfg.write_text('[warehouse]\npth = "x"\n')
    code, _, err = run(capsys, "--config", str(cfg), "loads")
    assert code == 2
    assert "unknown key 'pth' in [warehouse]" in err and 'did you mean "path"' in err


@pytest.mark.parametrize(
    ("config", "shown"),
    [("", "1.8 GiB"), ('memory_limit = "512MB"\n', "488.2 MiB")],  # 2GB by default
)
def test_reader_memory_is_bounded_by_the_setting(
    loaded: Path, capsys, tmp_path: Path, config: str, shown: str
) -> None:
    cfg = tmp_path / "finops.toml"
    cfg.write_text(f'[warehouse]\npath = "{loaded}"\n{config}')
    sql = "select current_setting('memory_limit') as m"
    code, out, _ = run(capsys, "--config", str(cfg), "query", sql, "--format", "json")
    assert code == 0
    assert json.loads(out) == [{"m": shown}]


def test_a_reader_spills_to_a_private_temp_folder_not_the_working_directory(
    loaded: Path, tmp_path: Path, monkeypatch
) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    con = ingest.warehouse.connection.connect(loaded, memory_limit="100MB")
    spill = Path(con.execute("select current_setting('temp_directory')").fetchone()[0])
    # a sort of 10M rows (80 MB of keys alone) does not fit in 100MB: it spills, and is right
    total = con.execute(
        "select count(*), sum(x) from (select range as x from range(10000000) "
        "order by x desc offset 5000000)"
    ).fetchone()
    assert total == (5_000_000, 12_499_997_500_000)  # 0 + 1 + ... + 4,999,999
    assert spill.parent == Path(tempfile.gettempdir()) and spill.is_dir()
    con.close()
    assert not spill.exists()  # removed with the connection
    assert list(cwd.iterdir()) == []  # no .tmp left where the dashboard was started


def test_a_memory_limit_that_is_not_a_size_is_refused(tmp_path: Path, capsys) -> None:
    cfg = tmp_path / "finops.toml"
    cfg.write_text('[warehouse]\nmemory_limit = "lots"\n')
    code, _, err = run(capsys, "--config", str(cfg), "loads")
    assert code == 2
    assert "[warehouse] memory_limit is not a memory size" in err
    assert 'e.g. "2GB"' in err and "'lots'" in err
