"""pyproject.toml declares exactly what the product imports, and a plain `pip install` (no
extras) gives the dashboard's OIDC login (`[auth]`, Streamlit's st.login) what it needs."""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import os
import shutil
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("models", "ingest", "dashboard")
# What Streamlit's login path imports (streamlit/web/server/starlette/starlette_auth_routes.py,
# streamlit/auth_util.py, starlette_app_utils.py): Authlib's Starlette client (over httpx),
# its JOSE tokens (over cryptography), itsdangerous cookies, Starlette's session middleware.
LOGIN_IMPORTS = (
    "authlib",
    "authlib.integrations.starlette_client",
    "authlib.jose",
    "httpx",
    "cryptography",
    "itsdangerous",
    "starlette.middleware.sessions",
)


def _project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _runtime() -> dict[str, Requirement]:
    reqs = [Requirement(r) for r in _project()["dependencies"]]
    return {canonicalize_name(r.name): r for r in reqs}


def _extras() -> dict[str, Requirement]:
    """The optional extras a user installs for a feature (`hybrid-finops[spark]`); dev is
    the developers' tools, never something the product imports."""
    extras = _project()["optional-dependencies"]
    reqs = [Requirement(r) for name, rs in extras.items() if name != "dev" for r in rs]
    return {canonicalize_name(r.name): r for r in reqs}


def _third_party_imports() -> dict[str, set[str]]:
    """Every module imported from outside the product and the standard library -> the files
    importing it (imports inside functions included: a lazy import is still a dependency)."""
    found: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top in sys.stdlib_module_names or top in PACKAGES:
                        continue
                    found.setdefault(name, set()).add(str(path.relative_to(REPO)))
    return found


@cache
def _top_level() -> dict[str, list[str]]:
    return metadata.packages_distributions()


@cache
def _files(dist: str) -> tuple[str, ...]:
    return tuple(str(f) for f in metadata.distribution(dist).files or [])


def _distribution(module: str) -> str | None:
    """The installed distribution providing `module`. Namespace packages (azure.*, google.*)
    are shared by many distributions: the one holding the module's own files wins."""
    top = module.split(".")[0]
    candidates = _top_level().get(top, [])
    if len(set(candidates)) <= 1:
        return canonicalize_name(candidates[0]) if candidates else None
    parts = module.split(".")
    for depth in range(len(parts), 1, -1):
        prefix = "/".join(parts[:depth])
        owners = {
            canonicalize_name(dist)
            for dist in set(candidates)
            if any(f.startswith((prefix + "/", prefix + ".py")) for f in _files(dist))
        }
        if len(owners) == 1:
            return owners.pop()
    return None


def _imported_distributions() -> dict[str, set[str]]:
    dists: dict[str, set[str]] = {}
    for module, files in _third_party_imports().items():
        dist = _distribution(module)
        if dist is not None:  # `from x import name` where name is not a module: x decides
            dists.setdefault(dist, set()).update(files)
    return dists


def test_every_imported_package_is_declared() -> None:
    missing = {
        dist: sorted(files)[:3]
        for dist, files in _imported_distributions().items()
        if dist not in _runtime() and dist not in _extras()
    }
    assert not missing, f"imported but not in [project] dependencies or an extra: {missing}"


def test_every_declared_package_is_imported() -> None:
    unused = sorted(set(_runtime()) - set(_imported_distributions()))
    assert not unused, f"declared in [project] dependencies but never imported: {unused}"


def test_namespace_imports_name_their_own_distribution() -> None:
    # the mapping the two tests above rely on: azure.* and google.* are not one package
    assert _distribution("azure.storage.blob") == "azure-storage-blob"
    assert _distribution("azure.mgmt.costmanagement") == "azure-mgmt-costmanagement"
    assert _distribution("google.cloud.bigquery") == "google-cloud-bigquery"
    assert _distribution("google.api_core") == "google-api-core"


def test_login_comes_with_the_plain_install() -> None:
    streamlit = _runtime()["streamlit"]
    assert "auth" in streamlit.extras, "st.login needs streamlit[auth] at runtime"
    dev = [
        canonicalize_name(Requirement(r).name) for r in _project()["optional-dependencies"]["dev"]
    ]
    assert "authlib" not in dev  # it must not reach a deployment only through the dev extra


def test_spark_is_an_extra_the_developers_get() -> None:
    # `pip install hybrid-finops` stays free of a JVM engine; `[spark]` and `[dev]` bring it
    assert "pyspark" not in _runtime()
    assert str(_extras()["pyspark"].specifier) == ">=4"
    dev = [Requirement(r) for r in _project()["optional-dependencies"]["dev"]]
    assert any(r.name == "hybrid-finops" and "spark" in r.extras for r in dev)


@pytest.mark.slow
@pytest.mark.heavy
@pytest.mark.timeout(900)
def test_a_plain_install_can_log_in(tmp_path: Path) -> None:
    """`pip install hybrid-finops` without extras, in a fresh venv: everything st.login imports
    is there, and so is the `finops` command."""
    source = tmp_path / "src"  # a copy: building in the checkout would leave build/ behind
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    for package in PACKAGES:
        shutil.copytree(
            REPO / package, source / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(source)],
        capture_output=True,
        text=True,
        timeout=840,
        env=env,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    code = (
        "import importlib, importlib.metadata as m; "
        f"[importlib.import_module(n) for n in {LOGIN_IMPORTS!r}]; "
        "from streamlit.auth_util import is_authlib_installed; "
        "assert is_authlib_installed(), 'streamlit does not see Authlib'; "
        "print(m.version('hybrid-finops'))"
    )
    probe = subprocess.run(
        [str(python), "-W", "ignore", "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    assert probe.stdout.strip() == _project()["version"]
    assert (venv / "bin" / "finops").exists()
