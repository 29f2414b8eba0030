"""Fixtures of the dashboard tests: the small warehouse built in code (tests/fixtures/
small_warehouse.py has its figures), served to the app, and a headless Chromium."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ingest.warehouse.store import Store
from tests.fixtures.small_warehouse import build, build_with_eur_gpu, cost_batches
from tests.fixtures.warehouse_state import serve


@pytest.fixture(scope="session")
def built_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dash") / "warehouse"
    build(root)
    return root


@pytest.fixture
def small_warehouse(built_warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The small warehouse, served to the app (FINOPS_WAREHOUSE)."""
    serve(monkeypatch, built_warehouse)
    return built_warehouse


@pytest.fixture(scope="session")
def built_lines_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lines-only") / "warehouse"
    Store(root).load_cost_lines(cost_batches())
    return root


@pytest.fixture(scope="session")
def built_rollups_only(built_lines_only: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ingest.derive import rollups

    root = tmp_path_factory.mktemp("rollups-only") / "warehouse"
    shutil.copytree(built_lines_only, root)
    store = Store(root)
    with store.writer():
        rollups.refresh(store, None)
    return root


def _served_copy(built: Path, warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A test's own copy of a warehouse built once per session, served to the app."""
    shutil.copytree(built, warehouse)
    serve(monkeypatch, warehouse)
    return warehouse


@pytest.fixture
def lines_only(built_lines_only: Path, warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Cost lines as a store holds them before any derived refresh (no classification, no
    GPU-hours): the pages must say what to run rather than fail."""
    return _served_copy(built_lines_only, warehouse, monkeypatch)


@pytest.fixture
def rollups_only(
    built_rollups_only: Path, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Cost lines and the rollups the pages read, summed without classes (team, project and
    environment from the tags), as before `finops classify` has ever run."""
    return _served_copy(built_rollups_only, warehouse, monkeypatch)


# ---- a real `finops dashboard` process --------------------------------------------------------


@pytest.fixture(scope="session")
def built_eur_gpu_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dash-eur") / "warehouse"
    build_with_eur_gpu(root)
    return root


@pytest.fixture
def eur_gpu_warehouse(built_eur_gpu_warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The small warehouse plus a GPU instance billed in EUR, served to the app (read only)."""
    serve(monkeypatch, built_eur_gpu_warehouse)
    return built_eur_gpu_warehouse
