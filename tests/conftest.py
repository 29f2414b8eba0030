"""Shared fixtures: the real reference samples (tests/fixtures/reference) and tmp warehouses."""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
REFERENCE = TESTS / "fixtures" / "reference"


@pytest.fixture
def reference() -> Path:
    return REFERENCE


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return tmp_path / "warehouse"
