"""Own vs rent: the worked example of gpu_economics.md §A5, properties and bad inputs."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.errors import InputError
from models.own_vs_rent import (
    HOURS_PER_YEAR,
    OwnedNode,
    annual_cost_committed,
    annual_cost_owned,
    annualised_capex,
    break_even_price,
    break_even_sensitivity,
    break_even_utilisation,
    compare_options,
    cost_per_useful_gpu_hour,
    fixed_cost,
    hybrid_sizing,
    marginal_energy,
    owned_node,
)
from models.price_book import default_price_book

# §A5 base case, written out: one 8-GPU H100 node.
BASE = OwnedNode(
    gpus=8,
    capex=310_000 + 34_000,
    life_years=5,
    residual_frac=0.10,
    wacc=0.0,  # straight line
    colo_usd_per_kw_month=184.06,
    provisioned_kw=10.2,
    idle_kw=2.5,
    load_kw=7.5,
    pue=1.4,
    usd_per_kwh=0.09,
    ops_usd_per_year=15_000,
)


def test_worked_example_fixed_and_marginal_cost():
    # A = 344k·0.9/5 = 61,920; colo 12·184.06·10.2 = 22,528.94; idle 2.5·1.4·8760·0.09 = 2,759.40
    assert annualised_capex(BASE) == pytest.approx(61_920)
    assert fixed_cost(BASE) == pytest.approx(102_208.34, abs=0.01)
    assert round(fixed_cost(BASE) / 1000, 1) == 102.2
    assert marginal_energy(BASE) == pytest.approx(0.07875)


@pytest.mark.parametrize(("u", "expected"), [(1.0, 1.54), (0.7, 2.16), (0.4, 3.72), (0.2, 7.37)])
def test_worked_example_cost_per_useful_gpu_hour(u, expected):
    assert cost_per_useful_gpu_hour(BASE, u) == pytest.approx(expected, abs=0.02)


@pytest.mark.parametrize(
    ("price", "u_r", "expected"),
    [
        (12.29, 1.0, 0.12),
        (10.98, 1.0, 0.13),
        (6.88, 1.0, 0.21),
        (3.99, 1.0, 0.37),
        (2.95, 1.0, 0.51),
        (2.00, 1.0, 0.76),
        (6.88, 0.7, 0.15),
        (6.88, 0.5, 0.11),
    ],
)
def test_worked_example_break_even(price, u_r, expected):
    assert break_even_utilisation(BASE, price, u_r) == pytest.approx(expected, abs=0.01)


def test_spot_never_pays_back():
    assert break_even_utilisation(BASE, 1.25) > 1  # needs more than every hour of the year
    assert break_even_utilisation(BASE, 0.05) == math.inf  # below the marginal energy


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"life_years": 3}, 0.30),
        ({"life_years": 6}, 0.19),
        ({"wacc": 0.10}, 0.26),
        ({"ops_usd_per_year": 40_000}, 0.27),
        ({"capex": 250_000 + 34_000}, 0.19),
    ],
)
def test_worked_example_sensitivity_columns(change, expected):
    assert break_even_utilisation(replace(BASE, **change), 6.88) == pytest.approx(
        expected, abs=0.01
    )


def test_rent_price_breaking_even_at_40_percent():
    assert break_even_price(BASE, 0.4) == pytest.approx(3.72, abs=0.02)
    assert break_even_price(replace(BASE, life_years=3), 0.4) == pytest.approx(5.20, abs=0.02)


def test_committed_alternatives_by_annual_cost():
    assert annual_cost_owned(BASE, 1.0) == Decimal("107727.14")  # "$108k"
    assert annual_cost_committed(5.40, 8) == Decimal("378432.00")  # p5 3y RI before the cut
    assert annual_cost_committed(2.35, 8) == Decimal("164688.00")  # "$165k"
    assert annual_cost_committed(1.70, 8) == Decimal("119136.00")  # "$119k"


def test_default_price_book_reproduces_the_base_case():
    assert owned_node(default_price_book(), "h100") == BASE


def test_compare_options_prices_committed_by_year_and_on_demand_by_break_even():
    book = default_price_book()
    rows = {r.option.name: r for r in compare_options(BASE, book.rent_options("H100"), 0.5, 0.8)}
    od = rows["aws_p5_on_demand"]
    assert od.cost_per_useful_gpu_hour == pytest.approx(6.88 / 0.8)
    assert od.break_even_utilisation == pytest.approx(break_even_utilisation(BASE, 6.88, 0.8))
    assert od.annual_cost == Decimal(repr(6.88 / 0.8 * 8 * HOURS_PER_YEAR * 0.5)).quantize(
        Decimal("0.01")
    )
    commit = rows["market_contract_1y"]
    assert commit.break_even_utilisation is None
    assert commit.annual_cost == Decimal("164688.00")
    assert commit.cost_per_useful_gpu_hour == pytest.approx(2.35 / 0.5)


def test_hybrid_sizing_owns_the_baseline_and_rents_the_peak():
    # 16 GPUs busy all year, a peak of 40 for 200 hours: own 2 nodes, rent the peak.
    demand = np.full(HOURS_PER_YEAR, 16.0)
    demand[:200] = 40
    plan = hybrid_sizing(BASE, demand, 6.88)
    assert plan.baseline_nodes == 2
    assert plan.all_own_nodes == 5
    burst = 24 * 200
    assert plan.burst_useful_gpu_hours == burst
    owned = 16 * HOURS_PER_YEAR
    expected = 2 * fixed_cost(BASE) + marginal_energy(BASE) * owned + 6.88 * burst
    assert float(plan.annual_cost) == pytest.approx(expected, abs=0.01)
    assert plan.all_rent_annual_cost == Decimal(repr(6.88)) * Decimal(int(demand.sum()))
    assert plan.annual_saving == plan.all_rent_annual_cost - plan.annual_cost
    assert plan.owned_utilisation == pytest.approx(1.0)


def test_hybrid_sizing_annualises_a_short_curve():
    # Half a year of 8 busy GPUs costs, per year, as a full year of them.
    half = hybrid_sizing(BASE, np.full(HOURS_PER_YEAR // 2, 8.0), 6.88)
    full = hybrid_sizing(BASE, np.full(HOURS_PER_YEAR, 8.0), 6.88)
    assert half.baseline_nodes == full.baseline_nodes == 1
    assert half.annual_cost == full.annual_cost


def test_sensitivity_bars_cover_every_input_and_rank_by_swing():
    bars = break_even_sensitivity(BASE, 6.88)
    names = {b.parameter for b in bars}
    assert {"capex", "life_years", "pue", "usd_per_kwh", "rent_price", "rent_useful_fraction"} <= (
        names
    )
    swings = [b.swing for b in bars]
    assert swings == sorted(swings, reverse=True)
    life = next(b for b in bars if b.parameter == "life_years")
    assert (life.low, life.high) == (3, 6)
    assert life.u_star_low == pytest.approx(0.30, abs=0.01)
    assert life.u_star_high == pytest.approx(0.19, abs=0.01)


# ---- properties --------------------------------------------------------------------------

prices = st.floats(min_value=0.5, max_value=40, allow_nan=False)
capexes = st.floats(min_value=10_000, max_value=2_000_000, allow_nan=False)
fractions = st.floats(min_value=0.01, max_value=1.0, allow_nan=False)


@given(capex=capexes, extra=st.floats(min_value=1, max_value=500_000), price=prices)
def test_break_even_rises_with_capex(capex, extra, price):
    lo = break_even_utilisation(replace(BASE, capex=capex), price)
    hi = break_even_utilisation(replace(BASE, capex=capex + extra), price)
    assert hi >= lo


@given(price=prices, extra=st.floats(min_value=0.01, max_value=20), u_r=fractions)
def test_break_even_falls_with_rent_price(price, extra, u_r):
    assert break_even_utilisation(BASE, price + extra, u_r) <= break_even_utilisation(
        BASE, price, u_r
    )


@given(u=fractions, more=st.floats(min_value=0.001, max_value=0.99))
def test_cost_per_useful_hour_falls_with_utilisation(u, more):
    u2 = min(1.0, u + more)
    assert cost_per_useful_gpu_hour(BASE, u2) <= cost_per_useful_gpu_hour(BASE, u)


@settings(max_examples=60, deadline=None)
@given(
    demand=st.lists(st.integers(min_value=0, max_value=60), min_size=1, max_size=300),
    price=prices,
    u_r=st.floats(min_value=0.2, max_value=1.0),
    capex=capexes,
)
def test_hybrid_never_costs_more_than_all_rent_or_all_own(demand, price, u_r, capex):
    node = replace(BASE, capex=capex)
    plan = hybrid_sizing(node, demand, price, u_r)
    assert plan.annual_cost <= plan.all_rent_annual_cost
    assert plan.annual_cost <= plan.all_own_annual_cost
    assert plan.annual_cost == min(plan.annual_cost_by_nodes)
    assert plan.annual_saving >= 0


# ---- bad inputs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"life_years": 0}, "life_years"),
        ({"pue": 0.9}, "pue"),
        ({"capex": -1.0}, "capex"),
        ({"usd_per_kwh": -0.09}, "usd_per_kwh"),
        ({"residual_frac": 1.0}, "residual_frac"),
        ({"load_kw": 1.0}, "load_kw"),
        ({"gpus": 0}, "gpus"),
        ({"capex": math.nan}, "capex"),
    ],
)
def test_bad_node_inputs_are_clear_errors(change, message):
    with pytest.raises(InputError, match=message):
        replace(BASE, **change)


def test_negative_rent_price_is_an_error():
    with pytest.raises(InputError, match="must not be negative"):
        break_even_utilisation(BASE, -1.0)
    with pytest.raises(InputError, match="must not be negative"):
        hybrid_sizing(BASE, [8, 8], -6.88)


@pytest.mark.parametrize("u", [0, -0.1, 1.5])
def test_utilisation_outside_zero_one_is_an_error(u):
    with pytest.raises(InputError, match="fraction of hours"):
        cost_per_useful_gpu_hour(BASE, u)


@pytest.mark.parametrize("demand", [[], np.array([]), [3, -1], [1, float("nan")]])
def test_empty_or_negative_demand_curve_is_an_error(demand):
    with pytest.raises(InputError, match="demand curve"):
        hybrid_sizing(BASE, demand, 6.88)


# ---- the command line, over a real DuckDB holding a gpu_hours view -------------------------


def _node_inputs(a: dict, gpu: str) -> dict:
    """The owned-node inputs as printed in the assumptions, by their price book keys."""
    v = {k: e["value"] for k, e in a.items()}
    n = f"node.{gpu}."
    return {
        "N": v[n + "gpus_per_node"],
        "C": v[n + "server_capex"] + v[n + "fabric_capex"],
        "L": v["finance.life_years"],
        "rho": v["finance.residual_frac"],
        "r": v["finance.wacc"],
        "k": v["facility.colo_usd_per_kw_month"],
        "P_prov": v[n + "provisioned_kw"],
        "P_idle": v[n + "idle_kw"],
        "P_load": v[n + "load_kw"],
        "PUE": v["facility.pue"],
        "e": v["facility.usd_per_kwh"],
        "O": v["ops.usd_per_node_year"],
    }


def assert_recommendation_recomputes(out: dict) -> None:
    """Recompute the recommendation's money from its printed inputs, by §A4 written out."""
    x = _node_inputs(out["assumptions"], out["gpu"].upper())
    assert x["r"] == 0, "this recomputation is for straight-line depreciation"
    fixed = (
        x["C"] * (1 - x["rho"]) / x["L"]
        + 12 * x["k"] * x["P_prov"]
        + x["O"]
        + x["P_idle"] * x["PUE"] * 8760 * x["e"]
    )
    m = (x["P_load"] - x["P_idle"]) * x["PUE"] * x["e"] / x["N"]
    assert float(out["owned"]["fixed_cost_per_node_year"]) == pytest.approx(fixed, abs=0.01)
    u, u_r = out["owned"]["u"], out["rent_useful_fraction"]["u_r"]
    per_useful = fixed / (x["N"] * 8760 * u) + m
    assert float(out["owned"]["cost_per_useful_gpu_hour"]) == pytest.approx(per_useful, abs=0.01)
    assert float(out["owned"]["break_even_rent_per_gpu_hour"]) == pytest.approx(
        u_r * per_useful, abs=0.01
    )
    rec = out["recommendation"]
    p = rec["burst_price_per_gpu_hour"] / out["rent_useful_fraction"]["u_r"]
    per_year = 8760 / out["demand"]["hours"]
    owned, burst = rec["owned_useful_gpu_hours"], rec["burst_useful_gpu_hours"]
    assert owned + burst == pytest.approx(out["demand"]["gpu_hours"])
    hybrid = fixed * rec["owned_baseline_nodes"] + (m * owned + p * burst) * per_year
    all_rent = p * out["demand"]["gpu_hours"] * per_year
    assert float(rec["annual_cost"]) == pytest.approx(hybrid, abs=0.05)
    assert float(rec["all_rent_annual_cost"]) == pytest.approx(all_rent, abs=0.05)
    assert Decimal(str(rec["annual_saving"])) == Decimal(str(rec["all_rent_annual_cost"])) - (
        Decimal(str(rec["annual_cost"]))
    )
    assert rec["annual_cost"] <= min(rec["all_rent_annual_cost"], rec["all_own_annual_cost"])


def _gpu_hours_frame(hours: int = 24 * 60):
    """Owned: 16 H100s, 75% of hours useful. Cloud: 8 H100s at $6.88, half useful, plus
    8 more with no telemetry (billing only) for the first 100 hours."""
    import polars as pl

    from tests.fixtures.demand import SCHEMA, T0

    rows = []
    for h in range(hours):
        t = T0 + timedelta(hours=h)
        for g in range(16):
            state = "active" if (h + g) % 4 else "hard_idle"
            rows.append((t, "node-a", g, "H100", "onprem", Decimal("1.537"), state))
        for g in range(8):
            state = "underutilised" if (h + g) % 2 else "allocated_idle"
            rows.append((t, "i-p5", g, "H100", "cloud", Decimal("6.88"), state))
        if h < 100:
            for g in range(8):
                rows.append((t, "i-p5-b", g, "H100", "cloud", Decimal("6.88"), "unmonitored"))
    cols = ["hour", "resource_id", "gpu_index", "gpu_model", "deployment", "cost", "state"]
    frame = pl.DataFrame(rows, schema={c: SCHEMA[c] for c in cols}, orient="row")
    return frame.with_columns(
        pl.lit(None, pl.String).alias("gpu_uuid"), pl.lit("AWS").alias("provider"),
        pl.lit("USD").alias("currency"),
    )  # fmt: skip


class _App:
    """What the command needs from ctx.obj: settings, a console and a read-only connection."""

    def __init__(self, frame, own_vs_rent=None):
        from rich.console import Console

        self.frame = frame
        self.settings = type("S", (), {"own_vs_rent": own_vs_rent or {}})()
        self.config_file = None
        self.console = Console(width=200)

    def connect(self, as_of=None):
        import duckdb

        con = duckdb.connect()
        con.register("gpu_hours_src", self.frame.to_arrow())
        con.execute("create view gpu_hours as select * from gpu_hours_src")
        return con


def _run(app, *args):
    from click.testing import CliRunner

    from dashboard.commands.own_vs_rent import command

    result = CliRunner().invoke(command, list(args), obj=app, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_cli_json_reports_measured_inputs_and_a_recomputable_plan():
    import json

    out = json.loads(_run(_App(_gpu_hours_frame()), "--format", "json", "--months", "3"))
    assert out["gpu"] == "H100"
    assert out["measured"]["u"] == pytest.approx(0.75)
    assert out["measured"]["u_r"] == pytest.approx(0.5)
    assert out["measured"]["unmonitored_gpu_hours"] == 800
    assert out["demand"]["estimated_from_billing_gpu_hours"] == 800
    assert out["recommendation"]["burst_price_per_gpu_hour"] == pytest.approx(6.88)
    assert out["rent_useful_fraction"] == {"u_r": 0.5, "source": "measured"}
    assert {o["key"] for o in out["options"]} >= {"rent.H100.aws_p5_on_demand"}
    assert out["assumptions"]["node.H100.server_capex"]["source"]
    assert_recommendation_recomputes(out)
    # 16 owned GPUs always busy 12 of 16; cloud demand 4 GPUs: own at least the steady 2 nodes
    assert out["recommendation"]["owned_baseline_nodes"] >= 1


def test_cli_measured_cloud_price_leaves_out_gpu_hours_billed_in_euros():
    import json

    import polars as pl

    usd = _gpu_hours_frame(24 * 10)
    eur = usd.filter(pl.col("resource_id") == "i-p5").with_columns(
        pl.lit("i-p5-eu").alias("resource_id"), pl.lit("EUR").alias("currency"),
        pl.col("cost") * 2,
    )  # fmt: skip
    app = _App(pl.concat([usd, eur]))
    out = json.loads(_run(app, "--format", "json", "--months", "1"))
    m = out["measured"]
    assert (m["cloud_paid_gpu_hours"], m["cloud_priced_gpu_hours"]) == (2720 + 1920, 2720)
    assert Decimal(str(m["cloud_cost_per_gpu_hour"])) == Decimal("6.88")  # not (6.88+13.76)/2
    assert out["recommendation"]["burst_price_per_gpu_hour"] == pytest.approx(6.88)
    text = _run(app, "--months", "1")
    assert "cloud GPU-hours billed in another currency than USD" in text
    assert "1,920 (not in the cost per GPU-hour)" in text


def test_cli_price_option_and_settings_overrides():
    import json

    app = _App(
        _gpu_hours_frame(24 * 10),
        {
            "prices": {
                "finance.life_years": {"value": 3, "source": "our policy", "as_of": "2026-01-01"}
            }
        },
    )
    out = json.loads(_run(app, "--format", "json", "--months", "1", "--price-per-gpu-hour", "2.5"))
    rec = out["recommendation"]
    assert rec["burst_price_per_gpu_hour"] == 2.5
    assert rec["burst_price_source"] == "--price-per-gpu-hour"
    assert out["assumptions"]["finance.life_years"]["value"] == 3
    assert any(o["key"] == "rent.H100.given" for o in out["options"])
    assert_recommendation_recomputes(out)


def test_cli_table_names_the_figures():
    text = _run(_App(_gpu_hours_frame(24 * 10)), "--months", "1")
    for words in ("u_r", "break-even", "owned baseline", "annual saving", "Assumptions"):
        assert words in text
    # the capex bounds of the sensitivity read as money is written, not as 2.58e+05
    assert "258,000 → 430,000" in text


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (["--price-per-gpu-hour", "-1"], InputError, "must not be negative"),
        (["--gpu", "L4"], InputError, "no owned-node prices"),
    ],
)
def test_cli_bad_inputs_are_domain_errors(args, error, message):
    from click.testing import CliRunner

    from dashboard.commands.own_vs_rent import command

    result = CliRunner().invoke(command, args, obj=_App(_gpu_hours_frame(48)))
    assert isinstance(result.exception, error)
    assert message in str(result.exception)


def test_cli_rejects_unknown_settings_keys():
    from click.testing import CliRunner

    from dashboard.commands.own_vs_rent import command
    from models.errors import ConfigError

    result = CliRunner().invoke(command, [], obj=_App(_gpu_hours_frame(48), {"gppu": "H100"}))
    assert isinstance(result.exception, ConfigError)
    assert 'did you mean "gpu"' in str(result.exception)


@pytest.mark.slow
@pytest.mark.parametrize("gpu", ["H100", "A100"])
def test_sample_enterprise_measured_u_and_u_r_match_truth(request, gpu):
    import json

    from tests.fixtures.demand import implied_by_truth, sample_app, sample_or_skip

    warehouse, truth = sample_or_skip(request)
    u, u_r = implied_by_truth(truth, gpu)
    if u is None and u_r is None:
        pytest.skip(f"the sample has no monitored {gpu} hours")
    span = truth.get("meta", {}).get("months", 12)  # the sample's months, or how many
    months = len(span) if isinstance(span, list) else int(span)
    out = json.loads(
        _run(sample_app(warehouse), "--format", "json", "--gpu", gpu, "--months", str(months))
    )
    m = out["measured"]
    if u is not None:
        assert m["u"] == pytest.approx(u, abs=0.01)
    if u_r is not None:
        assert m["u_r"] == pytest.approx(u_r, abs=0.01)
    assert 0 <= out["demand"]["estimated_from_billing_share"] <= 1
    assert_recommendation_recomputes(out)


def test_own_vs_rent_settings_are_strict():
    from models.errors import ConfigError
    from models.recommendation import OwnVsRentSettings

    s = OwnVsRentSettings.from_dict(
        {
            "gpu": "A100",
            "months": 6,
            "prices": {
                "facility": {
                    "pue": {"value": 1.2, "source": "our colo contract", "as_of": date(2026, 1, 1)}
                }
            },
        }
    )
    assert (s.gpu, s.months, s.price_book().value("facility.pue")) == ("A100", 6, 1.2)
    bad = [
        ({"monts": 6}, 'did you mean "months"'),
        ({"months": "6"}, "wrong type"),
        ({"months": 0}, "months must be >= 1"),
        ({"gpu": "H10"}, "no owned-node prices"),
        ({"prices": {"facility.pue": {"value": 0.9, "source": "x", "as_of": "2026-01-01"}}}, "PUE"),
        ({"prices": {"facility.pue": {"value": 1.2}}}, "has no source"),
    ]
    for raw, message in bad:
        with pytest.raises(ConfigError, match=message):
            OwnVsRentSettings.from_dict(raw)
