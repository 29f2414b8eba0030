"""Fuzz: real sample exports, damaged at random, never get past the readers unnoticed.

Each case takes one real sample (or a slice of the sample enterprise's export where no public
sample exists), damages it with one seeded mutation (a cut, flipped/inserted/deleted bytes, a
dropped, duplicated, swapped or retyped column, a gzip or text-encoding variant, a damaged
Parquet file) and runs the real command line in-process against a warehouse that already holds
a good load. Whatever the damage, exactly one of two outcomes is allowed:

- refused: a non-zero exit code, one message naming the problem (no traceback, no bare Python
  exception), the warehouse's versions and totals as they were, and the failure kept in
  load_errors for the Data health page;
- loaded: exit code 0 and every new load reconciled to the cent, both as the loads record
  states it and as an independent Decimal sum of the damaged file's cost column where the
  file can still be read as CSV.

A case's id names its source, mutation and seed: `pytest -k '<id>'` replays it exactly. The
default suite runs one case per source and mutation; `-m heavy` runs many seeds of each, and
FUZZ_SEED=<n> starts the seeds elsewhere.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import random
import re
import shutil
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from ingest.warehouse.connection import connect, versions
from tests.fixtures.cur import KOKU
from tests.fixtures.warehouse_state import REPO, ingest, state

REFERENCE = KOKU.parent
SAMPLE_DATA = REPO / "sample_data"
Q = Decimal("1e-12")
BASE_SEED = int(os.environ.get("FUZZ_SEED", "20260919"))
HEAVY_SEEDS = 5  # seeds per (source, mutation) under -m heavy


# ---- the sources: a real sample each, and where its money is ---------------------------------


@dataclass(frozen=True)
class Source:
    name: str  # the case id's first word
    command: str  # `finops ingest <command>`
    kind: str  # csv | parquet
    cost: str | None  # the column whose Decimal sum the loads must equal (None: computed cost)
    keys: tuple[str, ...]  # columns a mutation picks more often: money, dates, ids
    args: tuple[str, ...] = ()
    folder: str | None = None  # Parquet exports are read from a folder of this name


# Samples are cut to ROWS data rows: a swap that moves ids into the billing-account column
# makes every row an account of its own, one commit each, so rows bound a case's time.
ROWS = 40


def _cur2_slice(out: Path) -> None:
    """The first lines of the sample enterprise's CUR 2.0 month, as Data Exports wrote them."""
    month = SAMPLE_DATA / "aws" / "acme-cur2" / "data" / "BILLING_PERIOD=2026-05"
    table = pq.read_table(next(month.rglob("*.parquet")))
    pq.write_table(table.slice(0, ROWS), out)


def _focus_slice(out: Path) -> None:
    """The public FOCUS 1.0 sample's header and first lines, bytes as published."""
    data = (REFERENCE / "focus-1.0-sample" / "focus_sample.csv").read_bytes()
    out.write_bytes(b"".join(data.splitlines(keepends=True)[: ROWS + 1]))


def _saas_slice(out: Path) -> None:
    """The sample invoices' first two months (each month is a commit of its own)."""
    lines = (SAMPLE_DATA / "saas" / "invoices.csv").read_text(encoding="utf-8").splitlines(True)
    months = sorted({x.split(",")[3] for x in lines[1:]})[:2]
    out.write_text(
        "".join([lines[0]] + [x for x in lines[1:] if x.split(",")[3] in months]),
        encoding="utf-8",
    )


SOURCES: dict[str, tuple[Source, Callable[[Path], None] | Path]] = {
    "cur-legacy": (
        Source(
            "cur-legacy",
            "aws",
            "csv",
            "lineItem/UnblendedCost",
            (
                "lineItem/UnblendedCost",
                "lineItem/UsageStartDate",
                "lineItem/UsageEndDate",
                "bill/BillingPeriodStartDate",
                "lineItem/CurrencyCode",
                "bill/PayerAccountId",
                "lineItem/LineItemType",
                "lineItem/UsageAmount",
                "lineItem/UsageAccountId",
            ),
        ),
        KOKU / "test_cur.csv",
    ),
    "cur2": (
        Source(
            "cur2",
            "aws",
            "parquet",
            None,
            (
                "line_item_unblended_cost",
                "line_item_usage_start_date",
                "line_item_usage_end_date",
                "bill_billing_period_start_date",
                "line_item_currency_code",
                "bill_payer_account_id",
                "line_item_line_item_type",
                "line_item_usage_amount",
                "resource_tags",
                "product",
                "savings_plan_savings_plan_effective_cost",
            ),
            folder="BILLING_PERIOD=2026-05",
        ),
        _cur2_slice,
    ),
    "focus": (
        Source(
            "focus",
            "focus",
            "csv",
            "BilledCost",
            (
                "BilledCost",
                "EffectiveCost",
                "ChargePeriodStart",
                "ChargePeriodEnd",
                "BillingPeriodStart",
                "BillingCurrency",
                "BillingAccountId",
                "ChargeCategory",
                "ListCost",
                "ConsumedQuantity",
            ),
        ),
        _focus_slice,
    ),
    "azure": (
        Source(
            "azure",
            "azure",
            "csv",
            "Cost",
            (
                "Cost",
                "Date",
                "BillingCurrency",
                "BillingAccountId",
                "Quantity",
                "EffectivePrice",
                "BillingPeriodStartDate",
                "SubscriptionId",
                "Tags",
                "UnitPrice",
            ),
        ),
        REFERENCE / "azure-ea-finops-toolkit" / "EA_ActualCost_Small.csv",
    ),
    "gcp-csv": (
        Source(
            "gcp-csv",
            "gcp",
            "csv",
            None,  # BilledCost is cost plus credits: the loads record is the oracle
            (
                "cost",
                "credits",
                "usage_start_time",
                "usage_end_time",
                "invoice.month",
                "currency",
                "billing_account_id",
                "labels",
                "usage.amount",
                "export_time",
            ),
        ),
        REFERENCE / "gcp-bq-export-koku" / "2022-08-01_5.csv",
    ),
    "gcp-parquet": (
        Source(
            "gcp-parquet",
            "gcp",
            "parquet",
            None,
            (
                "cost",
                "credits",
                "usage_start_time",
                "usage_end_time",
                "invoice",
                "currency",
                "billing_account_id",
                "labels",
                "usage",
                "cost_type",
            ),
        ),
        SAMPLE_DATA / "gcp" / "parquet" / "202605.parquet",
    ),
    "saas": (
        Source(
            "saas",
            "saas",
            "csv",
            "amount",
            ("amount", "month", "currency", "vendor", "seats", "active_seats", "invoice_id"),
        ),
        _saas_slice,
    ),
    "onprem": (
        Source(
            "onprem",
            "onprem",
            "csv",
            None,  # the cost is computed from capex, power and colo: the loads record is it
            (
                "purchase_date",
                "server_capex",
                "gpus",
                "life_years",
                "currency",
                "pue",
                "usd_per_kwh",
                "retired_date",
                "asset_id",
                "power_load_kw",
            ),
            args=("--start", "2026-01", "--end", "2026-01"),
        ),
        SAMPLE_DATA / "onprem" / "inventory.csv",
    ),
}


# ---- mutations ---------------------------------------------------------------------------------

Rows = list[list[str]]


@dataclass
class Sample:
    """One source's base file as bytes, and (for CSV) as rows."""

    source: Source
    name: str
    data: bytes

    def rows(self) -> Rows:
        text = self.data.decode("utf-8-sig")
        return [r for r in csv.reader(io.StringIO(text, newline=""))]

    def table(self) -> pa.Table:
        return pq.read_table(io.BytesIO(self.data))


def _write_rows(rows: Rows) -> bytes:
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode("utf-8")


def _pick_column(rng: random.Random, names: list[str], keys: tuple[str, ...]) -> int:
    """A key column (money, dates, ids) three times in four, else any column."""
    present = [names.index(k) for k in keys if k in names]
    if present and rng.random() < 0.75:
        return rng.choice(present)
    return rng.randrange(len(names))


# Bytes-level damage: anything the transport or a bad editor can do.


def truncate(rng: random.Random, s: Sample) -> bytes:
    return s.data[: rng.randrange(len(s.data))]


def flip_bytes(rng: random.Random, s: Sample) -> bytes:
    data = bytearray(s.data)
    for _ in range(rng.randint(1, 4)):
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    return bytes(data)


def insert_bytes(rng: random.Random, s: Sample) -> bytes:
    data = bytearray(s.data)
    for _ in range(rng.randint(1, 3)):
        piece = rng.choice([b'"', b",", b"\n", b"\r", b"\x00", b"\xff", b"-", b"9", b"\t"])
        data[rng.randrange(len(data) + 1) : 0] = piece * rng.randint(1, 3)
    return bytes(data)


def delete_bytes(rng: random.Random, s: Sample) -> bytes:
    data = bytearray(s.data)
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(len(data))
        del data[at : at + rng.randint(1, 16)]
    return bytes(data)


# CSV structure: columns dropped, doubled, swapped, retyped.


def drop_column(rng: random.Random, s: Sample) -> bytes:
    rows = s.rows()
    i = _pick_column(rng, rows[0], s.source.keys)
    return _write_rows([r[:i] + r[i + 1 :] for r in rows])


def duplicate_column(rng: random.Random, s: Sample) -> bytes:
    rows = s.rows()
    i = _pick_column(rng, rows[0], s.source.keys)
    at = rng.randrange(len(rows[0]) + 1)
    # koku's CUR names 131 columns and writes 130 fields a row: a missing field doubles as ""
    return _write_rows([[*r[:at], r[i] if i < len(r) else "", *r[at:]] for r in rows])


def swap_headers(rng: random.Random, s: Sample) -> bytes:
    rows = s.rows()
    i = _pick_column(rng, rows[0], s.source.keys)
    j = rng.choice([k for k in range(len(rows[0])) if k != i])
    rows[0][i], rows[0][j] = rows[0][j], rows[0][i]
    return _write_rows(rows)


NOT_NUMBERS = ["twelve", "1,234.50", "$12.00", "12 USD", "NaN", "Infinity", "-inf", "1e400",
               "0x1F", "(12.00)", "12.5.1", "--3", " "]  # fmt: skip
NOT_DATES = ["1717200000", "45000", "20260501", "2026-13-01", "2026-02-30T00:00:00Z",
             "01/05/2026", "yesterday", "2026-05-01T25:00:00Z", "0"]  # fmt: skip
DATE = re.compile(r"^\d{4}-\d{2}")


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except InvalidOperation:
        return False
    return True


def retype_column(rng: random.Random, s: Sample) -> bytes:
    """Numbers become text, dates become numbers, or a column is emptied; in one row or all."""
    rows = s.rows()
    i = _pick_column(rng, rows[0], s.source.keys)
    values = [r[i] for r in rows[1:] if i < len(r) and r[i]]
    if values and all(DATE.match(v) for v in values):
        pool = NOT_DATES
    elif values and all(_is_number(v) for v in values):
        pool = NOT_NUMBERS
    else:
        pool = ["", "12.5", "2026-05-01"]
    new = rng.choice([*pool, ""])
    targets = range(1, len(rows)) if rng.random() < 0.4 else [rng.randrange(1, len(rows))]
    for t in targets:
        if i < len(rows[t]):
            rows[t][i] = new
    return _write_rows(rows)


# Encodings and compression, as exports arrive from other tools.


def gzipped(rng: random.Random, s: Sample) -> tuple[bytes, str]:
    return gzip.compress(s.data, mtime=0), ".gz"


def gzip_cut(rng: random.Random, s: Sample) -> tuple[bytes, str]:
    data = gzip.compress(s.data, mtime=0)
    return data[: rng.randrange(1, len(data) - 1)], ".gz"


def utf16(rng: random.Random, s: Sample) -> bytes:
    return s.data.decode("utf-8-sig").encode(rng.choice(["utf-16", "utf-16-le", "utf-16-be"]))


def bom(rng: random.Random, s: Sample) -> bytes:
    return b"\xef\xbb\xbf" + s.data.removeprefix(b"\xef\xbb\xbf")


def latin1(rng: random.Random, s: Sample) -> bytes:
    """A text value with an accent, written as Latin-1 (what Excel on Windows saves)."""
    rows = s.rows()
    row = rng.randrange(1, len(rows))
    texts = [k for k, v in enumerate(rows[row]) if v and not _is_number(v) and not DATE.match(v)]
    k = rng.choice(texts) if texts else 0
    rows[row][k] = rows[row][k] + " Società Générale"
    return _write_rows(rows).decode("utf-8").encode(rng.choice(["latin-1", "cp1252"]))


# Parquet: columns dropped, doubled, renamed, retyped; the file cut or its bytes flipped.


def _parquet(table: pa.Table) -> bytes:
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


def pq_drop_column(rng: random.Random, s: Sample) -> bytes:
    t = s.table()
    return _parquet(t.remove_column(_pick_column(rng, t.column_names, s.source.keys)))


def pq_duplicate_column(rng: random.Random, s: Sample) -> bytes:
    t = s.table()
    i = _pick_column(rng, t.column_names, s.source.keys)
    return _parquet(t.append_column(t.schema.field(i), t.column(i)))


def pq_swap_names(rng: random.Random, s: Sample) -> bytes:
    t = s.table()
    names = t.column_names
    i = _pick_column(rng, names, s.source.keys)
    j = rng.choice([k for k in range(len(names)) if k != i])
    names[i], names[j] = names[j], names[i]
    return _parquet(t.rename_columns(names))


def _retyped(rng: random.Random, column: pa.ChunkedArray) -> pa.Array:
    """The column as another type a careless export tool might write."""
    kind = column.type
    n = len(column)
    if pa.types.is_floating(kind) or pa.types.is_decimal(kind) or pa.types.is_integer(kind):
        choice = rng.choice(["text", "words", "nulls", "int"])
        if choice == "text":
            return pc.cast(column, pa.string()).combine_chunks()
        if choice == "words":
            return pa.array([rng.choice(NOT_NUMBERS) for _ in range(n)], pa.string())
        if choice == "int":
            return pc.cast(pc.round(column), pa.int64()).combine_chunks()
    if pa.types.is_timestamp(kind):
        choice = rng.choice(["text", "date", "nulls", "dmy", "epoch"])
        if choice == "text":
            return pc.cast(column, pa.string()).combine_chunks()
        if choice == "epoch":  # the timestamp's integer, as a tool that drops the type writes
            return pc.cast(column, pa.int64()).combine_chunks()
        if choice == "date":
            return pc.cast(column, pa.date32()).combine_chunks()
        if choice == "dmy":
            return pc.strftime(column, "%d/%m/%Y").combine_chunks()
    if pa.types.is_string(kind) and rng.random() < 0.5:
        return pa.array([rng.choice(NOT_DATES) for _ in range(n)], pa.string())
    return pa.nulls(n, kind if rng.random() < 0.5 else pa.string())


def pq_retype_column(rng: random.Random, s: Sample) -> bytes:
    t = s.table()
    i = _pick_column(rng, t.column_names, s.source.keys)
    array = _retyped(rng, t.column(i))
    return _parquet(t.set_column(i, pa.field(t.column_names[i], array.type), array))


CSV_MUTATIONS = [truncate, flip_bytes, insert_bytes, delete_bytes, drop_column,
                 duplicate_column, swap_headers, retype_column, gzipped, gzip_cut, utf16, bom,
                 latin1]  # fmt: skip
PARQUET_MUTATIONS = [truncate, flip_bytes, delete_bytes, pq_drop_column, pq_duplicate_column,
                     pq_swap_names, pq_retype_column]  # fmt: skip


# ---- families another change fixes: expected to fail until it lands ---------------------------


@dataclass(frozen=True)
class Known:
    reason: str
    match: Callable[[str, BaseException], bool]  # (case id, exception)


# A failure family that another change fixes is listed here (reason, match) as an expected
# failure until that change lands; the bad-input families the fuzz found first (Decimal
# overflow in the inventory, CSV faults in a header line) are fixed and no longer listed.
KNOWN: list[Known] = []


# ---- the cases -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    source: str
    mutation: str
    seed: int

    @property
    def id(self) -> str:
        return f"{self.source}-{self.mutation}-{self.seed}"


def cases(per_pair: int, first: int) -> list[Case]:
    out = []
    for name, (source, _) in SOURCES.items():
        mutations = PARQUET_MUTATIONS if source.kind == "parquet" else CSV_MUTATIONS
        for m in mutations:
            for k in range(first, first + per_pair):
                seed = zlib.crc32(f"{BASE_SEED}/{name}/{m.__name__}/{k}".encode())
                out.append(Case(name, m.__name__, seed))
    return out


MUTATIONS = {m.__name__: m for m in {*CSV_MUTATIONS, *PARQUET_MUTATIONS}}
DEFAULT = cases(1, 0)
HEAVY = cases(HEAVY_SEEDS, 1)


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Sample]:
    folder = tmp_path_factory.mktemp("bases")
    out = {}
    for name, (source, origin) in SOURCES.items():
        if isinstance(origin, Path):
            path = origin
        else:
            path = folder / f"{name}.{source.kind}"
            origin(path)
        out[name] = Sample(source, path.name, path.read_bytes())
    return out


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse holding one good load; each case works on its own copy."""
    root = tmp_path_factory.mktemp("good") / "warehouse"
    assert ingest(root, "aws", str(KOKU / "test_cur.csv")) == 0
    return root


# ---- the oracle --------------------------------------------------------------------------------

TRACE = re.compile(r"Traceback|\b[A-Z][A-Za-z]*(Error|Exception)\b|File \"")
TITLES = ("Bad input: ", "Reconciliation failed: ")
NOTES = ("pricing ", "warning: ")  # what `ingest onprem` says on stderr before it loads


def _mutate(case: Case, sample: Sample, inputs: Path) -> Path:
    rng = random.Random(case.seed)
    got = MUTATIONS[case.mutation](rng, sample)
    data, suffix = got if isinstance(got, tuple) else (got, "")
    if sample.source.folder:  # a Parquet export folder, as the export lays it out
        folder = inputs / sample.source.folder
        folder.mkdir()
        (folder / "export-00001.snappy.parquet").write_bytes(data)
        return folder
    path = inputs / (sample.name + suffix)
    path.write_bytes(data)
    return path


def _loads(root: Path) -> dict[str, tuple]:
    if versions(root)["loads"] is None:
        return {}
    rows = connect(root, derived=False).execute(
        "select load_id, source_total, warehouse_total, status from loads "
        "where dataset = 'cost_lines'"
    )
    return {r[0]: r[1:] for r in rows.fetchall()}


def _errors(root: Path) -> list[str]:
    if not (root / "load_errors").exists():
        return []
    rows = connect(root, derived=False).execute('select message from load_errors order by "at"')
    return [r[0] for r in rows.fetchall()]


def _independent_total(path: Path, column: str) -> Decimal | None:
    """The Decimal sum of `column` of the damaged file, read with the csv module; None where
    the file no longer reads as UTF-8 CSV with that column once and numbers in it."""
    try:
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
        header = rows[0]
        if header.count(column) != 1:
            return None
        i = header.index(column)
        total = Decimal(0)
        for r in rows[1:]:
            if not r:
                continue
            if len(r) != len(header):
                return None
            total += Decimal(r[i] or "0").quantize(Q, ROUND_HALF_EVEN)
        return total
    except (UnicodeDecodeError, InvalidOperation, IndexError, EOFError, OSError, csv.Error):
        return None


def run_case(
    case: Case, bases: dict[str, Sample], loaded: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("FINOPS_DEBUG", "1")  # a bug raises here instead of exit code 70
    sample = bases[case.source]
    warehouse = tmp_path / "warehouse"
    shutil.copytree(loaded, warehouse)
    inputs = tmp_path / "in"
    inputs.mkdir()
    target = _mutate(case, sample, inputs)
    before, loads_before, errors_before = state(warehouse), _loads(warehouse), _errors(warehouse)
    capsys.readouterr()
    replay = f"[{case.id}] replay with: pytest tests/ingest/test_fuzz.py -k '{case.id}'"

    try:
        code = ingest(warehouse, sample.source.command, str(target), *sample.source.args)
    except Exception as exc:  # a traceback: the one outcome never allowed
        for known in KNOWN:
            if known.match(case.id, exc):
                pytest.xfail(f"{known.reason} ({type(exc).__name__})")
        raise AssertionError(f"{replay}: traceback {type(exc).__name__}: {exc}") from exc

    out = capsys.readouterr()
    said = [x for x in out.err.splitlines() if x.strip()]
    assert "Traceback" not in out.err + out.out, f"{replay}\n{out.err}"
    if code != 0:
        messages = [x for x in said if x.startswith(TITLES)]
        others = [x for x in said if not x.startswith(TITLES + NOTES)]
        assert len(messages) == 1 and not others, f"{replay}: not one message:\n{out.err}"
        assert out.out == "", f"{replay}: printed on a failure:\n{out.out}"
        message = messages[0]
        assert not TRACE.search(message), f"{replay}: a bare exception in: {message}"
        assert code in (2, 3), f"{replay}: exit {code}: {message}"  # not 70, a bug
        assert state(warehouse) == before, f"{replay}: the warehouse changed on: {message}"
        errors = _errors(warehouse)
        assert len(errors) == len(errors_before) + 1, f"{replay}: load_errors not kept"
        assert errors[-1] in message, f"{replay}: load_errors says {errors[-1]!r}"
        return

    new = {k: v for k, v in _loads(warehouse).items() if k not in loads_before}
    for load_id, (source_total, warehouse_total, status) in new.items():
        assert source_total == warehouse_total, f"{replay}: load {load_id} does not reconcile"
        if status == "committed":
            (stored,) = (
                connect(warehouse, derived=False)
                .execute("select sum(BilledCost) from cost_lines where x_LoadId = ?", [load_id])
                .fetchone()
            )
            assert stored == warehouse_total, f"{replay}: cost_lines hold {stored} for {load_id}"
    column = sample.source.cost
    expected = _independent_total(target, column) if column and target.is_file() else None
    if expected is not None:
        if new:
            got = sum((v[0] for v in new.values()), Decimal(0))
        else:  # the damage changed nothing the reader keeps: the stored load is this file
            got = sum((t[1] for t in before[2].values()), Decimal(0))
        assert got == expected, f"{replay}: loaded {got}, the file sums to {expected}"


@pytest.mark.parametrize("case", DEFAULT, ids=[c.id for c in DEFAULT])
def test_damaged_sample_is_refused_or_reconciles(
    case: Case, bases: dict[str, Sample], loaded: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    run_case(case, bases, loaded, tmp_path, capsys, monkeypatch)


@pytest.mark.heavy
@pytest.mark.parametrize("case", HEAVY, ids=[c.id for c in HEAVY])
def test_many_damaged_samples_are_refused_or_reconcile(
    case: Case, bases: dict[str, Sample], loaded: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    run_case(case, bases, loaded, tmp_path, capsys, monkeypatch)
