"""Fixtures: one 6-month sample enterprise per test session, built from a fixed seed."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.sample.generator import generate


@pytest.fixture(scope="session")
def sample(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("enterprise")
    truth = generate(out, seed=42, months=6)
    return out, truth


@pytest.fixture(scope="session")
def telemetry(sample) -> tuple[dict, dict]:
    """Per host and hour, GPU activity and power read back from the telemetry files."""
    from tests.sample.file_sums import read_telemetry

    return read_telemetry(sample[0])


@pytest.fixture(scope="session")
def activity(telemetry) -> dict:
    return telemetry[0]
