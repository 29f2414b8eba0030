"""GCP billing export files: listing them and reading their fields under dotted names.

BigQuery exports nest fields (`service.description` is a struct field; `labels`, `credits`
are arrays of structs). Newline-delimited JSON and Parquet keep that nesting; CSV dumps flatten
names with dots and write the arrays as text (JSON, or Python-repr lists). `flat` gives every
format the same frame: scalar fields as text (timestamps as the file types them) under dotted
names, and `labels`, `system_labels`, `credits` as lists of structs of text.
ingest/sources/gcp.py does the rest.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from ingest.sources.detect import check_rows
from models.errors import InputError

# The fields the conversion reads (not `usage.amount` and `usage.unit`, the usage in its
# own unit: a cost line's quantity is the one in pricing units, which the price is for).
FIELDS = (
    "billing_account_id", "service.id", "service.description", "sku.id", "sku.description",
    "usage_start_time", "usage_end_time", "project.id", "project.name", "labels",
    "system_labels", "location.region", "location.zone", "cost",
    "currency", "usage.amount_in_pricing_units",
    "usage.pricing_unit", "credits", "invoice.month", "cost_type", "resource.name",
    "resource.global_name", "transaction_type", "seller_name", "cost_at_list",
)  # fmt: skip
REQUIRED = ("billing_account_id", "cost", "currency", "invoice.month", "usage_start_time")


@dataclass(frozen=True)
class ExportFile:
    path: Path
    display: str
    fmt: str  # "ndjson", "parquet" or "csv"


def discover(target: Path, display: str | None = None) -> list[ExportFile]:
    label = display or str(target)
    if target.is_file():
        return [ExportFile(target, label, _format(target, label))]
    if not target.is_dir():
        raise InputError("no such file or folder", file=label, hint="check the path")
    found = [
        p
        for p in sorted(target.rglob("*"))
        if p.is_file() and p.suffix.lower() in (".json", ".jsonl", ".ndjson", ".parquet", ".csv")
    ]
    if not found:
        raise InputError(
            "no billing export files (*.jsonl, *.parquet, *.csv) in the folder",
            file=label,
            hint="point at the folder the export was written to",
        )
    return [
        ExportFile(p, f"{label.rstrip('/')}/{p.relative_to(target)}", _format(p, label))
        for p in found
    ]


def _format(path: Path, label: str) -> str:
    suffix = path.suffix.lower()
    if suffix in (".json", ".jsonl", ".ndjson"):
        return "ndjson"
    if suffix in (".parquet", ".csv"):
        return suffix[1:]
    raise InputError(
        "unknown file type",
        file=label,
        expected=".jsonl, .json, .parquet or .csv",
        found=suffix or "no extension",
    )


# ---- reading ------------------------------------------------------------------------------


def _scan(export: ExportFile) -> pl.LazyFrame:
    try:
        if export.fmt == "parquet":
            return pl.scan_parquet(export.path)
        if export.fmt == "ndjson":
            return pl.read_ndjson(export.path, infer_schema_length=None).lazy()
        check_rows(export.path, export.display)
        return pl.scan_csv(export.path, infer_schema=False, null_values=[""])
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InputError(
            f"cannot read the file: {str(exc).splitlines()[0]}",
            file=export.display,
            expected=f"a BigQuery billing export as {export.fmt}",
        ) from None


def _field(schema: pl.Schema, path: str) -> pl.Expr:
    """A dotted field from nested structs, a dotted column name, or an underscored one."""
    if path in schema:
        return pl.col(path)
    underscored = path.replace(".", "_")
    if underscored in schema:
        return pl.col(underscored)
    head, _, rest = path.partition(".")
    if rest and head in schema and isinstance(schema[head], pl.Struct):
        names = {f.name for f in schema[head].fields}
        if rest in names:
            return pl.col(head).struct.field(rest)
    return pl.lit(None)


NESTED = ("labels", "system_labels", "credits")


def flat(export: ExportFile, index: int) -> pl.LazyFrame:
    """The export's fields under dotted names; money still as text, times as text or UTC
    timestamps as the file has them.

    Lazy for Parquet and JSON (their arrays are real); a CSV dump is read whole, because its
    array text is parsed in Python.
    """
    return _flat_of(_scan(export), export, index, 2 if export.fmt == "csv" else 1)


# A row group of up to this many values (of the fields read) is decoded whole by polars: a
# third of pyarrow's CPU for the same rows, with no copy of its text into polars' string views.
# Decoded, a value takes about 14 bytes (a 1M-row detailed export's group holds 28M), so a
# group is about half a GiB, and two are held at a turn (the slices handed out share the
# group's buffers, and the last one is still in use while the next group is decoded). A
# larger group (more rows, or many labels a row) is decoded by pyarrow a batch at a time, so
# memory stays bounded whatever the file's layout.
WHOLE_GROUP_VALUES = 32_000_000


def parquet_batches(export: ExportFile, index: int, rows: int) -> Iterator[pl.LazyFrame]:
    """`flat` of a Parquet export, `rows` rows at a time, in the file's order: each row group
    of up to WHOLE_GROUP_VALUES values is decoded whole, then handed out in slices; a larger
    one is decoded a batch at a time (pyarrow on one thread: with its pool beside polars' on
    the same cores, a batch cost about twice the CPU)."""
    source = pq.ParquetFile(export.path, pre_buffer=False)
    columns = _parquet_columns(source.schema_arrow)
    scan = pl.scan_parquet(export.path)
    if columns is not None:  # only the fields read: polars skips the others inside a struct
        schema = scan.collect_schema()  # a struct field keeps its dotted name, as `_field` finds
        scan = scan.select(_field(schema, c).alias(c) for c in columns)
    line = start = 0
    for group in range(source.metadata.num_row_groups):
        size = source.metadata.row_group(group).num_rows
        if group_values(source.metadata.row_group(group), columns) <= WHOLE_GROUP_VALUES:
            whole = scan.slice(start, size).collect()
            frames: Iterator[pl.DataFrame] = (whole.slice(at, rows) for at in range(0, size, rows))
        else:
            batches = source.iter_batches(
                rows, row_groups=[group], columns=columns, use_threads=False
            )
            frames = (pl.DataFrame(pl.from_arrow(b)) for b in batches)
        for frame in frames:
            yield _flat_of(frame.lazy(), export, index, line + 1)
            line += frame.height
        start += size


def group_values(group: pq.RowGroupMetaData, columns: list[str] | None) -> int:
    """The values a row group holds in `columns` (`_parquet_columns`; None: every column),
    each list's elements counted."""
    leaves = (group.column(i) for i in range(group.num_columns))
    return sum(
        leaf.num_values
        for leaf in leaves
        if columns is None
        or any(leaf.path_in_schema == c or leaf.path_in_schema.startswith(c + ".") for c in columns)
    )


def _parquet_columns(schema: pa.Schema) -> list[str] | None:
    """The file's columns (or struct fields, as dotted paths) that hold FIELDS, so the
    columns nothing reads are not decoded; None (every column) when a required field is
    missing, so the message about it lists the file's own columns."""
    names = set(schema.names)
    columns: dict[str, str] = {}  # field -> the file's column or dotted struct field
    for path in FIELDS:
        head, _, rest = path.partition(".")
        if path in names:
            columns[path] = path
        elif path.replace(".", "_") in names:
            columns[path] = path.replace(".", "_")
        elif _has_field(schema, head, rest):
            columns[path] = path
    if any(f not in columns for f in REQUIRED):
        return None
    return list(dict.fromkeys(columns.values()))


def _has_field(schema: pa.Schema, head: str, rest: str) -> bool:
    if not rest or head not in schema.names:
        return False
    kind = schema.field(head).type
    return pa.types.is_struct(kind) and kind.get_field_index(rest) >= 0


def _flat_of(lf: pl.LazyFrame, export: ExportFile, index: int, first_line: int) -> pl.LazyFrame:
    try:
        schema = lf.collect_schema()
    except pl.exceptions.PolarsError as exc:
        raise InputError(f"cannot read the file: {exc}", file=export.display) from None
    missing = [f for f in REQUIRED if not _present(schema, f)]
    if missing:
        raise InputError(
            "not a BigQuery billing export: missing " + ", ".join(missing),
            file=export.display,
            location="header",
            expected="the standard or detailed billing export schema",
            found=", ".join(schema.names()[:8]),
        )
    sel = lf.select([_field(schema, name).alias(name) for name in FIELDS])
    types = sel.collect_schema()
    sel = sel.with_columns(
        *[_as_text(name, types[name]) for name in FIELDS if name not in NESTED],
        *[_list_of_text(name, types[name]) for name in NESTED if types[name] != pl.String],
        pl.lit(index, pl.Int32).alias("_file"),
    ).with_row_index("_line", offset=first_line)  # streams; a range over len() would not
    sel = sel.with_columns(pl.col("_line").cast(pl.Int64))
    text = [name for name in NESTED if types[name] == pl.String]
    if not text:
        return sel
    try:
        frame = sel.collect()
    except pl.exceptions.PolarsError as exc:
        raise InputError(
            f"cannot read the file: {str(exc).splitlines()[0]}", file=export.display
        ) from None
    return frame.with_columns(_parse_text(frame, name, export) for name in text).lazy()


def _as_text(name: str, dtype: pl.DataType) -> pl.Expr:
    """Text of a scalar field, numbers in shortest form; a timestamp stays one, in UTC (its
    text would only be parsed back)."""
    if isinstance(dtype, pl.Datetime):
        ts = pl.col(name).cast(pl.Datetime("us", dtype.time_zone))
        ts = ts.dt.convert_time_zone("UTC") if dtype.time_zone else ts.dt.replace_time_zone("UTC")
        return ts.alias(name)
    return pl.col(name).cast(pl.String).alias(name)


def _present(schema: pl.Schema, path: str) -> bool:
    if path in schema or path.replace(".", "_") in schema:
        return True
    head, _, rest = path.partition(".")
    return bool(
        rest
        and head in schema
        and isinstance(schema[head], pl.Struct)
        and rest in {f.name for f in schema[head].fields}
    )


CREDIT = pl.Struct({"name": pl.String, "amount": pl.String, "full_name": pl.String,
                    "id": pl.String, "type": pl.String})  # fmt: skip
LABEL = pl.Struct({"key": pl.String, "value": pl.String})


def _target(name: str) -> pl.List:
    return pl.List(CREDIT if name == "credits" else LABEL)


def _list_of_text(name: str, dtype: pl.DataType) -> pl.Expr:
    """A real array of structs as List[Struct] of text (absent fields null)."""
    target = _target(name)
    if dtype == target:  # BigQuery's labels as Parquet: already a list of text pairs
        return pl.col(name)
    if not isinstance(dtype, pl.List):
        return pl.lit(None, dtype=target).alias(name)
    inner = dtype.inner
    have = {f.name for f in inner.fields} if isinstance(inner, pl.Struct) else set()
    fields = [
        (
            pl.element().struct.field(f.name).cast(pl.String)
            if f.name in have
            else pl.lit(None, pl.String)
        ).alias(f.name)
        for f in target.inner.fields
    ]
    return pl.col(name).list.eval(pl.struct(*fields)).cast(target).alias(name)


def _parse_text(frame: pl.DataFrame, name: str, export: ExportFile) -> pl.Series:
    """Array text (JSON, or a Python repr of a list of dicts) as List[Struct] of text."""
    target = _target(name)
    parsed: dict[str, list] = {}
    values = frame[name]
    for text in values.unique().drop_nulls().to_list():
        parsed[text] = _parse_list(text)
    bad = [t for t, v in parsed.items() if v is None]
    if bad:
        row = frame.filter(values == bad[0]).row(0, named=True)
        raise InputError(
            f"{name} is not a list",
            file=export.display,
            location=f"line {row['_line']}, column {name}",
            expected='a JSON list such as [{"name": ..., "amount": -1.5}]',
            found=repr(bad[0][:80]),
            hint="export the table as JSON or Parquet, where it is a real array",
        )
    fields = [f.name for f in target.inner.fields]
    rows = [
        [{f: (None if d.get(f) is None else str(d.get(f))) for f in fields} for d in parsed[t]]
        if t is not None
        else []
        for t in values.to_list()
    ]
    return pl.Series(name, rows, dtype=target)


def _parse_list(text: str) -> list[dict] | None:
    text = text.strip()
    if text in ("", "[]"):
        return []
    for parse in (json.loads, ast.literal_eval):
        try:
            value = parse(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            continue
        if isinstance(value, list) and all(isinstance(v, dict) for v in value):
            return value
        return None
    return None
