"""The layers of rag/ (.importlinter), kept by import-linter: the tree keeps them, and a change that breaks one
fails `lint-imports`, which `make test` (so CI) runs before pytest, with a message naming the import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rag.config import PROJECT_ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` with the project's contracts over the package `rag` in `root`, as `make test` runs it."""
    return subprocess.run([str(LINT_IMPORTS), "--config", str(PROJECT_ROOT / ".importlinter"), "--no-cache"],
                          cwd=root, env={**os.environ, "PYTHONPATH": str(root), "COLUMNS": "200"},
                          capture_output=True, text=True, timeout=120)


def test_the_package_keeps_its_layers_and_has_no_cycle():
    run = lint_imports(PROJECT_ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Contracts: 2 kept, 0 broken." in run.stdout


@pytest.mark.parametrize(("module", "code", "said"), [
    # A lower stage reaching up: the reading of pages asking the pipeline.
    ("ingest/upward.py", '"""Reads a page with the pipeline."""\n\nfrom rag.pipeline import RAG\n',
     ["rag.ingest is not allowed to import rag.pipeline:", "- rag.ingest.upward -> rag.pipeline (l.3)",
      "A stage imports only the stages below it (docs/ARCHITECTURE.md)"]),
    # Two modules of one package importing each other, one of them only inside a function.
    ("models/terms.py", None,
     ["No cycles are allowed in rag.models.", "- .terms -> .thesaurus (1 import)",
      "Modules of one package must not import each other in a circle"]),
    # A module in no layer: placing it is a decision, not an accident.
    ("extra.py", '"""A module nobody placed."""\n',
     ["The following modules are not listed as layers:", "- rag.extra"]),
])
def test_a_broken_layer_fails_the_check_and_says_which_import(tmp_path: Path, module: str, code: str | None,
                                                              said: list[str]):
    shutil.copytree(PROJECT_ROOT / "rag", tmp_path / "rag", ignore=shutil.ignore_patterns("__pycache__"))
    path = tmp_path / "rag" / module
    if code is None:  # appended to a module of the package: a lazy import of a module that imports it
        code = path.read_text(encoding="utf-8") + "\n\ndef _thesaurus():\n    from rag.models import thesaurus\n\n" \
                                                  "    return thesaurus\n"
    path.write_text(code, encoding="utf-8")
    run = lint_imports(tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "BROKEN" in run.stdout
    for line in said:
        assert line in run.stdout
