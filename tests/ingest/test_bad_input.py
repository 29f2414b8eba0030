"""Broken inputs: one clear message naming the file and the problem, non-zero exit, no change.

Each case builds its broken file from a real sample (or the CUR 2.0 builder), runs the real
command line in-process against a warehouse that already holds a good load, and checks the
message, the exit code and that the warehouse's versions and totals are what they were.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from ingest.sources.values import IN_RANGE
from ingest.warehouse.connection import connect
from tests.fixtures.cur import cur2_table, write_cur2
from tests.fixtures.inputs import AZURE_CSV, FOCUS, GCP_CSV, GOOD, INVENTORY, SAAS
from tests.fixtures.warehouse_state import ingest, state


def cur_lines() -> list[str]:
    return GOOD.read_text(encoding="utf-8").splitlines(keepends=True)


def replace_field(line: str, column: str, value: str) -> str:
    header = cur_lines()[0].rstrip("\n").split(",")
    fields = line.rstrip("\n").split(",")
    fields[header.index(column)] = value
    return ",".join(fields) + "\n"


def truncated_gz(d: Path) -> Path:
    data = gzip.compress(GOOD.read_bytes())
    (d / "cur.csv.gz").write_bytes(data[: len(data) // 2])
    return d / "cur.csv.gz"


def cut_cur(d: Path) -> Path:
    """`head -c 6000` of the real CUR: four whole lines and a fifth cut mid-field."""
    (d / "cur.csv").write_bytes(GOOD.read_bytes()[:6000])
    return d / "cur.csv"


def cut_cur_gz(d: Path) -> Path:
    """A complete gzip stream of a cut CSV: the gzip is sound, its text is not."""
    (d / "cur.csv.gz").write_bytes(gzip.compress(GOOD.read_bytes()[:6000]))
    return d / "cur.csv.gz"


def no_final_newline(d: Path) -> Path:
    (d / "cur.csv").write_bytes(GOOD.read_bytes().rstrip(b"\r\n"))
    return d / "cur.csv"


def too_few_fields(d: Path) -> Path:
    lines = cur_lines()
    lines[4] = lines[4].rstrip("\r\n").rsplit(",", 1)[0] + "\r\n"
    (d / "cur.csv").write_text("".join(lines), encoding="utf-8", newline="")
    return d / "cur.csv"


def extra_fields(d: Path) -> Path:
    lines = cur_lines()
    lines[4] = lines[4].rstrip("\r\n") + ",extra\r\n"
    (d / "cur.csv").write_text("".join(lines), encoding="utf-8", newline="")
    return d / "cur.csv"


def nul_bytes(d: Path) -> Path:
    lines = cur_lines()
    lines[6] = replace_field(lines[6], "lineItem/ProductCode", "Amazon\x00EC2")
    (d / "cur.csv").write_text("".join(lines), encoding="utf-8", newline="")
    return d / "cur.csv"


def _cur2_with(d: Path, **fee_values: object) -> Path:
    """The CUR 2.0 period with its Savings Plan fee line's columns set to `fee_values`."""
    folder = write_cur2(d, "2026-09")
    (file,) = folder.rglob("*.parquet")
    rows = pq.read_table(file).to_pylist()
    fee = next(r for r in rows if r["line_item_line_item_type"] == "SavingsPlanRecurringFee")
    fee.update(fee_values)
    pq.write_table(pa.Table.from_pylist(rows, schema=pq.read_schema(file)), file)
    return folder


def sp_over_commitment(d: Path) -> Path:
    return _cur2_with(d, savings_plan_used_commitment=725.0)


def end_before_start(d: Path) -> Path:
    lines = cur_lines()
    lines[8] = replace_field(lines[8], "lineItem/UsageEndDate", "2018-06-01T00:00:00Z")
    lines[8] = replace_field(lines[8], "lineItem/UsageStartDate", "2018-06-02T00:00:00Z")
    (d / "cur.csv").write_text("".join(lines), encoding="utf-8", newline="")
    return d / "cur.csv"


def focus_end_before_start(d: Path) -> Path:
    with FOCUS.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    start = rows[12][rows[0].index("ChargePeriodStart")]
    rows[12][rows[0].index("ChargePeriodEnd")] = start.replace(start[:4], str(int(start[:4]) - 1))
    with (d / "focus.csv").open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return d / "focus.csv"


def focus_cut(d: Path) -> Path:
    (d / "focus.csv").write_bytes(FOCUS.read_bytes()[:5000])
    return d / "focus.csv"


def cut(source: Path, drop: int = 40) -> Callable[[Path], Path]:
    """The file without its last `drop` bytes: its last line stops short of its fields."""

    def make(d: Path) -> Path:
        (d / source.name).write_bytes(source.read_bytes()[:-drop])
        return d / source.name

    return make


def azure_cut_gz(d: Path) -> Path:
    data = gzip.compress(AZURE_CSV.read_bytes())
    (d / "cost.csv.gz").write_bytes(data[: len(data) // 2])
    return d / "cost.csv.gz"


def gcp_end_before_start(d: Path) -> Path:
    with GCP_CSV.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    start, end = rows[0].index("usage_start_time"), rows[0].index("usage_end_time")
    rows[3][start], rows[3][end] = rows[3][end], rows[3][start]
    with (d / GCP_CSV.name).open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return d / GCP_CSV.name


def last_line(source: Path) -> str:
    lines = source.read_bytes().rstrip().count(b"\n") + 1
    return f"line {lines}"


def truncated_parquet(d: Path) -> Path:
    folder = write_cur2(d, "2026-09")
    path = next(folder.iterdir())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 200])
    return folder


def parquet_footer_damaged(d: Path) -> Path:
    """Ten bytes gone from the middle of the footer: the footer length no longer fits it."""
    folder = write_cur2(d, "2026-09")
    path = next(folder.iterdir())
    data = path.read_bytes()
    half = int.from_bytes(data[-8:-4], "little") // 2
    path.write_bytes(data[:-half] + data[-half + 10 :])
    return folder


def cur2_column_twice(d: Path) -> Path:
    folder = d / "BILLING_PERIOD=2026-09"
    folder.mkdir()
    table = cur2_table()
    cost = table.schema.get_field_index("line_item_unblended_cost")
    table = table.append_column(table.schema.field(cost), table.column(cost))
    pq.write_table(table, folder / "export-00001.snappy.parquet")
    return folder


def cur2_page_damaged(d: Path) -> Path:
    """Ten bytes gone from the first column chunk: the footer reads, the data does not."""
    folder = write_cur2(d, "2026-09")
    path = next(folder.iterdir())
    data = path.read_bytes()
    path.write_bytes(data[:100] + data[110:])
    return folder


def cur2_map_as_account(d: Path) -> Path:
    """The tags map and the payer account column trade names."""
    folder = d / "BILLING_PERIOD=2026-09"
    folder.mkdir()
    table = cur2_table()
    names = [
        {"resource_tags": "bill_payer_account_id", "bill_payer_account_id": "resource_tags"}.get(
            n, n
        )
        for n in table.column_names
    ]
    pq.write_table(table.rename_columns(names), folder / "export-00001.snappy.parquet")
    return folder


def azure_gz_cut_in_header(d: Path) -> Path:
    (d / "cost.csv.gz").write_bytes(gzip.compress(AZURE_CSV.read_bytes())[:42])
    return d / "cost.csv.gz"


def utf16(source: Path, encoding: str) -> Callable[[Path], Path]:
    """The file saved as UTF-16 (Excel's "Unicode Text"; "utf-16" writes a byte-order mark)."""

    def make(d: Path) -> Path:
        text = source.read_text(encoding="utf-8-sig")
        (d / source.name).write_bytes(text.encode(encoding))
        return d / source.name

    return make


def swapped_life(d: Path) -> Path:
    lines = INVENTORY.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[0] = lines[0].replace("server_capex", "X").replace("life_years", "server_capex")
    (d / INVENTORY.name).write_text("".join(lines).replace("X", "life_years", 1), "utf-8")
    return d / INVENTORY.name


def missing_column(d: Path) -> Path:
    lines = cur_lines()
    header = lines[0].rstrip("\n").split(",")
    drop = header.index("lineItem/UnblendedCost")
    out = [
        ",".join(f for i, f in enumerate(x.rstrip("\n").split(",")) if i != drop) + "\n"
        for x in lines
    ]
    (d / "cur.csv").write_text("".join(out), encoding="utf-8")
    return d / "cur.csv"


def text_in_cost_lines() -> list[str]:
    lines = cur_lines()
    lines[5] = replace_field(lines[5], "lineItem/UnblendedCost", "twelve")
    return lines


def text_in_cost(d: Path) -> Path:
    (d / "cur.csv").write_text("".join(text_in_cost_lines()), encoding="utf-8")
    return d / "cur.csv"


def bad_date(d: Path) -> Path:
    lines = cur_lines()
    lines[3] = replace_field(lines[3], "lineItem/UsageStartDate", "31/06/2018 00:00")
    (d / "cur.csv").write_text("".join(lines), encoding="utf-8")
    return d / "cur.csv"


def empty(d: Path) -> Path:
    (d / "cur.csv").write_bytes(b"")
    return d / "cur.csv"


def header_only(d: Path) -> Path:
    (d / "cur.csv").write_text(cur_lines()[0], encoding="utf-8")
    return d / "cur.csv"


def duplicate_columns(d: Path) -> Path:
    lines = cur_lines()
    lines[0] = lines[0].replace("lineItem/BlendedCost", "lineItem/UnblendedCost")
    (d / "cur.csv").write_text("".join(lines), encoding="utf-8")
    return d / "cur.csv"


def not_utf8(d: Path) -> Path:
    lines = [x.encode() for x in cur_lines()]
    lines[7] = lines[7].replace(b"Amazon", b"Am\xe9zon", 1)  # a Latin-1 byte
    (d / "cur.csv").write_bytes(b"".join(lines))
    return d / "cur.csv"


def mixed_currencies(d: Path) -> Path:
    lines = cur_lines()
    lines[2] = replace_field(lines[2], "lineItem/CurrencyCode", "EUR")
    (d / "cur.csv").write_text("".join(lines), encoding="utf-8")
    return d / "cur.csv"


def two_periods(d: Path) -> Path:
    folder = d / "export"
    folder.mkdir()
    shutil.copy(GOOD, folder / "june.csv")
    july = [cur_lines()[0]] + [
        x.replace(
            "2018-06-01T00:00:00Z,2018-07-01T00:00:00Z", "2018-07-01T00:00:00Z,2018-08-01T00:00:00Z"
        )
        for x in cur_lines()[1:]
    ]
    (folder / "july.csv").write_text("".join(july), encoding="utf-8")
    return folder


def unknown_format(d: Path) -> Path:
    (d / "cur.csv").write_bytes(b"PK\x03\x04" + b"\x00" * 100)  # a spreadsheet named .csv
    return d / "cur.csv"


def not_a_cur(d: Path) -> Path:
    (d / "cur.csv").write_text("date,amount\n2026-09-01,12.00\n", encoding="utf-8")
    return d / "cur.csv"


def focus_text_cost(d: Path) -> Path:
    with FOCUS.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    rows[10][rows[0].index("BilledCost")] = "n/a"
    with (d / "focus.csv").open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return d / "focus.csv"


def focus_missing_column(d: Path) -> Path:
    lines = FOCUS.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[0] = lines[0].replace('"BillingCurrency"', '"Currency"')
    (d / "focus.csv").write_text("".join(lines), encoding="utf-8")
    return d / "focus.csv"


def cur2_mixed_currency(d: Path) -> Path:
    folder = d / "BILLING_PERIOD=2026-09"
    folder.mkdir()
    pq.write_table(cur2_table(), folder / "a.parquet")
    pq.write_table(cur2_table(currency="EUR"), folder / "b.parquet")
    return folder


def legacy_manifest_without_keys(d: Path) -> Path:
    period = d / "acme" / "20180601-20180701"
    (period / "assembly-1").mkdir(parents=True)
    shutil.copy(GOOD, period / "assembly-1" / "acme-1.csv")
    (period / "acme-Manifest.json").write_text('{"billingPeriod": {"start": "20180601"}}')
    return d / "acme"


def data_export(d: Path, manifest: Callable[[list[str]], bytes]) -> Path:
    """An export `acme-cur2` with a good 2026-08 and a 2026-09 whose manifest is `manifest`."""
    root = d / "exports" / "acme-cur2"
    for period in ("2026-08", "2026-09"):
        data = root / "data" / f"BILLING_PERIOD={period}" / "exec-1"
        data.mkdir(parents=True)
        pq.write_table(cur2_table(period), data / "acme-cur2-00001.snappy.parquet")
        uris = [f"s3://acme-billing/exports/acme-cur2/data/BILLING_PERIOD={period}/exec-1/"
                "acme-cur2-00001.snappy.parquet"]  # fmt: skip
        meta = root / "metadata" / f"BILLING_PERIOD={period}"
        meta.mkdir(parents=True)
        body = manifest(uris) if period == "2026-09" else None
        (meta / "acme-cur2-Manifest.json").write_bytes(
            body or json.dumps({"executionId": "exec-1", "dataFiles": uris}).encode()
        )
    return root


def export_missing_file(d: Path) -> Path:
    return data_export(d, lambda uris: json.dumps(
        {"executionId": "exec-2", "dataFiles": [uris[0].replace("exec-1", "exec-2")]}
    ).encode())  # fmt: skip


def export_manifest_not_json(d: Path) -> Path:
    return data_export(d, lambda uris: b"<?xml version='1.0'?><Error>AccessDenied</Error>")


def export_manifest_outside(d: Path) -> Path:
    return data_export(d, lambda uris: json.dumps(
        {"executionId": "exec-1", "dataFiles": [uris[0].replace("acme-cur2/data/", "team-b/data/")]}
    ).encode())  # fmt: skip


def export_manifest_without_files(d: Path) -> Path:
    return data_export(
        d, lambda uris: json.dumps({"executionId": "exec-1", "files": uris}).encode()
    )


def long_header(source: Path) -> Callable[[Path], Path]:
    """The file with a 10 MiB column name added to its header: no export has one."""

    def make(d: Path) -> Path:
        head, rest = source.read_bytes().split(b"\n", 1)
        (d / source.name).write_bytes(head.rstrip(b"\r") + b"," + b"x" * (10 << 20) + b"\n" + rest)
        return d / source.name

    return make


def binary(source: Path) -> Callable[[Path], Path]:
    """The header, then bytes of a binary file that holds no NUL (an image, a zip member)."""

    def make(d: Path) -> Path:
        head = source.read_bytes().split(b"\n", 1)[0] + b"\n"
        (d / source.name).write_bytes(
            head + bytes(b for b in range(1, 256) if b not in b"\r\n") * 40
        )
        return d / source.name

    return make


def control_bytes(d: Path) -> Path:
    """Text-like bytes with control characters and no NUL, no byte above 0x7f."""
    (d / "cur.csv").write_bytes(b"\x12Img\x1b[2J\x10@b:=T1e\x0b" * 400)
    return d / "cur.csv"


def open_quote(source: Path, line: int) -> Callable[[Path], Path]:
    """A quote opened at the start of `line` (1-based) that nothing closes."""

    def make(d: Path) -> Path:
        lines = source.read_bytes().splitlines(keepends=True)
        lines[line - 1] = b'"' + lines[line - 1]
        (d / source.name).write_bytes(b"".join(lines))
        return d / source.name

    return make


def stray_quote(d: Path) -> Path:
    """A quote inside a quoted FOCUS field: `"Amazon"EC2"`."""
    lines = FOCUS.read_bytes().splitlines(keepends=True)
    lines[3] = lines[3].replace(b'","', b'"x","', 1)
    (d / "focus.csv").write_bytes(b"".join(lines))
    return d / "focus.csv"


def fifo(d: Path) -> Path:
    """A named pipe: opening it would wait for a writer for ever."""
    os.mkfifo(d / "cur.csv")
    return d / "cur.csv"


def folder_with_fifo(d: Path) -> Path:
    """A pipe named like an export file beside a good one is not read (nor waited on)."""
    (d / "export").mkdir()
    os.mkfifo(d / "export" / "cur-2.csv")
    (d / "export" / "cur-1.csv").write_text(
        cur_lines()[0] + "".join(text_in_cost_lines()[1:]), encoding="utf-8"
    )
    return d / "export"


def dev_zero(d: Path) -> Path:
    return Path("/dev/zero")


HUGE = "90000000000000000000000000"  # 9e25: two of them overflow a Decimal(38, 12) sum


def huge_amounts(source: Path, column: str) -> Callable[[Path], Path]:
    """Every row's `column` set to 9e25: each fits Decimal(38, 12), their sum does not."""

    def make(d: Path) -> Path:
        with source.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
        at = rows[0].index(column)
        for row in rows[1:]:
            row[at] = HUGE
        with (d / source.name).open("w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows(rows)
        return d / source.name

    return make


def cur2_huge(d: Path) -> Path:
    return write_cur2(d, "2026-09", scale=1e25)


def focus_parquet(column: str, values: Callable[[int], pa.Array]) -> Callable[[Path], Path]:
    """The FOCUS sample as Parquet, with `column` holding `values` (a whole column of them)."""

    def make(d: Path) -> Path:
        table = pacsv.read_csv(FOCUS)
        at = table.schema.get_field_index(column)
        pq.write_table(table.set_column(at, column, values(table.num_rows)), d / "focus.parquet")
        return d / "focus.parquet"

    return make


def focus_rows() -> list[list[str]]:
    with FOCUS.open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def write_focus(d: Path, rows: list[list[str]]) -> Path:
    with (d / "focus.csv").open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return d / "focus.csv"


def focus_local_billing_period(d: Path) -> Path:
    """Every billing period bound written in Central European Summer Time."""
    rows = focus_rows()
    for name in ("BillingPeriodStart", "BillingPeriodEnd"):
        at = rows[0].index(name)
        for row in rows[1:]:
            row[at] = row[at].replace(" ", "T") + "+02:00"
    return write_focus(d, rows)


def cur2_int_date(d: Path) -> Path:
    """CUR 2.0 with usage start dates written as int64 (epoch milliseconds)."""
    folder = d / "BILLING_PERIOD=2026-09"
    folder.mkdir()
    table = cur2_table()
    at = table.schema.get_field_index("line_item_usage_start_date")
    column = table.column(at).cast(pa.int64())
    pq.write_table(table.set_column(at, "line_item_usage_start_date", column), folder / "a.parquet")
    return folder


@dataclass(frozen=True)
class Case:
    make: Callable[[Path], Path]
    source: str
    says: str  # the problem, as the message states it
    names: str  # file or folder name the message must contain
    where: str | None = None  # line/column the message must point at


CASES = {
    "truncated gz": Case(truncated_gz, "aws", "truncated or corrupt gzip", "cur.csv.gz"),
    "truncated legacy CUR (head -c 6000)": Case(
        cut_cur,
        "aws",
        "the file ends in the middle of a line — it may be truncated; download it again",
        "cur.csv",
        "line 5",
    ),
    "truncated CSV inside a sound gzip": Case(
        cut_cur_gz, "aws", "ends in the middle of a line", "cur.csv.gz", "line 5"
    ),
    "final line without its newline": Case(
        no_final_newline, "aws", "ends in the middle of a line", "cur.csv", "line 20"
    ),
    "too few fields": Case(
        too_few_fields,
        "aws",
        "too few fields on a line",
        "cur.csv",
        "line 5: too few fields on a line — expected 130 fields, as on line 2, found 129 fields",
    ),
    "extra fields": Case(extra_fields, "aws", "too many fields on a line", "cur.csv", "line 5"),
    "NUL byte": Case(
        nul_bytes, "aws", "NUL byte in a field", "cur.csv", "line 7, column lineItem/ProductCode"
    ),
    "usage that ends before it starts": Case(
        end_before_start,
        "aws",
        "value in column 'lineItem/UsageEndDate' is before the start of the period — expected "
        "a date-time not before lineItem/UsageStartDate on the same line, "
        "found '2018-06-01T00:00:00Z'",
        "cur.csv",
        "line 9, column lineItem/UsageEndDate",
    ),
    # its Unused line would be negative: amortised cost lowered by money nobody saved
    "Savings Plan using more than its commitment": Case(
        sp_over_commitment,
        "aws",
        "value in column 'savings_plan_used_commitment' is more than the Savings Plan's "
        "commitment to date — expected no more than savings_plan_total_commitment_to_date on "
        "the same line, found '725",
        "export-00001.snappy.parquet",
        "row 4, column savings_plan_used_commitment",
    ),
    "FOCUS: charge that ends before it starts": Case(
        focus_end_before_start,
        "focus",
        "is before the start of the period — expected a date-time not before ChargePeriodStart",
        "focus.csv",
        "line 13, column ChargePeriodEnd",
    ),
    "FOCUS: truncated CSV": Case(focus_cut, "focus", "ends in the middle of a line", "focus.csv"),
    "Azure cost details: cut mid-line": Case(
        cut(AZURE_CSV),
        "azure",
        "ends in the middle of a line",
        AZURE_CSV.name,
        last_line(AZURE_CSV),
    ),
    "Azure cost details: truncated gzip": Case(
        azure_cut_gz, "azure", "truncated or corrupt gzip file", "cost.csv.gz"
    ),
    "GCP CSV: cut mid-line": Case(
        cut(GCP_CSV), "gcp", "ends in the middle of a line", GCP_CSV.name, last_line(GCP_CSV)
    ),
    "GCP: usage that ends before it starts": Case(
        gcp_end_before_start,
        "gcp",
        "usage ends before it starts — expected a timestamp not before usage_start_time",
        GCP_CSV.name,
        "line 4, column usage_end_time",
    ),
    "SaaS invoices: cut mid-line": Case(
        cut(SAAS, 30), "saas", "ends in the middle of a line", SAAS.name, last_line(SAAS)
    ),
    "on-prem inventory: cut mid-line": Case(
        cut(INVENTORY),
        "onprem",
        "ends in the middle of a line",
        INVENTORY.name,
        last_line(INVENTORY),
    ),
    "truncated parquet": Case(
        truncated_parquet, "aws", "truncated or corrupt Parquet", "export-00001"
    ),
    "missing required column": Case(
        missing_column,
        "aws",
        "missing required column — expected all 9 required CUR columns, found ",
        "cur.csv",
        "lineItem/UnblendedCost",
    ),
    "text in a cost column": Case(
        text_in_cost, "aws", "cannot be read", "cur.csv", "line 6, column lineItem/UnblendedCost"
    ),
    "unparseable date": Case(
        bad_date, "aws", "cannot be read", "cur.csv", "line 4, column lineItem/UsageStartDate"
    ),
    "empty file": Case(empty, "aws", "empty file", "cur.csv"),
    "header-only file": Case(header_only, "aws", "no data rows", "cur.csv"),
    "duplicate column names": Case(
        duplicate_columns, "aws", "duplicate column name", "cur.csv", "'lineItem/UnblendedCost'"
    ),
    "non-UTF-8 bytes": Case(not_utf8, "aws", "not UTF-8", "cur.csv", "line 8"),
    "mixed currencies in one period": Case(
        mixed_currencies, "aws", "more than one currency", "cur.csv", "EUR, USD"
    ),
    "mixed currencies across files (CUR 2.0)": Case(
        cur2_mixed_currency, "aws", "more than one currency", "BILLING_PERIOD=2026-09", "EUR, USD"
    ),
    "folder mixing two billing periods": Case(
        two_periods, "aws", "more than one billing period", "export", "2018-06 in"
    ),
    "unknown format": Case(unknown_format, "aws", "not a format this reader knows", "cur.csv"),
    "CSV that is not a CUR": Case(not_a_cur, "aws", "not an AWS Cost and Usage Report", "cur.csv"),
    "legacy CUR manifest without reportKeys": Case(
        legacy_manifest_without_keys,
        "aws",
        'not a CUR manifest — expected JSON with "reportKeys" (legacy CUR) or "dataFiles" (Data '
        "Exports), found a JSON object with keys billingPeriod",
        "acme-Manifest.json",
    ),
    "Data Exports: manifest naming a missing file": Case(
        export_missing_file,
        "aws",
        "a file named by the manifest is missing",
        "BILLING_PERIOD=2026-09/acme-cur2-Manifest.json",
        "BILLING_PERIOD=2026-09/exec-2/acme-cur2-00001.snappy.parquet, found no such file",
    ),
    "Data Exports: manifest that is not JSON": Case(
        export_manifest_not_json,
        "aws",
        "not a Data Exports manifest",
        "BILLING_PERIOD=2026-09/acme-cur2-Manifest.json",
        "found text that is not JSON (Expecting value: line 1 column 1 (char 0))",
    ),
    "Data Exports: manifest naming another export's object": Case(
        export_manifest_outside,
        "aws",
        "the manifest names a file outside its export and billing period",
        "BILLING_PERIOD=2026-09/acme-cur2-Manifest.json",
        "found s3://acme-billing/exports/team-b/data/BILLING_PERIOD=2026-09/",
    ),
    "Data Exports: manifest without dataFiles": Case(
        export_manifest_without_files,
        "aws",
        "not a Data Exports manifest",
        "BILLING_PERIOD=2026-09/acme-cur2-Manifest.json",
        "found a JSON object with keys executionId, files",
    ),
    "FOCUS: text in BilledCost": Case(
        focus_text_cost, "focus", "cannot be read", "focus.csv", "column BilledCost"
    ),
    "FOCUS: missing required column": Case(
        focus_missing_column,
        "focus",
        "missing required column — expected all 10 required FOCUS columns, found 44 columns (",
        "focus.csv",
        "BillingCurrency",
    ),
    # Found by tests/ingest/test_fuzz.py:
    "Parquet footer damaged: the reason without library exception names": Case(
        parquet_footer_damaged,
        "aws",
        "truncated or corrupt Parquet",
        "export-00001",
        "bytes whose footer cannot be read (Couldn't deserialize thrift: Invalid data)",
    ),
    "CUR 2.0 Parquet with a column twice": Case(
        cur2_column_twice,
        "aws",
        "duplicate column name",
        "export-00001.snappy.parquet",
        "'line_item_unblended_cost' at positions 12 and 28",
    ),
    "CUR 2.0 Parquet: a damaged data page behind a sound footer": Case(
        cur2_page_damaged,
        "aws",
        "truncated or corrupt Parquet file",
        "export-00001.snappy.parquet",
        "expected column data that decodes as its footer describes, found data that cannot be "
        "decoded (",
    ),
    "CUR 2.0 Parquet: the tags map where the payer account belongs": Case(
        cur2_map_as_account,
        "aws",
        "column 'bill_payer_account_id' has a type that cannot hold its values",
        "export-00001.snappy.parquet",
        "expected text, a number or a date-time, as AWS writes the column, found a column of "
        "type Map(String, String)",
    ),
    "Azure cost details: gzip cut inside the header line": Case(
        azure_gz_cut_in_header, "azure", "truncated or corrupt gzip file", "cost.csv.gz"
    ),
    "legacy CUR saved as UTF-16 without a byte-order mark": Case(
        utf16(GOOD, "utf-16-le"),
        "aws",
        "text is UTF-16, not UTF-8 — expected UTF-8 text, found UTF-16 text (a NUL byte beside "
        "every character) — save or export the file as UTF-8",
        "test_cur.csv",
        "line 1",
    ),
    "SaaS invoices saved as UTF-16": Case(
        utf16(SAAS, "utf-16"),
        "saas",
        "text is UTF-16, not UTF-8 — expected UTF-8 text, found a UTF-16 byte-order mark",
        "invoices.csv",
        "line 1",
    ),
    "Azure cost details cut inside the header line": Case(
        cut(AZURE_CSV, AZURE_CSV.stat().st_size - 464),
        "azure",
        "ends in the middle of a line — it may be truncated; download it again — expected a "
        "header line ending in a line break, then data rows, found 34 column names and no line "
        "break",
        AZURE_CSV.name,
        "line 1",
    ),
    "on-prem inventory: server_capex and life_years swapped": Case(
        swapped_life,
        "onprem",
        "bad value in column life_years — expected a life of at most 50 years, found '310000'",
        INVENTORY.name,
        "row 1 (line 2), column life_years",
    ),
    "Azure cost details saved as UTF-16": Case(
        utf16(AZURE_CSV, "utf-16"),
        "azure",
        "text is UTF-16, not UTF-8",
        AZURE_CSV.name,
        "line 1",
    ),
}

LONG_HEADER = "header line too long — expected column names on a first line of at most 4 MiB"
NEVER_CLOSES = (
    'a quoted field never closes — expected a closing " for the quote opened on this line'
)
CASES |= {
    **{
        f"10 MiB header line ({source})": Case(
            long_header(path), source, LONG_HEADER, path.name, "line 1"
        )
        for source, path in (
            ("aws", GOOD),
            ("focus", FOCUS),
            ("azure", AZURE_CSV),
            ("gcp", GCP_CSV),
            ("saas", SAAS),
            ("onprem", INVENTORY),
        )
    },
    "binary data without NUL (CUR)": Case(
        binary(GOOD), "aws", "text is not UTF-8", GOOD.name, "line 2"
    ),
    "binary data without NUL (Azure cost details)": Case(
        binary(AZURE_CSV), "azure", "text is not UTF-8", AZURE_CSV.name, "line 2"
    ),
    "binary data without NUL (SaaS invoices)": Case(
        binary(SAAS), "saas", "text is not UTF-8", SAAS.name, "line 2"
    ),
    "control characters without NUL (CUR)": Case(
        control_bytes, "aws", "found binary data that is not Parquet or gzip", "cur.csv"
    ),
    "control characters without NUL (GCP)": Case(
        lambda d: control_bytes(d).rename(d / "gcp.csv"),
        "gcp",
        "binary data in a text file — expected text, found control character '\\x12'",
        "gcp.csv",
        "line 1, field 1",
    ),
    **{
        f"amounts whose sum overflows ({source})": Case(
            huge_amounts(path, column), source, IN_RANGE, path.name, f"line 2{sep}column {column}"
        )
        for source, path, column, sep in (
            ("aws", GOOD, "lineItem/UnblendedCost", ", "),
            ("focus", FOCUS, "BilledCost", ", "),
            ("azure", AZURE_CSV, "Cost", ", "),
            ("gcp", GCP_CSV, "cost", ", "),
            ("saas", SAAS, "amount", "), "),
            ("onprem", INVENTORY, "server_capex", "), "),
        )
    },
    "amounts whose sum overflows (CUR 2.0 Parquet)": Case(
        cur2_huge,
        "aws",
        "value in column 'line_item_unblended_cost' is out of range — expected " + IN_RANGE,
        "export-00001",
        "row 1, column line_item_unblended_cost",
    ),
    "CUR 2.0: a date stored as int64": Case(
        cur2_int_date,
        "aws",
        "column 'line_item_usage_start_date' has a type that cannot hold its values — expected "
        "a date-time like 2026-09-01T00:00:00Z, found a column of type Int64",
        "BILLING_PERIOD=2026-09/a.parquet",
        "column line_item_usage_start_date",
    ),
    **{
        f"FOCUS Parquet: {column} as {kind}": Case(
            focus_parquet(column, values),
            "focus",
            f"column {column!r} has a type that cannot hold its values — expected {expected}, "
            f"found a column of type {kind}",
            "focus.parquet",
            f"column {column}",
        )
        for column, kind, values, expected in (
            ("BilledCost", "Boolean", lambda n: pa.array([True] * n), "a decimal number"),
            ("ServiceName", "Boolean", lambda n: pa.array([True] * n), "text"),
            ("ServiceName", "List(String)", lambda n: pa.array([["a"]] * n), "text"),
            ("BilledCost", "List(Float64)", lambda n: pa.array([[1.0]] * n), "a decimal number"),
            (
                "Tags",
                "List(String)",
                lambda n: pa.array([["team"]] * n),
                'JSON text such as {"team": "ml"}',
            ),
        )
    },
    "FOCUS: a billing period written with a UTC offset": Case(
        focus_local_billing_period,
        "focus",
        "value in column 'BillingPeriodStart' is not in UTC — expected a UTC date-time such as "
        "2024-09-01T00:00:00Z (FOCUS requires UTC; converting this offset would move the "
        "billing period into another month), found '2024-09-01T00:00:00+02:00'",
        "focus.csv",
        "line 2, column BillingPeriodStart",
    ),
    "unbalanced quote (CUR)": Case(open_quote(GOOD, 4), "aws", NEVER_CLOSES, GOOD.name, "line 4: "),
    "unbalanced quote (SaaS invoices)": Case(
        open_quote(SAAS, 6), "saas", NEVER_CLOSES, SAAS.name, "line 6: "
    ),
    "unbalanced quote (GCP)": Case(open_quote(GCP_CSV, 3), "gcp", NEVER_CLOSES, GCP_CSV.name),
    "stray quote in a quoted field (FOCUS)": Case(
        stray_quote, "focus", "a stray quote in a field", "focus.csv", "line 4: "
    ),
    **{
        f"a FIFO ({source})": Case(
            fifo,
            source,
            "not a regular file or folder — expected an export file or a folder "
            "of them, found a named pipe (FIFO)",
            "cur.csv",
        )
        for source in ("aws", "focus", "azure", "gcp", "saas", "onprem")
    },
    "a folder holding a FIFO beside its export": Case(
        folder_with_fifo, "aws", "cannot be read", "cur-1.csv", "line 6, column lineItem/Unblended"
    ),
    **{
        f"/dev/zero ({source})": Case(
            dev_zero, source, "not a regular file or folder", "/dev/zero", "a character device"
        )
        for source in ("aws", "focus", "azure", "gcp", "saas", "onprem")
    },
}


def load_errors(warehouse: Path) -> list[tuple[str, str]]:
    if not (warehouse / "load_errors").exists():
        return []
    return (
        connect(warehouse)
        .execute('select source, message from load_errors order by "at"')
        .fetchall()
    )


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse holding one good load; each case works on its own copy."""
    root = tmp_path_factory.mktemp("good") / "warehouse"
    assert ingest(root, "aws", str(GOOD)) == 0
    return root


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_broken_input_is_refused_with_one_clear_message(
    case: Case, loaded: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    warehouse = tmp_path / "warehouse"
    shutil.copytree(loaded, warehouse)
    inputs = tmp_path / "in"
    inputs.mkdir()
    target = case.make(inputs)
    before, errors = state(warehouse), load_errors(warehouse)
    capsys.readouterr()

    code = ingest(warehouse, case.source, str(target))

    captured = capsys.readouterr()
    lines = [x for x in captured.err.splitlines() if x.strip()]
    assert code == 2, captured.err
    assert len(lines) == 1, captured.err  # one message, not a traceback
    message = lines[0]
    assert message.startswith("Bad input: ")
    assert case.says in message and case.names in message, message
    if case.where:
        assert case.where in message, message
    assert captured.out == ""
    assert state(warehouse) == before
    # recorded for the Data health page, as it was shown
    assert load_errors(warehouse) == [*errors, (case.source, message.removeprefix("Bad input: "))]
    assert (
        not list((warehouse / "_staging").glob("*")) if (warehouse / "_staging").exists() else True
    )


@pytest.mark.parametrize(
    ("line_type", "category"), [("Refund", "Credit"), ("Credit", "Credit"), ("Usage", "Usage")]
)
def test_negative_usage_quantities_are_accepted_as_the_provider_wrote_them(
    line_type: str, category: str, tmp_path: Path
) -> None:
    """Providers write negative quantities on refund, credit and negation lines (an AWS
    Refund gives back the usage it refunds; Azure and GCP reverse usage the same way), and
    no rule separates those from a damaged row: they are kept, sign and all."""
    lines = cur_lines()
    lines[3] = replace_field(lines[3], "lineItem/LineItemType", line_type)
    lines[3] = replace_field(lines[3], "lineItem/UsageAmount", "-2.5")
    lines[3] = replace_field(lines[3], "lineItem/UnblendedCost", "-0.25")
    (tmp_path / "cur.csv").write_text("".join(lines), encoding="utf-8", newline="")

    assert ingest(tmp_path / "w", "aws", str(tmp_path / "cur.csv")) == 0

    got = (
        connect(tmp_path / "w")
        .execute(
            "select ChargeCategory, PricingQuantity, ConsumedQuantity, BilledCost from cost_lines "
            "where BilledCost < 0"
        )
        .fetchall()
    )
    consumed = Decimal("-2.5") if category == "Usage" else None
    assert got == [(category, Decimal("-2.5"), consumed, Decimal("-0.25"))]


def test_a_charge_period_with_a_utc_offset_is_stored_in_utc(tmp_path: Path) -> None:
    """ISO 8601 with an offset names one instant: a charge period written as
    2024-09-22T00:00:00+02:00 is stored as 22:00 UTC the day before (FOCUS's ChargePeriodStart
    is UTC), and the month still reconciles to the cent."""
    rows = focus_rows()
    start, end = rows[0].index("ChargePeriodStart"), rows[0].index("ChargePeriodEnd")
    cost = rows[0].index("BilledCost")
    assert (rows[5][start], rows[5][end]) == ("2024-09-22 00:00:00", "2024-09-22 01:00:00")
    rows[5][start], rows[5][end] = "2024-09-22T00:00:00+02:00", "2024-09-22T01:00:00+02:00"
    rows[5][cost] = "12.345678"
    path = write_focus(tmp_path, rows)

    assert ingest(tmp_path / "w", "focus", str(path)) == 0

    got = (
        connect(tmp_path / "w")
        .execute(
            "select strftime(ChargePeriodStart at time zone 'UTC', '%Y-%m-%dT%H:%M'), "
            "strftime(ChargePeriodEnd at time zone 'UTC', '%Y-%m-%dT%H:%M') "
            "from cost_lines where BilledCost = 12.345678"
        )
        .fetchall()
    )
    assert got == [("2024-09-21T22:00", "2024-09-21T23:00")]


def test_a_bug_in_a_reader_is_one_line_exit_70_and_recorded(
    loaded: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """Not a bad input but a bug: the user gets one line and code 70, not a traceback, and
    the Data health page gets the failure."""
    from ingest.sources import aws

    def bug(*args: object) -> None:
        raise RuntimeError("a reader bug")

    warehouse = tmp_path / "warehouse"
    shutil.copytree(loaded, warehouse)
    before, errors = state(warehouse), load_errors(warehouse)
    monkeypatch.delenv("FINOPS_DEBUG", raising=False)
    monkeypatch.setattr(aws, "_keys", bug)
    capsys.readouterr()

    code = ingest(warehouse, "aws", str(GOOD))

    captured = capsys.readouterr()
    assert code == 70
    assert captured.err.splitlines() == [
        "Internal error: RuntimeError: a reader bug — this is a bug in finops; please report it "
        "(run again with --debug or FINOPS_DEBUG=1 for the details)"
    ]
    assert state(warehouse) == before
    assert load_errors(warehouse) == [*errors, ("aws", "a reader bug")]


def test_a_savings_plan_within_a_cent_of_its_commitment_loads(tmp_path: Path) -> None:
    folder = _cur2_with(tmp_path, savings_plan_used_commitment=720.004)
    assert ingest(tmp_path / "wh", "aws", str(folder)) == 0
    # the rounding is kept as the CUR wrote it: an Unused line of -0.004
    unused = connect(tmp_path / "wh").execute(
        "select EffectiveCost from cost_lines where CommitmentDiscountStatus = 'Unused' "
        "and CommitmentDiscountType = 'Savings Plan'"
    )
    assert unused.fetchall() == [(Decimal("-0.004000000000"),)]
