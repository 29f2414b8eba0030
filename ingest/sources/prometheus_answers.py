"""Saved Prometheus `query_range` answers (files, not a server) -> GPU-hours.

A file or folder of answers (`*.json`, `*.json.gz`) of plain metric selectors: each series
carries `__name__` (e.g. `DCGM_FI_PROF_GR_ENGINE_ACTIVE` queried at the scrape interval), so
its points are samples. The metrics of one GPU arrive in separate series (often separate
files), so all answers are joined into samples before they are reduced to hours like
nvidia-smi logs. `NaN` points are skipped (no data, never zero).
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from ingest.sources.prometheus import ENERGY, FB, GR, POWER, UTIL, label, matrix, resource
from ingest.sources.telemetry import SAMPLE, check_samples, finish, partials
from ingest.warehouse.load_contract import SourceFile
from models.errors import InputError

_FIELD = {GR: "gr", UTIL: "util", FB: "mem_used_mib", POWER: "power_w"}


def list_answer_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(
            p for p in path.rglob("*") if p.is_file() and p.name.endswith((".json", ".json.gz"))
        )
    elif path.is_file():
        files = [path]
    else:
        raise InputError(
            "no such file, folder or URL",
            file=str(path),
            hint="give http(s)://host:9090 or saved query_range answers (*.json, *.json.gz)",
        )
    if not files:
        raise InputError("no saved query_range answers (*.json, *.json.gz) here", file=str(path))
    return files


def load_answer(path: Path) -> object:
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, OSError, EOFError) as exc:
        raise InputError(
            f"not JSON: {exc}",
            file=str(path),
            expected="a saved Prometheus query_range answer (JSON, optionally gzipped)",
            hint="save one with curl 'http://HOST:9090/api/v1/query_range?query=...' or give "
            "the server's http(s) address instead",
        ) from None


def read_answer(path: Path) -> pl.DataFrame:
    """One saved query_range answer of plain metric selectors -> long points."""
    payload = load_answer(path)
    cols: dict[str, list] = {k: [] for k in _LONG if k != "file"}
    for series in matrix(payload, str(path)):
        metric = series.get("metric", {})
        field = _FIELD.get(metric.get("__name__", ""))
        if field is None:
            if metric.get("__name__") == ENERGY:
                continue  # a counter: for files the hour's energy comes from power
            raise InputError(
                "series is not a DCGM metric this reader knows",
                file=str(path),
                expected=f"__name__ one of {sorted(_FIELD)}",
                found=str(metric.get("__name__")),
                hint="save answers of plain selectors such as DCGM_FI_PROF_GR_ENGINE_ACTIVE",
            )
        base = {c: label(metric, c) for c in ("host", "gpu_uuid", "gpu_model", "namespace", "pod")}
        if base["host"] is None:
            raise InputError(
                "series without a Hostname label",
                file=str(path),
                expected="a Hostname label on every series",
                found=str(metric),
            )
        index = label(metric, "gpu_index")
        base["gpu_index"] = int(index) if index and index.isdigit() else None
        base["resource_id"] = resource(metric)
        base["field"] = field
        values = series.get("values") or []
        n = len(values)
        for key, value in base.items():
            cols[key].extend([value] * n)
        cols["ts"].extend(float(t) for t, _ in values)
        cols["value"].extend(v for _, v in values)
    schema = {k: v for k, v in _LONG.items() if k != "file"}
    text = pl.DataFrame(cols, schema={**schema, "value": pl.String})
    value = text["value"].cast(pl.Float64, strict=False)
    bad = value.is_null() | value.is_infinite()
    if bad.any():
        i = int(bad.arg_true()[0])
        raise InputError(
            "not a finite number in a series" if value[i] is not None else "not a number",
            file=str(path),
            location=f"{text['field'][i]} of {text['host'][i]} at {text['ts'][i]}",
            expected="a finite number (or NaN for no data)",
            found=repr(text["value"][i]),
        )
    # NaN is Prometheus' way of saying "no data here": dropped, never read as zero
    return text.with_columns(value=value).filter(~pl.col("value").is_nan())


_LONG = {
    "host": pl.String,
    "gpu_uuid": pl.String,
    "gpu_model": pl.String,
    "namespace": pl.String,
    "pod": pl.String,
    "gpu_index": pl.Int64,
    "resource_id": pl.String,
    "ts": pl.Float64,
    "field": pl.String,
    "value": pl.Float64,
    "file": pl.String,
}


def _samples(long: pl.DataFrame) -> pl.DataFrame:
    """Long points of several metrics -> checked samples, one row per GPU per time."""
    dup = long.filter(
        pl.struct(
            "host", "gpu_uuid", "gpu_index", "namespace", "pod", "field", "ts"
        ).is_duplicated()
    )
    if dup.height:
        r = dup.row(0, named=True)
        raise InputError(
            "duplicate samples (same series, same time twice)",
            file=r["file"],
            location=f"{r['field']} of {r['host']} {r['gpu_uuid'] or r['gpu_index']} at "
            f"{datetime.fromtimestamp(r['ts'], UTC):%Y-%m-%dT%H:%M:%SZ}",
            expected="one point per series per time",
            found=f"{dup.height} duplicated points",
        )
    ids = ["host", "gpu_uuid", "gpu_index", "gpu_model", "namespace", "pod", "resource_id", "ts"]
    wide = long.pivot(on="field", index=ids, values=["value", "file"], aggregate_function="first")
    for col in ("gr", "util", "mem_used_mib", "power_w"):
        if f"value_{col}" not in wide.columns:
            wide = wide.with_columns(pl.lit(None, pl.Float64).alias(f"value_{col}"))
    files = [c for c in wide.columns if c.startswith("file_")]
    samples = wide.select(
        pl.from_epoch((pl.col("ts") * 1_000_000).round().cast(pl.Int64), time_unit="us")
        .dt.replace_time_zone("UTC").alias("ts"),
        "host", "gpu_uuid", "gpu_index", "gpu_model",
        pl.coalesce(pl.col("value_gr"), pl.col("value_util") / 100).alias("active"),
        pl.when(pl.col("value_gr").is_not_null()).then(pl.lit("gr_engine_active"))
        .when(pl.col("value_util").is_not_null()).then(pl.lit("gpu_util")).alias("active_metric"),
        pl.col("value_mem_used_mib").alias("mem_used_mib"),
        pl.col("value_power_w").alias("power_w"),
        "namespace", "pod", "resource_id",
        pl.coalesce(files).alias("file"),
        pl.lit(None, pl.Int64).alias("line"),
    ).cast(SAMPLE)  # type: ignore[arg-type]  # fmt: skip
    check_samples(samples, "GPU activity")
    return samples


def read_answers(path: Path) -> tuple[list[SourceFile], pl.LazyFrame]:
    """Saved answers under `path` -> (files, GPU-hours).

    The metrics of one GPU come in separate answers, so the answers are joined into samples
    together before they are reduced to hours.
    """
    files, parts = [], []
    for f in list_answer_files(path):
        files.append(SourceFile.of(f))
        parts.append(read_answer(f).with_columns(pl.lit(str(f)).alias("file")))
    long = pl.concat(parts)
    if long.height == 0:
        return files, finish([partials(pl.DataFrame(schema=SAMPLE))])
    return files, finish([partials(_samples(long))])
