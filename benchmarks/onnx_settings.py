"""`python -m benchmarks.onnx_settings`: what each ONNX Runtime setting buys one query (the README's table).

Every variant runs the same export on the dev questions in a process of its
own (a variant's spinning threads would slow the others down in one), the
variants one after another, round after round (so load from elsewhere falls
on all of them); the table gives each one's p50 and p95 over all rounds and
its median session start. Variants change one thing at a time from the embedder's
choice (`rag.models.onnx_embedding`), and a few from ONNX Runtime's defaults:

* graph optimisation level: none, basic, extended, all;
* intra-op threads: 2 without spinning, 2 with spinning (the default), 1;
* memory arena and memory pattern on (the defaults) or off;
* one query padded to 32 tokens (as a batch pads) or its own length;
* IOBinding (inputs and the output bound to CPU buffers) or `run`.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from benchmarks.context import DEV_QUESTIONS
from benchmarks.measure import PYTHON, child_env, median, percentile, run_child
from rag.config import Settings
from rag.models.embedding import resolve_model_path
from rag.models.onnx_embedding import token_limit
from rag.models.onnx_record import GRAPH, export_dir

LEVELS = {"none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL, "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
          "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED, "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}


@dataclass(frozen=True)
class Variant:
    name: str
    level: str = "all"
    threads: int = 2
    spinning: bool = False
    arena: bool = False
    pad_to: int = 0  # 0: the query's own length
    io_binding: bool = False


VARIANTS = (
    Variant("chosen: all optimisations, 2 threads without spinning, no arena, own length"),
    Variant("optimisation: none", level="none"),
    Variant("optimisation: basic", level="basic"),
    Variant("optimisation: extended", level="extended"),
    Variant("2 threads, spinning (ONNX Runtime's default)", spinning=True),
    Variant("1 thread", threads=1),
    Variant("memory arena and pattern on (default)", arena=True),
    Variant("padded to 32 tokens", pad_to=32),
    Variant("IOBinding", io_binding=True),
    Variant("ONNX Runtime's defaults (all, threads = cores, spinning, arena)", threads=0, spinning=True, arena=True),
)


def _session(graph: str, variant: Variant) -> tuple[ort.InferenceSession, float]:
    options = ort.SessionOptions()
    options.graph_optimization_level = LEVELS[variant.level]
    options.intra_op_num_threads = variant.threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if variant.spinning else "0")
    options.enable_cpu_mem_arena = variant.arena
    options.enable_mem_pattern = variant.arena
    options.log_severity_level = 3
    started = time.perf_counter()
    session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    return session, time.perf_counter() - started


def _encoder(session: ort.InferenceSession, tokenizer: Tokenizer, variant: Variant) -> Callable[[str], np.ndarray]:
    names = [i.name for i in session.get_inputs()]

    def feed(text: str) -> dict[str, np.ndarray]:
        e = tokenizer.encode(text)
        width = max(variant.pad_to, len(e.ids))
        arrays = {"input_ids": np.zeros((1, width), np.int64), "attention_mask": np.zeros((1, width), np.int64),
                  "token_type_ids": np.zeros((1, width), np.int64)}
        arrays["input_ids"][0, :len(e.ids)] = e.ids
        arrays["attention_mask"][0, :len(e.ids)] = 1
        return {name: arrays[name] for name in names}

    def pooled(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        vector = (hidden * mask[:, :, None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        return vector[0] / np.linalg.norm(vector[0])

    if not variant.io_binding:
        def run(text: str) -> np.ndarray:
            inputs = feed(text)
            return pooled(session.run(None, inputs)[0], inputs["attention_mask"])
        return run

    binding = session.io_binding()

    def bound(text: str) -> np.ndarray:
        inputs = feed(text)
        for name, array in inputs.items():
            binding.bind_cpu_input(name, array)
        binding.bind_output("last_hidden_state", "cpu")
        session.run_with_iobinding(binding)
        return pooled(binding.copy_outputs_to_cpu()[0], inputs["attention_mask"])
    return bound


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.onnx_settings", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="processes per variant, one after another")
    parser.add_argument("--variant", type=int, help=argparse.SUPPRESS)  # a child: run this one and print JSON
    args = parser.parse_args(argv)
    if args.variant is not None:
        print(json.dumps(_measure(VARIANTS[args.variant])))
        return 0
    times: dict[str, list[float]] = {v.name: [] for v in VARIANTS}
    starts: dict[str, list[float]] = {v.name: [] for v in VARIANTS}
    for _ in range(args.rounds):
        for number, variant in enumerate(VARIANTS):
            child = run_child([PYTHON, "-m", "benchmarks.onnx_settings", "--variant", str(number)], child_env())
            if child.returncode != 0:
                raise RuntimeError(f"{variant.name}: exited with {child.returncode}: {child.stderr[-400:]}")
            measured = json.loads(child.stdout.strip().splitlines()[-1])
            times[variant.name] += measured["ms"]
            starts[variant.name].append(measured["start_s"])
    print(f"{args.rounds} processes per variant, each encoding the dev questions 3 times\n")
    print("| variant | p50 ms | p95 ms | session start s |\n|---|---|---|---|")
    for name, samples in times.items():
        print(f"| {name} | {percentile(samples, 50):.2f} | {percentile(samples, 95):.2f} | "
              f"{median(starts[name]):.2f} |")
    return 0


def _measure(variant: Variant) -> dict[str, object]:
    """One variant's query times (ms) and session start (s); its vectors checked against the chosen one's."""
    settings = Settings.load(env={})
    model_dir = resolve_model_path(settings.model_path, settings.model)
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(token_limit(model_dir))
    tokenizer.no_padding()
    graph = str(export_dir(model_dir) / GRAPH)
    questions = [json.loads(line)["question"] for line in DEV_QUESTIONS.read_text().splitlines() if line.strip()]
    session, start = _session(graph, variant)
    encode = _encoder(session, tokenizer, variant)
    chosen = _encoder(_session(graph, VARIANTS[0])[0], tokenizer, VARIANTS[0])
    for question in questions:  # warm-up, and the variant gives the chosen one's vectors
        if float(encode(question) @ chosen(question)) < 0.99999:
            raise RuntimeError(f"{variant.name} encodes {question!r} otherwise")
    del chosen
    samples = []
    for _ in range(3):
        for question in questions:
            started = time.perf_counter()
            encode(question)
            samples.append((time.perf_counter() - started) * 1000)
    return {"ms": samples, "start_s": start}


if __name__ == "__main__":
    raise SystemExit(main())
