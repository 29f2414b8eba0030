"""The warehouse on object storage: `--warehouse s3://bucket/prefix` against moto's S3 server.

moto runs in a process of its own (tests/servers/moto.py: deltalake waits for some answers
holding the interpreter's lock). Every command runs as `finops` does, in a child process,
with a planted secret in its environment that no output, record or traceback may show.
"""

from __future__ import annotations

import shutil
import socket
import time
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.fixtures.cur import expected_billed
from tests.fixtures.object_warehouse import (
    SECRET,
    TOML_SECRET,
    TOTALS,
    bucket,
    client,
    finops,
    no_secret_stored,
    ok,
    overviews_agree,
    rows,
    run,
)
from tests.fixtures.warehouse_state import REPO

SAMPLE_AWS = REPO / "sample_data" / "aws" / "acme-cur2"


def one_period(tmp_path: Path, period: str) -> Path:
    """The sample's AWS Data Exports folder with only `period`'s delivery."""
    export = tmp_path / f"export-{period}" / SAMPLE_AWS.name
    for kind in ("data", "metadata"):
        shutil.copytree(SAMPLE_AWS / kind / f"BILLING_PERIOD={period}",
                        export / kind / f"BILLING_PERIOD={period}")  # fmt: skip
    return export


def source_total(period: str) -> tuple[int, Decimal]:
    files = sorted((SAMPLE_AWS / "data" / f"BILLING_PERIOD={period}").rglob("*.parquet"))
    table = pq.read_table(files[0]) if len(files) == 1 else None
    assert table is not None, files
    return table.num_rows, expected_billed(table)


@pytest.mark.heavy
@pytest.mark.timeout(1800)  # a dozen commands, each a child process talking to moto
def test_commands_on_s3_answer_as_on_a_local_folder(
    s3: str, env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = bucket(s3, "finops-same")
    local = str(tmp_path / "local")
    for where in (warehouse, local):
        ok(env, "--warehouse", where, "ingest", "aws", str(SAMPLE_AWS))
    remote_totals = rows(env, warehouse, TOTALS)
    assert remote_totals == rows(env, local, TOTALS)
    assert len(remote_totals) == 12
    # each month is the source's own total, as the loads recorded it when they reconciled
    sources = rows(env, warehouse, "select billing_period, source_total from loads")
    assert {r["period"]: Decimal(str(r["billed"])) for r in remote_totals} == {
        r["billing_period"]: Decimal(str(r["source_total"])) for r in sources
    }
    # the data files are in the bucket, not in a local folder named like the URL
    keys = client(s3).list_objects_v2(Bucket="finops-same", Prefix="wh/cost_lines/_delta_log/")
    assert keys["KeyCount"] >= 12
    assert not (REPO / "s3:").exists()
    # classify, check, loads, vacuum and the finance pack: as on the local warehouse
    ok(env, "--warehouse", warehouse, "classify")
    assert "healthy" in ok(env, "--warehouse", warehouse, "check").lower()
    loads = ok(env, "--warehouse", warehouse, "loads")
    assert loads.count("status committed") == 12
    ok(env, "--warehouse", warehouse, "vacuum")
    packs = []
    for where, name in ((warehouse, "s3"), (local, "local")):
        said = ok(env, "--warehouse", where, "report", "--month", "2026-09", "--format", "csv",
                  "--out", str(tmp_path / name))  # fmt: skip
        packs.append([line for line in said.splitlines() if "total billed" in line])
    assert packs[0] == packs[1] and packs[0], packs
    no_secret_stored(env, warehouse)
    overviews_agree(monkeypatch, env, warehouse, local)


@pytest.mark.heavy
def test_two_ingests_of_different_periods_both_land(
    s3: str, env: dict[str, str], tmp_path: Path
) -> None:
    warehouse = bucket(s3, "finops-race")
    periods = ("2026-01", "2026-02")
    procs = [
        finops(env, "--warehouse", warehouse, "ingest", "aws", str(one_period(tmp_path, p)))
        for p in periods
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, out + err
        assert SECRET not in out + err
    got = {
        r["period"]: (r["lines"], Decimal(str(r["billed"]))) for r in rows(env, warehouse, TOTALS)
    }
    assert got == {p: source_total(p) for p in periods}
    loads = rows(env, warehouse, "select billing_period, status from loads order by 1")
    assert loads == [{"billing_period": p, "status": "committed"} for p in periods]
    no_secret_stored(env, warehouse)


@pytest.mark.heavy
def test_two_ingests_of_the_same_period_one_wins_one_fails_clearly(
    s3: str, env: dict[str, str], tmp_path: Path
) -> None:
    warehouse = bucket(s3, "finops-same-period")
    ok(env, "--warehouse", warehouse, "ingest", "aws", str(one_period(tmp_path, "2026-01")))
    # both stop with their file uploaded and their commit not yet written, then commit
    pause = {"FINOPS_TEST_PAUSE_AT": "write", "FINOPS_TEST_PAUSE_S": "8"}
    export = one_period(tmp_path / "b", "2026-02")
    procs = [
        finops(env, "--warehouse", warehouse, "ingest", "aws", str(export), extra=pause)
        for _ in range(2)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=900)
        assert SECRET not in out + err and TOML_SECRET not in out + err
        results.append((proc.returncode, out + err))
    codes = sorted(code for code, _ in results)
    assert codes == [0, 4], results  # 4: a warehouse error
    (lost,) = [said for code, said in results if code != 0]
    assert "period 2026-02" in lost, lost
    assert "another load of the same period committed first" in lost, lost
    assert "nothing of yours was stored" in lost, lost
    assert "Traceback" not in lost, lost
    # the winner's month is whole, the first month untouched, the loser's failure recorded
    got = {
        r["period"]: (r["lines"], Decimal(str(r["billed"]))) for r in rows(env, warehouse, TOTALS)
    }
    assert got == {p: source_total(p) for p in ("2026-01", "2026-02")}
    loads = rows(env, warehouse, "select billing_period from loads order by 1")
    assert [r["billing_period"] for r in loads] == ["2026-01", "2026-02"]
    errors = rows(env, warehouse, "select message from load_errors")
    assert len(errors) == 1 and "another load of the same period" in errors[0]["message"]
    assert "healthy" in ok(env, "--warehouse", warehouse, "check").lower()
    no_secret_stored(env, warehouse)


def test_credentials_never_come_from_or_show_in_a_url(s3: str, env: dict[str, str]) -> None:
    code, said = run(env, "--warehouse", f"s3://AKIDPLANTED:{SECRET}@finops-creds/wh", "loads")
    assert code != 0
    assert "carries credentials" in said and "finops never takes them from a URL" in said
    assert "AKIDPLANTED" not in said


def test_a_bucket_that_does_not_exist_fails_without_showing_a_secret(
    s3: str, env: dict[str, str]
) -> None:
    started = time.monotonic()
    code, said = run(env, "--warehouse", "s3://finops-missing-bucket/wh", "query", "select 1")
    assert code != 0
    assert "no warehouse here yet" in said and "s3://finops-missing-bucket/wh" in said
    assert time.monotonic() - started < 120


def test_a_location_is_a_folder_or_a_bucket_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    from ingest.warehouse.location import ObjectPath, parse
    from models.errors import ConfigError

    where = parse("s3://finops-wh/team/warehouse/")
    assert isinstance(where, ObjectPath)
    assert str(where / "cost_lines") == "s3://finops-wh/team/warehouse/cost_lines"
    assert (where / "cost_lines").name == "cost_lines"
    assert str(parse("s3a://b/x")) == "s3://b/x"
    assert parse("data/warehouse") == Path("data/warehouse")
    for bad, words in (
        (f"s3://AKID:{SECRET}@b/wh", "carries credentials"),
        ("s3://", "names no bucket"),
        ("s3://b/wh?versionId=1", "query or fragment"),
        ("ftp://host/wh", "scheme is not one finops can store tables on"),
        ("s3://b/../wh", "has a '.' or '..' part"),
        ("s3://b/team/./wh", "has a '.' or '..' part"),
    ):
        with pytest.raises(ConfigError) as caught:
            parse(bad)
        assert words in str(caught.value.render()) + caught.value.message
        assert SECRET not in caught.value.render() + caught.value.message
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDPLANTED")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    options = where.storage_options()
    assert options["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9000"
    assert options["AWS_ALLOW_HTTP"] == "true"
    assert options["AWS_SECRET_ACCESS_KEY"] == SECRET  # handed to deltalake, never shown
    assert SECRET not in repr(where) + str(where)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://minio.example")
    assert "AWS_ALLOW_HTTP" not in where.storage_options()


def test_an_endpoint_that_is_not_a_url_or_cannot_be_reached_is_said_in_words(
    env: dict[str, str],
) -> None:
    """One message each, no "this is a bug" and no secret: a malformed endpoint, and one
    where nothing answers (a closed local port)."""
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    for endpoint, words in (
        ("not a url", "is not an http(s) URL"),
        (f"http://127.0.0.1:{closed}", "the object store cannot be reached"),
    ):
        code, said = run({**env, "AWS_ENDPOINT_URL": endpoint}, "--warehouse",
                         "s3://finops-wh/wh", "query", "select 1")  # fmt: skip
        assert code != 0, said
        assert words in said, said
        assert "bug in finops" not in said and SECRET not in said
