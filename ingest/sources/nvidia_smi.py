"""nvidia-smi CSV logs -> telemetry samples.

As `nvidia-smi --query-gpu=timestamp,name,pci.bus_id,uuid,index,utilization.gpu,memory.used,
power.draw --format=csv -l 60` writes them: a header naming the fields (with units in
brackets, `utilization.gpu [%]`), values with units (`45 %`, `1024 MiB`, `250.12 W`) or
without (`--format=csv,nounits`), fields in any order, `[N/A]` where a GPU has no reading.
nvidia-smi prints local time without a zone (`2026/10/05 14:03:00.123`), so such files need
the zone they were written in (`--tz`); ISO stamps with a zone are read as they are.
nvidia-smi prints no host name either: the host is `--host` or the file name (`<host>.csv`,
`<host>.csv.gz`, `<host>.log`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from ingest.sources.detect import check_rows
from ingest.sources.telemetry import SAMPLE, check_samples
from ingest.warehouse.load_contract import SourceFile
from models.errors import InputError

FIELDS = {
    "timestamp": None,
    "name": None,
    "pci.bus_id": None,
    "uuid": None,
    "index": None,
    "utilization.gpu": "%",
    "memory.used": "MiB",
    "power.draw": "W",
}
NOT_AVAILABLE = ("[N/A]", "N/A", "[Not Supported]", "[Unknown Error]", "")
SUFFIXES = (".csv.gz", ".csv", ".log.gz", ".log", ".txt")
_ZONE = r"(Z|[+-]\d{2}:?\d{2})$"


def list_files(paths: list[Path]) -> list[Path]:
    """The log files named, folders expanded (sorted, so a load is reproducible)."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted(f for f in p.iterdir() if f.is_file() and f.name.endswith(SUFFIXES))
        elif p.is_file():
            out.append(p)
        else:
            raise InputError("no such file or folder", file=str(p))
    if not out:
        raise InputError(
            "no nvidia-smi logs found",
            file=", ".join(map(str, paths)),
            expected=f"files ending {', '.join(SUFFIXES)}",
        )
    return out


def host_of(path: Path) -> str:
    name = path.name
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _field(header: str) -> str:
    return re.sub(r"\s*\[[^\]]*\]\s*$", "", header.strip().lstrip("\ufeff")).strip().lower()


def read_log(path: Path, host: str, tz: str | None) -> pl.DataFrame:
    """One log file -> checked samples (SAMPLE columns)."""
    check_rows(path, str(path))
    try:
        raw = pl.read_csv(path, infer_schema=False, has_header=True, quote_char='"')
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as exc:
        raise InputError(
            f"not a readable nvidia-smi CSV: {str(exc).splitlines()[0]}", file=str(path)
        ) from None
    raw = raw.rename({c: _field(c) for c in raw.columns})
    need = {"timestamp", "utilization.gpu"}
    if not need <= set(raw.columns) or not {"index", "uuid"} & set(raw.columns):
        raise InputError(
            "not an nvidia-smi --query-gpu CSV with a header",
            file=str(path),
            expected="a header with timestamp, utilization.gpu and index or uuid "
            "(--format=csv, not noheader)",
            found=", ".join(raw.columns) or "no columns",
        )
    raw = raw.with_columns(pl.all().str.strip_chars()).with_row_index("row")
    frame = raw.select(
        pl.col("row"),
        _timestamps(raw, path, tz).alias("ts"),
        *[
            _number(raw, path, f, unit).alias(f)
            for f, unit in FIELDS.items()
            if unit and f in raw.columns
        ],
        (_number(raw, path, "index", None).cast(pl.Int64) if "index" in raw.columns
         else pl.lit(None, pl.Int64)).alias("gpu_index"),
        (pl.col("uuid") if "uuid" in raw.columns else pl.lit(None, pl.String)).alias("gpu_uuid"),
        (pl.col("name") if "name" in raw.columns else pl.lit(None, pl.String)).alias("gpu_model"),
    )  # fmt: skip
    samples = frame.select(
        "ts",
        pl.lit(host).alias("host"),
        "gpu_uuid",
        "gpu_index",
        "gpu_model",
        (pl.col("utilization.gpu") / 100).alias("active"),
        pl.lit("gpu_util").alias("active_metric"),
        (
            pl.col("memory.used") if "memory.used" in frame.columns else pl.lit(None, pl.Float64)
        ).alias("mem_used_mib"),
        (pl.col("power.draw") if "power.draw" in frame.columns else pl.lit(None, pl.Float64)).alias(
            "power_w"
        ),
        pl.lit(None, pl.String).alias("namespace"),
        pl.lit(None, pl.String).alias("pod"),
        pl.lit(None, pl.String).alias("resource_id"),
        pl.lit(str(path)).alias("file"),
        (pl.col("row").cast(pl.Int64) + 2).alias("line"),
    ).cast(SAMPLE)  # type: ignore[arg-type]
    check_samples(samples, "utilization.gpu")
    return samples


def _number(raw: pl.DataFrame, path: Path, field: str, unit: str | None) -> pl.Series:
    text = raw[field]
    if unit:
        text = text.str.strip_suffix(unit).str.strip_chars()
    missing = raw[field].is_in(list(NOT_AVAILABLE)) | raw[field].is_null()
    value = text.cast(pl.Float64, strict=False)
    bad = value.is_null() & ~missing
    if bad.any():
        i = int(bad.arg_true()[0])
        raise InputError(
            f"not a number in {field}",
            file=str(path),
            location=f"line {i + 2}, column {field}",
            expected=f"a number{f' in {unit}' if unit else ''} or [N/A]",
            found=repr(raw[field][i]),
        )
    return value


def _timestamps(raw: pl.DataFrame, path: Path, tz: str | None) -> pl.Series:
    text = raw["timestamp"].fill_null("")
    zoned = text.str.contains(_ZONE)
    if zoned.all():
        iso = text.str.replace(r"Z$", "+00:00").str.replace("/", "-", literal=True, n=2)
        ts = iso.str.replace(" ", "T", literal=True).str.to_datetime(
            "%Y-%m-%dT%H:%M:%S%.f%:z", strict=False, time_zone="UTC"
        )
    elif (~zoned).all():
        if tz is None:
            raise InputError(
                "timestamps have no time zone",
                file=str(path),
                location="line 2, column timestamp",
                expected="the zone the host's clock used, given as --tz (e.g. --tz UTC)",
                found=repr(text[0]),
                hint="nvidia-smi prints local time; say which zone with --tz",
            )
        try:
            ts = (
                text.str.to_datetime("%Y/%m/%d %H:%M:%S%.f", strict=False)
                .dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
                .dt.convert_time_zone("UTC")
            )
        except pl.exceptions.PolarsError as exc:
            raise InputError(
                f"unknown time zone {tz!r}",
                expected="an IANA zone such as UTC or America/New_York",
                found=tz,
            ) from exc
    else:
        i = int((zoned != zoned[0]).arg_true()[0])
        raise InputError(
            "some timestamps have a time zone and some do not",
            file=str(path),
            location=f"line {i + 2}, column timestamp",
            expected="one style for the whole file",
            found=repr(text[i]),
        )
    bad = ts.is_null()
    if bad.any():
        i = int(bad.arg_true()[0])
        raise InputError(
            "not a timestamp",
            file=str(path),
            location=f"line {i + 2}, column timestamp",
            expected="YYYY/MM/DD HH:MM:SS.fff as nvidia-smi writes it (or ISO 8601 with a zone)",
            found=repr(text[i]),
        )
    return ts.dt.cast_time_unit("us")


def read_logs(
    paths: list[Path], host: str | None, tz: str | None
) -> Iterator[tuple[SourceFile, pl.DataFrame]]:
    """Each log as (its file record, its checked samples), one at a time (bounded memory)."""
    for path in list_files(paths):
        yield SourceFile.of(path), read_log(path, host or host_of(path), tz)
