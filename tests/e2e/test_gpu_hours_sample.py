"""On the sample enterprise, the stored gpu_hours and idle_episodes (the DuckDB engine, as
`finops demo` builds them) equal the polars oracle over the same classified lines,
telemetry and assets, row for row: every GPU-hour's cost to the cent, state and idle cost."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from ingest.derive.classified import LINE_COLUMNS
from ingest.warehouse import views
from ingest.warehouse.connection import connect
from models.idle import GPU_HOURS, IDLE_EPISODES, IDLE_STATES, owned_rates
from models.rules import GPU_COMPUTE
from models.settings import Settings
from tests.fixtures.gpu_hours import assert_same, reference

pytestmark = pytest.mark.slow  # builds the whole sample warehouse (minutes)


def test_sample_gpu_hours_and_episodes_equal_the_oracle(sample_warehouse: Path) -> None:
    settings = Settings()
    views.register_all(settings)
    con = connect(sample_warehouse)
    cols = ", ".join(
        f'"{c}"' for c in (*LINE_COLUMNS, "x_AiClass", "x_Team", "x_GpuPerInstance",
                           "x_GpuModelName")
    )  # fmt: skip
    lines = con.sql(
        f"SELECT {cols} FROM classified_costs WHERE x_AiClass = $c", params={"c": GPU_COMPUTE}
    ).pl()
    util = con.sql("SELECT * FROM gpu_util").pl()
    owned = owned_rates(con.sql("SELECT * FROM assets").pl())
    want_hours, want_episodes = reference(lines, util, owned, settings.idle)
    got_hours = con.sql("SELECT * FROM gpu_hours").pl().select(GPU_HOURS.names)
    got_episodes = con.sql("SELECT * FROM idle_episodes").pl().select(IDLE_EPISODES.names)
    assert_same(got_hours.cast(want_hours.schema), want_hours)
    assert_same(got_episodes.cast(want_episodes.schema), want_episodes)
    # the sample exercises what matters: cloud and on-prem, idle and unmonitored hours
    assert set(got_hours["deployment"]) == {"cloud", "onprem"}
    assert set(got_hours["state"]) >= {*IDLE_STATES, "unmonitored", "active"}
    idle = got_hours.filter(pl.col("state").is_in(IDLE_STATES))
    assert idle["idle_cost"].sum() == want_hours["idle_cost"].sum() > 0
    assert len(got_episodes) > 0
