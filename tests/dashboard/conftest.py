"""Fixtures of the dashboard tests: the small warehouse built in code (tests/fixtures/
small_warehouse.py has its figures), served to the app, and a headless Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.warehouse.store import Store
from tests.fixtures.served import CHROMIUM, CHROMIUM_ARGS
from tests.fixtures.small_warehouse import build, build_with_eur_gpu, cost_batches


@pytest.fixture(scope="session")
def built_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dash") / "warehouse"
    build(root)
    return root


@pytest.fixture
def small_warehouse(built_warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The small warehouse, served to the app (FINOPS_WAREHOUSE)."""
    monkeypatch.setenv("FINOPS_WAREHOUSE", str(built_warehouse))
    monkeypatch.delenv("FINOPS_CONFIG", raising=False)
    return built_warehouse


@pytest.fixture
def lines_only(warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Cost lines as a store holds them before any derived refresh (no classification, no
    GPU-hours): the pages must say what to run rather than fail."""
    Store(warehouse).load_cost_lines(cost_batches())
    monkeypatch.setenv("FINOPS_WAREHOUSE", str(warehouse))
    monkeypatch.delenv("FINOPS_CONFIG", raising=False)
    return warehouse


@pytest.fixture
def rollups_only(lines_only: Path) -> Path:
    """Cost lines and the rollups the pages read, summed without classes (team, project and
    environment from the tags), as before `finops classify` has ever run."""
    from ingest.derive import rollups

    store = Store(lines_only)
    with store.writer():
        rollups.refresh(store, None)
    return lines_only


# ---- a real `finops dashboard` process --------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (tests/setup/system_deps.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def eur_gpu_warehouse(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    root = tmp_path_factory.mktemp("dash-eur") / "warehouse"
    build_with_eur_gpu(root)
    monkeypatch.setenv("FINOPS_WAREHOUSE", str(root))
    monkeypatch.delenv("FINOPS_CONFIG", raising=False)
    return root
