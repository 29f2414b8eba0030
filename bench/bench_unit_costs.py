"""Benchmark: the `unit_costs` refresh after one more month, into a warehouse of one month and
into one of twelve.

A synthetic estate of `--lines` cost lines a month (a tenth of them Azure OpenAI token lines the
model catalogue names, the rest storage and compute lines with a few hundred meter texts) is
loaded month by month through the real writer, each month followed by the `unit_costs`
refresh, as `finops ingest` runs it. Then month 2 is loaded into a copy of the one-month
warehouse and month 13 into a copy of the twelve-month one, each in a fresh process,
interleaved, `--repeats` times, and the CPU seconds (all threads) of `unit_costs.refresh`
alone are taken. Reported: the medians, their ratio, peak RSS.

    python bench/bench_unit_costs.py                          # 1M lines a month, 3 repeats
    python bench/bench_unit_costs.py --lines 100000 --repeats 1
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FIRST = "2025-01"
TOKEN_SHARE = 0.1
TEXTS = 300  # distinct meter texts of the other lines
SAME = {  # the columns every line shares
    "ChargeFrequency": "Usage-Based", "InvoiceIssuerName": "Amazon Web Services, Inc.",
    "PublisherName": "Amazon Web Services, Inc.", "ServiceCategory": "Compute",
    "ServiceSubcategory": "Virtual Machines", "ProviderName": "AWS", "ChargeCategory": "Usage",
    "BillingAccountId": "412395078111", "SubAccountId": "412395078111", "BillingCurrency": "USD",
    "x_Marketplace": False,
}  # fmt: skip


def _month(i: int) -> str:
    y, m = divmod(int(FIRST[:4]) * 12 + int(FIRST[5:]) - 1 + i, 12)
    return f"{y:04d}-{m + 1:02d}"


def month_load(month: str, lines: int, seed: int):
    """One month of cost lines (one PeriodLoad): token lines and other lines."""
    import numpy as np
    import polars as pl

    from ingest.warehouse.load_contract import PeriodLoad
    from models.schema import COST_LINES, MONEY, UTC_TS, conform

    rng = np.random.default_rng(seed)
    y, m = (int(x) for x in month.split("-"))
    start = datetime(y, m, 1, tzinfo=UTC)
    end = datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=UTC)
    hours = int((end - start).total_seconds() // 3600)
    tokens = int(lines * TOKEN_SHARE)
    kind = rng.integers(0, 2, tokens)
    other = lines - tokens
    usage = [f"USE1-Meter{k:03d}" for k in range(TEXTS)]
    frame = pl.DataFrame(
        {
            "x_UsageType": pl.concat(
                [
                    pl.Series(["gpt 4.1 Inp glbl Tokens", "gpt 4.1 Outp glbl Tokens"]).gather(kind),
                    pl.Series(usage).gather(rng.integers(0, TEXTS, other)),
                ]
            ),
            "ServiceName": ["Azure OpenAI"] * tokens + ["Amazon Elastic Compute Cloud"] * other,
            "ConsumedUnit": ["1K tokens"] * tokens + ["Hrs"] * other,
            "ConsumedQuantity": pl.Series(rng.integers(1, 5_000, lines)).cast(MONEY),
            "EffectiveCost": pl.Series(rng.integers(1, 100_000, lines)).cast(MONEY) / 1000,
            "ChargePeriodStart": pl.Series(
                int(start.timestamp() * 1e6) + rng.integers(0, hours, lines) * 3_600_000_000
            ).cast(UTC_TS),
        }
    ).with_columns(
        (pl.col("ChargePeriodStart") + pl.duration(hours=1)).alias("ChargePeriodEnd"),
        pl.lit(start).cast(UTC_TS).alias("BillingPeriodStart"),
        pl.lit(end).cast(UTC_TS).alias("BillingPeriodEnd"),
        *(pl.col("EffectiveCost").alias(c) for c in ("BilledCost", "ListCost", "ContractedCost")),
        *(pl.lit(v).alias(k) for k, v in SAME.items()),
    )
    total = Decimal(str(frame["BilledCost"].sum()))
    lines_ = conform(frame.lazy(), COST_LINES).collect()
    return PeriodLoad("aws-cur2", "412395078111", month, "USD", [], lines_.lazy(), total)


def ingest_month(root: Path, month: str, lines: int) -> float:
    """Load one month and refresh unit_costs; the refresh's CPU seconds (all threads)."""
    from ingest.derive import unit_costs
    from ingest.warehouse.store import Store

    store = Store(root)
    store.load_cost_lines([month_load(month, lines, seed=int(month.replace("-", "")))])
    t0 = time.process_time()
    unit_costs.refresh(store)
    return time.process_time() - t0


def task_build(folder: Path, lines: int, months: int) -> dict:
    for i in range(months):
        ingest_month(folder / "twelve", _month(i), lines)
        if i == 0:
            shutil.copytree(folder / "twelve", folder / "one")
    return {}


def task_next(folder: Path, lines: int, months: int, into: str) -> dict:
    root = folder / f"run-{into}"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(folder / into, root)
    try:
        return {"cpu": ingest_month(root, _month(1 if into == "one" else months), lines)}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def child(args: list[str]) -> dict:
    """One task in a fresh process: its result, and its own peak RSS in GiB."""
    done = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"task {args} failed:\n{done.stdout}{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=1_000_000, help="cost lines a month")
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--repeats", type=int, default=3)
    for internal in ("--task", "--folder", "--into"):  # a child's task
        ap.add_argument(internal)
    args = ap.parse_args()
    if args.task == "build":
        print(json.dumps(task_build(Path(args.folder), args.lines, args.months)))
        return
    if args.task == "next":
        result = task_next(Path(args.folder), args.lines, args.months, args.into)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
        print(json.dumps({**result, "peak_gib": peak}))
        return
    common = ["--lines", str(args.lines), "--months", str(args.months)]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        child(["--task", "build", "--folder", tmp, *common])
        build_s = time.perf_counter() - t0
        runs: dict[str, list[dict]] = {"one": [], "twelve": []}
        for _ in range(args.repeats):  # interleaved: a slow spell of the machine hits both
            for into, done in runs.items():
                done.append(child(["--task", "next", "--folder", tmp, "--into", into, *common]))
    load = os.getloadavg()
    print(
        f"# bench_unit_costs: {args.lines:,} cost lines a month ({TOKEN_SHARE:.0%} token "
        f"lines); the unit_costs refresh after month 2 into 1 month and month "
        f"{args.months + 1} into {args.months}; median of {args.repeats}; "
        f"{os.cpu_count()} cores; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; "
        f"load {load[0]:.2f} {load[1]:.2f}"
    )
    print(f"warehouses built in {build_s:.0f} s")
    med = {into: statistics.median(r["cpu"] for r in rs) for into, rs in runs.items()}
    for into, rs in runs.items():
        cpu = " / ".join(f"{r['cpu']:.2f}" for r in rs)
        peak = max(r["peak_gib"] for r in rs)
        print(f"into {into:6s}: CPU s {cpu}; median {med[into]:.2f}; peak RSS {peak:.2f} GiB")
    print(f"ratio twelve / one: {med['twelve'] / med['one']:.2f}x")


if __name__ == "__main__":
    main()
