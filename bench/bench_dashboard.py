"""Dashboard speed: every page's queries on 10 million lines plus a year of 500 GPUs.

Builds the warehouse once through the real writers and the same derived refresh an ingest
runs (or reuses `--warehouse DIR`): a year of cost lines over three clouds (services, teams,
regions, egress, SaaS) including hourly lines of 62 eight-GPU instances, and one row per GPU
per hour of telemetry for those 496 GPUs. Then, with default filters, it runs each page's
queries exactly as the page calls them (no Streamlit cache: every repeat is a cold query on a
prepared snapshot), `--repeats` times after one warm-up, and prints medians beside a floor
measured in the same run: DuckDB summing EffectiveCost over every line of the snapshot.

    python bench/bench_dashboard.py [--lines 10000000] [--repeats 5] [--warehouse DIR]
    python bench/bench_dashboard.py --warehouse DIR --cold 3

`--cold N` measures what a user waits for after a dashboard (re)start: N fresh processes, each
opening the snapshot as the dashboard does and answering the Overview's queries once; it
prints the median wall time of that first request and the median peak RSS of the process
(medians of N; the rollups are built at ingest, so it reads rollups, not cost lines).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dashboard.queries import forecast as queries_forecast
from dashboard.queries import gpu as queries_gpu
from dashboard.queries import health as queries_health
from dashboard.queries import lines as queries_lines
from dashboard.queries import movement as queries_movement
from dashboard.queries import own_vs_rent as queries_own
from dashboard.queries import spend as queries
from dashboard.queries.filters import Filters
from ingest.derive import refresh as derived
from ingest.warehouse import connection as warehouse
from ingest.warehouse import views
from ingest.warehouse.load_contract import HourlyLoad, PeriodLoad, SourceFile
from ingest.warehouse.store import Store
from models.anomaly import AnomalySettings
from models.recommendation import OwnVsRentSettings
from models.settings import Settings

YEAR = 2025
MONTHS = [f"{YEAR}-{m:02d}" for m in range(1, 13)]
INSTANCES = 62  # x 8 GPUs = 496 GPUs
SOURCES = {
    "aws-cur2": ("AWS", "Amazon Web Services, Inc.", "111122223333", "us-east-1"),
    "azure-cost-details": ("Microsoft", "Microsoft", "ea-0001", "eastus"),
    "gcp-bq": ("Google Cloud", "Google", "0A1B2C-3D4E5F", "us-central1"),
}
# (service, category, subcategory, usage type): a mix that classification spreads over classes
SERVICES = [
    ("Amazon Elastic Compute Cloud", "Compute", "Virtual Machines", "BoxUsage:m5.large"),
    ("AWS Data Transfer", "Networking", "Network Infrastructure", "USE1-USW2-AWS-Out-Bytes"),
    ("AWS Data Transfer", "Networking", "Network Infrastructure", "DataTransfer-Out-Bytes"),
    ("Amazon Simple Storage Service", "Storage", "Object Storage", "TimedStorage-ByteHrs"),
    ("Amazon SageMaker", "AI and Machine Learning", "Machine Learning", "ml.g5.xlarge-Hosting"),
    ("Amazon Bedrock", "AI and Machine Learning", "Generative AI", "Claude-input-tokens"),
]
TEAMS = ["ml-research", "platform", "search", "ads", "vision", "speech", "shared", None]
H = dt.timedelta(hours=1)


def _money(rng: np.random.Generator, n: int) -> pl.Series:
    whole = pl.Series(rng.integers(0, 500, n))
    frac = pl.Series(rng.integers(0, 1_000_000, n)).cast(pl.String).str.zfill(6)
    return (whole.cast(pl.String) + "." + frac).str.to_decimal(scale=12)


def _lines(source: str, month: str, n: int, seed: int) -> pl.DataFrame:
    provider, publisher, account, region = SOURCES[source]
    rng = np.random.default_rng(seed)
    start = dt.datetime.fromisoformat(month + "-01T00:00:00+00:00")
    end = (start + dt.timedelta(days=32)).replace(day=1)
    svc = pl.Series(rng.integers(0, len(SERVICES), n))
    team = pl.Series([t or "" for t in TEAMS]).gather(pl.Series(rng.integers(0, len(TEAMS), n)))
    pick = lambda i: pl.Series([s[i] for s in SERVICES]).gather(svc)  # noqa: E731
    hours = int((end - start) / H)
    money = _money(rng, n)
    return pl.DataFrame(
        {
            "BilledCost": money, "EffectiveCost": money, "ListCost": money,
            "ContractedCost": money, "ServiceName": pick(0), "ServiceCategory": pick(1),
            "ServiceSubcategory": pick(2), "x_UsageType": pick(3), "_team": team,
            "_hour": pl.Series(rng.integers(0, hours, n)),
            "ResourceId": "r-" + pl.Series(rng.integers(0, 50_000, n)).cast(pl.String),
        }
    ).select(
        pl.exclude("_team", "_hour"),
        pl.lit(account).alias("BillingAccountId"), pl.lit("USD").alias("BillingCurrency"),
        pl.lit(start).alias("BillingPeriodStart"), pl.lit(end).alias("BillingPeriodEnd"),
        (pl.lit(start) + pl.duration(hours=pl.col("_hour"))).alias("ChargePeriodStart"),
        (pl.lit(start) + pl.duration(hours=pl.col("_hour") + 1)).alias("ChargePeriodEnd"),
        pl.lit("Usage").alias("ChargeCategory"), pl.lit("Usage-Based").alias("ChargeFrequency"),
        pl.lit(publisher).alias("InvoiceIssuerName"), pl.lit(provider).alias("ProviderName"),
        pl.lit(publisher).alias("PublisherName"), pl.lit(region).alias("RegionId"),
        pl.when(pl.col("_team") != "")
        .then(pl.format('{{"team": "{}", "env": "prod"}}', pl.col("_team")))
        .alias("Tags"),
    )  # fmt: skip


def _gpu_lines(month: str) -> pl.DataFrame:
    """Hourly lines of the 62 p5.48xlarge instances (USD 80 an hour each)."""
    start = dt.datetime.fromisoformat(month + "-01T00:00:00+00:00")
    end = (start + dt.timedelta(days=32)).replace(day=1)
    hours = pl.datetime_range(start, end, "1h", closed="left", eager=True, time_zone="UTC")
    grid = pl.DataFrame({"ChargePeriodStart": hours}).join(
        pl.DataFrame({"ResourceId": [f"i-gpu{i:03d}" for i in range(INSTANCES)]}), how="cross"
    )
    money = pl.lit(Decimal("80")).cast(pl.Decimal(38, 12))
    return grid.select(
        money.alias("BilledCost"), money.alias("EffectiveCost"), money.alias("ListCost"),
        money.alias("ContractedCost"), pl.lit("Amazon Elastic Compute Cloud").alias("ServiceName"),
        pl.lit("Compute").alias("ServiceCategory"),
        pl.lit("Virtual Machines").alias("ServiceSubcategory"),
        pl.lit("USE1-BoxUsage:p5.48xlarge").alias("x_UsageType"), pl.col("ResourceId"),
        pl.lit("111122223333").alias("BillingAccountId"), pl.lit("USD").alias("BillingCurrency"),
        pl.lit(start).alias("BillingPeriodStart"), pl.lit(end).alias("BillingPeriodEnd"),
        pl.col("ChargePeriodStart"), (pl.col("ChargePeriodStart") + H).alias("ChargePeriodEnd"),
        pl.lit("Usage").alias("ChargeCategory"), pl.lit("Usage-Based").alias("ChargeFrequency"),
        pl.lit("Amazon Web Services, Inc.").alias("InvoiceIssuerName"),
        pl.lit("AWS").alias("ProviderName"),
        pl.lit("Amazon Web Services, Inc.").alias("PublisherName"),
        pl.lit("us-east-1").alias("RegionId"),
        pl.format('{{"team": "{}", "workload": "training"}}',
                  pl.lit("team-") + (pl.col("ResourceId").str.slice(-1))).alias("Tags"),
    )  # fmt: skip


def _telemetry(month: str, seed: int) -> pl.DataFrame:
    start = dt.datetime.fromisoformat(month + "-01T00:00:00+00:00")
    end = (start + dt.timedelta(days=32)).replace(day=1)
    hours = pl.datetime_range(start, end, "1h", closed="left", eager=True, time_zone="UTC")
    gpus = pl.DataFrame({"i": list(range(INSTANCES * 8))}).with_columns(
        pl.format("i-gpu{}", (pl.col("i") // 8).cast(pl.String).str.zfill(3)).alias("resource_id"),
        (pl.col("i") % 8).alias("gpu_index"),
    )
    grid = pl.DataFrame({"hour": hours}).join(gpus, how="cross")
    rng = np.random.default_rng(seed)
    active = pl.Series(np.clip(rng.beta(0.6, 0.9, grid.height), 0, 1))
    return grid.with_columns(active.alias("avg_active")).select(
        "hour", pl.format("host-{}", pl.col("resource_id")).alias("host"), "gpu_index",
        pl.format("GPU-{}-{}", "resource_id", "gpu_index").alias("gpu_uuid"),
        pl.lit("NVIDIA H100 80GB HBM3").alias("gpu_model"), "resource_id", "avg_active",
        pl.col("avg_active").alias("max_active"), pl.lit(30000.0).alias("max_mem_used_mib"),
        pl.lit(60).alias("samples"),
    )  # fmt: skip


def build(root: Path, lines: int) -> None:
    store = Store(root)
    gpu_per_month = sum(_gpu_lines(m).height for m in MONTHS[:1]) * len(MONTHS)
    per = max(1, (lines - gpu_per_month) // (len(MONTHS) * len(SOURCES)))
    for k, month in enumerate(MONTHS):
        t = time.perf_counter()
        telemetry = HourlyLoad(
            "prometheus", _telemetry(month, k), [SourceFile(f"prom-{month}", f"{k:064x}", 1)], month
        )
        results = store.load_gpu_util(telemetry)
        batches = []
        for j, source in enumerate(SOURCES):
            frame = _lines(source, month, per, 100 * k + j)
            if source == "aws-cur2":
                frame = pl.concat([frame, _gpu_lines(month)], how="diagonal_relaxed")
            _, _, account, _ = SOURCES[source]
            batches.append(
                PeriodLoad(
                    source,
                    account,
                    month,
                    "USD",
                    [SourceFile(f"{source}-{month}", f"{100 * k + j:064x}", 1)],
                    frame.lazy(),
                    Decimal(frame["BilledCost"].sum()),
                )
            )
        results += store.load_cost_lines(batches)
        derived.refresh(store, Settings(), results)
        print(f"  built {month} in {time.perf_counter() - t:.1f} s", file=sys.stderr)


# What each page asks, with default filters, in the order the page asks it.
def pages(con, settings: Settings) -> dict[str, list]:
    f = Filters()
    cur = "USD"
    anomaly = AnomalySettings()
    top = queries_gpu.ranking(con, f, cur, 0.05, 0.05)
    resource = top["resource"][0] if top.height else "none"
    ovr = OwnVsRentSettings()
    month = queries_health.months(con)[0]
    return {
        "Overview": [
            (queries.currencies, f), (queries.headline, f, cur),
            (queries.monthly, f, "provider", cur), (queries.monthly, f, "AI class", cur),
            (queries.movers, f, cur, "service"), (queries_forecast.anomalies, f, cur),
            (queries_gpu.currencies,), (queries_gpu.utilisation, f, cur),
        ],
        "Spend explorer": [
            (queries.breakdown, f, "provider", cur),
            (queries_lines.drill_count, f, cur, None, None),
            (queries_lines.drill_page, f, cur, None, None, 0, 100),
        ],
        "Spend explorer (tag key)": [(queries_lines.tag_breakdown, f, "team", cur)],
        "Spend explorer (drill into a service, page 5)": [
            (queries_lines.drill_count, f, cur, "service", "Amazon Bedrock"),
            (queries_lines.drill_page, f, cur, "service", "Amazon Bedrock", 4, 100),
        ],
        "Idle GPUs": [
            (queries_gpu.currencies,), (queries_gpu.ranking, f, cur, 0.05, 0.05),
            (queries_gpu.unmonitored, f, cur),
            (queries_gpu.resource_hours, f, cur, resource, 0.05, 0.05),
        ],
        "Idle GPUs (threshold slider moved)": [(queries_gpu.ranking, f, cur, 0.2, 0.05)],
        "Data movement": [
            (queries.headline, f, cur), (queries_movement.egress, f, "kind", cur),
            (queries_movement.egress_monthly, f, cur),
        ],
        "Tools & SaaS": [
            (queries_movement.tools, f, cur), (queries_movement.tool_matrix, f, cur)
        ],
        "Workloads": [(queries_movement.workloads, f, cur)],
        "Own vs rent": [
            (queries_gpu.gpu_models,), (queries_own.recommendation, ovr, "H100", 12, ()),
        ],
        "Forecast": [
            (queries_forecast.forecast, f, cur, "provider", 6),
            (queries_forecast.anomalies, f, cur, anomaly),
        ],
        "Reports": [(queries_health.months,), (queries_health.reconciliation, month)],
        "Data health": [
            (queries_health.loads,), (queries_health.freshness,), (queries_health.failures,),
            (queries_health.telemetry,), (queries_gpu.coverage,),
        ],
    }  # fmt: skip


def first_request(root: Path) -> dict[str, float]:
    """Open the snapshot as the dashboard does and answer the Overview once: seconds of each
    step (`connect`; `prepare`, which on a warehouse with rollups only rolls GPU-hours and
    telemetry up; the Overview's `queries`) and in all (`total`)."""
    settings = Settings()
    out: dict[str, float] = {}
    t0 = t = time.perf_counter()

    def step(name: str) -> None:
        nonlocal t
        now = time.perf_counter()
        out[name], t = now - t, now

    views.register_all(settings)
    con = warehouse.connect(root, memory_limit=settings.warehouse.memory_limit)
    step("connect")
    queries.prepare(con)
    step("prepare")
    f, cur = Filters(), "USD"
    for call in (
        (queries.currencies, f), (queries.headline, f, cur),
        (queries.monthly, f, "provider", cur), (queries.monthly, f, "AI class", cur),
        (queries.movers, f, cur, "service"), (queries_forecast.anomalies, f, cur),
        (queries_gpu.currencies,), (queries_gpu.utilisation, f, cur),
    ):  # fmt: skip
        call[0](con.cursor(), *call[1:])
    step("queries")
    out["total"] = time.perf_counter() - t0
    return out


def cold(root: Path, runs: int) -> dict:
    """`first_request` in `runs` fresh processes: median seconds of each step, peak RSS."""
    from measure import measured

    steps: dict[str, list[float]] = {}
    rss = []
    for _ in range(runs):
        out = Path(tempfile.mkdtemp(prefix="bench-cold-")) / "s.json"
        cmd = [sys.executable, __file__, "--warehouse", str(root), "--first-request", str(out)]
        _, peak, _ = measured(cmd, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
        for name, s in json.loads(out.read_text()).items():
            steps.setdefault(name, []).append(s)
        rss.append(peak)
    return {
        "runs": runs,
        "first_request_s": [round(s, 2) for s in steps["total"]],
        "median_s": {name: round(statistics.median(v), 2) for name, v in steps.items()},
        "peak_rss_mib": [round(r / 2**20) for r in rss],
        "peak_rss_mib_median": round(statistics.median(rss) / 2**20),
    }


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=10_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warehouse", type=Path, help="reuse (or create) this warehouse")
    ap.add_argument("--build-only", action="store_true")
    ap.add_argument("--only", default="", help="time only pages whose name contains this")
    ap.add_argument("--cold", type=int, default=0, help="first request in N fresh processes")
    ap.add_argument("--first-request", type=Path, help=argparse.SUPPRESS)  # one child of --cold
    args = ap.parse_args()
    root = args.warehouse or Path(tempfile.mkdtemp(prefix="bench-dashboard-")) / "warehouse"
    if not (root / "cost_lines").exists():
        t = time.perf_counter()
        build(root, args.lines)
        print(f"warehouse built in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    if args.build_only:
        return
    if args.first_request:
        args.first_request.write_text(json.dumps(first_request(root)))
        return
    if args.cold:
        print(json.dumps({"warehouse": str(root), **cold(root, args.cold)}, indent=2))
        return
    settings = Settings()
    views.register_all(settings)

    def first_load():  # as the dashboard opens it, with [warehouse] memory_limit
        con = warehouse.connect(root, memory_limit=settings.warehouse.memory_limit)
        queries.prepare(con)
        return con

    load_s = [timed(first_load) for _ in range(1 if args.only else 2)]
    con = first_load()
    lines, gpu_hours = con.execute(
        "SELECT (SELECT count(*) FROM cost_lines), (SELECT count(*) FROM gpu_hours)"
    ).fetchall()[0]
    floor = []
    per_page: dict[str, list[float]] = {}
    plan = {k: v for k, v in pages(con, settings).items() if args.only in k}
    for i in range(args.repeats + 1):  # the first round warms up and is not counted
        f = timed(lambda: con.execute("SELECT sum(EffectiveCost) FROM cost_lines").fetchall())
        for name, calls in plan.items():
            cur = con.cursor()
            s = timed(lambda calls=calls, cur=cur: [c[0](cur, *c[1:]) for c in calls])
            if i:
                per_page.setdefault(name, []).append(s)
        if i:
            floor.append(f)
    floor_s = statistics.median(floor)
    free = subprocess.run(["free", "-g"], capture_output=True, text=True).stdout.splitlines()
    result = {
        "date": dt.date.today().isoformat(),
        "machine": f"{platform.machine()}, nproc {os.cpu_count()}, {free[1].split()[1]} GB RAM",
        "cost_lines": lines,
        "gpu_hours": gpu_hours,
        "repeats": args.repeats,
        "first_load_s_median": round(statistics.median(load_s), 2),
        "floor_sum_all_lines_s_median": round(floor_s, 3),
        "pages": {
            name: {
                "s_median": round(statistics.median(v), 3),
                "ratio_to_floor": round(statistics.median(v) / floor_s, 1),
            }
            for name, v in per_page.items()
        },
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
