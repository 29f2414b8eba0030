"""finops own-vs-rent: the command's inputs, output and errors over GPU-hours built in code."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest

from models.errors import InputError
from tests.fixtures.own_vs_rent import assert_recommendation_recomputes
from tests.fixtures.own_vs_rent_cli import run_own_vs_rent


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


def test_cli_json_reports_measured_inputs_and_a_recomputable_plan():
    import json

    out = json.loads(run_own_vs_rent(_App(_gpu_hours_frame()), "--format", "json", "--months", "3"))
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
    out = json.loads(run_own_vs_rent(app, "--format", "json", "--months", "1"))
    m = out["measured"]
    assert (m["cloud_paid_gpu_hours"], m["cloud_priced_gpu_hours"]) == (2720 + 1920, 2720)
    assert Decimal(str(m["cloud_cost_per_gpu_hour"])) == Decimal("6.88")  # not (6.88+13.76)/2
    assert out["recommendation"]["burst_price_per_gpu_hour"] == pytest.approx(6.88)
    text = run_own_vs_rent(app, "--months", "1")
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
    out = json.loads(
        run_own_vs_rent(app, "--format", "json", "--months", "1", "--price-per-gpu-hour", "2.5")
    )
    rec = out["recommendation"]
    assert rec["burst_price_per_gpu_hour"] == 2.5
    assert rec["burst_price_source"] == "--price-per-gpu-hour"
    assert out["assumptions"]["finance.life_years"]["value"] == 3
    assert any(o["key"] == "rent.H100.given" for o in out["options"])
    assert_recommendation_recomputes(out)


def test_cli_table_names_the_figures():
    text = run_own_vs_rent(_App(_gpu_hours_frame(24 * 10)), "--months", "1")
    for words in (
        "measured utilisation, cloud",
        "break-even utilisation",
        "owned baseline",
        "annual saving",
        "Assumptions",
        "Life years (finance)",
        "On demand",
    ):
        assert words in text  # fmt: skip
    # in words, as the page says it: no code names of prices, inputs or models
    assert not re.search(r"\b(u_r|on_demand|life_years|rent_useful_fraction)\b", text), text
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

    from dashboard.cli.own_vs_rent import command

    result = CliRunner().invoke(command, args, obj=_App(_gpu_hours_frame(48)))
    assert isinstance(result.exception, error)
    assert message in str(result.exception)


def test_cli_rejects_unknown_settings_keys():
    from click.testing import CliRunner

    from dashboard.cli.own_vs_rent import command
    from models.errors import ConfigError

    result = CliRunner().invoke(command, [], obj=_App(_gpu_hours_frame(48), {"gppu": "H100"}))
    assert isinstance(result.exception, ConfigError)
    assert 'did you mean "gpu"' in str(result.exception)
