"""Citation support: is each sentence of an answer found inside the spans it cites?

In the spirit of ALCE: each answer sentence with its [n] markers is
supported when, markdown and quotes folded and case ignored, it is found
inside the text of the spans it cites. That is exact for extractive answers;
paraphrasing (LLM) answers need the optional NLI cross-encoder (`load_nli`),
whose verdicts are recorded but cannot be re-scored without the model.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.ingest.text import clean_text, split_sentences
from rag.schema import Answer, ModelError

MARKER = re.compile(r"\[(\d+)\]")  # an answer's citation marker, [n]
_LEADING_MARKERS = re.compile(r"^(?:\[\d+\]\s*)+")
_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "«": '"', "»": '"', "‘": "'", "’": "'", "‚": "'"})
_ELLIPSIS = re.compile(r"…|\.\.\.")
_EDGE = " \"'.,;:!?-–—•*·"


@dataclass(frozen=True)
class SentenceSupport:
    text: str  # the sentence, markers removed
    markers: tuple[int, ...]
    supported: bool  # found inside the text of the spans it cites
    entailed: bool | None = None  # NLI verdict; None when no NLI model ran


SupportCheck = Callable[[str, Sequence[str]], bool]  # (sentence, cited texts) -> backed by them?


@dataclass(frozen=True)
class NliChecker:
    name: str  # recorded in the report
    entails: SupportCheck


def cited_sentences(text: str) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """The answer's sentences, markers removed, each with the marker numbers that cite it.

    Lines split first (list answers), then sentences; markers that open a
    sentence ("Claim. [1] Next.") belong to the sentence before them.
    """
    pieces: list[tuple[str, tuple[int, ...]]] = []
    for line in text.splitlines():
        line = re.sub(r"([.!?])(\[\d+\])", r"\1 \2", line)  # "Claim.[1] Next" splits like "Claim. [1] Next"
        for start, end in split_sentences(line):
            sentence = line[start:end]
            lead = _LEADING_MARKERS.match(sentence)
            if lead and pieces:
                claim, markers = pieces[-1]
                pieces[-1] = (claim, markers + _numbers(lead.group()))
                sentence = sentence[lead.end():]
            # "Claim [1]." reads "Claim." once its marker is gone.
            claim = re.sub(r" ([.,;:!?])", r"\1", " ".join(MARKER.sub(" ", sentence).split()))
            if claim.strip(_EDGE):
                pieces.append((claim, _numbers(sentence)))
    return tuple(pieces)


def _numbers(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in MARKER.findall(text))


def check_support(answer: Answer, nli: NliChecker | None = None) -> tuple[SentenceSupport, ...]:
    """Each sentence of a non-refused answer, checked against the spans it cites."""
    if answer.refused:
        return ()
    checked = []
    for claim, markers in cited_sentences(answer.text):
        cited = [c for c in answer.citations if c.n in markers]
        # The readable form and the raw span both count: the answer may quote either.
        texts = (" ".join(c.clean for c in cited), " ".join(c.text for c in cited))
        supported = bool(cited) and substring_support(claim, texts)
        entailed = None if nli is None else bool(cited) and nli.entails(claim, [c.clean or c.text for c in cited])
        checked.append(SentenceSupport(text=claim, markers=markers, supported=supported, entailed=entailed))
    return tuple(checked)


def substring_support(sentence: str, texts: Sequence[str]) -> bool:
    """True when the normalised sentence (every part of it, if cut with an ellipsis) is inside one of `texts`."""
    parts = [p.strip(_EDGE) for p in _ELLIPSIS.split(_normalise(sentence))]
    parts = [p for p in parts if p]
    sources = [_normalise(t) for t in texts]
    return bool(parts) and any(all(p in source for p in parts) for source in sources)


def _normalise(text: str) -> str:
    # clean_text reduces markdown links to their words, drops emphasis marks and folds whitespace.
    return clean_text(text, ((0, len(text)),)).text.translate(_QUOTES).casefold()


def load_nli(model_dir: Path) -> NliChecker:
    """An entailment checker from a local sentence-transformers CrossEncoder trained for NLI."""
    if not (model_dir / "config.json").is_file():
        raise ModelError(f"--nli-model {model_dir} is not a model folder (no config.json); give the folder "
                         "of a local sentence-transformers CrossEncoder trained for NLI (docs/EVAL.md#the-nli-check)")
    from sentence_transformers import CrossEncoder  # heavy import, only when an NLI model is asked for

    try:
        model = CrossEncoder(str(model_dir), local_files_only=True)
    except (OSError, ValueError) as err:
        raise ModelError(f"cannot load the NLI model in {model_dir} ({err}); check the folder is complete") from None
    labels = {int(i): str(label).lower() for i, label in model.config.id2label.items()}
    entail = [i for i, label in labels.items() if label.startswith("entail")]
    if not entail:
        raise ModelError(f"the model in {model_dir} has labels {sorted(labels.values())}, none is 'entailment'; "
                         "give an NLI cross-encoder (labels contradiction/entailment/neutral; docs/EVAL.md#the-nli-check)")

    def entails(sentence: str, premises: Sequence[str]) -> bool:
        logits = model.predict([(" ".join(premises), sentence)])
        return int(np.argmax(logits[0])) == entail[0]

    return NliChecker(name=str(model_dir), entails=entails)
