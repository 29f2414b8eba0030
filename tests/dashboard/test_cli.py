"""The command line's promises: --warehouse and --config before or after any command, at any
depth; and the exit codes `finops --help` lists are the ones really returned."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from dashboard.cli.finops import cli, main
from ingest.warehouse.connection import connect
from ingest.warehouse.store import Store
from tests.fixtures.batches import batch
from tests.fixtures.paths import REFERENCE, REPO
from tests.servers.prometheus import free_port

PAYG = REFERENCE / "azure-header-variants" / "headersets_PayAsYouGo.csv"
INVOICES = """vendor,product,team,month,amount,currency,seats,active_seats,invoice_id
GitHub,Copilot Business,platform,2026-09,1900.00,USD,100,71,GH-2026-09
Mistral AI,Le Chat Team,research,2026-10,899.99,EUR,30,12,MI-10
"""


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def tree() -> list[tuple[tuple[str, ...], click.Command]]:
    """Every group and command under `finops`, lazily loaded ones included."""
    found: list[tuple[tuple[str, ...], click.Command]] = []

    def walk(path: tuple[str, ...], command: click.Command, ctx: click.Context) -> None:
        found.append((path, command))
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None, f"finops {' '.join(path)} lists {name} but has none"
                walk((*path, name), sub, click.Context(sub, parent=ctx, info_name=name))

    walk((), cli, click.Context(cli, info_name="finops"))
    return found


def test_the_tree_is_walked_whole() -> None:
    paths = {" ".join(p) for p, _ in tree()}
    assert {"query", "loads", "ingest azure", "ingest telemetry prometheus", "rules list"} <= paths
    assert len(paths) > 20


@pytest.mark.parametrize("path", [p for p, _ in tree()], ids=lambda p: " ".join(p) or "finops")
def test_every_command_takes_warehouse_and_config_once(
    path: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    command = dict(tree())[path]
    for option in ("--warehouse", "--config"):
        declared = [p for p in command.params if option in p.opts]
        assert len(declared) == 1, f"finops {' '.join(path)}: {option} declared {len(declared)}x"
    code, out, _ = run(capsys, *path, "--help")
    assert code == 0
    assert "--warehouse DIR" in out and "--config FILE" in out


@pytest.fixture
def loaded(warehouse: Path) -> Path:
    Store(warehouse).load_cost_lines([batch("2026-09", ["1.25", "2.5"])])
    return warehouse


def test_query_takes_warehouse_after_the_command(
    loaded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = "select count(*) as n, sum(BilledCost) as billed from cost_lines"
    code, out, err = run(capsys, "query", "--warehouse", str(loaded), sql, "--format", "csv")
    assert (code, out, err) == (0, "n,billed\n2,3.750000000000\n", "")
    # a warehouse given after the command is the one read: a missing one is named
    empty = tmp_path / "empty"
    code, _, err = run(capsys, "query", sql, "--warehouse", str(empty))
    assert code == 4 and f"{empty}: no warehouse here yet" in err


def test_the_one_closest_to_the_command_wins(
    loaded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other"
    sql = "select count(*) from cost_lines"
    code, out, _ = run(capsys, "--warehouse", str(other), "query", "--warehouse", str(loaded),
                       sql, "--format", "csv")  # fmt: skip
    assert (code, out.splitlines()[1]) == (0, "2")
    code, _, err = run(capsys, "--warehouse", str(loaded), "query", "--warehouse", str(other), sql)
    assert code == 4 and str(other) in err


def test_loads_takes_warehouse_after_the_command(
    loaded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "loads", "--format", "csv", "--warehouse", str(loaded))
    assert code == 0
    assert out.splitlines()[1].split(",")[4:9] == [
        "2026-09",
        "USD",
        "2",
        "3.750000000000",
        "3.750000000000",
    ]


def test_ingest_azure_takes_warehouse_after_the_path(
    warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "ingest", "azure", str(PAYG), "--warehouse", str(warehouse))
    assert (code, err) == (0, "")
    (total,) = connect(warehouse).execute("select sum(BilledCost) from cost_lines").fetchone()
    assert str(total.normalize()) == "0.075"


def test_ingest_takes_warehouse_between_group_and_source(
    warehouse: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "invoices.csv"
    path.write_text(INVOICES, encoding="utf-8")
    code, _, err = run(capsys, "ingest", "--warehouse", str(warehouse), "saas", str(path))
    assert (code, err) == (0, "")
    rows = (
        connect(warehouse)
        .execute("select BillingCurrency, sum(BilledCost) from cost_lines group by 1 order by 1")
        .fetchall()
    )
    assert [(c, str(t.normalize())) for c, t in rows] == [("EUR", "899.99"), ("USD", "1.9E+3")]


def test_telemetry_takes_warehouse_after_the_command(
    warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # an unreachable server: the failure is recorded in the warehouse given after the command
    url = f"http://127.0.0.1:{free_port()}"
    code, _, err = run(capsys, "ingest", "telemetry", "prometheus", url,
                       "--start", "2026-10-05T00:00:00Z", "--end", "2026-10-05T04:00:00Z",
                       "--warehouse", str(warehouse))  # fmt: skip
    assert code == 5 and "cannot reach Prometheus" in err
    errors = connect(warehouse).execute("select source, target from load_errors").fetchall()
    assert len(errors) == 1 and url in errors[0][1]


def test_config_after_the_command_is_read_and_replaces_a_broken_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FINOPS_CONFIG", raising=False)
    (tmp_path / "finops.toml").write_text("[warehous]\n", encoding="utf-8")  # a typo
    code, _, err = run(capsys, "rules", "list")
    assert code == 2 and "finops.toml" in err and "warehous" in err
    rules = tmp_path / "mine.toml"
    rules.write_text(
        '[[rules]]\nid = "mine.gpu"\npriority = 900\nmatch.x_InstanceType = "zz9.large"\n'
        'set = { ai_class = "gpu_compute" }\n',
        encoding="utf-8",
    )
    good = tmp_path / "good.toml"
    good.write_text(f'[classify]\nrules = ["{rules}"]\n', encoding="utf-8")
    monkeypatch.setenv("COLUMNS", "300")
    code, out, err = run(capsys, "rules", "list", "--config", str(good))
    assert (code, err) == (0, "")
    assert "mine.gpu" in out
    missing = tmp_path / "missing.toml"
    code, _, err = run(capsys, "rules", "--config", str(missing), "list")
    assert code == 2 and f"{missing}: configuration file not found" in err


# --- exit codes -----------------------------------------------------------------------------


def documented_codes(capsys: pytest.CaptureFixture[str]) -> set[int]:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    section = out.split("Exit codes:")[1]
    return {int(n) for n in re.findall(r"^\s+(\d+)\s", section, re.MULTILINE)}


def test_help_lists_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert documented_codes(capsys) == {0, 1, 2, 3, 4, 5, 70, 130}
    _, out, _ = run(capsys, "--help")
    assert all(len(line) <= 80 for line in out.splitlines())


def test_each_documented_exit_code_is_returned(
    loaded: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    w = ["--warehouse", str(loaded)]
    got: dict[int, list[str]] = {}

    def case(expected: int, *args: str, says: str) -> None:
        code, _, err = run(capsys, *args)
        assert code == expected, f"finops {' '.join(args)}: {err}"
        assert says in err
        got.setdefault(code, []).append(" ".join(args))

    case(0, *w, "query", "select 1", says="")
    case(2, *w, "query", "delete from cost_lines", says="Bad input: only read-only queries")
    case(2, "--config", str(tmp_path / "no.toml"), "loads", says="Configuration error")
    case(2, *w, "query", "select 1", "--no-such-option", says="No such option")
    case(2, *w, "query", says="Missing argument 'SQL'")
    case(4, "query", "select 1", "--warehouse", str(tmp_path / "none"), says="Warehouse error")
    url = f"http://127.0.0.1:{free_port()}"
    case(5, "ingest", "telemetry", "prometheus", url, "--start", "2026-10-05T00:00:00Z",
         "--end", "2026-10-05T01:00:00Z", "--warehouse", str(tmp_path / "t"),
         says="Source unavailable")  # fmt: skip

    from dashboard.cli import query

    def interrupted(*a: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(query, "run_read_only", interrupted)
    case(130, *w, "query", "select 1", says="Aborted.")
    monkeypatch.undo()

    # 3: a reader that drops a line fails reconciliation (as in tests/ingest/test_aws.py)
    import polars as pl

    from ingest.sources import aws
    from tests.fixtures.cur import write_cur2

    real = aws.normalise
    monkeypatch.setattr(aws, "normalise", lambda *a: real(*a).filter(pl.col("BilledCost") != 0.09))
    folder = write_cur2(tmp_path / "cur2", "2026-09")
    case(3, "ingest", "aws", str(folder), "--warehouse", str(tmp_path / "a"),
         says="Reconciliation failed")  # fmt: skip
    monkeypatch.undo()

    # 70: a bug: one line, no traceback; 1: the same bug under --debug, Python's own exit with
    # the traceback (each in a process of its own)
    def bug(*debug: str) -> subprocess.CompletedProcess:
        code = (
            "import sys; from dashboard.cli import query; from dashboard.cli import main\n"
            "def bug(*a): raise RuntimeError('a bug')\n"
            "query.run_read_only = bug\n"
            f"sys.exit(main([*{list(debug)!r}, 'query', 'select 1', '--warehouse', "
            f"{str(loaded)!r}]))\n"
        )
        env = {k: v for k, v in os.environ.items() if k != "FINOPS_DEBUG"}
        return subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env={**env, "PYTHONPATH": str(REPO)},
        )

    proc = bug()
    assert proc.returncode == 70, proc.stderr
    assert proc.stderr.splitlines() == [
        "Internal error: RuntimeError: a bug — this is a bug in finops; please report it (run "
        "again with --debug or FINOPS_DEBUG=1 for the details)"
    ]
    got[70] = ["a bug"]
    proc = bug("--debug")
    assert proc.returncode == 1 and "Traceback" in proc.stderr
    assert "RuntimeError: a bug" in proc.stderr
    got[1] = ["a bug"]

    assert set(got) == documented_codes(capsys)


def test_a_command_run_by_another_takes_its_own_warehouse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """finops demo runs the ingest commands itself, with its App: options given to such a
    command still apply to it."""
    from dashboard.cli.finops import App
    from dashboard.cli.ingest import group
    from models.settings import Settings

    ingest_saas = group.get_command(click.Context(group), "saas")
    assert ingest_saas is not None
    path = tmp_path / "invoices.csv"
    path.write_text(INVOICES, encoding="utf-8")
    app = App(settings=Settings(), warehouse=tmp_path / "first")
    target = tmp_path / "second"
    ingest_saas.main([str(path), "--warehouse", str(target)], standalone_mode=False, obj=app)
    assert app.warehouse == target and not (tmp_path / "first").exists()
    (n,) = connect(target).execute("select count(*) from cost_lines").fetchone()
    assert n == 2


def test_a_dashboard_server_that_fails_fails_the_command(
    loaded: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # the server process ends at once with Streamlit's failure code; `finops dashboard` used
    # to swallow it and exit 0
    from dashboard.cli import serve

    monkeypatch.setattr(serve, "_LAUNCH", "import sys; sys.exit(1)")
    code, out, _ = run(capsys, "--warehouse", str(loaded), "dashboard", "--port", str(free_port()))
    assert code == 1 and "Serving the dashboard" in out


@pytest.mark.parametrize(
    ("chosen", "expected"),
    [(None, {"jemalloc", "system"}), ("mimalloc", {"mimalloc"})],
    ids=["ours", "the user's"],
)
def test_commands_decode_with_a_pool_that_keeps_its_pages(chosen, expected, tmp_path):
    """pyarrow's default pool (mimalloc) gave each batch's pages back to the system, so a
    Parquet export read 100k rows at a time faulted them in again batch after batch; a
    command runs on jemalloc (the system allocator where pyarrow lacks it), and a pool the
    user chose with ARROW_DEFAULT_MEMORY_POOL is kept."""
    code = (
        "import pyarrow as pa; from dashboard.cli import main\n"
        f"main(['loads', '--warehouse', {str(tmp_path / 'wh')!r}])\n"
        "print(pa.default_memory_pool().backend_name)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if chosen:
        env["ARROW_DEFAULT_MEMORY_POOL"] = chosen
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout.split()[-1] in expected, proc.stdout + proc.stderr
