"""What `--engine spark` runs for GPU-hours, without Spark: the lines split by resource, the
telemetry routed to a resource by id or host (`_routes`), and each resource's rows made by
its own task (`resource_rows`), together equal the oracle's rows for the whole estate. The
Spark side is tests/e2e/test_spark_sample.py."""

from __future__ import annotations

import polars as pl
import pytest

from ingest.engines import spark_gpu_hours as sg
from models.idle import GPU_HOURS, IDLE_EPISODES
from models.settings import IdleSettings
from tests.fixtures import idle_estates
from tests.fixtures.gpu_hours import assert_same, estate, lines_frame, reference, util_frame


def _by_resource(lines: pl.DataFrame, util: pl.DataFrame, owned, settings: IdleSettings):
    """gpu_hours and idle_episodes as the Spark path assembles them from its tasks."""
    keyed = lines.with_columns(pl.col("ResourceId").str.to_lowercase().alias(sg.KEY))
    keyed = keyed.filter(pl.col(sg.KEY).is_not_null())
    groups = keyed.partition_by(sg.KEY, as_dict=True)
    empty = util.to_arrow().schema.empty_table()
    hosts = pl.concat(
        [
            pl.from_arrow(sg.resource_hosts(g.to_arrow(), empty, owned)).with_columns(
                pl.lit(k[0]).alias(sg.KEY)
            )
            for k, g in groups.items()
        ]
    ).select(sg.KEY, pl.col("host").cast(pl.String))
    routes = sg._routes(hosts, util.select("resource_id", "host").unique())
    routed = util.join(routes, ["resource_id", "host"], nulls_equal=True)
    hours, episodes = [], []
    for (key,), group in groups.items():
        if key not in set(hosts[sg.KEY]):
            continue  # no billed period: the driver leaves it out
        mine = routed.filter(pl.col(sg.KEY) == key)
        out = pl.from_arrow(
            sg.resource_rows(group.to_arrow(), mine.to_arrow(), owned, settings, None, True)
        )
        hours.append(out.filter(pl.col(sg.TAG) == sg.HOURS))
        episodes.append(out.filter(pl.col(sg.TAG) == sg.EPISODES))

    def picked(frames: list[pl.DataFrame], prefix: str, names: list[str]) -> pl.DataFrame:
        both = pl.concat(frames)
        return both.select(pl.col(f"{prefix}__{c}").alias(c) for c in names)

    return (
        picked(hours, sg.HOURS, GPU_HOURS.names),
        picked(episodes, sg.EPISODES, IDLE_EPISODES.names),
        routed,
    )


@pytest.mark.parametrize("settings", [IdleSettings(), IdleSettings(episode_min_hours=3)])
def test_a_varied_estate_by_resource_is_the_whole_estate(settings: IdleSettings) -> None:
    lines, util, owned = estate()
    want_hours, want_episodes = reference(lines, util, owned, settings, None)
    hours, episodes, _ = _by_resource(lines, util, owned, settings)
    assert len(hours) == len(want_hours) > 100
    assert_same(hours.cast(want_hours.schema), want_hours)
    assert len(episodes) == len(want_episodes) > 0
    assert_same(episodes.cast(want_episodes.schema), want_episodes)


def test_telemetry_named_by_host_reaches_its_resource() -> None:
    billed, rows = idle_estates.by_host()
    lines, util = lines_frame(billed), util_frame(rows)
    want_hours, _ = reference(lines, util, None, IdleSettings(), None)
    hours, _, routed = _by_resource(lines, util, None, IdleSettings())
    assert routed.height == util.height > 0  # every telemetry row found its resource
    assert_same(hours.cast(want_hours.schema), want_hours)
    assert hours.filter(pl.col("samples") > 0).height > 0
