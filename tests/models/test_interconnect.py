"""Interconnect break-even: a hand-computed case to the cent, and its properties."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from models.interconnect import (
    LinkFees,
    PathTraffic,
    assess,
    evaluate,
    measured_paths,
    saving_at,
)
from models.link_prices import default_link_prices

D = Decimal
AWS, GCP, COLO = "AWS us-east-1", "Google Cloud us-central1", "Acme Colo IAD1"


def _dx(gbps: int = 10):
    return default_link_prices().for_provider("aws", gbps)


def test_a_hand_computed_direct_connect_case_to_the_cent():
    # 80,000 GB a month from AWS to the colo, billed today at 0.05/GB = 4,000.00
    path = PathTraffic(AWS, COLO, D(80000), D("4000.00"), 400.0, {AWS: D(80000)})
    fees = LinkFees(cross_connect_usd_per_month=D("350"), one_off_usd=D("5000"))
    case = evaluate(path, [_dx(10)], fees)
    # port 2.25 x 730 h = 1,642.50; + cross-connect 350 = 1,992.50; + 80,000 x 0.02 = 1,600
    assert case.fixed_per_month == D("1992.50")
    assert case.transfer_per_month == D("1600.00")
    assert case.link_per_month == D("3592.50")
    assert case.saving_per_month == D("407.50")
    assert case.break_even_gb == D("66416.67")  # 1,992.50 / (0.05 - 0.02)
    assert case.payback_months == D("12.3")  # 5,000 / 407.50 = 12.27, rounded up


def test_two_clouds_need_a_port_each_and_transfer_bills_at_each_source():
    path = PathTraffic(AWS, GCP, D(10000), D("1200"), 50.0, {AWS: D(6000), GCP: D(4000)})
    case = evaluate(path, [_dx(10), default_link_prices().for_provider("gcp", 10)])
    assert case.fixed_per_month == D("3414.94")  # (2.25 + 2.328 + 0.10) x 730 = 4.678 x 730
    assert case.transfer_per_month == D("200.00")  # 6,000 x 0.02 + 4,000 x 0.02
    assert case.saving_per_month == D("-2414.94")  # 1,200 today - (3,414.94 + 200)
    assert not case.pays_off and case.payback_months is None


def test_the_link_size_is_the_smallest_that_carries_the_busiest_hour():
    # 2,000 GB in the busiest hour = 4.4 Gbps: the 1 Gbps port cannot, the 10 Gbps can
    path = PathTraffic(AWS, COLO, D(500000), D("25000"), 2000.0, {AWS: D(500000)})
    verdict = assess(path, default_link_prices())
    assert round(verdict.needed_gbps, 2) == 4.44
    assert [c.gbps for c in verdict.cases] == [1, 10, 100]
    assert verdict.chosen.gbps == 10
    assert verdict.sentence() == (
        "A 10 Gbps AWS Direct Connect between AWS us-east-1 and Acme Colo IAD1 would save "
        "USD 13,357.50 a month; it has no one-off cost in the price table, so it pays back "
        "at once."
    )


def test_a_small_path_gets_the_sentence_of_a_link_that_does_not_pay():
    path = PathTraffic(GCP, COLO, D(5000), D("600"), 20.0, {GCP: D(5000)})
    # 2.428 x 730 = 1,772.44 fixed + 5,000 x 0.02 = 1,872.44 against 600 today;
    # break-even 1,772.44 / (0.12 - 0.02) = 17,724.4 GB
    text = assess(path, default_link_prices()).sentence()
    assert text == (
        "A 10 Gbps Google Cloud Dedicated Interconnect between Google Cloud us-central1 and "
        "Acme Colo IAD1 would cost USD 1,272.44 a month more than the transfer it replaces "
        "(5,000 GB a month); it breaks even at 17,724 GB a month."
    )


_gb = st.decimals(min_value=0, max_value=2_000_000, places=0)


@settings(max_examples=60, deadline=None)
@given(
    rate=st.decimals(min_value=D("0.021"), max_value=D("0.20"), places=3),
    g1=_gb,
    g2=_gb,
)
def test_saving_grows_with_the_gigabytes_moved(rate, g1, g2):
    base = PathTraffic(AWS, COLO, D(1000), rate * 1000, 1.0, {AWS: D(1000)})
    case = evaluate(base, [_dx(10)])
    lo, hi = sorted((g1, g2))
    assert saving_at(case, lo) <= saving_at(case, hi)


@settings(max_examples=60, deadline=None)
@given(rate=st.decimals(min_value=D("0.021"), max_value=D("0.20"), places=3))
def test_break_even_is_where_the_saving_crosses_zero(rate):
    base = PathTraffic(AWS, COLO, D(1000), rate * 1000, 1.0, {AWS: D(1000)})
    case = evaluate(base, [_dx(10)])
    be = case.break_even_gb
    assert saving_at(case, be * D("0.99")) < 0 < saving_at(case, be * D("1.01"))
    assert abs(saving_at(case, be)) <= D("0.05")  # zero, but for the cent rounding of be


def test_measured_paths_pair_both_directions_and_leave_out_the_internet():
    from datetime import date

    flows = pl.DataFrame(
        {
            "month": [date(2026, 5, 1)] * 3 + [date(2026, 6, 1)],
            "source": [AWS, COLO, AWS, AWS],
            "destination": [COLO, AWS, "internet", COLO],
            "currency": ["USD"] * 4,
            "gb": [1000.0, 200.0, 50.0, 3000.0],
            "cost": [D("50"), D("10"), D("4.5"), D("150")],
            "peak_day_gb": [480.0, 24.0, 5.0, 240.0],
        }
    )
    [path] = measured_paths(flows)
    assert (path.a, path.b) == (AWS, COLO)
    assert (path.gb_per_month, path.cost_per_month) == (D("2100"), D("105"))
    assert path.gb_out == {AWS: D("2000"), COLO: D("100")}
    assert path.peak_hour_gb == (480.0 + 24.0) / 24


def test_a_busiest_hour_beyond_every_priced_size_is_said():
    # 60,000 GB in one hour is 133 Gbps: not even a 100 Gbps port carries it
    path = PathTraffic(AWS, COLO, D(900000), D("45000"), 60000.0, {AWS: D(900000)})
    text = assess(path, default_link_prices()).sentence()
    assert text.startswith("A 10 Gbps AWS Direct Connect between AWS us-east-1 and Acme Colo")
    assert text.endswith("Its busiest hour (133.3 Gbps) needs a larger link.")


def test_pairs_within_one_cloud_need_no_link():
    from datetime import date

    flows = pl.DataFrame(
        {
            "month": [date(2026, 5, 1)],
            "source": [AWS],
            "destination": ["AWS us-west-2"],
            "currency": ["USD"],
            "gb": [5000.0],
            "cost": [D("100")],
            "peak_day_gb": [200.0],
        }
    )
    assert measured_paths(flows) == []
