"""House rules a clean CI run would not otherwise see."""

from __future__ import annotations

import json

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
    import subprocess
    import sys

    code = "import sys, environments; print(sorted({'torch', 'panel'} & set(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert result.stdout.strip() == "[]"
