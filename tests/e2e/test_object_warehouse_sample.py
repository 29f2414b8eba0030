"""The whole sample on a warehouse in object storage (moto's S3 server) against the local one."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.object_warehouse import (
    TOTALS,
    bucket,
    no_secret_stored,
    ok,
    rows,
    without_load_ids,
)
from tests.fixtures.paths import SAMPLE_DATA

pytestmark = pytest.mark.slow  # needs the built sample warehouse


@pytest.mark.heavy
@pytest.mark.timeout(3600)  # the whole sample through moto: every source, every refresh
def test_the_demo_on_s3_is_the_sample_warehouse_to_the_cent(
    s3: str, env: dict[str, str], tmp_path: Path, sample_warehouse: Path
) -> None:
    """`finops demo` ingests every source and builds every derived table: on a bucket it
    gives the local sample warehouse's figures, and the commands that read it (explain,
    export, own-vs-rent) answer as on the folder."""
    warehouse = bucket(s3, "finops-demo")
    said = ok(env, "--warehouse", warehouse, "demo", "--no-serve", "--data", str(SAMPLE_DATA))
    assert "125,021 cost lines" in said and "billed USD 3,357,046.40, EUR 15,359.45" in said
    assert "4,474 episodes costing USD 432,238.86" in said
    local = str(sample_warehouse)
    for sql in (
        TOTALS,
        "select currency, sum(cost) as idle, sum(hours) as hours, count(*) as n from idle_episodes "
        "group by all order by all",
        "select x_AiClass, BillingCurrency, sum(EffectiveCost) as cost from classified_costs "
        "group by all order by all",
    ):
        assert rows(env, warehouse, sql) == rows(env, local, sql), sql
    (line,) = rows(env, local, "select min(x_LineId) as id from classified_costs "
                   "where x_EgressKind = 'internet'")  # fmt: skip
    exports, explained, verdicts = [], [], []
    for where, name in ((warehouse, "s3"), (local, "local")):
        out = tmp_path / f"{name}.csv"
        ok(env, "--warehouse", where, "export", "--month", "2026-09", "--out", str(out))
        exports.append(without_load_ids(out))
        explained.append(ok(env, "--warehouse", where, "explain", str(line["id"]), "--json"))
        verdicts.append(ok(env, "--warehouse", where, "own-vs-rent", "--format", "json"))
    assert len(exports[0]) == 8_952 and exports[0] == exports[1]
    assert explained[0] == explained[1]
    assert verdicts[0] == verdicts[1]
    assert "healthy" in ok(env, "--warehouse", warehouse, "check").lower()
    no_secret_stored(env, warehouse)
