"""Shared fixtures: the real reference samples (tests/fixtures/reference) and tmp warehouses."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from tests.fixtures.paths import REFERENCE, SAMPLE_DATA


@pytest.fixture
def reference() -> Path:
    return REFERENCE


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return tmp_path / "warehouse"


@pytest.fixture(scope="session")
def sample_truth() -> dict:
    """The planted truth of the committed sample enterprise."""
    import json

    path = SAMPLE_DATA / "truth.json"
    if not path.exists():
        pytest.skip("sample_data/truth.json is not generated yet")
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def sample_warehouse(tmp_path_factory: pytest.TempPathFactory, sample_truth: dict) -> Path:
    """A warehouse built from sample_data/ exactly as `make demo` builds it (no server)."""
    from dashboard.cli.finops import main

    root = tmp_path_factory.mktemp("sample") / "warehouse"
    printed = io.StringIO()  # kept beside the warehouse for the tests of what the demo prints
    with contextlib.redirect_stdout(printed):
        code = main(["--warehouse", str(root), "demo", "--no-serve", "--data", str(SAMPLE_DATA)])
    (root.parent / "demo.out").write_text(printed.getvalue(), encoding="utf-8")
    assert code == 0, "finops demo --no-serve failed on sample_data/:\n" + printed.getvalue()
    return root
