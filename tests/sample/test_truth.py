"""truth.json equals what the files say, recomputed here from the files alone."""

from __future__ import annotations

import csv
import re
import statistics
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.sample.file_sums import (
    assert_totals_match,
    aws_month_files,
    aws_totals,
    azure_totals,
    dec,
    gcp_totals_ndjson,
    gcp_totals_parquet,
    saas_totals,
    truth_totals,
)

Q12 = Decimal("1E-12")


def test_cloud_totals_equal_file_sums(sample) -> None:
    root, truth = sample
    for provider, actual in (
        ("AWS", aws_totals(root)),
        ("Microsoft", azure_totals(root)),
        ("Google Cloud", gcp_totals_parquet(root)),
        ("Google Cloud", gcp_totals_ndjson(root)),
    ):
        assert_totals_match(actual, truth, provider)
        expected = truth_totals(truth, provider)
        assert all(actual[k] == v for k, v in expected.items()), provider  # exact, not cents
        assert len(expected) == len(truth["meta"]["months"])


def test_azure_amortized_equals_effective_and_actual(sample) -> None:
    root, truth = sample
    amortized = azure_totals(root, "amortized")
    for t in truth["totals"]:
        if t["provider"] == "Microsoft":
            key = (t["billing_period"], t["currency"])
            assert amortized[key] == Decimal(t["effective_cost"])
            # monthly-billed commitments are fully spread inside their month
            assert Decimal(t["effective_cost"]) == Decimal(t["billed_cost"])


def test_saas_totals_per_vendor_and_currency(sample) -> None:
    root, truth = sample
    files = saas_totals(root)
    rows = {
        (t["provider"], t["billing_period"], t["currency"]): Decimal(t["billed_cost"])
        for t in truth["totals"]
        if t["source"] == "saas"
    }
    assert rows == files
    assert {c for _, _, c in rows} == {"USD", "EUR"}


def _inventory(root: Path) -> list[dict]:
    with open(root / "onprem" / "inventory.csv", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


BOARD_WATTS = {"H100": 700, "A100": 400}  # NVIDIA datasheet board power (SXM)


def test_onprem_totals_follow_the_a4_model(sample, telemetry) -> None:
    """Recompute the owned cost from inventory.csv and telemetry only (A4, per day)."""
    root, truth = sample
    power = telemetry[1]
    first = date.fromisoformat(truth["meta"]["months"][0] + "-01")
    last = date.fromisoformat(truth["meta"]["months"][-1] + "-01")
    end = date(last.year + (last.month == 12), last.month % 12 + 1, 1)
    totals: dict[str, Decimal] = defaultdict(Decimal)
    site = None
    for a in _inventory(root):
        d = {k: Decimal(v) for k, v in a.items() if re.fullmatch(r"[\d.]+", v or "")}
        site = a["site"]
        watts = next(w for k, w in BOARD_WATTS.items() if k in a["gpu_model"])
        per_day = Decimal(24) / 8760
        fixed = [
            (d["server_capex"] + d["network_capex"])
            * (1 - d["residual_fraction"])
            / d["life_years"]
            * per_day,
            12 * d["colo_usd_per_kw_month"] * d["provisioned_kw"] * per_day,
            d["ops_usd_per_year"] * per_day,
            d["power_idle_kw"] * d["pue"] * d["usd_per_kwh"] * 24,
        ]
        kwh_per_unit = (d["power_load_kw"] - d["power_idle_kw"]) / d["gpus"]
        host = power.get(a["hostnames"].split(";")[0], {})
        day = first
        while day < end:
            t0 = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
            units = Decimal(0)
            for h in range(24):
                measured = host.get(t0 + 3600 * h, [])
                units += sum(
                    (
                        min(Decimal(repr(w)) / watts, Decimal(1)).quantize(Decimal("1E-6"))
                        for w in measured
                    ),
                    Decimal(0),
                )
                units += int(d["gpus"]) - len(measured)  # no telemetry: charged at full load
            parts = [*fixed, kwh_per_unit * units * d["pue"] * d["usd_per_kwh"]]
            totals[day.strftime("%Y-%m")] += sum((p.quantize(Q12) for p in parts), Decimal(0))
            day += timedelta(days=1)
    expected = {k[0]: v for k, v in truth_totals(truth, site).items()}
    assert expected == dict(totals)


def test_idle_gpu_hours_match_telemetry(sample, activity) -> None:
    _, truth = sample
    acts = activity
    idle = {r["host"]: r for r in truth["idle_gpu"]}
    for host, hours in acts.items():
        n_idle = sum(sum(v < 0.05 for v in vals) for vals in hours.values())
        # idle and active values never come near the threshold
        assert all(v <= 0.02 or v >= 0.35 for vals in hours.values() for v in vals)
        assert idle.get(host, {}).get("gpu_hours_idle", 0) == n_idle, host
    unmonitored = set(truth["meta"]["unmonitored_hosts"])
    assert unmonitored and not unmonitored & set(idle)
    assert not unmonitored & set(acts)


def test_aws_idle_cost_is_effective_cost_per_gpu_hour(sample, activity) -> None:
    root, truth = sample
    with open(root / "telemetry" / "host_map.csv", encoding="utf-8", newline="") as fh:
        host_of = {r["resource_id"]: r["host"] for r in csv.DictReader(fh)}
    cols = [
        "line_item_resource_id",
        "line_item_usage_start_date",
        "line_item_line_item_type",
        "line_item_unblended_cost",
        "savings_plan_savings_plan_effective_cost",
        "reservation_effective_cost",
        "product",
    ]
    files = [f for _, fs in sorted(aws_month_files(root).items()) for f in fs]
    rows = pq.read_table(files, columns=cols).to_pylist()
    cost: dict[tuple[str, int], Decimal] = defaultdict(Decimal)
    gpus = {}
    for r in rows:
        host = host_of.get(r["line_item_resource_id"])
        kind = r["line_item_line_item_type"]
        if host is None or kind == "SavingsPlanNegation":
            continue
        eff = {
            "SavingsPlanCoveredUsage": r["savings_plan_savings_plan_effective_cost"],
            "DiscountedUsage": r["reservation_effective_cost"],
        }.get(kind, r["line_item_unblended_cost"])
        ts = int(r["line_item_usage_start_date"].replace(tzinfo=UTC).timestamp())
        cost[(host, ts)] += dec(eff)
        gpus[host] = int(dict(r["product"])["gpu"])
    acts = activity
    checked = 0
    for row in truth["idle_gpu"]:
        if row["provider"] != "AWS":
            continue
        h = row["host"]
        total = sum(
            (cost[(h, ts)] / gpus[h] * sum(v < 0.05 for v in vals) for ts, vals in acts[h].items()),
            Decimal(0),
        )
        assert total.quantize(Decimal("0.01")) == Decimal(row["idle_cost"]).quantize(
            Decimal("0.01")
        ), h
        checked += 1
    assert checked >= 4


def test_egress_truth_matches_usage_types(sample) -> None:
    root, truth = sample
    kinds = [
        ("cdn", r"^[A-Z]{2}-DataTransfer-Out-Bytes$"),
        ("internet", r"(^|-)DataTransfer-Out-Bytes$"),
        ("inter_region", r"-AWS-Out-Bytes$"),
        ("inter_az", r"DataTransfer-Regional-Bytes$"),
        ("nat_endpoint", r"^NatGateway-"),
    ]
    sums: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for period, files in aws_month_files(root).items():
        t = pq.read_table(files, columns=["line_item_usage_type", "line_item_unblended_cost"])
        for u, c in zip(t.column(0).to_pylist(), t.column(1).to_pylist(), strict=True):
            kind = next((k for k, p in kinds if re.search(p, u or "")), None)
            if kind:
                sums[(period, kind)] += dec(c)
    expected = {
        (e["billing_period"], e["kind"]): Decimal(e["cost"])
        for e in truth["egress"]
        if e["provider"] == "AWS"
    }
    assert expected == dict(sums)
    assert {e["kind"] for e in truth["egress"]} == {
        "internet",
        "inter_region",
        "inter_az",
        "cdn",
        "nat_endpoint",
        "interconnect",
    }


def test_planted_events(sample) -> None:
    root, truth = sample
    events = {e["kind"]: e for e in truth["events"]}
    assert set(events) >= {"egress_spike", "restatement", "price_change", "abandoned_fleet"}
    spike = events["egress_spike"]
    # the colo sync (a planted flow of its own, every month) is internet egress too
    sync = {
        f["billing_period"]: Decimal(f["cost"])
        for f in truth["flows"]["monthly"]
        if f["to"] == truth["meta"]["onprem_site"]
    }
    internet = {
        e["billing_period"]: Decimal(e["cost"]) - sync.get(e["billing_period"], Decimal(0))
        for e in truth["egress"]
        if e["provider"] == "AWS" and e["kind"] == "internet"
    }
    others = [v for k, v in internet.items() if k != spike["billing_period"]]
    assert internet[spike["billing_period"]] > 5 * statistics.median(others)
    restated = [r for r in truth["restatements"] if r["provider"] == "AWS"]
    # two executions of the same export; the later one is what the month's manifest names
    assert [r["export"] for r in restated] == ["acme-cur2", "acme-cur2"]
    assert restated[0]["delivered_at"] < restated[1]["delivered_at"]
    assert Decimal(restated[1]["billed_cost"]) - Decimal(restated[0]["billed_cost"]) == Decimal(
        events["restatement"]["credit"]
    )
    month = events["restatement"]["billing_period"]
    data = root / "aws" / "acme-cur2" / "data" / f"BILLING_PERIOD={month}"
    assert sorted(p.name for p in data.iterdir()) == sorted(r["execution_id"] for r in restated)
    assert {f.parent.name for f in aws_month_files(root)[month]} == {restated[1]["execution_id"]}
    assert aws_totals(root)[(month, "USD")] == Decimal(restated[1]["billed_cost"])
    idle = {r["host"]: r for r in truth["idle_gpu"]}
    for host in [h for e in truth["events"] if e["kind"] == "abandoned_fleet" for h in e["hosts"]]:
        assert max(ep["hours"] for ep in idle[host]["episodes"]) >= 21 * 24, host
    notebooks = [r for r in truth["idle_gpu"] if "g5" in r["host"] or "10-20-3" in r["host"]]
    assert notebooks and all(len(r["episodes"]) > 100 for r in notebooks)
    assert {w["workload"] for w in truth["workloads"]} == {
        "training",
        "inference",
        "experimentation",
        "data_prep",
    }
    families = {f["family"]: f for f in truth["tool_sprawl"]}
    assert len(families["experiment_tracking"]["tools"]) >= 3
    assert len(families["vector_db"]["tools"]) >= 2
    assert len(families["labeling"]["tools"]) >= 2
    assert len(families["llm_api"]["tools"]) >= 3
    assert len(families["coding_assistant"]["tools"]) >= 2


def test_gpu_demand_summary(sample) -> None:
    _, truth = sample
    rows = {r["gpu_model"]: r for r in truth["gpu_demand_hourly"]}
    h100 = rows["NVIDIA H100 80GB HBM3"]
    assert h100["hours"] == 24 * (31 + 30 + 31 + 31 + 30 + 31)  # 2026-05 .. 2026-10
    assert 0 < h100["active_gpu_hours"] < h100["paid_gpu_hours"]
    assert h100["peak_active_gpus"] >= h100["p90_active_gpus"] >= h100["p50_active_gpus"]


@pytest.mark.parametrize("bad", [{"scale": "huge"}, {"providers": ("oracle",)}, {"months": 0}])
def test_bad_arguments_name_the_valid_values(tmp_path: Path, bad: dict) -> None:
    from ingest.sample.generator import generate

    with pytest.raises(ValueError, match=r"must|valid"):
        generate(tmp_path, **bad)


def test_commitments_equal_the_fee_and_unused_lines(sample) -> None:
    from tests.sample.file_sums import commitment_sums

    root, truth = sample
    files = commitment_sums(root)
    stated = {
        (c["billing_period"], c["commitment_id"]): (Decimal(c["purchase"]), Decimal(c["unused"]))
        for c in truth["commitments"]
    }
    assert stated.keys() == files.keys()
    for key, (purchase, unused) in files.items():
        assert stated[key][0] == purchase, key
        assert stated[key][1].quantize(Decimal("1E-9")) == unused.quantize(Decimal("1E-9")), key
    assert {c["provider"] for c in truth["commitments"]} == {"AWS", "Microsoft", "Google Cloud"}
    for c in truth["commitments"]:
        used, unused = Decimal(c["used"]), Decimal(c["unused"])
        assert Decimal(c["utilisation"]) == (used / (used + unused)).quantize(Decimal("1E-6"))
        assert c["gpu"] and c["gpu_model"]  # every commitment of the sample covers GPUs


def test_planted_flows_equal_the_lines_of_their_resources(sample) -> None:
    """truth.json's flows, re-summed from the CUR files by the resources the address map
    names; the paths' verdicts are the two the flows were planted for."""
    root, truth = sample
    flows = truth["flows"]
    where = flows["addresses"]
    sums: dict[tuple[str, str], list] = defaultdict(lambda: [0, Decimal(0)])
    cols = ["line_item_resource_id", "line_item_usage_amount", "line_item_unblended_cost"]
    for period, files in aws_month_files(root).items():
        t = pq.read_table(files, columns=cols)
        for r, q, c in zip(*(t.column(i).to_pylist() for i in range(3)), strict=True):
            if r in where:
                sums[(period, where[r])][0] += int(q)
                sums[(period, where[r])][1] += dec(c)
    expected = {(f["billing_period"], f["to"]): [f["gb"], Decimal(f["cost"])]
                for f in flows["monthly"]}  # fmt: skip
    assert dict(sums) == expected
    months = {m for m, _ in expected}
    assert len(months) == 6  # the colo sync bills every month
    copy = [v for (m, to), v in expected.items() if to == "Google Cloud us-central1"]
    assert len(copy) == 1 and copy[0][0] > 150_000  # the dataset copy is one flow, > 150 TB
    assert {tuple(v["between"]): v["pays_off"] for v in flows["interconnect"]} == {
        ("AWS us-east-1", "Acme Colo IAD1"): True,
        ("AWS us-east-1", "Google Cloud us-central1"): False,
    }
