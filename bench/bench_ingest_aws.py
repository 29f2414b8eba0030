"""AWS ingest speed and memory: a generated CUR 2.0 Parquet month of 5 million lines.

Writes one billing period of CUR 2.0 (the sample generator's column set and writer, 109
columns, MAP product/resource_tags/cost_category) once, then in the same run and on the same
files measures, each in its own process (peak RSS from wait4):

- floor: DuckDB copying the Parquet to Parquet (`COPY (FROM read_parquet(...)) TO ...`);
- finops: `finops ingest aws DIR` into a fresh warehouse (detect, check, normalise, stage,
  validate, reconcile, one Delta commit, then the post-ingest classification refresh);
- load: the same without the classification refresh (reader + `Store.load_cost_lines`), so
  the two parts' time and memory can be told apart.

Prints medians of `--repeats` runs, lines/s, the ratio to the floor, peak RSS and the machine.

    python bench/bench_ingest_aws.py [--lines 5000000] [--repeats 3] [--data DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
from measure import ingest_runs, print_ingest_table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ingest.sample.cur2 import CurWriter, Group  # noqa: E402

PERIOD = "2026-09"
TEAMS = ["ml-research", "platform", "search", "ads", "vision", "speech"]
TYPES = ["p4d.24xlarge", "p5.48xlarge", "g5.2xlarge", "g6e.12xlarge", "m7i.4xlarge", "r7i.8xlarge"]
GROUP = 2_000  # lines per group: one resource's hours of one day range


def generate(folder: Path, lines: int, seed: int = 7) -> Decimal:
    """One billing period of CUR 2.0 under folder/BILLING_PERIOD=.../; returns its exact total."""
    rng = np.random.default_rng(seed)
    start = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
    t0 = int(start.timestamp() * 1000)
    mend = int(dt.datetime(2026, 10, 1, tzinfo=dt.UTC).timestamp() * 1000)
    writer = CurWriter(folder / f"BILLING_PERIOD={PERIOD}", "bench", rows_per_file=2_500_000)
    total = Decimal(0)
    done = 0
    g = 0
    while done < lines:
        n = min(GROUP, lines - done)
        itype, team = TYPES[g % len(TYPES)], TEAMS[(g // 7) % len(TEAMS)]
        kind = ("Usage", "Usage", "SavingsPlanCoveredUsage", "DiscountedUsage")[g % 4]
        hours = rng.integers(0, 720, n)
        cents = rng.integers(1, 4_000_000, n)  # per-line cost with 6 decimals, up to 40.000000
        cost = cents / 1_000_000
        total += Decimal(int(cents.sum())) / Decimal(1_000_000)
        consts = {
            "bill_bill_type": "Anniversary", "bill_billing_entity": "AWS",
            "bill_invoice_id": "2026091234", "bill_invoicing_entity": "Amazon Web Services, Inc.",
            "bill_payer_account_id": "111122223333", "bill_payer_account_name": "Acme",
            "line_item_currency_code": "USD", "line_item_usage_account_id": f"2222{g % 9:08d}",
            "line_item_usage_account_name": f"acme-{team}", "line_item_line_item_type": kind,
            "line_item_product_code": "AmazonEC2", "line_item_operation": "RunInstances",
            "line_item_usage_type": f"USE1-BoxUsage:{itype}",
            "line_item_resource_id": f"i-{g:017x}", "line_item_availability_zone": "us-east-1a",
            "line_item_line_item_description": f"On Demand Linux {itype} Instance Hour",
            "pricing_term": "OnDemand", "pricing_unit": "Hrs", "product_instance_type": itype,
            "product_region_code": "us-east-1", "product_location": "US East (N. Virginia)",
            "product_servicecode": "AmazonEC2", "product_product_family": "Compute Instance",
            "product": [("product_name", "Amazon Elastic Compute Cloud"), ("gpu", "8")],
            "resource_tags": [("user_team", team), ("user_env", "prod"),
                              ("user_project", f"{team}-{g % 13}")],
            "cost_category": [("business_unit", "ml")],
            "savings_plan_savings_plan_a_r_n": "arn:aws:savingsplans::1:savingsplan/sp-1"
            if kind == "SavingsPlanCoveredUsage" else None,
            "reservation_reservation_a_r_n": "arn:aws:ec2:us-east-1:1:reserved-instances/ri-1"
            if kind == "DiscountedUsage" else None,
        }  # fmt: skip
        nums = {
            "bill_billing_period_start_date": t0,
            "bill_billing_period_end_date": mend,
            "line_item_usage_start_date": t0 + hours * 3_600_000,
            "line_item_usage_end_date": t0 + (hours + 1) * 3_600_000,
            "line_item_usage_amount": 1.0,
            "line_item_unblended_cost": cost,
            "line_item_net_unblended_cost": cost,
            "line_item_blended_cost": cost,
            "pricing_public_on_demand_cost": cost,
            "savings_plan_savings_plan_effective_cost": cost * 0.7,
            "reservation_effective_cost": cost * 0.6,
        }
        writer.add(Group(consts, n, nums))
        done += n
        g += 1
    writer.close()
    return total


def floor_cmd(src: Path, out: Path) -> list[str]:
    sql = (
        f"COPY (FROM read_parquet('{src}/*.parquet')) TO '{out}' (FORMAT parquet, COMPRESSION zstd)"
    )
    return [sys.executable, "-c", f"import duckdb; duckdb.connect().execute({sql!r})"]


# The load alone: what `finops ingest aws` does before `derived.refresh`.
LOAD_CHILD = """
import sys
from pathlib import Path
from ingest.sources import aws
from ingest.warehouse.store import Store
with aws.open_export(Path(sys.argv[1])) as loads:
    Store(sys.argv[2]).load_cost_lines(loads)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=5_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--data", type=Path, help="reuse/keep the generated export here")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-aws-") as tmp:
        data = args.data or Path(tmp) / "cur2"
        period = data / f"BILLING_PERIOD={PERIOD}"
        if not period.exists():
            t = time.perf_counter()
            generate(data, args.lines)
            print(f"generated {args.lines:,} lines in {time.perf_counter() - t:.1f} s", flush=True)
        size = sum(p.stat().st_size for p in period.iterdir())
        floor, ours, load = ingest_runs(
            args.repeats,
            Path(tmp),
            lambda out: floor_cmd(period, out),
            ["aws", str(data)],
            LOAD_CHILD,
        )
        print_ingest_table(
            args.lines,
            f"input: {args.lines:,} CUR 2.0 lines, {size / 2**20:.0f} MiB Parquet; "
            f"medians of {args.repeats}",
            [
                ("DuckDB Parquet→Parquet copy (floor)", floor),
                ("`finops ingest aws`", ours),
                ("load only (no classification refresh)", load),
            ],
        )


if __name__ == "__main__":
    main()
