"""Workload placement: one workload's alternatives recomputed by hand from its GPU-hours,
the price book and the egress rate; ties ranked the same whatever the input order."""

from __future__ import annotations

import math
import random
from decimal import ROUND_HALF_EVEN, Decimal

from models.placement import (
    OWNED,
    Workload,
    alternatives,
    best_per_workload,
    book_gpu,
    rank,
)
from models.price_book import default_price_book

D = Decimal
HOURS = 8760
# 16 H100s held all year on AWS (140,160 GPU-hours), 60% of them useful, USD 520,000
W = Workload("research", "H100", "AWS", "cloud", 140_160, 84_096, D("520000"), HOURS)


def _cents(x: float | Decimal) -> Decimal:
    return D(repr(x) if isinstance(x, float) else x).quantize(D("0.01"), ROUND_HALF_EVEN)


def test_one_workload_recomputed_by_hand():
    book = default_price_book()
    v = book.value
    alts = {
        a.option: a
        for a in alternatives(W, book, "owned GPUs", {"AWS": D("0.09")}, {"research": D(1000)})
    }
    # on demand: the same 140,160 paid GPU-hours at the book's rate
    p = v("rent.H100.gcp_a3_highgpu_on_demand")
    assert alts["rent.H100.gcp_a3_highgpu_on_demand"].annual_cost == _cents(D(repr(p)) * 140_160)
    # committed: 16 GPUs (held on average) billed all 8,760 hours
    c = v("rent.H100.azure_nd_h100_v5_commit_1y")
    assert alts["rent.H100.azure_nd_h100_v5_commit_1y"].annual_cost == _cents(
        D(repr(c)) * 16 * 8760
    )
    # owned: two 8-GPU nodes; F and m from the book by gpu_economics.md A4
    capex = v("node.H100.server_capex") + v("node.H100.fabric_capex")
    annualised = capex * (1 - v("finance.residual_frac")) / v("finance.life_years")
    pue, kwh = v("facility.pue"), v("facility.usd_per_kwh")
    fixed = (
        annualised
        + 12 * v("facility.colo_usd_per_kw_month") * v("node.H100.provisioned_kw")
        + v("ops.usd_per_node_year")
        + v("node.H100.idle_kw") * pue * 8760 * kwh
    )
    marginal = (v("node.H100.load_kw") - v("node.H100.idle_kw")) * pue * kwh / 8
    u = 84_096 / (2 * 8 * 8760)
    owned = alts[OWNED]
    assert owned.annual_cost == _cents(fixed + marginal * 8 * 8760 * u) * 2
    # moving off AWS: 1,000 GB at the 0.09 billed per GB out of AWS, once
    assert owned.one_off == D("90.00")
    assert owned.first_year_saving == D("520000.00") - owned.annual_cost - D("90.00")
    # staying on AWS moves nothing
    assert alts["rent.H100.aws_p5_commit_1y"].one_off == D("0")
    # spot and capacity blocks are bursts, not a place to run a workload
    assert not any("spot" in k or "capacity_block" in k for k in alts)


def test_ranking_is_by_saving_then_names_whatever_the_input_order():
    book = default_price_book()
    twins = [
        Workload(team, "A100", "AWS", "cloud", 8760, 4380, D("30000"), HOURS)
        for team in ("vision", "speech", "research")
    ]
    alts = [a for w in twins for a in alternatives(w, book, "owned GPUs", {}, {})]
    first = rank(alts)
    for seed in range(5):
        shuffled = alts[:]
        random.Random(seed).shuffle(shuffled)
        assert rank(shuffled) == first
    best = best_per_workload(first)
    # equal figures: the teams in name order, each with the same best option
    assert [a.workload.team for a in best] == ["research", "speech", "vision"]
    assert len({(a.option, a.annual_cost) for a in best}) == 1
    savings = [a.first_year_saving for a in first]
    assert savings == sorted(savings, reverse=True)


def test_an_unpriced_gpu_or_an_unknown_dataset_says_so():
    book = default_price_book()
    assert book_gpu(book, "NVIDIA A100-SXM4-80GB") == "A100"
    assert book_gpu(book, "Trainium") is None
    trn = Workload("speech", "Trainium", "AWS", "cloud", 100, 50, D("100"), HOURS)
    assert alternatives(trn, book, "owned GPUs", {}, {}) == []
    [owned] = [a for a in alternatives(W, book, "owned GPUs", {}, {}) if a.option == OWNED]
    assert owned.one_off is None  # moves, but nobody said how much data
    assert math.isclose(W.mean_gpus, 16)
