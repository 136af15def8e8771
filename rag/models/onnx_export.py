"""The ONNX export of a sentence-transformers model: made at install, checked, found at run time.

The query path (`rag.models.onnx_embedding`) runs the model's transformer with ONNX
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

At run time `rag.models.onnx_record.verified(model_dir)` reads that record. When both files still
have the recorded size and modification time, their recorded hashes stand
(hashing 90–420 MB of weights on every start would cost a cold `ask` a
third of its second); when either changed it is hashed again, and a graph
made from other weights, or a graph changed since, is refused with the fix.
So the weights' hash in an index manifest means the same on both paths: the
weights the vectors come from, whether torch or ONNX Runtime ran them.

Where an export lives: a packaged model's in `<sys.prefix>/share/rag-models/onnx/<name>/`
(all-MiniLM-L6-v2's folder belongs to pip), a folder of the user's in its own `onnx/`.

Finding and checking live in `rag.models.onnx_record`, which the query path
reads; this module, which runs the query path's embedder to check an export,
is imported by the install step and tests alone, so the two form no cycle.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from rag.models import packaged
from rag.models.onnx_embedding import OnnxEmbedder
from rag.models.onnx_record import GRAPH, RECORD, RECORD_FORMAT, export_dir, stamp, weights_file
from rag.schema import ModelError

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


def export(model_dir: Path) -> dict[str, Any]:
    """Export the model in `model_dir` to ONNX, check it against sentence-transformers on `PROBE`, publish it.

    Written in a temporary folder beside the destination and renamed into place only once checked, so a
    failed or interrupted export leaves the previous one (or none). Returns the record.
    """
    import warnings

    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    destination = export_dir(model_dir)
    weights = weights_file(model_dir)
    weights_sha = packaged.file_sha256(weights)
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
            "format": RECORD_FORMAT, "model": packaged.hub_name(model_dir) or str(model_dir),
            "weights": stamp(weights, weights_sha), "onnx": stamp(staged / GRAPH),
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
