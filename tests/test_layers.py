"""DESIGN §2: layers point down only (dashboard -> ingest -> models), Streamlit only in the app."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ORDER = {"models": 0, "ingest": 1, "dashboard": 2}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
    return out


def _modules(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(ORDER))
def test_imports_point_down(package: str) -> None:
    bad = []
    for path in _modules(package):
        for line, name in _imports(path):
            top = name.split(".")[0]
            if top in ORDER and ORDER[top] > ORDER[package]:
                bad.append(f"{path.relative_to(REPO)}:{line} imports {name}")
    assert not bad, "layers must point down (dashboard -> ingest -> models):\n" + "\n".join(bad)


def test_streamlit_only_in_app_and_pages() -> None:
    allowed = {REPO / "dashboard" / "app.py"}
    bad = []
    for package in ORDER:
        for path in _modules(package):
            if path in allowed or "pages" in path.relative_to(REPO).parts:
                continue
            if any(name.split(".")[0] == "streamlit" for _, name in _imports(path)):
                bad.append(str(path.relative_to(REPO)))
    assert not bad, f"streamlit imported outside the app and its pages: {bad}"


def test_cli_import_is_light() -> None:
    """`finops ingest` never pays Streamlit's (or plotly's) import time."""
    code = (
        "import sys; import dashboard.cli, dashboard.commands.ingest; "
        "print(','.join(m for m in ('streamlit', 'plotly') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""


def test_no_work_at_import_time(tmp_path: Path) -> None:
    """Importing every module opens no file in the working directory and starts nothing."""
    modules = []
    for package in ORDER:
        for path in _modules(package):
            rel = path.relative_to(REPO).with_suffix("")
            if rel.name == "__init__":
                rel = rel.parent
            if "pages" in rel.parts or rel.name == "app":
                continue  # Streamlit scripts run top to bottom by design
            modules.append(".".join(rel.parts))
    code = f"import importlib\nfor m in {modules!r}:\n    importlib.import_module(m)\n"
    subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        check=True,
    )
    assert list(tmp_path.iterdir()) == []
