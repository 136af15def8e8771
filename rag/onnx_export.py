"""The ONNX export of a sentence-transformers model: made at install, checked, found at run time.

The query path (`rag.onnx_embedding`) runs the model's transformer with ONNX
Runtime and never imports torch. The graph it runs is made here, by
`python -m rag.models install` (so `make install`), from the packaged weights
with `torch.onnx.export`: nothing is downloaded, and run time never exports.

An export is only kept when it agrees with sentence-transformers, the
reference: `PROBE` (short, long past the model's token limit, empty, other
scripts) is encoded both ways and every vector must be within cosine
`PROBE_MIN_COSINE` of the reference's. Then `export.json` is written beside
`model.onnx`, recording both files' SHA-256 (the weights it was made from,
the graph it made), their sizes and modification times, and the probe's
figures.

At run time `verified(model_dir)` reads that record. When both files still
have the recorded size and modification time, their recorded hashes stand
(hashing 90–420 MB of weights on every start would cost a cold `ask` a
third of its second); when either changed it is hashed again, and a graph
made from other weights, or a graph changed since, is refused with the fix.
So the weights' hash in an index manifest means the same on both paths: the
weights the vectors come from, whether torch or ONNX Runtime ran them.

Where an export lives: a packaged model's in `<sys.prefix>/share/rag-models/onnx/<name>/`
(all-MiniLM-L6-v2's folder belongs to pip), a folder of the user's in its own `onnx/`.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag import models
from rag.schema import ModelError

RECORD = "export.json"
GRAPH = "model.onnx"
RECORD_FORMAT = 1
OPSET = 17  # ONNX Runtime 1.30 fuses attention, layer norm and GELU at this opset
# What an export must reproduce: sentence-transformers' vectors, to the rounding of float32.
PROBE_MIN_COSINE = 0.99999
PROBE = (
    "Which countries were against the liaison office?",
    "NATO plans to open a liaison office in Tokyo, its first in Asia, the Nikkei reported.",
    "",
    "a",
    "東京 and Москва, Zürich, naïve café; emoji 🙂 too.",
    "   leading and trailing spaces   ",
    " ".join(["The alliance's plan drew objections from Beijing and from Paris."] * 60),  # past the token limit
)


@dataclass(frozen=True)
class Export:
    """A checked export: where its graph is, and the SHA-256 of the weights it was made from."""

    graph: Path
    weights_sha256: str
    graph_sha256: str


def export_dir(model_dir: Path) -> Path:
    """Where the export of the model in `model_dir` lives (whether or not it has been made)."""
    for name in models.KNOWN_MODELS:
        try:
            if models.model_dir(name).resolve() == model_dir.resolve():
                return models.models_dir() / "onnx" / name
        except ModelError:
            continue
    return model_dir / "onnx"


def weights_file(model_dir: Path) -> Path:
    path = model_dir / models.WEIGHTS
    if not path.is_file():
        raise ModelError(f"no {models.WEIGHTS} in {model_dir}; the ONNX export is made from safetensors weights")
    return path


def _stamp(path: Path, sha256: str | None = None) -> dict[str, Any]:
    stat = path.stat()
    return {"file": path.name, "sha256": sha256 or models.file_sha256(path), "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns}


def _unchanged(path: Path, stamp: dict[str, Any]) -> bool:
    stat = path.stat()
    return stat.st_size == stamp.get("size") and stat.st_mtime_ns == stamp.get("mtime_ns")


def read_record(model_dir: Path) -> dict[str, Any]:
    """The export's record; ModelError naming `make install` when there is none."""
    path = export_dir(model_dir) / RECORD
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"no ONNX export of the model in {model_dir} ({path} is missing); run `make install` "
                         f"(for a model folder of your own: python -m rag.models export {model_dir})") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelError(f"{path} is unreadable ({err}); run `make install` to export the model again") from None
    if record.get("format") != RECORD_FORMAT:
        raise ModelError(f"{path} has format {record.get('format')!r}, this code reads {RECORD_FORMAT}; "
                         "run `make install` to export the model again")
    return record


def verified(model_dir: Path) -> Export:
    """The export of `model_dir`, checked against its record (hashing only a file that changed since)."""
    record = read_record(model_dir)
    where = export_dir(model_dir)
    graph = where / GRAPH
    weights = weights_file(model_dir)
    weights_sha = record["weights"]["sha256"]
    if not _unchanged(weights, record["weights"]) and models.file_sha256(weights) != weights_sha:
        raise ModelError(f"the ONNX export in {where} was made from other weights than {weights} "
                         f"(sha256 {weights_sha[:12]}…); run `make install` to export the model again")
    if not graph.is_file():
        raise ModelError(f"{graph} is missing beside its record; run `make install` to export the model again")
    graph_sha = record["onnx"]["sha256"]
    if not _unchanged(graph, record["onnx"]) and models.file_sha256(graph) != graph_sha:
        raise ModelError(f"{graph} changed since it was exported and checked (its record says sha256 "
                         f"{graph_sha[:12]}…); run `make install` to export the model again")
    return Export(graph, weights_sha, graph_sha)


def recorded_weights_sha256(model_dir: Path) -> str | None:
    """The weights' SHA-256 from the export's record, when the weights are unchanged since; else None."""
    try:
        record = read_record(model_dir)
        unchanged = _unchanged(weights_file(model_dir), record["weights"])
    except (ModelError, OSError, KeyError):
        return None
    return record["weights"]["sha256"] if unchanged else None


def is_current(model_dir: Path) -> bool:
    """Whether an export made from the weights now in `model_dir` is there and checks out."""
    try:
        export = verified(model_dir)
    except (ModelError, KeyError):
        return False
    return export.weights_sha256 == models.file_sha256(weights_file(model_dir))


def export(model_dir: Path) -> dict[str, Any]:
    """Export the model in `model_dir` to ONNX, check it against sentence-transformers on `PROBE`, publish it.

    Written in a temporary folder beside the destination and renamed into place only once checked, so a
    failed or interrupted export leaves the previous one (or none). Returns the record.
    """
    import warnings

    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    from rag.onnx_embedding import OnnxEmbedder

    destination = export_dir(model_dir)
    weights = weights_file(model_dir)
    weights_sha = models.file_sha256(weights)
    reference = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
    transformer = reference[0]
    names = list(transformer.tokenizer.model_input_names)
    sample = transformer.tokenizer(["a probe of the graph"], return_tensors="pt")

    class LastHiddenState(torch.nn.Module):
        """The transformer alone, inputs by position: pooling and normalising are read from the model's
        config and done by the embedder, the same for every model."""

        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            return self.model(**dict(zip(names, inputs, strict=True))).last_hidden_state

    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{destination.name}-", dir=destination.parent) as work:
        staged = Path(work) / destination.name
        staged.mkdir()
        dynamic = {name: {0: "batch", 1: "sequence"} for name in [*names, "last_hidden_state"]}
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
            torch.onnx.export(LastHiddenState(transformer.auto_model.eval()), tuple(sample[n] for n in names),
                              str(staged / GRAPH), input_names=names, output_names=["last_hidden_state"],
                              dynamic_axes=dynamic, opset_version=OPSET, dynamo=False, do_constant_folding=True)
        record: dict[str, Any] = {
            "format": RECORD_FORMAT, "model": models.hub_name(model_dir) or str(model_dir),
            "weights": _stamp(weights, weights_sha), "onnx": _stamp(staged / GRAPH),
            "exported_with": {"torch": torch.__version__, "opset": OPSET, "inputs": names}}
        onnx_vectors = OnnxEmbedder(model_dir, graph=staged / GRAPH).encode_documents(list(PROBE), batch_size=1)
        expected = reference.encode_document(list(PROBE), batch_size=1, normalize_embeddings=True,
                                             convert_to_numpy=True, show_progress_bar=False)
        cosines = np.sum(onnx_vectors * np.asarray(expected, dtype=np.float32), axis=1)
        if float(cosines.min()) < PROBE_MIN_COSINE:
            worst = int(cosines.argmin())
            raise ModelError(f"the ONNX export of {model_dir} gives {PROBE[worst][:40]!r} a vector at cosine "
                             f"{cosines[worst]:.6f} of sentence-transformers' (at least {PROBE_MIN_COSINE} needed); "
                             "nothing was installed")
        record["probe"] = {"texts": len(PROBE), "min_cosine": round(float(cosines.min()), 7),
                           "max_abs_difference": float(np.abs(onnx_vectors - expected).max())}
        (staged / RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        # The stamp is of the file where it will stay: a rename keeps size and modification time.
        if destination.exists():
            destination.rename(Path(work) / "replaced")
        os.rename(staged, destination)
    return record
