"""Serving metrics ingest speed and memory: vLLM counters of 200 model endpoints at 15 s.

A local HTTP server on 127.0.0.1 answers Prometheus' `POST /api/v1/query_range` in its wire
format (a `matrix` of `[time, "value"]` points, the 11,000-points-per-series limit answered
with Prometheus' 400 `bad_data`) for `vllm:request_success_total`,
`vllm:prompt_tokens_total` and `vllm:generation_tokens_total` of N endpoints scraped every
15 s from 2025-01-01. The counters are computed per request from a formula (deterministic,
nothing of the range held): each scrape adds a per-endpoint pattern of increments; one
endpoint in five restarts every few days (counters back to zero, some restarts exactly at
midnight, the reader's window edge). A real Prometheus backfilled with promtool, as the
tests use, would first need the year's 1.3 billion points written out.

In the same run, each in its own process (peak RSS and CPU from wait4):

- floor: DuckDB computing the same hourly increases (per series and hour, the sum of the
  differences between consecutive samples, the value itself after a drop) from the same
  points stored as Parquet (generated once, not timed) into a Parquet file;
- finops: `finops ingest serving prometheus URL --start --end --step 15` into a fresh
  warehouse (paged query_range over HTTP, JSON parsing, checks, a day's window at a time,
  one Delta commit per month, the post-ingest refresh).

Both results are checked against the generator's planted totals (requests, prompt and
generation tokens per endpoint, exact, and the restarts) before any figure is printed.

    python bench/bench_ingest_serving.py [--endpoints 200] [--days 7] [--repeats 3]
        [--floor-days N] [--data DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.server
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import polars as pl
from measure import ROOT, machine, measured

ORIGIN = int(dt.datetime(2025, 1, 1, tzinfo=dt.UTC).timestamp())
SCRAPE_S = 15
DAY = 86_400 // SCRAPE_S  # scrapes a day
PERIOD = 3600 // SCRAPE_S  # the increments repeat every hour
MAX_POINTS = 11_000  # Prometheus' default points per series of one query_range
NAMES = ("vllm:request_success_total", "vllm:prompt_tokens_total", "vllm:generation_tokens_total")
FIELDS = ("requests", "prompt_tokens", "generation_tokens")
INCREMENTS = ((1, 13), (200, 3_000), (50, 1_200))  # per scrape, low and high (exclusive)
MODELS = (
    "meta-llama/Llama-3.1-8B-Instruct",
    "meta-llama/Llama-3.1-70B-Instruct",
    "mistralai/Mistral-7B-Instruct-v0.3",
    "Qwen/Qwen2.5-32B-Instruct",
)


class Fleet:
    """N vLLM endpoints' counters as a function of the scrape index (0: ORIGIN)."""

    def __init__(self, endpoints: int, seed: int = 24) -> None:
        rng = np.random.default_rng(seed)
        self.n = endpoints
        self.steps = [rng.integers(lo, hi, (endpoints, PERIOD)) for lo, hi in INCREMENTS]
        self.prefix = [np.cumsum(s, axis=1) for s in self.steps]  # within the hour, inclusive
        self.per_period = [p[:, -1] for p in self.prefix]
        e = np.arange(endpoints)
        self.restarts = e % 5 == 0  # one in five restarts every 2-4 days
        self.every = (2 + e % 3) * DAY + np.where(e % 10 == 0, 0, 7 * e + 1)
        # every tenth restarts at midnight (a window's first scrape), the others at odd times
        self.first = np.where(e % 10 == 0, DAY, DAY // 2 + 13 * e)

    def host(self, e: int) -> str:
        return f"vllm-{e:03d}.serving.internal"

    def labels(self, c: int, e: int) -> dict[str, str]:
        out = {"__name__": NAMES[c], "instance": f"{self.host(e)}:8000", "job": "vllm",
               "model_name": MODELS[e % len(MODELS)]}  # fmt: skip
        if c == 0:
            out["finished_reason"] = "stop"
        return out

    def total(self, c: int, i: np.ndarray) -> np.ndarray:
        """Increments of counter c in scrapes 0..i of every endpoint (0 for i < 0)."""
        i = np.broadcast_to(np.atleast_2d(i), (self.n, np.shape(i)[-1]))
        safe = np.maximum(i, 0)
        inside = np.take_along_axis(self.prefix[c], safe % PERIOD, axis=1)
        out = (safe // PERIOD) * self.per_period[c][:, None] + inside
        return np.where(i < 0, 0, out)

    def last_restart(self, i: np.ndarray) -> np.ndarray:
        """The latest restart at or before each scrape i per endpoint (0: none)."""
        first, every = self.first[:, None], self.every[:, None]
        since = (i[None, :] - first) // every
        return np.where(self.restarts[:, None] & (since >= 0), first + since * every, 0)

    def values(self, c: int, i: np.ndarray) -> np.ndarray:
        """Counter c at scrapes i (n endpoints x len(i)): counted from the last restart."""
        return self.total(c, i[None, :]) - self.total(c, self.last_restart(i) - 1)

    def planted(self, c: int, i0: int, i1: int) -> np.ndarray:
        """What a reset-aware reader finds from scrape i0 to i1: every increment after i0."""
        return self.total(c, np.array([i1]))[:, 0] - self.total(c, np.array([i0]))[:, 0]

    def restarts_in(self, i0: int, i1: int) -> int:
        """Restarts at scrapes i0 < r <= i1, each counted by every counter (3 series)."""
        first, every = self.first[self.restarts], self.every[self.restarts]
        count = lambda i: np.where(i >= first, (i - first) // every + 1, 0)  # noqa: E731
        return int((count(i1) - count(i0)).sum()) * len(NAMES)


def scrape_index(t: np.ndarray) -> np.ndarray:
    """The last scrape at or before evaluation time t, as Prometheus' lookback finds it."""
    return np.floor((t - ORIGIN) / SCRAPE_S).astype(np.int64)


def answer(fleet: Fleet, query: str, start: float, end: float, step: float) -> tuple[int, bytes]:
    """HTTP status and body of Prometheus' query_range for the fleet's counters."""
    points = int((end - start) // step) + 1
    if points > MAX_POINTS:
        return 400, json.dumps({"status": "error", "errorType": "bad_data", "error":
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing "
            "the query resolution (?step=XX)"}).encode()  # fmt: skip
    wanted = "|".join(re.findall(r'__name__=~?"([^"]*)"', query))
    at = start + np.arange(points) * step
    i = scrape_index(at)
    keep = i >= 0
    at, i = at[keep], i[keep]
    ms = np.round(at * 1000).astype(np.int64)
    result = []
    for c, name in enumerate(NAMES):
        if not len(at) or not re.fullmatch(wanted, name):
            continue
        vals = fleet.values(c, i)
        text = pl.DataFrame({"e": np.repeat(np.arange(fleet.n), len(at)), "v": vals.ravel(),
                             "t": np.tile(ms, fleet.n)}).select(
            "e", pl.format('[{},"{}"]', _seconds(pl.col("t")), pl.col("v")).alias("p")
        ).group_by("e", maintain_order=True).agg(pl.col("p").str.join(","))  # fmt: skip
        for e, joined in text.iter_rows():
            result.append(f'{{"metric":{json.dumps(fleet.labels(c, e))},"values":[{joined}]}}')
    body = '{"status":"success","data":{"resultType":"matrix","result":[' + ",".join(result)
    return 200, (body + "]}}").encode()


def _seconds(ms: pl.Expr) -> pl.Expr:
    """Milliseconds -> Prometheus' time text: seconds, with up to 3 decimals when needed."""
    whole = (ms // 1000).cast(pl.String)
    frac = (ms % 1000).cast(pl.String).str.zfill(3).str.strip_chars_end("0")
    return pl.when(ms % 1000 == 0).then(whole).otherwise(pl.concat_str(whole, pl.lit("."), frac))


@contextmanager
def serve(fleet: Fleet) -> Iterator[str]:
    """The fleet's Prometheus on 127.0.0.1 (a free port); yields its base URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            self._query(urllib.parse.parse_qs(body))

        def do_GET(self) -> None:
            self._query(urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query))

        def _query(self, form: dict[str, list[str]]) -> None:
            if urllib.parse.urlsplit(self.path).path != "/api/v1/query_range":
                code, payload = 404, b'{"status":"error","errorType":"not_found","error":"?"}'
            else:
                first = {k: v[0] for k, v in form.items()}
                code, payload = answer(fleet, first["query"], float(first["start"]),
                                       float(first["end"]), float(first["step"]))  # fmt: skip
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def write_points(fleet: Fleet, folder: Path, days: int) -> None:
    """The points the server answers for the first `days` days, one Parquet file a day."""
    folder.mkdir(parents=True, exist_ok=True)
    hosts = [fleet.host(e) for e in range(fleet.n)]
    models = [MODELS[e % len(MODELS)] for e in range(fleet.n)]
    for d in range(days):
        i = np.arange(d * DAY, (d + 1) * DAY)
        parts = [
            pl.DataFrame({
                "host": np.repeat(hosts, len(i)), "model": np.repeat(models, len(i)),
                "name": NAMES[c], "ts": np.tile(ORIGIN + i * SCRAPE_S, fleet.n),
                "value": fleet.values(c, i).ravel().astype(np.float64),
            })
            for c in range(len(NAMES))
        ]  # fmt: skip
        pl.concat(parts).write_parquet(folder / f"day-{d:03d}.parquet")


def floor_cmd(src: Path, out: Path) -> list[str]:
    sql = (
        "COPY (SELECT host, model, name, hour, sum(inc) AS inc, sum(reset) AS resets FROM ("
        "SELECT host, model, name, date_trunc('hour', make_timestamp(ts * 1000000)) AS hour, "
        "CASE WHEN prev IS NULL THEN 0 WHEN value >= prev THEN value - prev ELSE value END "
        "AS inc, (prev IS NOT NULL AND value < prev)::INT AS reset FROM ("
        "SELECT *, lag(value) OVER (PARTITION BY host, name ORDER BY ts) AS prev "
        f"FROM read_parquet('{src}/*.parquet'))) GROUP BY ALL) TO '{out}' (FORMAT parquet)"
    )
    return [sys.executable, "-c", f"import duckdb; duckdb.connect().execute({sql!r})"]


def check(found: pl.DataFrame, fleet: Fleet, i1: int, what: str) -> str:
    """`found` (host, requests, prompt_tokens, generation_tokens, resets summed per host)
    against the planted totals of scrapes 0..i1; a mismatch stops the bench."""
    want = pl.DataFrame({"host": [fleet.host(e) for e in range(fleet.n)]}).with_columns(
        pl.Series(f, fleet.planted(c, 0, i1).astype(np.float64)) for c, f in enumerate(FIELDS)
    )
    got = found.join(want, on="host", how="full", suffix="_planted")
    wrong = got.filter(
        pl.any_horizontal(pl.col(f).ne_missing(pl.col(f"{f}_planted")) for f in FIELDS)
    )
    resets = int(found["resets"].sum())
    if wrong.height or resets != fleet.restarts_in(0, i1):
        raise SystemExit(
            f"{what}: {wrong.height} endpoint(s) differ from the planted totals, "
            f"{resets} resets against {fleet.restarts_in(0, i1)} planted:\n{wrong.head(5)}"
        )
    return (
        f"{what}: {fleet.n} endpoints' requests, prompt and generation tokens equal the "
        f"planted totals exactly ({int(want['requests'].sum()):,} requests, "
        f"{int(want['prompt_tokens'].sum() + want['generation_tokens'].sum()):,} tokens); "
        f"{resets} counter resets found, as planted"
    )


def stored_usage(warehouse: Path) -> pl.DataFrame:
    sys.path.insert(0, str(ROOT))
    from ingest.warehouse.connection import connect

    return (
        connect(warehouse)
        .sql(
            "SELECT host, sum(requests) AS requests, sum(prompt_tokens) AS prompt_tokens, "
            "sum(generation_tokens) AS generation_tokens, sum(resets)::BIGINT AS resets "
            "FROM serving_usage GROUP BY host"
        )
        .pl()
    )


def floor_usage(out: Path) -> pl.DataFrame:
    import duckdb

    wide = ", ".join(
        f"sum(inc) FILTER (name = '{n}') AS {f}" for n, f in zip(NAMES, FIELDS, strict=True)
    )
    return duckdb.sql(
        f"SELECT host, {wide}, sum(resets)::BIGINT AS resets FROM '{out}' GROUP BY host"
    ).pl()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--endpoints", type=int, default=200)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--floor-days", type=int, help="floor on the first N days (default all)")
    ap.add_argument("--data", type=Path, help="reuse/keep the floor's Parquet points here")
    args = ap.parse_args()
    fleet = Fleet(args.endpoints)
    floor_days = min(args.floor_days or args.days, args.days)
    points = args.endpoints * len(NAMES) * args.days * DAY
    floor_points = args.endpoints * len(NAMES) * floor_days * DAY
    start = dt.datetime.fromtimestamp(ORIGIN, dt.UTC)
    end = start + dt.timedelta(days=args.days)
    print(f"start: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; load average "
          f"{os.getloadavg()[0]:.2f}", flush=True)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        data = (args.data or Path(tmp)) / f"points-{args.endpoints}x{floor_days}d"
        if not data.exists():
            began = time.perf_counter()
            write_points(fleet, data, floor_days)
            print(f"generated {floor_points:,} floor points in "
                  f"{time.perf_counter() - began:.1f} s", flush=True)  # fmt: skip
        runs: tuple[list, list] = ([], [])
        with serve(fleet) as url:
            for r in range(args.repeats):
                out = Path(tmp) / f"floor-{r}.parquet"
                runs[0].append(measured(floor_cmd(data, out)))
                said = check(floor_usage(out), fleet, floor_days * DAY - 1, "floor")
                out.unlink()
                wh = Path(tmp) / f"warehouse-{r}"
                cmd = [sys.executable, "-m", "dashboard.cli", "--warehouse", str(wh), "ingest",
                       "serving", "prometheus", url, "--start", f"{start:%Y-%m-%dT%H:%MZ}",
                       "--end", f"{end:%Y-%m-%dT%H:%MZ}", "--step", str(SCRAPE_S)]  # fmt: skip
                runs[1].append(measured(cmd))
                said += "\n" + check(stored_usage(wh), fleet, args.days * DAY - 1, "finops")
                shutil.rmtree(wh)
                f, o = runs[0][-1], runs[1][-1]
                print(f"run {r + 1}: floor {f[0]:.1f} s, {f[2]:.1f} CPU s ({f[1] / 2**30:.2f} "
                      f"GiB), finops {o[0]:.1f} s, {o[2]:.1f} CPU s ({o[1] / 2**30:.2f} GiB); "
                      f"load average {os.getloadavg()[0]:.1f}\n{said}", flush=True)  # fmt: skip
    print()
    print(f"date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; machine: {machine()}")
    print(f"input: {args.endpoints} vLLM endpoints x {len(NAMES)} counters x {args.days} days "
          f"at {SCRAPE_S} s = {points:,} points (floor: {floor_days} days, "
          f"{floor_points:,} points); medians of {args.repeats}")  # fmt: skip
    print("| step | median wall s | points/s | CPU s | points per CPU s | peak RSS | "
          "CPU per point vs floor |\n|---|---:|---:|---:|---:|---:|---:|")  # fmt: skip
    floor_rate = None
    for label, done, n in (("DuckDB points→hourly increases (floor)", runs[0], floor_points),
                           ("`finops ingest serving prometheus`", runs[1], points)):  # fmt: skip
        wall = statistics.median(x[0] for x in done)
        rss = statistics.median(x[1] for x in done)
        cpu = statistics.median(x[2] for x in done)
        floor_rate = floor_rate or n / cpu
        print(f"| {label} | {wall:.1f} | {n / wall:,.0f} | {cpu:.1f} | {n / cpu:,.0f} | "
              f"{rss / 2**30:.2f} GiB | {floor_rate / (n / cpu):.2f}x |")  # fmt: skip


if __name__ == "__main__":
    main()
