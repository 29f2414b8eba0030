"""The pages read their sections of finops.toml ([own_vs_rent], [anomaly]) as typed settings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dashboard.app import session
from tests.fixtures.app_pages import app, no_errors, page


@pytest.fixture
def configured(
    small_warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    config = tmp_path / "finops.toml"
    config.write_text(
        '[own_vs_rent]\ngpu = "H100"\nmonths = 6\n\n[anomaly]\nz_threshold = 3.5\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("FINOPS_CONFIG", str(config))
    # settings are read once per server: an earlier test's must not stand in for this file,
    # nor this file's for a later test's
    session.settings.clear()
    yield config
    session.settings.clear()


def test_own_vs_rent_page_starts_from_the_configured_months(configured: Path) -> None:
    at = page(app(), "own_vs_rent")
    no_errors(at)
    assert at.number_input(key="ovr_months").value == 6  # [own_vs_rent] months, not 12


def test_forecast_page_runs_with_an_anomaly_section(configured: Path) -> None:
    at = page(app(), "forecast")
    no_errors(at)
    assert at.title[0].value
