"""Where a model's ONNX export lives, and its record checked: all that run time reads of an export.

The export and its record (`export.json`) are made at install by
`rag.models.onnx_export`, whose docstring says what the record holds and
why a file's unchanged size and modification time stand in for its hash.
The query path's embedder reads only this module, and the export reads it
too: neither imports the other's module in a cycle.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.models import packaged
from rag.schema import ModelError

RECORD = "export.json"
GRAPH = "model.onnx"
RECORD_FORMAT = 1


@dataclass(frozen=True)
class Export:
    """A checked export: where its graph is, and the SHA-256 of the weights it was made from."""

    graph: Path
    weights_sha256: str
    graph_sha256: str


def export_dir(model_dir: Path) -> Path:
    """Where the export of the model in `model_dir` lives (whether or not it has been made)."""
    for name in packaged.KNOWN_MODELS:
        try:
            if packaged.model_dir(name).resolve() == model_dir.resolve():
                return packaged.models_dir() / "onnx" / name
        except ModelError:
            continue
    return model_dir / "onnx"


def weights_file(model_dir: Path) -> Path:
    path = model_dir / packaged.WEIGHTS
    if not path.is_file():
        raise ModelError(f"no {packaged.WEIGHTS} in {model_dir}; the ONNX export is made from safetensors weights")
    return path


def stamp(path: Path, sha256: str | None = None) -> dict[str, Any]:
    """What a record keeps of a file: its name, SHA-256, size and modification time."""
    stat = path.stat()
    return {"file": path.name, "sha256": sha256 or packaged.file_sha256(path), "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns}


def _unchanged(path: Path, recorded: dict[str, Any]) -> bool:
    stat = path.stat()
    return stat.st_size == recorded.get("size") and stat.st_mtime_ns == recorded.get("mtime_ns")


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
    if not _unchanged(weights, record["weights"]) and packaged.file_sha256(weights) != weights_sha:
        raise ModelError(f"the ONNX export in {where} was made from other weights than {weights} "
                         f"(sha256 {weights_sha[:12]}…); run `make install` to export the model again")
    if not graph.is_file():
        raise ModelError(f"{graph} is missing beside its record; run `make install` to export the model again")
    graph_sha = record["onnx"]["sha256"]
    if not _unchanged(graph, record["onnx"]) and packaged.file_sha256(graph) != graph_sha:
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
    return export.weights_sha256 == packaged.file_sha256(weights_file(model_dir))
