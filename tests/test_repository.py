"""House rules a clean CI run would not otherwise see."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def test_notebooks_are_committed_without_outputs():
    notebooks = sorted((REPO / "notebooks").glob("*.ipynb"))
    assert notebooks, "no notebooks found"
    for path in notebooks:
        cells = json.loads(path.read_text())["cells"]
        dirty = [
            i
            for i, c in enumerate(cells)
            if c["cell_type"] == "code" and (c["outputs"] or c["execution_count"])
        ]
        assert not dirty, (
            f"{path.name}: cells {dirty} keep outputs; run `.venv/bin/nbstripout {path}`"
        )


def test_environments_package_imports_neither_torch_nor_panel():
    code = "import sys, environments; print(sorted({'torch', 'panel'} & set(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert result.stdout.strip() == "[]"


def _imported_modules(path: Path) -> list[tuple[str, int, str | None]]:
    """(module, line, enclosing function or None) of every import statement in a file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[str, int, str | None]] = []

    def visit(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                visit(child, child.name)
                continue
            if isinstance(child, ast.Import):
                found.extend((alias.name, child.lineno, function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and not child.level:
                found.append((child.module, child.lineno, function))
            visit(child, function)

    visit(tree, None)
    return found


def test_imports_point_one_way():
    """environments <- workbench <- widgets: no module imports a package above its own,
    not even inside a function (a lazy import still ties the layers together)."""
    above = {
        "environments": ("workbench", "widgets"),
        "workbench": ("widgets",),
    }
    wrong = []
    for package, forbidden in above.items():
        for path in sorted((REPO / package).rglob("*.py")):
            relative = path.relative_to(REPO).as_posix()
            for module, line, _function in _imported_modules(path):
                top = module.split(".")[0]
                if top in forbidden:
                    wrong.append(f"{relative}:{line} imports {module}")
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)


def test_workbench_imports_no_panel():
    """The engine runs headless: importing its packages never loads panel or the widgets."""
    code = (
        "import sys, workbench.cli, workbench.runs, workbench.horizon, workbench.trainers;"
        "print(sorted({'panel', 'widgets', 'holoviews'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert result.stdout.strip() == "[]"


def _pins(path: Path) -> dict[str, str]:
    """``name==version`` lines of a pip constraints file, names normalised as pip does."""
    pins = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def test_make_installs_the_versions_the_tests_passed_with():
    """Loose ranges in pyproject.toml resolved afresh on each new machine let any release
    break a fresh clone overnight: make installs from lock.txt, and this environment has
    its versions."""
    from importlib.metadata import version

    pins = _pins(REPO / "lock.txt")
    assert len(pins) > 50 and all(re.fullmatch(r"[\w.+!-]+", v) for v in pins.values())
    assert "torch" not in pins  # pinned apart, to its CPU build, in constraints.txt
    makefile = (REPO / "Makefile").read_text()
    assert "-c lock.txt" in makefile and "\nlock:" in makefile
    for name in ("panel", "bokeh", "holoviews", "param", "numpy", "gymnasium", "pandas"):
        assert version(name) == pins[name], f"{name} {version(name)} is not the locked one"
    # conda takes from conda-forge at the same versions
    environment = (REPO / "environment.yml").read_text()
    for name in ("panel", "bokeh", "holoviews", "numpy"):
        assert f"- {name}={pins[name]}" in environment
