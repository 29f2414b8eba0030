"""Shared fixtures: the real reference samples (tests/fixtures/reference) and tmp warehouses."""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import shutil
from pathlib import Path

import pytest

from tests.fixtures.paths import REFERENCE, SAMPLE_DATA

# moto's S3 server (`s3`) and a child environment with planted secrets (`env`)
pytest_plugins = ["tests.fixtures.object_warehouse", "tests.fixtures.served"]


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
    """A warehouse built from sample_data/ exactly as `make demo` builds it (no server).

    Tests only read it, so with `pytest -n N` the workers share one build: the first to take
    the lock builds it in the run's common temp folder, the others wait and reuse it."""
    from dashboard.cli.finops import main

    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # each worker's temp folder sits in the run's one folder
    folder = shared / "sample-shared"
    root, done = folder / "warehouse", folder / "built"
    with open(shared / "sample-shared.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)  # a build that failed half-way
            folder.mkdir(parents=True)
            printed = io.StringIO()  # kept beside the warehouse for tests of the demo's words
            with contextlib.redirect_stdout(printed):
                code = main(
                    ["--warehouse", str(root), "demo", "--no-serve", "--data", str(SAMPLE_DATA)]
                )
            (folder / "demo.out").write_text(printed.getvalue(), encoding="utf-8")
            assert code == 0, (
                "finops demo --no-serve failed on sample_data/:\n" + printed.getvalue()
            )
            done.touch()
    return root
