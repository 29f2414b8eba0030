"""Own vs rent on the sample enterprise: measured utilisation against the planted truth."""

from __future__ import annotations

import pytest

from tests.fixtures.own_vs_rent import assert_recommendation_recomputes
from tests.fixtures.own_vs_rent_cli import run_own_vs_rent

pytestmark = pytest.mark.slow  # needs the built sample warehouse


@pytest.mark.slow
@pytest.mark.parametrize("gpu", ["H100", "A100"])
def test_sample_enterprise_measured_u_and_u_r_match_truth(request, gpu):
    import json

    from tests.fixtures.sample_views import implied_by_truth, sample_app, sample_or_skip

    warehouse, truth = sample_or_skip(request)
    u, u_r = implied_by_truth(truth, gpu)
    if u is None and u_r is None:
        pytest.skip(f"the sample has no monitored {gpu} hours")
    span = truth.get("meta", {}).get("months", 12)  # the sample's months, or how many
    months = len(span) if isinstance(span, list) else int(span)
    out = json.loads(
        run_own_vs_rent(
            sample_app(warehouse), "--format", "json", "--gpu", gpu, "--months", str(months)
        )
    )
    m = out["measured"]
    if u is not None:
        assert m["u"] == pytest.approx(u, abs=0.01)
    if u_r is not None:
        assert m["u_r"] == pytest.approx(u_r, abs=0.01)
    assert 0 <= out["demand"]["estimated_from_billing_share"] <= 1
    assert_recommendation_recomputes(out)
