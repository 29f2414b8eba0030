"""DESIGN §2 beyond what import-linter sees.

The import contracts themselves (dashboard -> ingest -> models; models imports no I/O library;
Streamlit only in the app and its pages) are `[tool.importlinter]` in pyproject.toml, checked
by `lint-imports` in `make test`. Import-linter reads imports statically; what happens when a
module is really imported (what it pulls in, what it opens) is checked here.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("models", "ingest", "dashboard")


def test_import_contracts_are_declared() -> None:
    """The contracts `lint-imports` enforces stay the ones DESIGN §2 asks for."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    linter = config["tool"]["importlinter"]
    assert set(linter["root_packages"]) == set(PACKAGES)
    assert linter["include_external_packages"] is True  # else external packages are unseen
    contracts = linter["contracts"]
    layers = [c["layers"] for c in contracts if c["type"] == "layers"]
    assert ["dashboard", "ingest", "models"] in layers
    models_forbidden = {
        m
        for c in contracts
        if c["type"] == "forbidden" and c["source_modules"] == ["models"]
        for m in c["forbidden_modules"]
    }
    io_libraries = {"duckdb", "deltalake", "pyarrow", "boto3", "botocore", "azure", "google",
                    "streamlit", "plotly", "click", "rich"}  # fmt: skip
    assert io_libraries <= models_forbidden, io_libraries - models_forbidden
    streamlit = [c for c in contracts if c.get("protected_modules") == ["streamlit"]]
    assert [c["allowed_importers"] for c in streamlit] == [["dashboard.app"]]


def _modules(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


def test_cli_import_is_light() -> None:
    """`finops ingest` never pays Streamlit's (or plotly's) import time."""
    code = (
        "import sys; import dashboard.cli, dashboard.cli.ingest; "
        "print(','.join(m for m in ('streamlit', 'plotly') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""


def test_no_work_at_import_time(tmp_path: Path) -> None:
    """Importing every module opens no file in the working directory and starts nothing."""
    modules = []
    for package in PACKAGES:
        for path in _modules(package):
            rel = path.relative_to(REPO).with_suffix("")
            if rel.name == "__init__":
                rel = rel.parent
            if "pages" in rel.parts or rel.as_posix() == "dashboard/app/main":
                continue  # Streamlit scripts run top to bottom by design
            if rel.name == "__main__":
                continue  # `python -m` entry points run their command by design
            modules.append(".".join(rel.parts))
    code = f"import importlib\nfor m in {modules!r}:\n    importlib.import_module(m)\n"
    subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        check=True,
    )
    assert list(tmp_path.iterdir()) == []
