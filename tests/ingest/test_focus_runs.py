"""`finops ingest focus` on Azure FocusCost export runs: each month is read once, from its
newest complete run, on disk and through moto's S3 server; cost-details runs are refused.

The FOCUS lines are the Microsoft rows of the real FOCUS 1.0 sample. The older run of the
month lacks rows and bills one line differently: summing the runs, or reading the older one,
gives totals that differ from the newest run's.
"""

from __future__ import annotations

import csv
import io
import json
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import polars as pl
import pytest

from dashboard.cli.finops import main
from ingest.sources import azure_runs
from ingest.warehouse.connection import connect, versions
from tests.fixtures.azure_runs import ACTUAL, AMORTIZED, REFERENCE, write_run
from tests.fixtures.data_exports import FOCUS, PREFIX, Place, objects
from tests.fixtures.warehouse_state import state

SAMPLE = REFERENCE / "focus-1.0-sample" / "focus_sample.csv"
DATES = "20240901-20240930"
RUN = f"acme-focus/{DATES}"
PART = "part_0_0001.csv"
OLD_WHEN, NEW_WHEN = "2024-10-01T06:00:00.1234567Z", "2024-10-03T06:00:00Z"
Q = Decimal("1e-12")


def sample_rows(provider: str) -> list[dict[str, str]]:
    with SAMPLE.open(newline="", encoding="utf-8") as fh:
        return [r for r in csv.DictReader(fh) if r["ProviderName"] == provider]


def as_csv(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def billed(rows: list[dict[str, str]]) -> Decimal:
    """The sum a reader must reach: each BilledCost at scale 12, summed with Decimal."""
    return sum((Decimal(r["BilledCost"]).quantize(Q, ROUND_HALF_EVEN) for r in rows), Decimal(0))


NEWEST = sample_rows("Microsoft")
# the run of 1 October: three rows had not arrived and one was billed at a later-corrected price
OLDER = [dict(r) for r in NEWEST[:-3]]
OLDER[0]["BilledCost"] = str(Decimal(OLDER[0]["BilledCost"]) + Decimal("12.34"))
ACCOUNT = NEWEST[0]["BillingAccountId"]


def focus_runs(root: Path) -> Path:
    """One FocusCost export whose September is delivered twice (overwrite off)."""
    write_run(root, "acme-focus", "run-1001", OLD_WHEN, {PART: as_csv(OLDER)}, "FocusCost",
              dates=DATES)  # fmt: skip
    write_run(root, "acme-focus", "run-1003", NEW_WHEN, {PART: as_csv(NEWEST)}, "FocusCost",
              dates=DATES)  # fmt: skip
    return root


def put_tree(where: Place, built: Path) -> None:
    """The files of a folder built on disk, as objects below the place's prefix."""
    files = sorted(p for p in built.rglob("*") if p.is_file())
    # a run's manifest.json is written after its data, as Cost Management does
    files.sort(key=lambda p: (p.parent.as_posix(), p.name == azure_runs.MANIFEST))
    where.put([(p.relative_to(built).as_posix(), p.read_bytes()) for p in files])


def ingest_focus(warehouse: Path, target: str, *args: str) -> int:
    return main(["--warehouse", str(warehouse), "ingest", "focus", target, *args])


def totals(warehouse: Path) -> tuple:
    return (
        connect(warehouse)
        .execute(
            "select count(*), sum(BilledCost) from cost_lines where ProviderName = 'Microsoft'"
        )
        .fetchone()
    )


def test_the_runs_really_differ() -> None:
    """Summing the runs, or reading the older one, would not give the newest run's totals."""
    assert billed(OLDER) != billed(NEWEST) and billed(OLDER) + billed(NEWEST) != billed(NEWEST)
    assert len(NEWEST) == 51 and len({r["BillingPeriodStart"][:7] for r in NEWEST}) == 1


def test_month_delivered_twice_is_its_newest_run(
    place: Place,
    tmp_path: Path,
    warehouse: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    put_tree(place, focus_runs(tmp_path / "built"))

    assert ingest_focus(warehouse, place.target("acme-focus"), *place.args) == 0

    assert totals(warehouse) == (len(NEWEST), billed(NEWEST))
    loads = connect(warehouse).execute(
        "select billing_account, billing_period, rows, source_total, warehouse_total, files "
        "from loads"
    )
    ((account, period, rows, source, stored, files),) = loads.fetchall()
    assert (account, period, rows) == (ACCOUNT, "2024-09", len(NEWEST))
    assert source == stored == billed(NEWEST)
    assert place.shown(f"{RUN}/run-1003/{PART}") in str(files) and "run-1001" not in str(files)
    out = capsys.readouterr().out
    assert (
        f"skipped 1 file: older run run-1001 of export acme-focus for {DATES} "
        "(submitted 2024-10-01 06:00:00Z; the newest run run-1003 was read), "
        f"e.g. {place.shown(f'{RUN}/run-1001/{PART}')}"
    ) in out
    assert "status committed" in out
    version = versions(warehouse)["cost_lines"]

    assert ingest_focus(warehouse, place.target("acme-focus"), *place.args) == 0
    assert "status unchanged" in capsys.readouterr().out
    assert versions(warehouse)["cost_lines"] == version


@pytest.mark.parametrize(
    "below", ["", "acme-focus", RUN, f"{RUN}/run-1003", f"{RUN}/run-1003/manifest.json"]
)
def test_pointing_at_the_root_an_export_a_date_range_or_a_run(
    below: str, tmp_path: Path, warehouse: Path
) -> None:
    root = focus_runs(tmp_path / "exports")
    assert ingest_focus(warehouse, str(root / below)) == 0
    assert totals(warehouse) == (len(NEWEST), billed(NEWEST))


def test_incomplete_newest_run_is_skipped_for_the_last_complete_one(
    tmp_path: Path, warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = focus_runs(tmp_path / "exports")
    write_run(root, "acme-focus", "run-1004", "2024-10-04T06:00:00Z", {PART: as_csv(OLDER)},
              "FocusCost", dates=DATES, with_manifest=False)  # fmt: skip
    assert ingest_focus(warehouse, str(root)) == 0
    assert totals(warehouse) == (len(NEWEST), billed(NEWEST))
    out = capsys.readouterr().out
    assert (
        f"skipped 1 file: incomplete run run-1004 of export acme-focus for {DATES}: "
        "no manifest.json (the run is still being written, or it failed)"
    ) in out


def test_aws_data_export_and_azure_runs_in_one_folder_are_each_read_once(
    tmp_path: Path, warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder gathering several providers' FOCUS exports: every layout keeps its rule."""
    root = tmp_path / "focus"
    focus_runs(root / "azure")
    for key, body in objects(FOCUS, False):  # AWS: 2026-09 delivered twice, 2026-10 once
        path = root / "aws" / PREFIX / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    pl.read_csv(SAMPLE, infer_schema=False).filter(pl.col("ProviderName") == "Oracle").write_csv(
        root / "oci.csv"
    )

    assert ingest_focus(warehouse, str(root)) == 0

    got = dict(
        connect(warehouse)
        .execute("select ProviderName, sum(BilledCost) from cost_lines group by 1")
        .fetchall()
    )
    aws = {p: Decimal("0.25") - Decimal("1.5") for p in ("2026-09", "2026-10")}
    aws_total = Decimal("90.0123456789") + Decimal("7") + sum(aws.values())
    oracle = billed(sample_rows("Oracle"))
    assert got == {"Microsoft": billed(NEWEST), "AWS": aws_total, "Oracle": oracle}
    out = capsys.readouterr().out
    assert "skipped 1 file: older run run-1001 of export acme-focus" in out
    assert "skipped 1 file: older delivery of acme-focus BILLING_PERIOD=2026-09" in out


# ---- refused: nothing is committed ------------------------------------------------------------


def expect_refusal(warehouse: Path, target: Path, capsys: pytest.CaptureFixture[str]) -> str:
    before = state(warehouse)
    assert ingest_focus(warehouse, str(target)) == 2
    captured = capsys.readouterr()
    lines = [x for x in captured.err.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("Bad input: "), captured.err
    assert state(warehouse) == before
    assert not (warehouse / "cost_lines").exists()
    return lines[0]


def test_cost_details_runs_are_sent_to_ingest_azure(
    tmp_path: Path, warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "exports"
    sept = {"dates": "20230901-20230930"}
    write_run(root, "acme-actual", "run-1", "2023-10-05T06:00:00Z", {PART: ACTUAL}, **sept)
    write_run(root, "acme-amortized", "run-2", "2023-10-05T06:20:00Z", {PART: AMORTIZED},
              "AmortizedCost", **sept)  # fmt: skip
    message = expect_refusal(warehouse, root, capsys)
    assert "Azure cost-details export runs are not FOCUS" in message
    assert f"{root}/acme-actual/20230901-20230930/run-1/manifest.json" in message
    assert "found ActualCost export acme-actual" in message
    assert "use `finops ingest azure" in message


def test_two_runs_of_one_month_can_never_be_summed(
    tmp_path: Path, warehouse: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Even a plan that kept both runs of the month cannot commit their sum."""
    root = focus_runs(tmp_path / "exports")
    every_run = azure_runs.find_runs(root, str(root))
    assert [r.run_id for r in every_run] == ["run-1001", "run-1003"]

    def plan_with_both(*_: object, **__: object) -> azure_runs.Plan:
        return azure_runs.Plan(runs={(r.export, r.run_id): r for r in every_run})

    monkeypatch.setattr(azure_runs, "plan", plan_with_both)
    message = expect_refusal(warehouse, root, capsys)
    assert "two runs of export acme-focus in one billing period" in message
    assert f"billing account {ACCOUNT}, 2024-09" in message
    assert "runs run-1001 and run-1003" in message


@pytest.mark.parametrize("below", ["", "20230601-20230701", "20230601-20230701/assembly-1"])
def test_a_legacy_cur_folder_of_the_same_shape_is_not_taken_for_azure_runs(
    below: str, tmp_path: Path, warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """<report>/<YYYYMMDD-YYYYMMDD>/<assemblyId>/ is also AWS's legacy CUR layout."""
    period = tmp_path / "acme-cur" / "20230601-20230701"
    (period / "assembly-1").mkdir(parents=True)
    cur = REFERENCE / "aws-cur-legacy-koku" / "2023-06-01.csv"
    (period / "assembly-1" / "acme-cur-1.csv").write_bytes(cur.read_bytes())
    key = "cur/acme-cur/20230601-20230701/assembly-1/acme-cur-1.csv"
    (period / "acme-cur-Manifest.json").write_text(json.dumps({"reportKeys": [key]}), "utf-8")
    message = expect_refusal(warehouse, tmp_path / "acme-cur" / below, capsys)
    assert "not a FOCUS cost-and-usage file" in message and "`finops ingest aws`" in message
