"""Model servers' request and token counters from Prometheus -> hourly serving usage.

vLLM, NVIDIA Triton and Hugging Face TGI export cumulative counters (models/serving.py
COUNTERS says which mean what). They are read as samples, not as PromQL `increase()`, whose
extrapolation to the window's edges would invent requests: from a server, `query_range` of
the counters themselves at the scrape step (`--step`, paged under the points-per-series
limit); from files, saved `query_range` answers of the same selectors. The hourly usage is
then computed here, reset-aware (models.serving.usage).

A server is read a window at a time (a day of samples, fewer at a step under 8 s: one page
of at most 11,000 points per series), one counter name per query, and only each window's
hourly rows are kept, so a year of 15-second scrapes of hundreds of endpoints needs the
memory of one window, not of the year. Each series' last sample is carried into the next
window, so the increase across a window's edge, a reset or a missing scrape there, and an
hour cut by the edge come out as if the range had been read whole.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from ingest.sources.prometheus import Client, matrix
from ingest.sources.prometheus_answers import list_answer_files, load_answer
from ingest.warehouse.load_contract import Progress, SourceFile
from models.errors import InputError
from models.serving import (
    COUNTERS,
    FIELDS,
    KEY,
    NAMESPACE_LABELS,
    POD_LABELS,
    POINTS,
    check_points,
    first_label,
    host_of,
    usage,
)

SELECTOR = '{__name__=~"' + "|".join(COUNTERS) + '"}'
WINDOW_S = 86_400  # the samples held at once: a day's (at most one page's) per series


class _Points:
    """Series of counters collected into POINTS frames, each series given an id; the values
    of a series are parsed as one column, not point by point."""

    def __init__(self, ids: dict[tuple, int] | None = None) -> None:
        self.parts: list[pl.DataFrame] = []
        self.ids: dict[tuple, int] = {} if ids is None else ids  # shared by a read's windows

    def add(self, series: dict, where: str) -> None:
        metric = series.get("metric") or {}
        name = metric.get("__name__", "")
        counter = COUNTERS.get(name)
        if counter is None:
            raise InputError(
                "series is not a model-server counter this reader knows",
                file=where,
                expected=f"__name__ one of {', '.join(sorted(COUNTERS))}",
                found=repr(name or None),
                hint="save answers of the counters themselves, e.g. "
                "query=vllm:request_success_total",
            )
        model = first_label(metric, counter.model_labels)
        host = host_of(metric)
        if model is None or host is None:
            missing = "model" if model is None else "host"
            labels = counter.model_labels if model is None else ("Hostname", "node", "instance")
            raise InputError(
                f"series without a {missing} label",
                file=where,
                location=f"series {name}",
                expected=f"a label {' or '.join(labels)}",
                found=str(metric),
                hint="keep the label in the recording rule or relabelling; nothing was stored",
            )
        sid = self.ids.setdefault(tuple(sorted(metric.items())), len(self.ids))
        values = series.get("values") or []
        text = pl.DataFrame(
            {"ts": [t for t, _ in values], "text": [v for _, v in values]},
            schema={"ts": pl.Float64, "text": pl.String},
        )
        value = text["text"].cast(pl.Float64, strict=False)
        bad = value.is_null() | value.is_infinite()
        if bad.any():
            i = int(bad.arg_true()[0])
            raise InputError(
                "infinite value in a series"
                if value[i] is not None
                else "not a number in a series",
                file=where,
                location=f"{name} of model {model} on {host} at ts {text['ts'][i]:g}",
                expected='a finite counter value such as "1234" (or NaN for no sample)',
                found=repr(text["text"][i]),
            )
        base = {
            "host": host,
            "namespace": first_label(metric, NAMESPACE_LABELS),
            "pod": first_label(metric, POD_LABELS),
            "server": counter.server,
            "model": model,
            "field": counter.field,
            "file": where,
        }
        self.parts.append(
            text.with_columns(value.alias("value"), pl.lit(sid, pl.Int64).alias("series"))
            .filter(~pl.col("value").is_nan())  # NaN: no sample here, not zero
            .with_columns(pl.lit(v, pl.String).alias(k) for k, v in base.items())
            .select(POINTS.keys())
        )

    def frame(self) -> pl.DataFrame:
        return pl.concat(self.parts) if self.parts else pl.DataFrame(schema=POINTS)


def read_answers(path: Path) -> tuple[list[SourceFile], pl.LazyFrame]:
    """Saved query_range answers of the counters under `path` -> (files, hourly usage)."""
    files, points = [], _Points()
    for f in list_answer_files(path):
        files.append(SourceFile.of(f))
        for series in matrix(load_answer(f), str(f)):
            points.add(series, str(f))
    given = points.frame()
    check_points(given, ("series", "file"))  # each answer is in time order
    frame = given.sort("series", "ts")
    check_points(frame)  # and no two answers hold the same sample
    return files, usage(frame)


def fetch(
    client: Client,
    start: datetime,
    end: datetime,
    step_s: int,
    progress: Progress | None = None,
    window_s: int = WINDOW_S,
) -> pl.LazyFrame:
    """The counters' samples in [start, end) at `step_s` from a server -> hourly usage, read
    `window_s` seconds at a time (progress: the window being read, of how many)."""
    if end <= start:
        raise InputError("--end must be after --start", found=f"{start} .. {end}")
    if step_s <= 0 or step_s > 3600:
        raise InputError(
            "--step must be 1 to 3600 seconds",
            expected="the scrape interval, e.g. 15 or 60",
            found=str(step_s),
        )
    per_window = max(1, min(window_s // step_s, client.max_points - 1))
    windows = _windows(start.timestamp(), end.timestamp() - 0.001, step_s, per_window)
    ids: dict[tuple, int] = {}
    carry = pl.DataFrame(schema=POINTS)  # each series' last sample so far
    hourly = []
    for i, (first, last) in enumerate(windows):
        if progress:
            progress(f"{datetime.fromtimestamp(first, UTC):%Y-%m-%d %H:%M}Z", i, len(windows))
        parts = []
        for name in COUNTERS:  # one name a query: a window's answer is a third as big
            selector = f'{{__name__="{name}"}}'
            points = _Points(ids)
            for series in client.query_range(selector, first, last, step_s):
                points.add(series, f"{client.url} ({selector})")
            given = points.frame()
            if not given.height:
                continue
            check_points(given, ("series", "file"))  # each answer is in time order
            seen = pl.col("series").is_in(given["series"].unique().implode())
            frame = pl.concat([carry.filter(seen), given]).sort("series", "ts")
            check_points(frame)  # and continues the window before
            parts.append(usage(frame).collect())
            last_seen = frame.unique("series", keep="last", maintain_order=True)
            carry = pl.concat([carry.filter(~seen), last_seen])
        if parts:
            hourly.append(_merged(parts))
    if progress:
        progress("done", len(windows), len(windows))
    return _merged(hourly).lazy() if hourly else usage(pl.DataFrame(schema=POINTS))


def _windows(t0: float, t1: float, step_s: int, per_window: int) -> list[tuple[float, float]]:
    """The evaluation times t0 + k * step_s up to t1, as (first, last) of each window of
    `per_window` of them."""
    n = int((t1 - t0) // step_s) + 1
    return [
        (t0 + k * step_s, t0 + (min(k + per_window, n) - 1) * step_s)
        for k in range(0, n, per_window)
    ]


def _merged(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """Hourly usage of parts of the samples (windows, counters) -> one row per KEY. An hour
    cut by a window's edge, or whose counters came in separate queries, is summed; a count no
    part had (Triton's tokens) stays null."""
    counted = [
        pl.when(pl.col(f).is_not_null().any()).then(pl.col(f).sum()).alias(f) for f in FIELDS
    ]
    return (
        pl.concat(parts)
        .group_by(KEY)
        .agg(*counted, pl.col("resets").sum())
        .select(*KEY, *FIELDS, "resets")
        .sort(*KEY)
    )
