"""The serving reader reads a server a window at a time: a reset, missing scrapes and a model
moving hosts exactly at a window's edge, and hours cut by the edges, come out as if the range
were read whole (by hand in tests/fixtures/serving_windows.py), from a real Prometheus."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from ingest.sources import serving
from ingest.sources.prometheus import Client
from tests.fixtures.serving_windows import EXPECTED, SCRAPES, STEP, T0, WINDOW_S, openmetrics_text
from tests.servers import prometheus as server

pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(not server.available(), reason="prometheus not installed"),
]
END = T0 + timedelta(seconds=SCRAPES * STEP)


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory):
    with server.serve(openmetrics_text(), tmp_path_factory.mktemp("prom-windows")) as base:
        yield base


def by_hour(frame: pl.DataFrame) -> dict[tuple, tuple]:
    return {
        (r["hour"].hour, r["host"], r["model"]): (r["requests"], r["prompt_tokens"], r["resets"])
        for r in frame.iter_rows(named=True)
    }


def test_edges_at_a_reset_a_gap_and_a_move_give_the_hours_worked_out_by_hand(url: str) -> None:
    shown: list[tuple[str, int, int]] = []
    rows = serving.fetch(
        Client(url), T0, END, STEP, lambda *a: shown.append(a), window_s=WINDOW_S
    ).collect()
    assert by_hour(rows) == EXPECTED
    assert rows["requests"].sum() == 30 + 34 + 40 + 40 + 105 + 15 + 27
    # six windows of three scrapes (the last of one), each shown before it is read
    assert [s[0] for s in shown] == [
        "2026-10-05 00:00Z", "2026-10-05 00:45Z", "2026-10-05 01:30Z",
        "2026-10-05 02:15Z", "2026-10-05 03:00Z", "2026-10-05 03:45Z", "done",
    ]  # fmt: skip
    assert [s[1:] for s in shown] == [(i, 6) for i in range(7)]


@pytest.mark.parametrize("window_s", [STEP, 2 * STEP, 5 * STEP, 86_400])
def test_every_window_size_gives_the_same_rows(url: str, window_s: int) -> None:
    rows = serving.fetch(Client(url), T0, END, STEP, window_s=window_s).collect()
    assert by_hour(rows) == EXPECTED


def test_a_window_holds_at_most_one_page_of_points_per_series(url: str) -> None:
    """With a page limit of 5 points the reader asks for windows of at most 4 (the limit
    minus one), one counter name a query, and still gets the same hours."""
    asked: list[tuple[str, float, float]] = []

    class Recording(Client):
        def query_range(self, query: str, start: float, end: float, step: int) -> list[dict]:
            asked.append((query, start, end))
            return super().query_range(query, start, end, step)

    rows = serving.fetch(Recording(url, max_points=5), T0, END, STEP).collect()
    assert by_hour(rows) == EXPECTED
    assert max((end - start) / STEP + 1 for _, start, end in asked) == 4
    assert {q for q, _, _ in asked} == {f'{{__name__="{n}"}}' for n in serving.COUNTERS}


def test_the_command_reads_the_server_with_the_same_hours(url: str, tmp_path: Path) -> None:
    from dashboard.cli.finops import main
    from ingest.warehouse.connection import connect

    span = ["--start", T0.isoformat(), "--end", END.isoformat(), "--step", str(STEP)]
    wh = tmp_path / "wh"
    code = main(["--warehouse", str(wh), "ingest", "serving", "prometheus", url, *span])
    assert code == 0
    stored = connect(wh).sql("SELECT * FROM serving_usage").pl()
    assert by_hour(stored) == EXPECTED
