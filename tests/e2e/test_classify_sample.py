"""Acceptance 1: on the sample enterprise, classification, idle GPUs and sprawl match the
planted truth (egress within 0.5%, idle GPU-hours within 1% with every episode found,
workload dollars within 1%, every sprawl family found). Figures are printed."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from ingest.derive import classified
from ingest.warehouse import views
from ingest.warehouse.connection import connect
from models.settings import Settings
from models.sprawl import sprawl

pytestmark = pytest.mark.slow  # builds the whole sample warehouse (minutes)


@pytest.fixture(scope="module")
def con(sample_warehouse: Path):
    views.register_all(Settings())
    return connect(sample_warehouse)


def _pct(got: Decimal, exp: Decimal) -> float:
    return float(abs(got - exp) / abs(exp) * 100) if exp else float(abs(got) > 0) * 100


def test_egress_dollars_per_provider_month_and_kind(con, sample_truth: dict) -> None:
    got = {
        (p, m, k): v
        for p, m, k, v in con.execute(
            "select ProviderName, strftime(BillingPeriodStart, '%Y-%m'), x_EgressKind, "
            "sum(EffectiveCost) from classified_costs where x_AiClass = 'egress' group by all"
        ).fetchall()
    }
    bad = []
    print("\nprovider, month, kind: truth / classified (% off)")
    for r in sample_truth["egress"]:
        key = (r["provider"], r["billing_period"], r["kind"])
        exp, have = Decimal(r["cost"]), got.get(key, Decimal(0))
        off = _pct(have, exp)
        print(f"  {key}: {exp} / {have:.2f} ({off:.3f}%)")
        if off > 0.5:
            bad.append((key, exp, have))
    assert not bad, f"{len(bad)} egress figure(s) off by more than 0.5%: {bad[:5]}"


def test_idle_gpu_hours_per_resource_and_every_episode(con, sample_truth: dict) -> None:
    # billed ids and telemetry ids differ in form (GCP bills //compute.googleapis.com/...):
    # a machine is found by its resource id, else by its host name
    rows = con.execute(
        "select lower(resource_id), lower(host), count(*) filter (where state in "
        "('allocated_idle', 'hard_idle')) from gpu_hours group by 1, 2"
    ).fetchall()
    by_id = {r: n for r, _, n in rows}
    by_host = {h: n for _, h, n in rows if h}
    eps = con.execute(
        'select distinct lower(resource_id), lower(host), start, "end" from idle_episodes'
    ).fetchall()
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    ep_id = {(r, s.strftime(fmt), e.strftime(fmt)) for r, _, s, e in eps}
    ep_host = {(h, s.strftime(fmt), e.strftime(fmt)) for _, h, s, e in eps if h}
    bad = []
    print("\nresource (host): idle GPU-hours truth / measured, episodes found")
    for r in sample_truth["idle_gpu"]:
        rid, host = r["resource_id"].lower(), r["host"].lower()
        exp = r["gpu_hours_idle"]
        have = by_id[rid] if rid in by_id else by_host.get(host, 0)
        missing = [
            e
            for e in r["episodes"]
            if (rid, e["start"], e["end"]) not in ep_id
            and (host, e["start"], e["end"]) not in ep_host
        ]
        found = len(r["episodes"]) - len(missing)
        print(f"  {r['host']}: {exp} / {have}, {found}/{len(r['episodes'])} episodes")
        if abs(have - exp) > 0.01 * exp or missing:
            bad.append((r["host"], exp, have, missing[:2]))
    assert not bad, f"{len(bad)} resource(s) off: {bad[:4]}"


def test_onprem_idle_cost_per_resource_is_the_owned_fixed_rate(con, sample_truth: dict) -> None:
    # an idle owned GPU-hour costs F/(N x 8760) (gpu_economics.md B5), not the daily line,
    # which includes energy above idle that an idle GPU does not spend
    got = dict(
        con.execute(
            "select lower(resource_id), sum(idle_cost) from gpu_hours "
            "where deployment = 'onprem' group by 1"
        ).fetchall()
    )
    truth = [r for r in sample_truth["idle_gpu"] if r["source"] == "onprem"]
    assert truth, "the sample plants idle owned GPUs"
    bad = []
    print("\non-prem resource: idle cost truth / measured (% off)")
    for r in truth:
        exp, have = Decimal(r["idle_cost"]), got.get(r["resource_id"].lower(), Decimal(0))
        off = _pct(have, exp)
        print(f"  {r['resource_id']}: {exp:.2f} / {have:.2f} ({off:.3f}%)")
        if off > 1:
            bad.append((r["resource_id"], f"{exp:.2f}", f"{have:.2f}"))
    assert not bad, f"{len(bad)} on-prem idle cost(s) off by more than 1%: {bad}"


def test_workload_dollars_per_team_and_month(con, sample_truth: dict) -> None:
    got = {
        (t, m, w): v
        for t, m, w, v in con.execute(
            "select x_Team, strftime(BillingPeriodStart, '%Y-%m'), x_Workload, "
            "sum(EffectiveCost) from classified_costs group by all"
        ).fetchall()
    }
    bad = []
    print("\nteam, month, workload: truth / classified (% off)")
    for r in sample_truth["workloads"]:
        key = (r["team"], r["billing_period"], r["workload"])
        exp, have = Decimal(r["cost"]), got.get(key, Decimal(0))
        off = _pct(have, exp)
        print(f"  {key}: {exp:.2f} / {have:.2f} ({off:.2f}%)")
        if off > 1:
            bad.append((key, f"{exp:.2f}", f"{have:.2f}"))
    assert not bad, f"{len(bad)} workload figure(s) off by more than 1%: {bad[:5]}"


def test_every_planted_sprawl_family_is_found(con, sample_truth: dict) -> None:
    lines = pl.from_arrow(
        con.sql(
            "select x_ToolFamily, x_Tool, x_Team, BillingCurrency, EffectiveCost, "
            "BillingPeriodStart, x_Seats, x_ActiveSeats from classified_costs "
            "where x_ToolFamily is not null"
        ).to_arrow_table()
    )
    book = classified.rulebook(Settings())
    found = sprawl(lines.lazy(), book.families)
    tools = {f: set().union(*grp["tools"].to_list()) for (f,), grp in found.group_by("family")}
    print("\nfamily: planted tools / found tools, estimated saving")
    missing = []
    for r in sample_truth["tool_sprawl"]:
        have = tools.get(r["family"], set())
        print(f"  {r['family']}: {sorted(r['tools'])} / {sorted(have)}")
        if len(r["tools"]) >= 2 and not set(r["tools"]) <= have:
            missing.append((r["family"], sorted(set(r["tools"]) - have)))
    for row in found.iter_rows(named=True):
        print(f"  saving {row['family']} {row['currency']}: {row['estimated_saving']} "
              f"({row['assumption']})")  # fmt: skip
    assert not missing, f"sprawl families not found: {missing}"
