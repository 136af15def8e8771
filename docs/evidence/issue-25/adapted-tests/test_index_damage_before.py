"""Issue 25, finding 5's last point, for the before/after demonstration only (never committed to main).

ADAPTED: test_damage_a_build_can_replace_is_rebuilt_and_ask_says_why damages CURRENT with bytes \xff\xfe,
which the old code does not even rebuild (UnicodeDecodeError), so it never reaches the point "ask rebuilds a
corrupt index without saying so". Here the build is damaged in a way the old code did rebuild (a file whose
checksum no longer matches the manifest), and the test checks what the fix promises: `ask` answers on
stdout and says why it rebuilt on stderr.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.cli import main
from rag.config import Settings
from rag.embedding import Embedder
from rag.index import current_build
from rag.pipeline import ensure_index


def test_finding5_ask_says_why_it_rebuilds_a_damaged_index_adapted(tmp_path: Path, embedder: Embedder,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "one.txt").write_text("NATO plans an office in Tokyo. China objected.", encoding="utf-8")
    settings = Settings.load(env={}, corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")
    ensure_index(settings, embedder)
    build = current_build(settings.index_dir)
    (build / "chunks.jsonl").write_text('{"damaged": true}\n', encoding="utf-8")  # its checksum no longer matches

    code = main(["--corpus", str(settings.corpus_dir), "--index", str(settings.index_dir), "ask",
                 "Who objected to the office?"])
    out, err = capsys.readouterr()
    rebuilt = current_build(settings.index_dir)
    print(f"exit {code}; build {build.name} -> {rebuilt.name}; stderr {err!r}; stdout {out[:120]!r}")

    assert code == 0 and "China objected." in out
    assert rebuilt.name != build.name, "the damaged build was not replaced"
    assert err.startswith("rebuilding: "), (f"ask replaced the damaged build ({build.name} -> {rebuilt.name}) "
                                            f"and said nothing about it on stderr: {err!r}")
    assert "Traceback" not in err
