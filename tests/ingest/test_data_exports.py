"""AWS Data Exports layout (CUR 2.0 and FOCUS 1.2): a month is its newest manifest's files.

Each layout is built twice, as files on disk and as objects in moto's S3 server over HTTP,
with a month delivered twice under the "create new file" preference where the older delivery
differs: the warehouse must equal the newest delivery to the cent, the summary must name what
was skipped, and a second ingest of the same export must change nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import boto3
import pyarrow as pa
import pytest

from ingest.warehouse.connection import connect, versions
from tests.fixtures.cur import STORED_ROWS, cur2_table, expected_billed
from tests.fixtures.data_exports import (
    FOCUS,
    NEW,
    OLD,
    PREFIX,
    Export,
    Place,
    focus_table,
    local_place,
    objects,
    parquet,
    s3_place,
)
from tests.fixtures.warehouse_state import ingest, period_totals, state

# ---- building a delivery ---------------------------------------------------------------------


# ---- CUR 2.0 ---------------------------------------------------------------------------------

CUR2 = Export(
    "acme-cur2",
    {
        "2026-08": [(OLD + "-08", [parquet(cur2_table("2026-08"))])],
        "2026-09": [
            (OLD, [parquet(cur2_table("2026-09").slice(0, 5)),
                   parquet(cur2_table("2026-09").slice(5))]),
            (NEW, [parquet(cur2_table("2026-09", scale=3.0))]),
        ],
    },
)  # fmt: skip
OTHER = Export(
    "team-b-cur2", {"2026-09": [(NEW + "-b", [parquet(cur2_table("2026-09", payer="333"))])]}
)


@dataclass(frozen=True)
class Case:
    exports: tuple[Export, ...]
    target: str  # below the prefix
    periods: dict[str, tuple[int, Decimal]]  # period -> (rows, billed), all accounts together
    skipped: int  # number of older files the summary must name
    per_execution_manifests: bool = False


OLD_FILE = f"acme-cur2/data/BILLING_PERIOD=2026-09/{OLD}/acme-cur2-00001.snappy.parquet"
SEPT = (STORED_ROWS, expected_billed(cur2_table("2026-09", scale=3.0)))
AUG = (STORED_ROWS, expected_billed(cur2_table("2026-08")))
CASES = {
    "the export folder": Case((CUR2,), "acme-cur2", {"2026-08": AUG, "2026-09": SEPT}, 2),
    "a manifest per execution": Case(
        (CUR2,), "acme-cur2", {"2026-08": AUG, "2026-09": SEPT}, 2, per_execution_manifests=True
    ),
    "a prefix holding two exports": Case(
        (CUR2, OTHER),
        "",
        {
            "2026-08": AUG,
            "2026-09": (2 * STORED_ROWS, SEPT[1] + expected_billed(cur2_table("2026-09"))),
        },
        2,
    ),
    "one BILLING_PERIOD folder": Case(
        (CUR2,), "acme-cur2/data/BILLING_PERIOD=2026-09", {"2026-09": SEPT}, 2
    ),
    "one period's metadata folder": Case(
        (CUR2,), "acme-cur2/metadata/BILLING_PERIOD=2026-09", {"2026-09": SEPT}, 2
    ),
    "the month's manifest itself": Case(
        (CUR2,),
        "acme-cur2/metadata/BILLING_PERIOD=2026-09/acme-cur2-Manifest.json",
        {"2026-09": SEPT},
        0,  # exactly the files it names; nothing else is looked at
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_cur2_month_is_the_newest_delivery(
    case: Case, place: Place, warehouse: Path, capsys: pytest.CaptureFixture
) -> None:
    for export in case.exports:
        place.put(objects(export, case.per_execution_manifests))
    target = place.target(case.target).rstrip("/")

    assert ingest(warehouse, "aws", target, *place.args) == 0
    out = capsys.readouterr().out

    got = {p: (n, b) for p, (n, b, _) in period_totals(warehouse).items()}
    assert got == case.periods
    notes = [line for line in out.splitlines() if line.startswith("skipped")]
    assert (
        notes
        == [
            f"skipped {case.skipped} files: older delivery of acme-cur2 BILLING_PERIOD=2026-09, "
            f"replaced by execution {NEW} (execution {OLD}), e.g. {place.shown(OLD_FILE)}"
        ][: bool(case.skipped)]
    )
    (files,) = (
        connect(warehouse)
        .execute(
            "select files from loads where billing_period = '2026-09' "
            "and billing_account = '111111111111'"
        )
        .fetchone()
    )
    assert [f["path"] for f in json.loads(files)] == [
        place.shown(f"acme-cur2/data/BILLING_PERIOD=2026-09/{NEW}/acme-cur2-00001.snappy.parquet")
    ]

    version = versions(warehouse)["cost_lines"]
    assert ingest(warehouse, "aws", target, *place.args) == 0  # the same export again
    again = capsys.readouterr().out
    assert versions(warehouse)["cost_lines"] == version
    (loads,) = (
        connect(warehouse)
        .execute("select count(distinct (billing_period, billing_account)) from loads")
        .fetchone()
    )
    assert again.count("unchanged") == loads == len(case.periods) + (OTHER in case.exports)
    assert "committed" not in again


def test_a_month_with_data_but_no_manifest_yet_is_skipped_not_guessed(
    tmp_path: Path, warehouse: Path, capsys: pytest.CaptureFixture
) -> None:
    place = local_place(tmp_path / "bucket")
    items = objects(CUR2, False)
    place.put([(k, b) for k, b in items if "metadata/BILLING_PERIOD=2026-09" not in k])
    assert ingest(warehouse, "aws", place.target("acme-cur2")) == 0
    out = capsys.readouterr().out
    assert {p: (n, b) for p, (n, b, _) in period_totals(warehouse).items()} == {"2026-08": AUG}
    assert "skipped 2 files: acme-cur2 BILLING_PERIOD=2026-09 has no manifest yet" in out
    assert "skipped 1 file: acme-cur2 BILLING_PERIOD=2026-09 has no manifest yet" in out


def test_a_file_the_manifest_names_twice_is_read_once(
    place: Place, warehouse: Path, capsys: pytest.CaptureFixture
) -> None:
    """A duplicated dataFiles entry is still one object: reading it twice doubled the month."""
    key = _manifest_key(CUR2, "2026-09")
    items = []
    for k, body in objects(CUR2, False):
        if k == key:
            doc = json.loads(body)
            doc["dataFiles"] = doc["dataFiles"] * 2
            body = json.dumps(doc).encode()
        items.append((k, body))
    place.put(items)
    assert ingest(warehouse, "aws", place.target("acme-cur2"), *place.args) == 0
    got = {p: (n, b) for p, (n, b, _) in period_totals(warehouse).items()}
    assert got == {"2026-08": AUG, "2026-09": SEPT}


# ---- FOCUS 1.2 from AWS ----------------------------------------------------------------------


def test_focus_export_reads_the_newest_delivery(
    place: Place, warehouse: Path, capsys: pytest.CaptureFixture
) -> None:
    place.put(objects(FOCUS, False))
    assert ingest(warehouse, "focus", place.target("acme-focus"), *place.args) == 0
    out = capsys.readouterr().out
    got = {p: (n, b) for p, (n, b, _) in period_totals(warehouse).items()}
    assert got == {
        "2026-09": (3, Decimal("90.0123456789") + Decimal("0.25") - Decimal("1.5")),
        "2026-10": (3, Decimal("7") + Decimal("0.25") - Decimal("1.5")),
    }
    old = f"acme-focus/data/BILLING_PERIOD=2026-09/{OLD}/acme-focus-00001.snappy.parquet"
    assert (
        f"skipped 1 file: older delivery of acme-focus BILLING_PERIOD=2026-09, replaced by "
        f"execution {NEW} (execution {OLD}), e.g. {place.shown(old)}"
    ) in out
    version = versions(warehouse)["cost_lines"]
    assert ingest(warehouse, "focus", place.target("acme-focus"), *place.args) == 0
    assert "unchanged" in capsys.readouterr().out
    assert versions(warehouse)["cost_lines"] == version


# ---- bad manifests: one message, exit 2, nothing committed for any period --------------------


def _manifest_key(export: Export, period: str) -> str:
    return f"{export.name}/metadata/BILLING_PERIOD={period}/{export.name}-Manifest.json"


def missing_file(items: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    return [(k, b) for k, b in items if not k.endswith(f"{NEW}/acme-cur2-00001.snappy.parquet")]


def not_json(items: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    key = _manifest_key(CUR2, "2026-09")
    return [(k, b"<Error>AccessDenied</Error>" if k == key else b) for k, b in items]


def renaming(uri_of: Callable[[str], str]) -> Callable[[list], list]:
    def change(items: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
        key = _manifest_key(CUR2, "2026-09")
        out = []
        for k, b in items:
            if k == key:
                doc = json.loads(b)
                doc["dataFiles"] = [uri_of(doc["dataFiles"][0])]
                b = json.dumps(doc).encode()
            out.append((k, b))
        return out

    return change


BAD = {
    "a manifest naming a missing file": (
        missing_file,
        "a file named by the manifest is missing",
        f"acme-cur2/data/BILLING_PERIOD=2026-09/{NEW}/acme-cur2-00001.snappy.parquet",
    ),
    "a manifest that is not JSON": (not_json, "not a Data Exports manifest", "not JSON"),
    "a manifest climbing out of its export": (
        renaming(lambda u: u.replace("acme-cur2/data/", "acme-cur2/data/../../other/")),
        "the manifest names a file outside its export",
        "/../../other/",
    ),
    "a manifest naming another export's file": (
        renaming(lambda u: u.replace("acme-cur2/data/", "team-b-cur2/data/")),
        "the manifest names a file outside its export",
        "team-b-cur2/data/BILLING_PERIOD=2026-09",
    ),
}


@pytest.mark.parametrize("name", BAD.keys())
def test_bad_manifest_is_one_clear_message_and_commits_nothing(
    name: str, place: Place, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    change, says, found = BAD[name]
    warehouse = tmp_path / "warehouse"
    place.put(change(objects(CUR2, False)))
    before = state(warehouse)

    code = ingest(warehouse, "aws", place.target("acme-cur2"), *place.args)

    captured = capsys.readouterr()
    lines = [x for x in captured.err.splitlines() if x.strip()]
    assert code == 2 and len(lines) == 1, captured.err
    assert lines[0].startswith("Bad input: ") and says in lines[0] and found in lines[0]
    assert place.shown(_manifest_key(CUR2, "2026-09")) in lines[0]
    assert captured.out == ""
    assert state(warehouse) == before  # not even the good 2026-08
    assert not (warehouse / "cost_lines").exists()


def test_an_s3_key_that_would_land_outside_the_download_is_refused(
    endpoint: str, s3_env: None, warehouse: Path, capsys: pytest.CaptureFixture
) -> None:
    place = s3_place(endpoint, "billing-escape")
    place.put(objects(CUR2, False))
    client = boto3.client("s3", endpoint_url=endpoint)
    key = f"{PREFIX}/acme-cur2/data/../../../../escape.snappy.parquet"
    client.put_object(Bucket="billing-escape", Key=key, Body=parquet(cur2_table("2026-09")))
    assert ingest(warehouse, "aws", place.target("acme-cur2"), *place.args) == 2
    err = capsys.readouterr().err
    assert "an S3 object name that cannot be copied safely" in err and key in err
    assert not (warehouse / "cost_lines").exists()


def test_two_exports_of_one_payer_and_month_are_refused_and_commit_nothing(
    place: Place, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A prefix holding a second export of the same payer account and month (a copy made for
    another team, a test export left running): loading both would keep whichever came last."""
    copy = Export("acme-copy", {"2026-09": [(NEW + "-c", [parquet(cur2_table("2026-09"))])]})
    warehouse = tmp_path / "warehouse"
    place.put(objects(CUR2, False) + objects(copy, False))
    before = state(warehouse)

    code = ingest(warehouse, "aws", place.target(""), *place.args)

    captured = capsys.readouterr()
    lines = [x for x in captured.err.splitlines() if x.strip()]
    assert code == 2 and len(lines) == 1, captured.err
    assert "two exports deliver the same billing period" in lines[0]
    assert "period 2026-09" in lines[0]
    assert "acme-copy" in lines[0] and "acme-cur2" in lines[0]
    assert state(warehouse) == before  # not even the 2026-08 that only one export has


def _retyped(table: pa.Table, column: str, values: pa.Array) -> pa.Table:
    return table.set_column(table.schema.get_field_index(column), column, values)


WRONG_TYPES = {
    "CUR 2.0 cost as booleans": (
        "aws",
        _retyped(cur2_table("2026-09"), "line_item_unblended_cost", pa.array([True] * 10)),
        "column 'line_item_unblended_cost' has a type that cannot hold its values — expected "
        "a decimal number, found a column of type Boolean",
    ),
    "CUR 2.0 usage start as integers": (
        "aws",
        _retyped(cur2_table("2026-09"), "line_item_usage_start_date", pa.array([7] * 10)),
        "column 'line_item_usage_start_date' has a type that cannot hold its values — expected "
        "a date-time like 2026-09-01T00:00:00Z, found a column of type Int64",
    ),
    "FOCUS BilledCost as booleans": (
        "focus",
        _retyped(focus_table("2026-09", "1"), "BilledCost", pa.array([True] * 3)),
        "column 'BilledCost' has a type that cannot hold its values — expected a decimal "
        "number, found a column of type Boolean",
    ),
}


@pytest.mark.parametrize("name", WRONG_TYPES.keys())
def test_a_parquet_column_of_the_wrong_type_is_one_message_and_commits_nothing(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    command, table, says = WRONG_TYPES[name]
    export = Export("acme-export", {"2026-09": [(NEW, [parquet(table)])]})
    place = local_place(tmp_path / "bucket")
    place.put(objects(export, False))
    warehouse = tmp_path / "warehouse"

    code = ingest(warehouse, command, place.target("acme-export"))

    captured = capsys.readouterr()
    lines = [x for x in captured.err.splitlines() if x.strip()]
    assert code == 2 and len(lines) == 1, captured.err
    shown = place.shown(f"acme-export/data/BILLING_PERIOD=2026-09/{NEW}/acme-export-00001")
    assert lines[0].startswith(f"Bad input: {shown}.snappy.parquet, column ")
    assert says in lines[0] and "Traceback" not in captured.err
    assert not (warehouse / "cost_lines").exists()


def test_a_month_of_several_executions_without_metadata_is_refused_not_summed(
    place: Place, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Only data/ was copied: nothing says which execution is the month. It was refused as
    "two exports deliver the same billing period", pointing the user the wrong way."""
    warehouse = tmp_path / "warehouse"
    place.put([(k, b) for k, b in objects(CUR2, False) if "/metadata/" not in k])

    code = ingest(warehouse, "aws", place.target("acme-cur2"), *place.args)

    captured = capsys.readouterr()
    lines = [x for x in captured.err.splitlines() if x.strip()]
    assert code == 2 and len(lines) == 1, captured.err
    assert lines[0] == (
        f"Bad input: {place.shown('acme-cur2/data/BILLING_PERIOD=2026-09')}: several deliveries "
        "of one month and no manifest to say which is the month — expected <export>/data/ "
        "beside <export>/metadata/, whose manifest names the month's files, found 2 execution "
        f"folders ({OLD}, {NEW}) and no metadata/ folder — download the export's metadata/ "
        "folder too and point at the export, or point at one execution folder"
    )
    assert not (warehouse / "cost_lines").exists()


def test_a_file_beside_the_newest_execution_that_its_manifest_omits_is_a_leftover(
    tmp_path: Path, warehouse: Path, capsys: pytest.CaptureFixture
) -> None:
    """It was reported as an "older delivery ... replaced by execution NEW (execution NEW)"."""
    place = local_place(tmp_path / "bucket")
    stray = f"acme-cur2/data/BILLING_PERIOD=2026-09/{NEW}/acme-cur2-00099.snappy.parquet"
    place.put([*objects(CUR2, False), (stray, parquet(cur2_table("2026-09")))])
    assert ingest(warehouse, "aws", place.target("acme-cur2")) == 0
    out = capsys.readouterr().out
    assert {p: (n, b) for p, (n, b, _) in period_totals(warehouse).items()} == {
        "2026-08": AUG,
        "2026-09": SEPT,
    }
    notes = [line for line in out.splitlines() if line.startswith("skipped")]
    assert notes == [
        f"skipped 2 files: older delivery of acme-cur2 BILLING_PERIOD=2026-09, replaced by "
        f"execution {NEW} (execution {OLD}), e.g. {place.shown(OLD_FILE)}",
        f"skipped 1 file: not in the manifest of acme-cur2 BILLING_PERIOD=2026-09 (a leftover "
        f"beside the files of execution {NEW}), e.g. {place.shown(stray)}",
    ]
