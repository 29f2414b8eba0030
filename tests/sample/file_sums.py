"""Independent readers of the generated files: totals and idle hours recomputed from the files
alone (never from the generator's code), in Decimal.

``assert_totals_match`` is meant to be called by an ingest test too, with the warehouse's
sum(BilledCost) per (billing period, currency) for one provider.
"""

from __future__ import annotations

import csv
import gzip
import json
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq

CENT = Decimal("0.01")


def dec(x: float | str) -> Decimal:
    """A float from Parquet/JSON as the decimal it was written from (shortest repr)."""
    return Decimal(repr(x)) if isinstance(x, float) else Decimal(x)


def truth_totals(truth: dict, provider: str) -> dict[tuple[str, str], Decimal]:
    return {
        (t["billing_period"], t["currency"]): Decimal(t["billed_cost"])
        for t in truth["totals"]
        if t["provider"] == provider
    }


def assert_totals_match(actual: dict[tuple[str, str], Decimal], truth: dict, provider: str) -> None:
    """Every (billing period, currency) total equals truth.json to the cent."""
    expected = truth_totals(truth, provider)
    assert set(actual) == set(expected), (sorted(actual), sorted(expected))
    for key, value in expected.items():
        assert Decimal(actual[key]).quantize(CENT) == value.quantize(CENT), (provider, key)


def aws_month_files(root: Path) -> dict[str, list[Path]]:
    """Per billing period, the CUR 2.0 files its Data Exports manifest names (the newest
    delivery), read from the manifests alone: `aws/` is s3://<bucket>/aws/."""
    out: dict[str, list[Path]] = {}
    for m in sorted((root / "aws").glob("*/metadata/BILLING_PERIOD=*/*-Manifest.json")):
        doc = json.loads(m.read_text(encoding="utf-8"))
        keys = [uri.removeprefix("s3://").split("/", 1)[1] for uri in doc["dataFiles"]]
        out[m.parent.name.split("=", 1)[1]] = [root.joinpath(*k.split("/")) for k in keys]
    return out


def azure_runs(root: Path, kind: str = "actual") -> list[tuple[str, Path, list[Path]]]:
    """Per date range of the `kind` export: (range, run folder, files) of its newest run.

    Runs sit in `azure/<export>/<YYYYMMDD-YYYYMMDD>/<runId>/` with a manifest.json; the newest
    by runInfo.submittedTime names the month's files (every run of a month is kept).
    """
    export_type = {"actual": "ActualCost", "amortized": "AmortizedCost"}[kind]
    newest: dict[str, tuple[str, Path, list[Path]]] = {}
    for m in sorted((root / "azure").glob("*/*/*/manifest.json")):
        doc = json.loads(m.read_text(encoding="utf-8"))
        if doc["exportConfig"]["type"] != export_type:
            continue
        when, dates = doc["runInfo"]["submittedTime"], m.parent.parent.name
        files = [m.parent / b["blobName"].rsplit("/", 1)[1] for b in doc["blobs"]]
        if dates not in newest or when > newest[dates][0]:
            newest[dates] = (when, m.parent, files)
    return [(dates, folder, files) for dates, (_, folder, files) in sorted(newest.items())]


def azure_rows(path: Path) -> list[dict]:
    """A cost-details file's rows as text (a Parquet double as its shortest repr)."""
    if path.suffix == ".parquet":
        return [{k: v if isinstance(v, str) else str(dec(v) if isinstance(v, float) else v)
                 for k, v in r.items()} for r in pq.read_table(path).to_pylist()]  # fmt: skip
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def aws_totals(root: Path) -> dict[tuple[str, str], Decimal]:
    """sum(line_item_unblended_cost) per period of the files each month's manifest names."""
    out: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for period, files in aws_month_files(root).items():
        for f in files:
            t = pq.read_table(f, columns=["line_item_unblended_cost", "line_item_currency_code"])
            for cost, cur in zip(t.column(0).to_pylist(), t.column(1).to_pylist(), strict=True):
                out[(period, cur)] += dec(cost)
    return dict(out)


def azure_totals(root: Path, kind: str = "actual") -> dict[tuple[str, str], Decimal]:
    out: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for dates, _, files in azure_runs(root, kind):
        period = f"{dates[:4]}-{dates[4:6]}"
        for f in files:
            for row in azure_rows(f):
                out[(period, row["BillingCurrency"])] += Decimal(row["CostInBillingCurrency"])
    return dict(out)


def gcp_totals_parquet(root: Path) -> dict[tuple[str, str], Decimal]:
    out: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for f in sorted((root / "gcp" / "parquet").glob("*.parquet")):
        for r in pq.read_table(f, columns=["cost", "credits", "invoice", "currency"]).to_pylist():
            m = r["invoice"]["month"]
            net = dec(r["cost"]) + sum((dec(c["amount"]) for c in r["credits"]), Decimal(0))
            out[(f"{m[:4]}-{m[4:]}", r["currency"])] += net
    return dict(out)


def gcp_totals_ndjson(root: Path) -> dict[tuple[str, str], Decimal]:
    out: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for f in sorted((root / "gcp" / "ndjson").glob("*.jsonl")):
        with open(f, encoding="utf-8") as fh:
            for line in fh:
                r = json.loads(line, parse_float=Decimal)
                m = r["invoice"]["month"]
                net = r["cost"] + sum((c["amount"] for c in r.get("credits", [])), Decimal(0))
                out[(f"{m[:4]}-{m[4:]}", r["currency"])] += net
    return dict(out)


def saas_totals(root: Path) -> dict[tuple[str, str, str], Decimal]:
    out: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    with open(root / "saas" / "invoices.csv", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            out[(row["vendor"], row["month"], row["currency"])] += Decimal(row["amount"])
    return dict(out)


def read_telemetry(root: Path) -> tuple[dict, dict]:
    """(activity, power): host -> {hour start (unix s) -> per-GPU values}, from both formats.

    Activity is GR_ENGINE_ACTIVE (or utilization.gpu / 100) in 0..1, power in watts."""
    acts: dict = defaultdict(lambda: defaultdict(list))
    power: dict = defaultdict(lambda: defaultdict(list))
    wanted = {"DCGM_FI_PROF_GR_ENGINE_ACTIVE": acts, "DCGM_FI_DEV_POWER_USAGE": power}
    for f in sorted((root / "telemetry" / "prometheus").glob("*.json.gz")):
        body = json.loads(gzip.decompress(f.read_bytes()))
        assert body["status"] == "success" and body["data"]["resultType"] == "matrix"
        for s in body["data"]["result"]:
            target = wanted.get(s["metric"]["__name__"])
            if target is None:
                continue
            for ts, v in s["values"]:
                target[s["metric"]["Hostname"]][int(ts) // 3600 * 3600].append(float(v))
    for f in sorted((root / "telemetry" / "nvidia-smi").glob("*.csv.gz")):
        host = f.name.removesuffix(".csv.gz")
        rows = csv.reader(gzip.decompress(f.read_bytes()).decode().splitlines())
        next(rows)
        for r in rows:
            when = datetime.strptime(r[0], "%Y/%m/%d %H:%M:%S.%f").replace(tzinfo=UTC)
            hour = int(when.timestamp()) // 3600 * 3600
            acts[host][hour].append(float(r[5].strip().removesuffix(" %")) / 100)
            power[host][hour].append(float(r[7].strip().removesuffix(" W")))
    return acts, power


def commitment_sums(root: Path) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
    """(period, commitment id) -> (purchase billed, unused) read from the files alone.

    AWS: the fee line's unblended cost, and its unused part (Savings Plan: commitment to
    date minus used commitment; RI: unused recurring fee) in the files each month's manifest
    names. Azure: the Purchase rows of the newest actual-cost run; the Unused* rows of the
    newest amortized-cost run. GCP: gcp_cud_sums.
    """
    out: dict[tuple[str, str], tuple[Decimal, Decimal]] = {}
    cols = [
        "line_item_line_item_type", "line_item_unblended_cost",
        "savings_plan_savings_plan_a_r_n", "savings_plan_total_commitment_to_date",
        "savings_plan_used_commitment", "reservation_reservation_a_r_n",
        "reservation_unused_recurring_fee",
    ]  # fmt: skip
    for period, files in aws_month_files(root).items():
        for f in files:
            for r in pq.read_table(f, columns=cols).to_pylist():
                kind = r["line_item_line_item_type"]
                if kind == "SavingsPlanRecurringFee":
                    unused = dec(r["savings_plan_total_commitment_to_date"]) - dec(
                        r["savings_plan_used_commitment"]
                    )
                    key = (period, r["savings_plan_savings_plan_a_r_n"])
                elif kind == "RIFee":
                    unused = dec(r["reservation_unused_recurring_fee"])
                    key = (period, r["reservation_reservation_a_r_n"])
                else:
                    continue
                out[key] = (dec(r["line_item_unblended_cost"]), unused)
    azure: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for kind in ("actual", "amortized"):
        for dates, _, files in azure_runs(root, kind):
            period = dates[:4] + "-" + dates[4:6]
            for f in files:
                for row in azure_rows(f):
                    cost = Decimal(row["CostInBillingCurrency"])
                    key = (period, row["benefitId"])
                    if kind == "actual" and row["ChargeType"] == "Purchase" and row["benefitId"]:
                        azure[key][0] += cost
                    elif kind == "amortized" and row["ChargeType"].startswith("Unused"):
                        azure[key][1] += cost
    out.update({k: (v[0], v[1]) for k, v in azure.items()})
    out.update(gcp_cud_sums(root))
    return out


def gcp_cud_sums(root: Path) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
    """GCP resource CUDs: purchase = the "Commitment v1:" fee rows; unused = purchase minus
    what the credited usage consumed at the commitment's rate (fee / committed quantity) of
    the resource (GPU, Core, Ram) its SKU names."""
    fees: dict = defaultdict(lambda: [Decimal(0), Decimal(0)])
    covered: dict = defaultdict(Decimal)
    cols = ["sku", "cost", "credits", "invoice", "resource", "usage"]
    for f in sorted((root / "gcp" / "parquet").glob("*.parquet")):
        for r in pq.read_table(f, columns=cols).to_pylist():
            m = r["invoice"]["month"]
            period, sku = f"{m[:4]}-{m[4:]}", r["sku"]["description"]
            kind = next((k for k in ("GPU", "Core", "Ram") if k in sku.split()), None)
            qty = dec(r["usage"]["amount_in_pricing_units"])
            if sku.startswith("Commitment v1:"):
                fee = fees[(period, r["resource"]["global_name"], kind)]
                fee[0] += dec(r["cost"])
                fee[1] += qty
            for c in r["credits"]:
                if c["type"] == "COMMITTED_USAGE_DISCOUNT":
                    share = -dec(c["amount"]) / dec(r["cost"])
                    covered[(period, c["id"], kind)] += qty * share
    out: dict[tuple[str, str], tuple[Decimal, Decimal]] = {}
    for (period, cid, kind), (cost, qty) in sorted(fees.items()):
        used = covered[(period, cid, kind)] * cost / qty
        purchase, unused = out.get((period, cid), (Decimal(0), Decimal(0)))
        out[(period, cid)] = (purchase + cost, unused + cost - used)
    return out
