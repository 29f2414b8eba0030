"""The tests say what they hold: read from the source of tests/, nothing is run.

- shared builders live in tests/fixtures (or servers/, oracles/), never in a test file or a
  conftest that another module imports (a conftest holds fixtures only);
- models/ unit tests build their frames in code: nothing they import, directly or through our
  test helpers, comes from ingest/ or dashboard/;
- a test that needs the built sample warehouse lives in tests/e2e/ and carries `slow`.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
E2E = TESTS / "e2e"
PRODUCT_ABOVE_MODELS = ("ingest", "dashboard")
SAMPLE_FIXTURE = "sample_warehouse"  # tests/conftest.py: runs the generator's data through demo


def _rel(path: Path) -> str:
    return path.relative_to(TESTS.parent).as_posix()


@cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _sources() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if ".cache" not in p.parts)


def _test_files() -> list[Path]:
    return [p for p in _sources() if p.name.startswith("test_")]


def _imports(path: Path) -> list[tuple[str, int]]:
    """Every module a file imports (also inside functions), as dotted names with line numbers;
    `from tests.x import test_y` counts as importing tests.x.test_y."""
    out: list[tuple[str, int]] = []
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, node.lineno))
            out += [(f"{node.module}.{a.name}", node.lineno) for a in node.names]
    return out


def _file_of(module: str) -> Path | None:
    """The file under tests/ a dotted name refers to, if any."""
    if not module.startswith("tests."):
        return None
    base = TESTS.parent.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def _product_imports(path: Path, seen: set[Path] | None = None) -> list[str]:
    """Imports of ingest/ or dashboard/ by a file or by any tests module it imports."""
    seen = seen if seen is not None else set()
    if path in seen:
        return []
    seen.add(path)
    found = []
    for module, line in _imports(path):
        if module.split(".")[0] in PRODUCT_ABOVE_MODELS:
            found.append(f"{_rel(path)}:{line} imports {module}")
        elif (inner := _file_of(module)) is not None:
            found += _product_imports(inner, seen)
    return found


def _has_slow_mark(path: Path) -> bool:
    """A module-level `pytestmark` naming pytest.mark.slow."""
    for node in _tree(path).body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in targets):
            return any(
                isinstance(n, ast.Attribute) and n.attr == "slow" for n in ast.walk(node.value)
            )
    return False


def _functions(path: Path) -> list[ast.FunctionDef]:
    return [n for n in ast.walk(_tree(path)) if isinstance(n, ast.FunctionDef)]


def _params(fn: ast.FunctionDef) -> set[str]:
    return {a.arg for a in [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs]}


def _asks_for(fn: ast.FunctionDef, names: set[str]) -> bool:
    """Takes one of `names` as a parameter, or asks pytest for it by name at run time."""
    if _params(fn) & names:
        return True
    return any(isinstance(n, ast.Constant) and n.value in names for n in ast.walk(fn))


def _grow(names: set[str], functions: list[ast.FunctionDef]) -> set[str]:
    """`names` and every function among `functions` that asks for one of them, transitively."""
    names = set(names)
    grown = True
    while grown:
        grown = False
        for fn in functions:
            if fn.name not in names and _asks_for(fn, names):
                names.add(fn.name)
                grown = True
    return names


@cache
def _sample_names() -> frozenset[str]:
    """The sample-warehouse fixture and the shared fixtures and helpers (conftest, fixtures
    modules) that ask for it; a fixture defined in a test file counts only in its own file."""
    shared = [fn for p in _sources() if not p.name.startswith("test_") for fn in _functions(p)]
    return frozenset(_grow({SAMPLE_FIXTURE}, shared))


def _uses_sample(path: Path) -> list[str]:
    own = [fn for fn in _functions(path) if not fn.name.startswith("test_")]
    names = _grow(set(_sample_names()), own)
    found = [
        f"{_rel(path)}:{fn.lineno} {fn.name}"
        for fn in _functions(path)
        if fn.name.startswith("test_") and _asks_for(fn, names)
    ]
    found += [
        f"{_rel(path)}:{n.lineno} calls {n.func.id}"
        for n in ast.walk(_tree(path))
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in names
    ]
    return found


def test_no_module_of_the_tests_imports_a_test_file_or_a_conftest() -> None:
    found = [
        f"{_rel(path)}:{line} imports {module}"
        for path in _sources()
        for module, line in _imports(path)
        if module.startswith("tests.") and module.split(".")[-1].startswith(("test_", "conftest"))
    ]
    assert not found, "move the shared builders into tests/fixtures/:\n" + "\n".join(found)


def test_models_unit_tests_import_nothing_above_models() -> None:
    found = [f for path in sorted((TESTS / "models").glob("*.py")) for f in _product_imports(path)]
    assert not found, (
        "tests/models/ builds its frames in code; an integration test belongs in tests/ingest/, "
        "tests/dashboard/ or tests/e2e/:\n" + "\n".join(found)
    )


def test_every_e2e_test_file_is_marked_slow() -> None:
    files = [p for p in _test_files() if p.is_relative_to(E2E)]
    assert files, "tests/e2e/ holds the tests that need the built sample warehouse"
    unmarked = [_rel(p) for p in files if not _has_slow_mark(p)]
    assert not unmarked, "add `pytestmark = pytest.mark.slow` to:\n" + "\n".join(unmarked)


def test_only_e2e_tests_use_the_sample_warehouse() -> None:
    found = [f for p in _test_files() if not p.is_relative_to(E2E) for f in _uses_sample(p)]
    assert not found, (
        "these need the built sample warehouse: move them to tests/e2e/ (marked slow):\n"
        + "\n".join(found)
    )


# ---- the scan itself can fail --------------------------------------------------------------


@pytest.fixture
def fake_tests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tests/ folder of our own, scanned by the same functions."""
    root = tmp_path / "tests"
    for sub in ("models", "ingest", "fixtures", "e2e"):
        (root / sub).mkdir(parents=True)
        (root / sub / "__init__.py").write_text("")
    monkeypatch.setitem(globals(), "TESTS", root)
    monkeypatch.setitem(globals(), "E2E", root / "e2e")
    _tree.cache_clear()
    _sample_names.cache_clear()
    yield root
    _tree.cache_clear()
    _sample_names.cache_clear()


def test_the_scan_finds_each_kind_of_misplaced_test(fake_tests: Path) -> None:
    (fake_tests / "ingest" / "test_a.py").write_text("def helper():\n    return 1\n")
    (fake_tests / "ingest" / "test_b.py").write_text(
        "def test_b(sample_warehouse):\n"
        "    from tests.ingest.test_a import helper\n"
        "    assert helper()\n"
    )
    (fake_tests / "ingest" / "test_d.py").write_text("from tests.conftest import REPO\n")
    (fake_tests / "fixtures" / "lines.py").write_text("from ingest.warehouse.store import Store\n")
    (fake_tests / "models" / "test_m.py").write_text("from tests.fixtures.lines import Store\n")
    (fake_tests / "e2e" / "test_e.py").write_text("def test_e(sample_warehouse):\n    pass\n")
    (fake_tests / "fixtures" / "sample.py").write_text(
        "def ask(request):\n    return request.getfixturevalue('sample_warehouse')\n"
    )
    (fake_tests / "ingest" / "test_c.py").write_text(
        "from tests.fixtures.sample import ask\n\ndef test_c(request):\n    ask(request)\n"
    )

    for check, says in (
        (test_no_module_of_the_tests_imports_a_test_file_or_a_conftest, "test_b.py:2 imports"),
        (test_no_module_of_the_tests_imports_a_test_file_or_a_conftest, "test_d.py:1 imports"),
        (
            test_models_unit_tests_import_nothing_above_models,
            "lines.py:1 imports ingest.warehouse.store",
        ),
        (test_every_e2e_test_file_is_marked_slow, "tests/e2e/test_e.py"),
        (test_only_e2e_tests_use_the_sample_warehouse, "tests/ingest/test_b.py:1 test_b"),
        (test_only_e2e_tests_use_the_sample_warehouse, "tests/ingest/test_c.py:4 calls ask"),
    ):
        with pytest.raises(AssertionError) as err:
            check()
        assert says in str(err.value), str(err.value)

    (fake_tests / "e2e" / "test_e.py").write_text(
        "import pytest\n\npytestmark = pytest.mark.slow\n\n"
        "def test_e(sample_warehouse):\n    pass\n"
    )
    _tree.cache_clear()
    test_every_e2e_test_file_is_marked_slow()
