"""Cost Management export runs with "overwrite" off: each month is read once, from its newest
complete run, in a local folder and in a storage container (Azurite); the rest is skipped."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from dashboard.cli.finops import main
from ingest.sources import azure_runs
from ingest.warehouse.connection import connect, versions
from tests.fixtures.azure_remote import config
from tests.fixtures.azure_runs import ACTUAL, AMORTIZED, DATES, REFERENCE, to_parquet, write_run
from tests.servers.azurite import Azurite

# sum(Cost) of EA_ActualCost_Small.csv and EA_AmortizedCost_Small.csv at scale 12
BILLED, EFFECTIVE, LINES = Decimal("8.545007786742"), Decimal("16.296932136637"), 29


# ---- building the layout ------------------------------------------------------------------


FORMATS: dict[str, tuple[str, Callable[[bytes], bytes]]] = {
    "csv": ("part_0_0001.csv", lambda b: b),
    "csv.gz": ("part_0_0001.csv.gz", lambda b: gzip.compress(b, mtime=0)),
    "parquet": ("part_0_0001.parquet", to_parquet),
}
# the run of 30 September, before the month's last charge row arrived
EARLY = b"".join(ACTUAL.splitlines(keepends=True)[:-1])


def month_delivered_twice(root: Path, fmt: str) -> Path:
    """Actual cost delivered twice (the older run lacks a row), amortized once."""
    name, encode = FORMATS[fmt]
    write_run(root, "acme-actual", "run-0930", "2023-09-30T06:12:41.1234567Z",
              {name: encode(EARLY)})  # fmt: skip
    write_run(root, "acme-actual", "run-1005", "2023-10-05T06:03:10.7654321Z",
              {name: encode(ACTUAL)})  # fmt: skip
    write_run(root, "acme-amortized", "run-1005a", "2023-10-05T06:20:00Z",
              {name: encode(AMORTIZED)}, "AmortizedCost")  # fmt: skip
    return root


def ingest(warehouse: Path, *args: str) -> int:
    return main(["--warehouse", str(warehouse), "ingest", "azure", *args])


def totals(warehouse: Path) -> tuple:
    return (
        connect(warehouse)
        .execute("select count(*), sum(BilledCost), sum(EffectiveCost) from cost_lines")
        .fetchone()
    )


# ---- a month delivered twice ---------------------------------------------------------------


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_month_delivered_twice_is_its_newest_run(
    fmt: str, tmp_path: Path, warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = month_delivered_twice(tmp_path / "exports", fmt)
    assert ingest(warehouse, str(root)) == 0
    assert totals(warehouse) == (LINES, BILLED, EFFECTIVE)
    (files,) = connect(warehouse).execute("select files from loads").fetchone()
    assert "run-1005/part_0_0001" in files and "run-0930" not in files
    out = capsys.readouterr().out
    name = FORMATS[fmt][0]
    assert (
        "skipped 1 file: older run run-0930 of export acme-actual for 20230901-20230930 "
        "(submitted 2023-09-30 06:12:41Z; the newest run run-1005 was read), "
        f"e.g. {root}/acme-actual/{DATES}/run-0930/{name}"
    ) in out
    assert "status committed" in out
    # the same folder again commits nothing
    assert ingest(warehouse, str(root)) == 0
    assert "status unchanged" in capsys.readouterr().out
    assert versions(warehouse)["cost_lines"] == 0


def test_the_older_run_alone_is_what_the_older_run_says(tmp_path: Path, warehouse: Path) -> None:
    """The runs really differ: had the older one been read (or added), totals would differ."""
    root = tmp_path / "exports"
    write_run(root, "acme-actual", "run-0930", "2023-09-30T06:00:00Z", {"part_0_0001.csv": EARLY})
    assert ingest(warehouse, str(root)) == 0
    count, billed, _ = totals(warehouse)
    assert count == 10 and billed != BILLED and billed < BILLED


def test_a_blob_the_manifest_lists_twice_is_read_once(tmp_path: Path, warehouse: Path) -> None:
    """A duplicated blobs entry is still one file: reading it twice doubled the month."""
    root = tmp_path / "exports"
    folder = write_run(
        root, "acme-actual", "run-1005", "2023-10-05T06:00:00Z", {"part_0_0001.csv": ACTUAL}
    )
    doc = json.loads((folder / azure_runs.MANIFEST).read_text(encoding="utf-8"))
    doc["blobs"] *= 2
    (folder / azure_runs.MANIFEST).write_text(json.dumps(doc), encoding="utf-8")
    assert ingest(warehouse, str(root)) == 0
    count, billed, _ = totals(warehouse)
    assert (count, billed) == (10 + 1, BILLED)


def test_a_newest_run_without_charge_rows_says_the_stored_month_is_kept(
    tmp_path: Path, warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A header-only newest run cannot name the account it would empty: the month keeps the
    earlier load, and the summary says so instead of only "nothing to load"."""
    root = tmp_path / "exports"
    write_run(root, "acme-actual", "run-0930", "2023-09-30T06:00:00Z", {"part_0_0001.csv": ACTUAL})
    assert ingest(warehouse, str(root)) == 0
    header = ACTUAL.splitlines(keepends=True)[0]
    write_run(root, "acme-actual", "run-1005", "2023-10-05T06:00:00Z", {"part_0_0001.csv": header})
    capsys.readouterr()
    assert ingest(warehouse, str(root)) == 0
    out = capsys.readouterr().out
    assert (
        "skipped 1 file: the newest run run-1005 of export acme-actual for 20230901-20230930 "
        "holds no charge rows; what an earlier load stored for these days is kept, unchanged, "
        f"e.g. {root}/acme-actual/{DATES}/run-1005/part_0_0001.csv"
    ) in out
    count, billed, _ = totals(warehouse)
    assert (count, billed) == (11, BILLED)
    assert versions(warehouse)["cost_lines"] == 0


INCOMPLETE = {
    "newest run without its manifest": (
        {"with_manifest": False}, "no manifest.json (the run is still being written, or it "
        "failed)"),
    "newest run missing a file its manifest lists": (
        {"listed": ("part_0_0002.csv",)},
        "1 of 2 files its manifest.json lists are missing or partial"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(INCOMPLETE))
def test_incomplete_newest_run_is_skipped_for_the_last_complete_one(
    case: str, tmp_path: Path, warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    options, why = INCOMPLETE[case]
    root = tmp_path / "exports"
    write_run(root, "acme-actual", "run-1005", "2023-10-05T06:00:00Z",
              {"part_0_0001.csv": ACTUAL})  # fmt: skip
    write_run(root, "acme-actual", "run-1006", "2023-10-06T06:00:00Z",
              {"part_0_0001.csv": EARLY}, **options)  # fmt: skip
    assert ingest(warehouse, str(root)) == 0
    assert totals(warehouse)[:2] == (10 + 1, BILLED)
    out = capsys.readouterr().out
    assert (
        f"skipped 1 file: incomplete run run-1006 of export acme-actual for {DATES}: {why}" in out
    )


def test_two_runs_of_one_month_can_never_be_summed(
    tmp_path: Path, warehouse: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Even a plan that held both runs of the month (as the old reader did) cannot commit."""
    root = month_delivered_twice(tmp_path / "exports", "csv")
    every_run = azure_runs.find_runs(root, str(root))
    assert len(every_run) == 3

    def plan_with_both(root: Path, display: str) -> azure_runs.Plan:
        return azure_runs.Plan(runs={(r.export, r.run_id): r for r in every_run})

    monkeypatch.setattr(azure_runs, "plan", plan_with_both)
    assert ingest(warehouse, str(root)) == 2
    err = capsys.readouterr().err
    assert "two runs of export acme-actual in one billing period" in err
    assert "billing account 8611537, 2023-09" in err and "runs run-0930 and run-1005" in err
    assert versions(warehouse)["cost_lines"] is None


def test_focus_export_runs_go_to_the_focus_reader(tmp_path: Path, warehouse: Path) -> None:
    sample = pl.read_csv(REFERENCE / "focus-1.0-sample" / "focus_sample.csv", infer_schema=False)
    ms = sample.filter(pl.col("ProviderName") == "Microsoft")
    full, early = io.BytesIO(), io.BytesIO()
    ms.write_csv(full)
    ms.head(ms.height - 5).write_csv(early)
    root = tmp_path / "exports"
    sept = {"dates": "20240901-20240930"}
    write_run(root, "acme-focus", "run-1", "2024-10-01T06:00:00Z",
              {"part_0_0001.csv": early.getvalue()}, "FocusCost", **sept)  # fmt: skip
    write_run(root, "acme-focus", "run-2", "2024-10-03T06:00:00Z",
              {"part_0_0001.csv": full.getvalue()}, "FocusCost", **sept)  # fmt: skip
    assert ingest(warehouse, str(root)) == 0
    got = (
        connect(warehouse)
        .execute("select any_value(x_Source), count(*), sum(BilledCost) from cost_lines")
        .fetchone()
    )
    assert got == ("focus", ms.height, ms["BilledCost"].str.to_decimal(scale=12).sum())
    files = " ".join(
        str(r[0]) for r in connect(warehouse).execute("select files from loads").fetchall()
    )
    assert "run-2/part_0_0001.csv" in files and "run-1" not in files


def test_files_outside_run_folders_are_listed_as_skipped(
    tmp_path: Path, warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = month_delivered_twice(tmp_path / "exports", "csv")
    (root / "acme-actual" / "old-copy.csv").write_bytes(ACTUAL)
    assert ingest(warehouse, str(root)) == 0
    assert totals(warehouse) == (LINES, BILLED, EFFECTIVE)
    out = capsys.readouterr().out
    assert (
        "skipped 1 file: not inside an export run folder (<export>/<YYYYMMDD-YYYYMMDD>/<runId>/), "
        f"e.g. {root}/acme-actual/old-copy.csv"
    ) in out


@pytest.mark.parametrize(
    ("below", "rows"),
    [("acme-actual", 11), (f"acme-actual/{DATES}", 11), (f"acme-actual/{DATES}/run-1005", 11)],
)
def test_pointing_at_an_export_date_range_or_run_folder(
    below: str, rows: int, tmp_path: Path, warehouse: Path
) -> None:
    root = month_delivered_twice(tmp_path / "exports", "csv")
    assert ingest(warehouse, str(root / below)) == 0
    assert totals(warehouse)[:2] == (rows, BILLED)


def test_manifest_submitted_time_decides_not_folder_names(tmp_path: Path, warehouse: Path) -> None:
    """Run ids are GUIDs: their order says nothing, the manifest's submittedTime does."""
    root = tmp_path / "exports"
    write_run(root, "acme-actual", "ffff0000", "2023-09-30T06:00:00Z", {"part_0_0001.csv": EARLY})
    write_run(root, "acme-actual", "0000ffff", "2023-10-05T06:00:00Z", {"part_0_0001.csv": ACTUAL})
    assert ingest(warehouse, str(root)) == 0
    assert totals(warehouse)[1] == BILLED


# ---- a storage container (Azurite) --------------------------------------------------------


@pytest.fixture
def container_runs(
    azurite: Azurite,
    tls,
    tmp_path: Path,
) -> Iterator[str]:
    import os

    from azure.storage.blob import BlobServiceClient

    local = month_delivered_twice(tmp_path / "local", "parquet")
    os.environ["REQUESTS_CA_BUNDLE"] = str(tls.ca_pem)
    try:
        service = BlobServiceClient.from_connection_string(azurite.connection_string)
        box = service.create_container(f"runs-{tmp_path.name[-20:].lower().replace('_', '-')}")
        for path in sorted(p for p in local.rglob("*") if p.is_file()):
            box.upload_blob(f"exports/{path.relative_to(local).as_posix()}", path.read_bytes())
    finally:
        del os.environ["REQUESTS_CA_BUNDLE"]
    yield f"azblob://devstoreaccount1/{box.container_name}/exports"


def test_container_month_delivered_twice_is_its_newest_run(
    azurite: Azurite,
    container_runs: str,
    azure_env: pytest.MonkeyPatch,
    tmp_path: Path,
    warehouse: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from ingest.sources.azure_blob import Container

    fetched: list[str] = []
    real_fetch = Container.fetch

    def fetch(self: Container, names: list[str], dest: Path) -> list[Path]:
        fetched.extend(names)
        return real_fetch(self, names, dest)

    azure_env.setattr(Container, "fetch", fetch)
    azure_env.setenv("FINOPS_TEST_AZ_CONN", azurite.connection_string)
    cfg = config(tmp_path, connection_string_env="FINOPS_TEST_AZ_CONN")
    argv = ["--warehouse", str(warehouse), "--config", str(cfg), "ingest", "azure"]
    assert main([*argv, container_runs]) == 0
    # the older run is listed, never downloaded; every manifest is
    assert sorted(n.rsplit("/", 1)[1] for n in fetched) == 3 * ["manifest.json"] + 2 * [
        "part_0_0001.parquet"
    ]
    assert not [n for n in fetched if "run-0930/part" in n]
    assert totals(warehouse) == (LINES, BILLED, EFFECTIVE)
    (files,) = connect(warehouse).execute("select files from loads").fetchone()
    assert f"{container_runs}/acme-actual/{DATES}/run-1005/part_0_0001.parquet" in files
    out = capsys.readouterr().out
    assert "skipped 1 file: older run run-0930 of export acme-actual" in out
    assert f"e.g. {container_runs}/acme-actual/{DATES}/run-0930/part_0_0001.parquet" in out


# ---- bad input (the table in tests/ingest/test_azure.py runs these through the CLI) -------


def test_sample_enterprise_azure_equals_its_truth(
    sample_truth: dict, warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The committed sample delivers 2026-09 twice; the warehouse holds its newest run."""
    from tests.fixtures.paths import SAMPLE_DATA

    assert ingest(warehouse, str(SAMPLE_DATA / "azure")) == 0
    got = {
        period: (billed, effective)
        for period, billed, effective in connect(warehouse)
        .execute(
            "select strftime(BillingPeriodStart, '%Y-%m'), sum(BilledCost), sum(EffectiveCost) "
            "from cost_lines group by 1"
        )
        .fetchall()
    }
    truth = {
        t["billing_period"]: (Decimal(t["billed_cost"]), Decimal(t["effective_cost"]))
        for t in sample_truth["totals"]
        if t["provider"] == "Microsoft"
    }
    assert got == truth
    out = capsys.readouterr().out
    for export in ("acme-actual", "acme-amortized"):
        assert "skipped 1 file: older run " in out
        assert f"of export {export} for 20260901-20260930 (submitted 2026-09-30 06:00:00Z;" in out


@pytest.mark.parametrize(
    "name",
    ["../x.csv", "acme/../../x.csv", "/etc/passwd", "acme/20260901-20260930/../../../../x", ""],
)
def test_a_blob_name_outside_the_download_folder_is_refused(name: str, tmp_path: Path) -> None:
    """Azurite normalises `..` in names, so the rule is held on the function every download
    goes through: a name that would land outside the folder is refused, never written."""
    from ingest.sources.azure_blob import BlobTarget, inside
    from models.errors import InputError

    dest = tmp_path / "download"
    dest.mkdir()
    target = BlobTarget("acct", "billing", "exports")
    with pytest.raises(InputError, match="a blob name points outside the export folder"):
        inside(dest, name, target)
    assert inside(dest, "acme/20260901-20260930/run/part_0_0001.csv", target).is_relative_to(dest)
    assert list(tmp_path.iterdir()) == [dest] and not any(dest.iterdir())
