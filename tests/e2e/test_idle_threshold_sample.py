"""The Idle GPUs page on the sample warehouse at another idle threshold."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.derive.idle_threshold import THRESHOLD, hours_at_sql
from ingest.warehouse import views
from ingest.warehouse.connection import connect
from models.currency import to_minor_units
from models.idle import IDLE_IN_SQL
from models.settings import Settings
from tests.fixtures.app_pages import app, no_errors, page, ranking_shown
from tests.fixtures.warehouse_state import serve

pytestmark = pytest.mark.slow  # needs the built sample warehouse


@pytest.mark.slow
@pytest.mark.parametrize("threshold", [0.02, 0.42])
def test_idle_page_on_the_sample_at_another_threshold(
    sample_warehouse: Path, monkeypatch: pytest.MonkeyPatch, threshold: float
) -> None:
    """The sample's idle GPUs run at 0-2.9% activity, its busy ones from 35%: at 2% and at
    42% the idle hours move, and the ranking's idle GPU-hours and idle cost per resource
    are the engine's at that threshold, to the cent."""
    serve(monkeypatch, sample_warehouse)
    at = page(app(), "idle")
    at.slider(key="idle_thr").set_value(threshold).run()
    no_errors(at)
    shown = ranking_shown(at)
    views.register_all(Settings())
    con = connect(sample_warehouse)
    ((cur,),) = con.execute(
        "SELECT currency FROM gpu_hours GROUP BY 1 ORDER BY sum(cost) DESC LIMIT 1"
    ).fetchall()
    rows = con.sql(
        f"""SELECT resource_id, count(*) FILTER (WHERE state IN {IDLE_IN_SQL}), sum(idle_cost)
        FROM ({hours_at_sql("FROM gpu_hours", Settings().idle)}) WHERE currency = $cur
        GROUP BY 1 HAVING sum(idle_cost) > 0""",
        params={THRESHOLD: threshold, "cur": cur},
    ).fetchall()
    want = {r: (n, to_minor_units(c, cur)) for r, n, c in rows}  # the page shows cents
    assert len(shown) > 5
    assert shown == {r: want[r] for r in shown}
    assert len(shown) == min(len(want), 200)  # the page ranks the 200 costliest
    default = ranking_shown(page(app(), "idle"))
    assert {r: n for r, (n, _) in shown.items()} != {r: n for r, (n, _) in default.items()}
